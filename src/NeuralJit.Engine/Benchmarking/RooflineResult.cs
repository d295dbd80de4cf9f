namespace NeuralJit;

/// <summary>
/// What <c>Get-NeuralRoofline</c> returns: this core's measured fp32 FMA peak per ISA and its read
/// bandwidth from each cache level and from memory, each the best of several runs of an emitted loop.
/// Rates are per wall-clock second; the per-TSC-tick figures divide by the TSC frequency (the TSC ticks
/// at a constant rate, not at the core clock). A null peak means the CPU lacks that ISA.
/// </summary>
public sealed class RooflineResult
{
    public double? Avx2PeakGFlops { get; init; }
    public double? Avx512PeakGFlops { get; init; }
    /// <summary>fp32 flops per TSC tick at the AVX-512 (else AVX2) peak.</summary>
    public double PeakFlopsPerTick { get; init; }
    public double L1ReadGBps { get; init; }
    public double L2ReadGBps { get; init; }
    public double L3ReadGBps { get; init; }
    public double MemoryReadGBps { get; init; }
    public double L1BytesPerTick { get; init; }
    public double L2BytesPerTick { get; init; }
    public double L3BytesPerTick { get; init; }
    public double MemoryBytesPerTick { get; init; }
    public long L1DataBytes { get; init; }
    public long L2Bytes { get; init; }
    public long L3Bytes { get; init; }
    public string CacheSizeSource { get; init; } = "";
    /// <summary>Buffer sizes the L1/L2/L3/memory loops read (half the level or more, never more than the level).</summary>
    public long[] TestBufferBytes { get; init; } = [];
    /// <summary>Buffer sizes of the read-bandwidth curve, every √2 from 4 KiB to twice L2, where the cache levels blur.</summary>
    public long[] ReadCurveBytes { get; init; } = [];
    /// <summary>The read bandwidth measured with a buffer of each of <see cref="ReadCurveBytes"/>.</summary>
    public double[] ReadCurveGBps { get; init; } = [];
    /// <summary>The ISA of the read loops (widest available: one load = one vector).</summary>
    public JitIsa BandwidthIsa { get; init; }
    public double TscGHz { get; init; }
    public double MeasurementMilliseconds { get; init; }

    /// <summary>The FMA peak of <paramref name="isa"/>, falling back to the narrower one.</summary>
    public double PeakGFlops(JitIsa isa) =>
        (isa == JitIsa.Avx512 ? Avx512PeakGFlops ?? Avx2PeakGFlops : Avx2PeakGFlops) ?? 0;

    /// <summary>
    /// The fastest a working set of <paramref name="bytes"/> can be read, and the level it fits in: the larger of that
    /// level's rate and the curve's rate at the largest measured buffer not above <paramref name="bytes"/> (the rate only
    /// falls as buffers grow, so this is a ceiling, never an estimate: a kernel cannot beat it).
    /// </summary>
    public (string Level, double GBps) BandwidthFor(long bytes)
    {
        var (level, rate) = bytes <= L1DataBytes ? ("L1", L1ReadGBps)
            : bytes <= L2Bytes ? ("L2", L2ReadGBps)
            : bytes <= L3Bytes ? ("L3", L3ReadGBps)
            : ("Memory", MemoryReadGBps);
        // Below the curve's first buffer, its first point: the rate of an L1-resident loop no longer grows there.
        int at = Array.FindLastIndex(ReadCurveBytes, b => b <= bytes);
        double curve = ReadCurveGBps.Length == 0 ? 0 : ReadCurveGBps[Math.Max(at, 0)];
        return (level, Math.Max(rate, curve));
    }

    public override string ToString() =>
        $"FMA AVX2 {Avx2PeakGFlops:N1} / AVX-512 {Avx512PeakGFlops:N1} GFLOP/s; read L1 {L1ReadGBps:N0}, L2 {L2ReadGBps:N0}, L3 {L3ReadGBps:N0}, memory {MemoryReadGBps:N0} GB/s";
}
