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
        var c = w.CreateNative(kernel.Entry, kernel.SuppressGcTransition, kernel.FusesCell);
        double err = w.MaxAbsDifference(b, c);
        var m = SideBySideRunner.Measure(b, c, budget, cancellation);
        return ToResult(kernel.Key, kernel.Isa, baseline.ToString(), m, err, w.WorkingSetBytes, roofline ?? Roofline.Cached);
    }

    public static SpeedupResult ToResult(OpKey key, JitIsa isa, string baseline, PairedMeasurement m, double maxAbsError, long workingSetBytes, RooflineResult roofline)
    {
        var (flops, bytes) = Cost(key);
        double jitNs = m.Candidate.Median;
        var (bound, boundNs) = BoundOf(flops, bytes, workingSetBytes, isa, roofline);
        bool compute = IsComputeOp(key.Op);
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

    /// <summary>Matrix products, whose figure of merit is GFLOP/s; the rest stream their operands (GB/s).</summary>
    public static bool IsComputeOp(OpKind op) => op is OpKind.Gemm or OpKind.Gemv or OpKind.Dense or OpKind.LstmGates or OpKind.CosineSimilarity or OpKind.DncContent
        or OpKind.DncTemporal or OpKind.DncRead or OpKind.DncLinkTemporal;

    /// <summary>
    /// fp32 flops (a multiply-add is 2) and operand bytes of one call. Transcendentals count as one flop
    /// per element: their bound is the memory term, which this makes explicit rather than hides.
    /// For LstmGates this is the whole fused step (gates and cell).
    /// </summary>
    public static (double Flops, double Bytes) Cost(OpKey key)
    {
        var s = key.Shape;
        double m = s.M, n = s.N, k = s.K;
        return key.Op switch
        {
            OpKind.Gemm => (2 * m * n * k, 4 * (m * k + k * n + 2 * m * n)),
            OpKind.Gemv or OpKind.Dense => (2 * m * n, 4 * (m * n + n + 2 * m)),
            OpKind.LstmGates => (2 * m * (n + k) + 10 * k, 4 * (m * (n + k) + n + k + m + 3 * k)),
            OpKind.LstmCell => (10 * m, 4 * (4 * m + 3 * m)),
            OpKind.CosineSimilarity => (4 * m * n, 4 * (m * n + n + m)),
            OpKind.DncContent => (4 * m * n + 3 * m, 4 * (m * n + n + m)),
            OpKind.EwcPenalty => (3 * m * Math.Max(1, n), 12 * m * Math.Max(1, n)),
            OpKind.Add or OpKind.Mul => (m, 12 * m),
            OpKind.Axpy => (2 * m, 12 * m),
            OpKind.Dot => (2 * m, 8 * m),
            // DNC (M = N slots): the sums count 2 flops per multiply-add; the rest one per arithmetic operation.
            OpKind.DncInterface => (DncInterfaceLayout.SizeOf(s.M, s.N), 8.0 * DncInterfaceLayout.SizeOf(s.M, s.N)),
            OpKind.DncUsage => (3 * m * n + 4 * m, 4 * (n + m * n + 3 * m)),
            OpKind.DncAllocation => (3 * m, 8 * m),
            OpKind.DncWriteWeighting => (4 * m, 12 * m),
            OpKind.DncWrite => (5 * m * n, 4 * (2 * m * n + m + 2 * n)),
            OpKind.DncLinkUpdate => (4 * m * m, 4 * (2 * m * m + 4 * m)),
            OpKind.DncTemporal => (4 * n * m * m, 4 * (m * m + 3 * n * m)),
            OpKind.DncLinkTemporal => (4 * m * m + 4 * n * m * m, 4 * (2 * m * m + 4 * m + 3 * n * m)),
            OpKind.DncReadWeighting => (5 * n * m, 4 * (4 * n * m + 3 * n)),
            OpKind.DncRead => (2 * m * n * k, 4 * (m * n + k * m + k * n)),
            _ => (m, 8 * m),
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
