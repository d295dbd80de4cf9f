using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>
/// Builds <see cref="SpeedupResult"/>s: one JIT kernel against one managed baseline, interleaved, with the
/// largest output difference and the JIT result's share of its roofline bound.
/// </summary>
public static class SpeedupBenchmark
{
    /// <summary>The reference shapes, measured by Compare-JitSpeedup without -Operation and by the benchmark app: LSTM step 64→128 (fused), DNC content 256×64, GEMM 64³ and 128×64×64, cosine 256×64, EWC 128×128.</summary>
    public static IReadOnlyList<OpKey> SeedTable { get; } =
    [
        new(OpKind.LstmStep, new OpShape(512, 64, 128)),
        new(OpKind.DncContent, OpShape.Matrix(256, 64)),
        new(OpKind.Gemm, OpShape.ForGemm(64, 64, 64)),
        new(OpKind.Gemm, OpShape.ForGemm(128, 64, 64)),
        new(OpKind.CosineSimilarity, OpShape.Matrix(256, 64)),
        new(OpKind.EwcPenalty, OpShape.Matrix(128, 128)),
    ];

    /// <summary>
    /// Most flops one measured call may take (GEMM ≈ 1700³): a JIT kernel runs to its end before a stop request is
    /// seen, and at this size that is ≤ 0.1 s even on AVX2 (managed tiers check between panels of rows).
    /// </summary>
    public const double MaxCallFlops = 1e10;

    /// <summary>Measures <paramref name="kernel"/> against the <paramref name="baseline"/> tier (Scalar or ManagedSimd).</summary>
    public static SpeedupResult Compare(JitKernel kernel, KernelTier baseline, BenchmarkBudget budget, RooflineResult? roofline = null, CancellationToken cancellation = default)
    {
        if (baseline is not (KernelTier.Scalar or KernelTier.ManagedSimd))
            throw new ArgumentOutOfRangeException(nameof(baseline), baseline, "The baseline is a managed tier: Scalar or ManagedSimd.");
        using var w = new OpWorkload(kernel.Key) { Cancellation = cancellation };
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
        var (bound, boundNs) = BoundOf(flops, spec.Traffic(key.Shape), workingSetBytes, isa, roofline);
        bool compute = spec.ComputeBound;
        return new SpeedupResult
        {
            Operation = key.Op,
            Dims = key.Dims,
            Isa = isa,
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

    /// <summary>
    /// The roofline bound: the larger of the compute time at the ISA's FMA peak and the transfer time at the level the
    /// working set fits in, each kind of traffic at its own measured rate there. How those times combine is measured too
    /// (<see cref="BandwidthCeiling.Serial"/>): from L3 out, and in L1 and L2 with 512-bit vectors, a loop that reads half
    /// its bytes and writes the other half takes the sum of both halves' times (reads and writes share the fills); in L1
    /// with 256-bit vectors it takes the longer (separate load and store ports), and in L2 in between.
    /// </summary>
    public static (string Bound, double Nanoseconds) BoundOf(double flops, OpTraffic traffic, long workingSetBytes, JitIsa isa, RooflineResult r)
    {
        double peak = r.PeakGFlops(isa);
        double computeNs = peak > 0 ? flops / peak : 0;
        var c = r.CeilingFor(workingSetBytes);
        double read = Time(traffic.Read, c.ReadGBps), updated = Time(traffic.Updated, c.UpdateGBps), written = Time(traffic.Written, c.WriteGBps);
        double longest = Math.Max(read, Math.Max(updated, written));
        double memNs = longest + c.Serial * (read + updated + written - longest);
        return computeNs >= memNs ? ("Compute", computeNs) : (c.Level, memNs);
    }

    private static double Time(double bytes, double gbps) => bytes > 0 && gbps > 0 ? bytes / gbps : 0;
}
