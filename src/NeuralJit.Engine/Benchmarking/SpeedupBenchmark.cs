using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>
/// Builds <see cref="SpeedupResult"/>s: one JIT kernel against one managed baseline, interleaved, with the
/// largest output difference and the JIT result's share of its roofline bound.
/// </summary>
public static class SpeedupBenchmark
{
    /// <summary>Measures <paramref name="kernel"/> against the <paramref name="baseline"/> tier (Scalar or ManagedSimd).</summary>
    public static SpeedupResult Compare(JitKernel kernel, KernelTier baseline, BenchmarkBudget budget, RooflineResult? roofline = null, CancellationToken cancellation = default)
    {
        if (baseline is not (KernelTier.Scalar or KernelTier.ManagedSimd))
            throw new ArgumentOutOfRangeException(nameof(baseline), baseline, "The baseline is a managed tier: Scalar or ManagedSimd.");
        using var w = new OpWorkload(kernel.Key);
        var b = w.CreateManaged(baseline);
        var c = w.CreateNative(kernel.Entry, kernel.SuppressGcTransition);
        double err = w.MaxAbsDifference(b, c);
        var m = SideBySideRunner.Measure(b, c, budget, cancellation);
        return ToResult(kernel.Key, kernel.Isa, baseline.ToString(), m, err, w.WorkingSetBytes, roofline ?? Roofline.Cached);
    }

    public static SpeedupResult ToResult(OpKey key, JitIsa isa, string baseline, PairedMeasurement m, double maxAbsError, long workingSetBytes, RooflineResult roofline)
    {
        var spec = key.Spec;
        double flops = spec.Flops(key.Shape), bytes = spec.Bytes(key.Shape);
        double jitNs = m.Candidate.Median;
        var (bound, boundNs) = BoundOf(flops, bytes, workingSetBytes, isa, roofline);
        bool compute = spec.ComputeBound;
        return new SpeedupResult
        {
            Operation = key.Op.ToString(),
            Dims = key.Dims,
            Isa = isa.ToString(),
            Baseline = baseline,
            BaselineNanoseconds = m.Baseline.Median,
            JitNanoseconds = jitNs,
            Speedup = m.Speedup,
            PairedSpeedup = m.MedianPairRatio,
            MaxAbsError = maxAbsError,
            Iterations = m.CandidateCalls,
            BaselineIterations = m.BaselineCalls,
            Samples = m.Candidate.Count,
            BaselineMinNanoseconds = m.Baseline.Min,
            JitMinNanoseconds = m.Candidate.Min,
            BaselineIqrNanoseconds = m.Baseline.Iqr,
            JitIqrNanoseconds = m.Candidate.Iqr,
            BaselineErrorNanoseconds = m.Baseline.Error999,
            JitErrorNanoseconds = m.Candidate.Error999,
            GFlops = compute ? flops / jitNs : null,
            GBps = compute ? null : bytes / jitNs,
            Bound = bound,
            BoundNanoseconds = boundNs,
            PercentOfBound = jitNs > 0 ? 100 * boundNs / jitNs : 0,
        };
    }

    /// <summary>The roofline bound: the larger of the compute time at the ISA's FMA peak and the transfer time at the bandwidth of the level the working set fits in.</summary>
    public static (string Bound, double Nanoseconds) BoundOf(double flops, double bytes, long workingSetBytes, JitIsa isa, RooflineResult r)
    {
        double peak = r.PeakGFlops(isa.ToString());
        double computeNs = peak > 0 ? flops / peak : 0;
        var (level, gbps) = r.BandwidthFor(workingSetBytes);
        double memNs = gbps > 0 ? bytes / gbps : 0;
        return computeNs >= memNs ? ("Compute", computeNs) : (level, memNs);
    }
}
