using NeuralJit.Ops;

namespace NeuralJit.Reporting;

/// <summary>
/// One kernel on the roofline: its key, its arithmetic intensity from the engine's cost model, and its measured
/// time on the baseline and (or) the JIT tier. A Compare-JitSpeedup row has both; a profile row has the tier it ran on.
/// </summary>
public sealed record KernelPoint(OpKey Key, string Isa, string Baseline, double? BaselineNanoseconds, double? JitNanoseconds)
{
    /// <summary>fp32 flops and operand bytes of one call: the engine's one cost model, read here and nowhere else in reporting.</summary>
    public (double Flops, double Bytes) Cost { get; } = (Key.Spec.Flops(Key.Shape), Key.Spec.Bytes(Key.Shape));

    /// <summary>"LstmStep 512x192".</summary>
    public string Label => Key.ToString();
    /// <summary>FLOP per byte of operand traffic.</summary>
    public double Intensity => Cost.Bytes > 0 ? Cost.Flops / Cost.Bytes : 0;
    public double? BaselineGFlops => Rate(BaselineNanoseconds);
    public double? JitGFlops => Rate(JitNanoseconds);

    private double? Rate(double? ns) => ns is > 0 && double.IsFinite(ns.Value) ? Cost.Flops / ns.Value : null; // flops per ns = GFLOP/s
}
