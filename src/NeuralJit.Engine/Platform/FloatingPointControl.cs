using System.Runtime.CompilerServices;

namespace NeuralJit.Platform;

/// <summary>
/// The calling thread's MXCSR (the SSE/AVX control register), for <see cref="EngineOptions.FlushDenormals"/>. .NET has
/// no API for it, so two stubs do it, each taking a pointer to a few uint cells (so the code needs no stack, and only
/// the argument register differs between SysV and Win64): <see cref="SetBits"/> saves the register to cell 1, ORs cell 0
/// into it through cell 2 and loads that; <see cref="Load"/> loads cell 0. They are bytes in a sealed page that lives as
/// long as the process, like <see cref="TimestampCounter"/>; tests decode them to the instructions named here.
/// </summary>
public static unsafe class FloatingPointControl
{
    /// <summary>MXCSR bit 15: a result below the smallest normal float or double is written as zero.</summary>
    public const uint FlushToZero = 1u << 15;

    /// <summary>MXCSR bit 6: a subnormal operand is read as zero.</summary>
    public const uint DenormalsAreZero = 1u << 6;

    /// <summary>SysV (argument in rdi): stmxcsr [rdi+4]; mov eax, [rdi+4]; or eax, [rdi]; mov [rdi+8], eax; ldmxcsr [rdi+8]; ret</summary>
    public static ReadOnlySpan<byte> SysVSetBitsCode => [0x0F, 0xAE, 0x5F, 0x04, 0x8B, 0x47, 0x04, 0x0B, 0x07, 0x89, 0x47, 0x08, 0x0F, 0xAE, 0x57, 0x08, 0xC3];

    /// <summary>SysV: ldmxcsr [rdi]; ret</summary>
    public static ReadOnlySpan<byte> SysVLoadCode => [0x0F, 0xAE, 0x17, 0xC3];

    /// <summary>Win64 (argument in rcx): stmxcsr [rcx+4]; mov eax, [rcx+4]; or eax, [rcx]; mov [rcx+8], eax; ldmxcsr [rcx+8]; ret</summary>
    public static ReadOnlySpan<byte> Win64SetBitsCode => [0x0F, 0xAE, 0x59, 0x04, 0x8B, 0x41, 0x04, 0x0B, 0x01, 0x89, 0x41, 0x08, 0x0F, 0xAE, 0x51, 0x08, 0xC3];

    /// <summary>Win64: ldmxcsr [rcx]; ret</summary>
    public static ReadOnlySpan<byte> Win64LoadCode => [0x0F, 0xAE, 0x11, 0xC3];

    /// <summary>Where the load stub starts in the page.</summary>
    public const int LoadOffset = 32;

    /// <summary>Only x86-64 has an MXCSR (and the JIT): elsewhere nothing here may be called.</summary>
    public static bool IsSupported => CpuFeatures.IsX64;

    private static class Stubs
    {
        public static readonly nint Page = Map();
        public static readonly delegate* unmanaged[SuppressGCTransition]<uint*, void> SetBits = (delegate* unmanaged[SuppressGCTransition]<uint*, void>)Page;
        public static readonly delegate* unmanaged[SuppressGCTransition]<uint*, void> Load = (delegate* unmanaged[SuppressGCTransition]<uint*, void>)(Page + LoadOffset);

        private static nint Map()
        {
            if (!IsSupported) throw new PlatformNotSupportedException("MXCSR exists only on x86-64.");
            bool win64 = OperatingSystem.IsWindows();
            var page = ExecutableMemory.Allocate(ExecutableMemory.PageSize);
            (win64 ? Win64SetBitsCode : SysVSetBitsCode).CopyTo(page.WritableSpan);
            (win64 ? Win64LoadCode : SysVLoadCode).CopyTo(page.WritableSpan[LoadOffset..]);
            page.Seal();
            return page.Address;
        }
    }

    /// <summary>
    /// Whether the stubs can run here: an x86-64 process whose OS maps executable memory. Maps them on first use; the
    /// reason when not.
    /// </summary>
    public static bool IsAvailable(out string? why)
    {
        if (!IsSupported) { why = "MXCSR exists only on x86-64; this process runs on another architecture."; return false; }
        try
        {
            _ = Stubs.Page;
            why = null;
            return true;
        }
        catch (TypeInitializationException e)
        {
            why = $"The MXCSR stub could not be mapped: {e.InnerException?.Message ?? e.Message}";
            return false;
        }
    }

    /// <summary>ORs <paramref name="bits"/> into this thread's MXCSR and returns what it held before.</summary>
    /// <exception cref="PlatformNotSupportedException">Not an x86-64 process.</exception>
    public static uint SetBits(uint bits)
    {
        uint* cells = stackalloc uint[3];
        cells[0] = bits;
        Stubs.SetBits(cells);
        return cells[1];
    }

    /// <summary>Loads <paramref name="value"/> (a value <see cref="SetBits"/> returned) into this thread's MXCSR.</summary>
    public static void Load(uint value)
    {
        uint cell = value;
        Stubs.Load(&cell);
    }

    /// <summary>This thread's MXCSR.</summary>
    public static uint Read() => SetBits(0);

    /// <summary>
    /// With <paramref name="flush"/>, sets FTZ and DAZ on this thread until the scope is disposed (which puts the
    /// register back as it was); without, does nothing and costs one branch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Scope FlushDenormalsWhile(bool flush) => flush ? new Scope(SetBits(FlushToZero | DenormalsAreZero), true) : default;

    /// <summary>The MXCSR to put back (see <see cref="FlushDenormalsWhile"/>).</summary>
    public readonly struct Scope(uint saved, bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active) Load(saved);
        }
    }
}
