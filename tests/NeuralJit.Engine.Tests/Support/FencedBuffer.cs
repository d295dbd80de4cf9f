using System.Runtime.InteropServices;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>Where a <see cref="FencedBuffer"/>'s data sits relative to the guard page after it.</summary>
public enum Placement
{
    /// <summary>The last float ends exactly at a PROT_NONE guard page: one float read or written too far faults.</summary>
    Tight,
    /// <summary>The data starts 64-byte aligned; canaries fill the gap up to the guard page.</summary>
    Aligned,
    /// <summary>The data starts 4 bytes past a 64-byte boundary (no vector load is aligned); canaries then guard.</summary>
    Unaligned,
}

/// <summary>
/// A float array fenced for kernel tests: a canary zone before it, canaries and then a PROT_NONE guard page
/// after it. A kernel that reads past the end (Tight placement) faults at once; one that writes before or
/// after the data fails <see cref="CheckCanaries"/>. Each buffer has its own mapping (munmap on dispose).
/// </summary>
public sealed unsafe class FencedBuffer : IDisposable
{
    public const uint Canary = 0x7FBADBAD; // a signalling-NaN bit pattern no kernel produces by accident
    private const int Lead = 128;
    private nint _base;
    private readonly nuint _mapBytes;
    private readonly byte* _dataStart;
    private readonly byte* _guard;

    public FencedBuffer(int length, Placement placement)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        Placement = placement;
        int page = Environment.SystemPageSize;
        int dataBytes = length * 4;
        int bodyPages = (Lead + dataBytes + 64 + page - 1) / page;
        _mapBytes = (nuint)((bodyPages + 1) * page);
        _base = mmap(0, _mapBytes, 3 /* RW */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
        if (_base == -1) throw new InvalidOperationException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
        _guard = (byte*)_base + bodyPages * page;
        if (mprotect((nint)_guard, (nuint)page, 0) != 0) throw new InvalidOperationException("mprotect(PROT_NONE) failed");
        long guardAddr = (long)_guard;
        int pad = placement switch
        {
            Placement.Tight => 0,
            Placement.Aligned => (int)(((guardAddr - dataBytes) % 64 + 64) % 64),
            _ => (int)(((guardAddr - dataBytes - 4) % 64 + 64) % 64),
        };
        _dataStart = _guard - pad - dataBytes;
        for (uint* p = (uint*)_base; p < (uint*)_guard; p++) *p = Canary;
        Span.Clear();
    }

    public int Length { get; }
    public Placement Placement { get; }
    public float* Pointer => (float*)_dataStart;
    public Span<float> Span => new(_dataStart, Length);

    public void CopyFrom(ReadOnlySpan<float> data) => data.CopyTo(Span);

    /// <summary>Throws when any canary before or after the data changed, naming the offset.</summary>
    public void CheckCanaries(string what)
    {
        for (uint* p = (uint*)_base; p < (uint*)_dataStart; p++)
            if (*p != Canary) throw new InvalidOperationException($"{what}: wrote {((byte*)_dataStart - (byte*)p) / 4} floats BEFORE the buffer (value 0x{*p:X8}).");
        for (uint* p = (uint*)(_dataStart + Length * 4); p < (uint*)_guard; p++)
            if (*p != Canary) throw new InvalidOperationException($"{what}: wrote float {(p - (uint*)_dataStart)} PAST the end of a {Length}-float buffer (value 0x{*p:X8}).");
    }

    public void Dispose()
    {
        if (_base == 0) return;
        _ = munmap(_base, _mapBytes); // only fails for a range never mapped
        _base = 0;
    }

    [DllImport("libc", SetLastError = true)] private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [DllImport("libc", SetLastError = true)] private static extern int mprotect(nint addr, nuint length, int prot);
    [DllImport("libc", SetLastError = true)] private static extern int munmap(nint addr, nuint length);
}
