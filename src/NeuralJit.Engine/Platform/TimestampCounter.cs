namespace NeuralJit.Platform;

/// <summary>
/// The time-stamp counter read by two fenced stubs in a page of their own, called through
/// <c>delegate* unmanaged[SuppressGCTransition]</c> (they never block and touch no managed state). <see cref="StartCode"/> opens a timed region,
/// <see cref="EndCode"/> closes it (why these fences: <see cref="NeuralJit.Profiling.CycleClock"/>). They are written
/// as bytes, not assembled: the profiler's clock is needed by a session's first profiled call, and Iced's first use
/// in a process costs tens of milliseconds. Tests decode them to the instructions named here.
/// </summary>
public static class TimestampCounter
{
    /// <summary>lfence; rdtsc; lfence; shl rdx, 32; or rax, rdx; ret</summary>
    public static ReadOnlySpan<byte> StartCode => [0x0F, 0xAE, 0xE8, 0x0F, 0x31, 0x0F, 0xAE, 0xE8, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];

    /// <summary>lfence; rdtsc; shl rdx, 32; or rax, rdx; ret</summary>
    public static ReadOnlySpan<byte> EndCode => [0x0F, 0xAE, 0xE8, 0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];

    /// <summary>Where the end stub starts in the page: each stub in its own half cache line.</summary>
    public const int EndOffset = 32;

    /// <summary>
    /// Maps both stubs into a sealed (read-execute) page that lives as long as the process: the clock is hardware,
    /// not engine state. Throws <see cref="ExecutableMemoryException"/> where the OS refuses executable memory.
    /// </summary>
    /// <returns>The entry points, to call as <c>delegate* unmanaged[SuppressGCTransition]&lt;ulong&gt;</c>.</returns>
    public static (nint Start, nint End) Map()
    {
        var page = ExecutableMemory.Allocate(ExecutableMemory.PageSize);
        StartCode.CopyTo(page.WritableSpan);
        EndCode.CopyTo(page.WritableSpan[EndOffset..]);
        page.Seal();
        return (page.Address, page.Address + EndOffset);
    }
}
