using NeuralJit.Ops;

namespace NeuralJit;

/// <summary>
/// What <c>Compare-JitSpeedup</c> returns: one (op, dims, baseline) measured against the JIT kernel
/// interleaved in one run. Times are nanoseconds per call (medians of timed batches); Speedup =
/// BaselineNanoseconds / JitNanoseconds. PercentOfBound is the JIT result against its roofline bound:
/// max(flops / FMA peak of <see cref="Isa"/>, bytes / read bandwidth of the level the operands fit in).
/// </summary>
public sealed class SpeedupResult
{
    public OpKind Operation { get; init; }
    public string Dims { get; init; } = "";
    /// <summary>ISA of the JIT kernel (Avx2 or Avx512).</summary>
    public JitIsa Isa { get; init; }
    /// <summary>"Scalar" (the reference loops) or "ManagedSimd" (the managed tier).</summary>
    public string Baseline { get; init; } = "";
    public double BaselineNanoseconds { get; init; }
    public double JitNanoseconds { get; init; }
    public double Speedup { get; init; }
    /// <summary>Largest |baseline − JIT| over every output after one call each from the same inputs.</summary>
    public double MaxAbsError { get; init; }
    /// <summary>Timed calls of the JIT side (the baseline's count is <see cref="BaselineIterations"/>).</summary>
    public long Iterations { get; init; }
    public long BaselineIterations { get; init; }
    /// <summary>Timed batches per side (each a sample).</summary>
    public int Samples { get; init; }
    public double BaselineMinNanoseconds { get; init; }
    public double JitMinNanoseconds { get; init; }
    /// <summary>Interquartile range of the per-batch times.</summary>
    public double BaselineIqrNanoseconds { get; init; }
    public double JitIqrNanoseconds { get; init; }
    /// <summary>Half the 99.9% confidence interval of the mean (BenchmarkDotNet's "Error").</summary>
    public double BaselineErrorNanoseconds { get; init; }
    public double JitErrorNanoseconds { get; init; }
    /// <summary>Median of the per-round ratios (adjacent batches), a drift-robust second view of Speedup.</summary>
    public double PairedSpeedup { get; init; }
    /// <summary>JIT GFLOP/s for compute-heavy ops (matrix products), else null.</summary>
    public double? GFlops { get; init; }
    /// <summary>JIT GB/s of operand traffic for streaming ops, else null.</summary>
    public double? GBps { get; init; }
    /// <summary>What bounds the op here: "Compute", or the memory level its operands live in ("L1", "L2", "L3", "Memory").</summary>
    public string Bound { get; init; } = "";
    public double BoundNanoseconds { get; init; }
    /// <summary>BoundNanoseconds / JitNanoseconds × 100.</summary>
    public double PercentOfBound { get; init; }

    public override string ToString() => $"{Operation} {Dims} {Isa} vs {Baseline}: {Speedup:N2}x";
}
