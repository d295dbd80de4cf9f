using NeuralJit.Profiling;

namespace NeuralJit.Benchmarking;

/// <summary>Something to time: <see cref="Run"/> performs <paramref name="calls"/> back-to-back calls of one kernel.</summary>
public interface IBenchmarkSubject
{
    void Run(long calls);
}

/// <summary>How long to measure: a time budget for both sides together, or a fixed number of calls per side.</summary>
public readonly record struct BenchmarkBudget(TimeSpan Time, long? Iterations = null)
{
    public static BenchmarkBudget Default => new(TimeSpan.FromMilliseconds(80));

    /// <summary>
    /// How long one side's batch aims to last (without <see cref="Iterations"/>). A kernel's 10 µs batches find its
    /// operands where its own last batch left them. A subject whose working set shares a cache level with the other
    /// side's (a whole network step: ~1 MB of weights on each side) needs batches long enough that the calls after the
    /// first, which find the caches as a user's back-to-back calls do, dominate the batch.
    /// </summary>
    public double BatchNanoseconds { get; init; } = SideBySideRunner.TargetBatchNanoseconds;
}

/// <summary>The two sides of one interleaved measurement (nanoseconds per call).</summary>
public sealed class PairedMeasurement
{
    public required SampleStatistics Baseline { get; init; }
    public required SampleStatistics Candidate { get; init; }
    /// <summary>Timed calls of each side (warm-up excluded).</summary>
    public long BaselineCalls { get; init; }
    public long CandidateCalls { get; init; }
    /// <summary>Median of the per-round ratios baseline/candidate (rounds are adjacent in time, so drifts cancel).</summary>
    public double MedianPairRatio { get; init; }
    /// <summary>Baseline median / candidate median.</summary>
    public double Speedup => Baseline.Median / Candidate.Median;
}

/// <summary>
/// Measures a baseline and a candidate interleaved in one run: rounds of one timed batch of each,
/// alternating which goes first, so frequency changes, noisy neighbours and cache state hit both sides
/// alike. Each side's batch is sized from a calibration so one batch lasts about
/// <see cref="TargetBatchNanoseconds"/> (long enough that the fenced clock reads are noise; longer with
/// <see cref="BenchmarkBudget.BatchNanoseconds"/>), never more than
/// <see cref="MaxBatchNanoseconds"/> (a stop request is honoured between batches), and rounds continue until the
/// time budget is used or the requested number of calls is reached. A call count that would outlast the budget's
/// time is refused after the calibration, before the rounds start.
/// </summary>
public static class SideBySideRunner
{
    /// <summary>Batch length aimed for: 2 fenced TSC reads (~40 ns) are &lt; 0.5% of it.</summary>
    public const double TargetBatchNanoseconds = 10_000;
    public const int MinRounds = 5;
    public const int MaxRounds = 20_000;
    /// <summary>Longest batch: a cancellation waits for at most one batch of each side (and a long call's own checks).</summary>
    public const double MaxBatchNanoseconds = 20_000_000;

    private const int WarmUpCalls = 64;
    private static readonly long WarmUpTicks = (long)(0.02 * CycleClock.Frequency);

    private static void WarmUp(IBenchmarkSubject subject)
    {
        long start = CycleClock.Read();
        for (int i = 0; i < WarmUpCalls && CycleClock.Read() - start < WarmUpTicks; i++) subject.Run(1);
    }

