using System.Diagnostics;
using NeuralJit.Platform;

namespace NeuralJit.Profiling;

/// <summary>
/// The profiler's clock: fenced <c>rdtsc</c> from two tiny stubs (<see cref="TimestampCounter"/>), with a <see cref="Stopwatch"/>
/// fallback where executable memory or x86-64 is not available. The TSC frequency is calibrated against the
/// wall clock once, at first use. The TSC counts reference ticks at a constant rate, not core cycles (the rate
/// depends on the CPU model: ~2.1 GHz on a Zen 5 whose cores boost higher), and in some VMs it advances in steps of ~20 ticks.
/// </summary>
/// <remarks>
/// Why these fences. <c>rdtsc</c> is not serialising: it can sample the counter before earlier instructions
/// finish and later ones can start before it does, which makes a short kernel look faster than it is.
/// The start of a timed region uses <c>lfence; rdtsc; lfence</c> (<see cref="Read"/>): the first fence makes
/// the work before the region (counting, counter reads) finish before the sample, the second keeps the kernel
/// from starting before it. The end uses <c>lfence; rdtsc</c> (<see cref="ReadEnd"/>): the kernel's instructions
/// have completed when the counter is sampled, and nothing after the region matters. <c>rdtscp; lfence</c> gives
/// the same ordering as the start read but needs the RDTSCP CPUID bit (often hidden in VMs) and clobbers ecx;
/// measured here it was no cheaper (~50 ns a call either way, ~37 ns for <c>lfence; rdtsc</c>, ~25 ns for a bare
/// <c>rdtsc</c>: reading the TSC is slow in this VM). On AMD, <c>lfence</c> is dispatch-serialising when the OS sets
/// DE_CFG[1], which Linux and Windows do for Spectre mitigation; on Intel it always is.
/// The bias of an empty region is measured by fully optimised code after the stubs are mapped: while a class is being
/// initialised, every tier-0 read of its static fields (the stub pointers) goes through the runtime's class-init
/// helper, which would inflate the bias several-fold and make every timed call look shorter than it is.
/// </remarks>
public static unsafe class CycleClock
{
    private static readonly delegate* unmanaged[SuppressGCTransition]<ulong> s_start;
    private static readonly delegate* unmanaged[SuppressGCTransition]<ulong> s_end;

    /// <summary>"TSC (lfence; rdtsc; lfence … lfence; rdtsc)" or "Stopwatch".</summary>
    public static string Source { get; }
    /// <summary>Ticks per second of <see cref="Read"/>.</summary>
    public static double Frequency { get; }
    /// <summary>True when the source ticks at a constant rate and two calibrations agreed within 0.5%.</summary>
    public static bool IsTrusted { get; }
    /// <summary>Why the clock is or is not trusted, in words.</summary>
    public static string TrustReason { get; }
    /// <summary>
    /// Ticks an empty timed region (<see cref="Read"/> then <see cref="ReadEnd"/>) reports on average (the mean of
    /// the lower 90% of many pairs, from optimised code): the bias subtracted from every measured call.
    /// </summary>
    public static long ReadOverheadTicks { get; }
    /// <summary>
    /// Ticks that timing one call costs the caller: the throughput cost of a <see cref="Read"/> + <see cref="ReadEnd"/>
    /// pair, which is larger than <see cref="ReadOverheadTicks"/> because the fences also stall the code around them.
    /// </summary>
    public static long PairCostTicks { get; }

    static CycleClock()
    {
        string fallbackReason = "";
        if (CpuFeatures.IsX64)
        {
            try
            {
                var (start, end) = TimestampCounter.Map();
                s_start = (delegate* unmanaged[SuppressGCTransition]<ulong>)start;
                s_end = (delegate* unmanaged[SuppressGCTransition]<ulong>)end;
            }
            catch (Exception e) when (e is ExecutableMemoryException or DllNotFoundException or EntryPointNotFoundException)
            {
                fallbackReason = $"no executable memory ({e.Message})";
            }
        }
        else fallbackReason = "not an x86-64 process";

        if (s_start != null)
        {
            Source = "TSC (lfence; rdtsc; lfence … lfence; rdtsc)";
            // Paired reads make each end exact to a bracket of ~0.1 µs, so 5 ms gives the frequency to a few parts in 10⁵.
            double f1 = Calibrate(TimeSpan.FromMilliseconds(5));
            double f2 = Calibrate(TimeSpan.FromMilliseconds(5));
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
        (ReadOverheadTicks, PairCostTicks) = MeasureOverhead();
    }

    /// <summary>The current tick count, serialised on both sides: start a timed region with this.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static long Read() => s_start != null ? (long)s_start() : Stopwatch.GetTimestamp();

    /// <summary>The current tick count once everything before it has completed: end a timed region with this.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static long ReadEnd() => s_end != null ? (long)s_end() : Stopwatch.GetTimestamp();

    public static double TicksToNanoseconds(double ticks) => ticks * 1e9 / Frequency;

    /// <summary>TSC ticks per Stopwatch second over <paramref name="span"/>, both ends read by <see cref="PairedRead"/>.</summary>
    private static double Calibrate(TimeSpan span)
    {
        var (sw0, t0) = PairedRead();
        long target = sw0 + (long)(span.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < target) { }
        var (sw1, t1) = PairedRead();
        return (t1 - t0) / ((double)(sw1 - sw0) / Stopwatch.Frequency);
    }

    /// <summary>
    /// A Stopwatch time and the TSC at that time: each TSC read sits between two Stopwatch reads and the narrowest
    /// of many brackets is kept, so a preemption between the two clocks (a loaded machine) cannot skew the pair.
    /// </summary>
    private static (long Stopwatch, long Tsc) PairedRead()
    {
        long bestWidth = long.MaxValue, sw = 0, tsc = 0;
        for (int i = 0; i < 64; i++)
        {
            long a = Stopwatch.GetTimestamp(), t = (long)s_start(), b = Stopwatch.GetTimestamp();
            if (b - a < bestWidth) { bestWidth = b - a; sw = a + (b - a) / 2; tsc = t; }
        }
        return (sw, tsc);
    }

    /// <summary>
    /// Fully optimised at once (no tier-0 static-field reads through the class-init helper, which made the old figure 189):
    /// the bias of an empty region (mean of the lower 90% of 4,000 pairs; the top 10% holds interrupts) and the
    /// throughput cost of a pair (median over 16 runs of 256 back-to-back pairs).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization | System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (long Bias, long PairCost) MeasureOverhead()
    {
        var d = new long[4000];
        for (int i = 0; i < d.Length; i++)
        {
            long a = Read();
            long b = ReadEnd();
            d[i] = b - a;
        }
        Array.Sort(d);
        int keep = d.Length * 9 / 10;
        double mean = 0;
        for (int i = 0; i < keep; i++) mean += d[i];
        long bias = (long)Math.Round(mean / keep);

        var runs = new long[16];
        for (int r = 0; r < runs.Length; r++)
        {
            long t0 = Read();
            for (int i = 0; i < 256; i++) { Read(); ReadEnd(); }
            runs[r] = (ReadEnd() - t0) / 256;
        }
        Array.Sort(runs);
        return (bias, Math.Max(1, runs[runs.Length / 2]));
    }
}
