using System.Diagnostics;
using Iced.Intel;
using NeuralJit.Jit;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Profiling;

/// <summary>
/// The profiler's clock: a serialised <c>lfence; rdtsc</c> from a 16-byte stub emitted with Iced and
/// called through <c>delegate* unmanaged[SuppressGCTransition]</c> (the stub never blocks), with a
/// <see cref="Stopwatch"/> fallback where executable memory or x86-64 is not available. The TSC
/// frequency is calibrated against the wall clock once, at first use. The TSC counts reference
/// ticks at a constant rate, not core cycles: on this machine ~2.1 GHz while the core boosts higher.
/// The stub's page lives as long as the process (one page; the clock is hardware, not engine state).
/// </summary>
public static unsafe class CycleClock
{
    private static readonly delegate* unmanaged[SuppressGCTransition]<ulong> s_rdtsc;

    /// <summary>"TSC (lfence; rdtsc)" or "Stopwatch".</summary>
    public static string Source { get; }
    /// <summary>Ticks per second of <see cref="Read"/>.</summary>
    public static double Frequency { get; }
    /// <summary>True when the source ticks at a constant rate and two calibrations agreed within 0.5%.</summary>
    public static bool IsTrusted { get; }
    /// <summary>Why the clock is or is not trusted, in words.</summary>
    public static string TrustReason { get; }
    /// <summary>Ticks that one empty timed region (two reads back to back) costs; subtracted from samples.</summary>
    public static long ReadOverheadTicks { get; }

    static CycleClock()
    {
        string fallbackReason = "";
        if (CpuFeatures.IsX64)
        {
            try
            {
                s_rdtsc = (delegate* unmanaged[SuppressGCTransition]<ulong>)EmitStub();
            }
            catch (Exception e) when (e is ExecutableMemoryException or DllNotFoundException or EntryPointNotFoundException)
            {
                fallbackReason = $"no executable memory ({e.Message})";
            }
        }
        else fallbackReason = "not an x86-64 process";

        if (s_rdtsc != null)
        {
            Source = "TSC (lfence; rdtsc)";
            double f1 = Calibrate(TimeSpan.FromMilliseconds(15));
            double f2 = Calibrate(TimeSpan.FromMilliseconds(15));
            Frequency = (f1 + f2) / 2;
            bool agree = Math.Abs(f1 - f2) / Frequency < 0.005;
            bool invariant = CpuFeatures.InvariantTsc;
            IsTrusted = agree && invariant;
            TrustReason = (invariant ? "invariant TSC" : "TSC not invariant (CPUID 80000007h)") + "; " +
                          (agree ? $"calibrations agree ({f1 / 1e9:F4} vs {f2 / 1e9:F4} GHz)" : $"calibrations disagree ({f1 / 1e9:F4} vs {f2 / 1e9:F4} GHz)");
        }
        else
        {
            Source = "Stopwatch";
            Frequency = Stopwatch.Frequency;
            IsTrusted = Stopwatch.IsHighResolution;
            TrustReason = $"fallback: {fallbackReason}";
        }
        ReadOverheadTicks = MeasureOverhead();
    }

    /// <summary>The current tick count (fenced, so earlier instructions have completed).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static long Read() => s_rdtsc != null ? (long)s_rdtsc() : Stopwatch.GetTimestamp();

    public static double TicksToNanoseconds(double ticks) => ticks * 1e9 / Frequency;

    private static nint EmitStub()
    {
        var a = new Assembler(64);
        a.lfence();
        a.rdtsc();
        a.shl(rdx, 32);
        a.or(rax, rdx);
        a.ret();
        using var ms = new MemoryStream();
        var mem = ExecutableMemory.Allocate(ExecutableMemory.PageSize);
        a.Assemble(new StreamCodeWriter(ms), (ulong)mem.Address);
        ms.ToArray().CopyTo(mem.WritableSpan);
        mem.Seal();
        return mem.Address; // intentionally never disposed: lives with the process
    }

    private static double Calibrate(TimeSpan span)
    {
        long sw0 = Stopwatch.GetTimestamp();
        long t0 = (long)s_rdtsc();
        long target = sw0 + (long)(span.TotalSeconds * Stopwatch.Frequency);
        long sw1;
        while ((sw1 = Stopwatch.GetTimestamp()) < target) { }
        long t1 = (long)s_rdtsc();
        return (t1 - t0) / ((double)(sw1 - sw0) / Stopwatch.Frequency);
    }

    private static long MeasureOverhead()
    {
        long best = long.MaxValue;
        for (int i = 0; i < 2000; i++)
        {
            long a = Read();
            long b = Read();
            best = Math.Min(best, b - a);
        }
        return best;
    }
}