    /// <exception cref="ArgumentOutOfRangeException"><see cref="BenchmarkBudget.Iterations"/> calls per side would take longer than <see cref="BenchmarkBudget.Time"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was signalled.</exception>
    public static PairedMeasurement Measure(IBenchmarkSubject baseline, IBenchmarkSubject candidate, BenchmarkBudget budget, CancellationToken cancellation = default)
    {
        // Warm up both (first-call JIT of managed code, page faults, caches), then estimate a call's cost. 64 calls
        // pass .NET's tier-up call count (30); the time cap keeps slow baselines (scalar GEMM 256³: ms per call) short.
        WarmUp(baseline); WarmUp(candidate);
        cancellation.ThrowIfCancellationRequested();
        double nsBase = Calibrate(baseline), nsCand = Calibrate(candidate);
        cancellation.ThrowIfCancellationRequested();
        long totalBudgetNs = (long)budget.Time.TotalMilliseconds * 1_000_000;

        long batchBase, batchCand;
        if (budget.Iterations is long iters and > 0)
        {
            double expectedNs = (double)iters * (nsBase + nsCand);
            if (expectedNs > totalBudgetNs)
                throw new ArgumentOutOfRangeException(
                    $"{iters:N0} calls per side would take about {Duration(expectedNs)} at the calibrated {nsBase:G3} ns (baseline) + {nsCand:G3} ns (candidate) a call, over the limit of {Duration(totalBudgetNs)}.", (Exception?)null);
            // Fixed call count: as many rounds as the batch target allows, at least MinRounds when possible; one batch
            // size for both sides (so both reach the count together), no longer than MaxBatchNanoseconds.
            long rounds = Math.Clamp(Math.Min(iters, (long)(iters * Math.Max(nsBase, nsCand) / TargetBatchNanoseconds)), Math.Min(MinRounds, iters), MaxRounds);
            batchBase = batchCand = Math.Clamp(iters / Math.Max(1, rounds), 1, Math.Max(1, (long)(MaxBatchNanoseconds / Math.Max(nsBase, nsCand))));
        }
        else
        {
            double batchNs = Math.Clamp(budget.BatchNanoseconds, TargetBatchNanoseconds, MaxBatchNanoseconds);
            batchBase = Math.Max(1, (long)(batchNs / nsBase));
            batchCand = Math.Max(1, (long)(batchNs / nsCand));
        }

        var sb = new List<double>(256);
        var sc = new List<double>(256);
        var ratios = new List<double>(256);
        long callsBase = 0, callsCand = 0;
        long start = CycleClock.Read();
        // Rounds are bounded by MaxRounds, or with a call count by the time limit checked up front (≤ limit / MaxBatch rounds).
        for (int round = 0; budget.Iterations is > 0 || round < MaxRounds; round++)
        {
            cancellation.ThrowIfCancellationRequested();
            if (budget.Iterations is long count and > 0) batchBase = batchCand = Math.Min(batchBase, count - callsBase); // the last batch ends on the count
            double b, c;
            if ((round & 1) == 0) { b = Time(baseline, batchBase); c = Time(candidate, batchCand); }
            else { c = Time(candidate, batchCand); b = Time(baseline, batchBase); }
            sb.Add(b); sc.Add(c); ratios.Add(b / c);
            callsBase += batchBase; callsCand += batchCand;

            if (budget.Iterations is long want and > 0)
            {
                // The count, or (when the calibration was optimistic) the time limit: Iterations reports the calls made.
                if (callsBase >= want && callsCand >= want) break;
                if (CycleClock.TicksToNanoseconds(CycleClock.Read() - start) >= totalBudgetNs) break;
            }
            else if (round + 1 >= MinRounds && CycleClock.TicksToNanoseconds(CycleClock.Read() - start) >= totalBudgetNs)
            {
                break;
            }
        }
        var sortedRatios = ratios.ToArray();
        Array.Sort(sortedRatios);
        return new PairedMeasurement
        {
            Baseline = SampleStatistics.From(sb),
            Candidate = SampleStatistics.From(sc),
            BaselineCalls = callsBase,
            CandidateCalls = callsCand,
            MedianPairRatio = SampleStatistics.Quantile(sortedRatios, 0.5),
        };
    }

    private static string Duration(double ns) => ns switch
    {
        >= 86_400e9 => $"{ns / 86_400e9:N1} days",
        >= 3_600e9 => $"{ns / 3_600e9:N1} hours",
        _ => $"{ns / 1e9:N1} s",
    };

    /// <summary>Nanoseconds per call of one batch.</summary>
    private static double Time(IBenchmarkSubject s, long calls)
    {
        long t0 = CycleClock.Read();
        s.Run(calls);
        long t1 = CycleClock.Read();
        return Math.Max(0, CycleClock.TicksToNanoseconds(t1 - t0 - CycleClock.ReadOverheadTicks)) / calls;
    }

    /// <summary>Cost of one call, doubling the batch until a batch lasts ≥ 1/4 of the target (best of 3).</summary>
    private static double Calibrate(IBenchmarkSubject s)
    {
        long calls = 1;
        while (true)
        {
            double best = double.MaxValue;
            for (int i = 0; i < 3; i++) best = Math.Min(best, Time(s, calls));
            if (best * calls >= TargetBatchNanoseconds / 4 || calls >= 1 << 20) return Math.Max(best, 0.1);
            calls *= 2;
        }
    }
}
