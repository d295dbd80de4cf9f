namespace NeuralJit;

/// <summary>
/// What <c>Get-NeuralRoofline</c> returns: this core's measured fp32 FMA peak per ISA and its bandwidth from each
/// cache level and from memory for reads, in-place updates and writes, each the best of several runs of an emitted loop.
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
    /// <summary>
    /// In-place update (load, change, store to the same address) at each level, in bytes moved per second: each byte
    /// updated counts twice, read and written back, as <see cref="Ops.OpTraffic.Updated"/> counts an in-out operand.
    /// </summary>
    public double L1UpdateGBps { get; init; }
    public double L2UpdateGBps { get; init; }
    public double L3UpdateGBps { get; init; }
    public double MemoryUpdateGBps { get; init; }
    /// <summary>Write-only stores (every byte of the buffer overwritten, none read by the loop) to each level, in bytes written per second.</summary>
    public double L1WriteGBps { get; init; }
    public double L2WriteGBps { get; init; }
    public double L3WriteGBps { get; init; }
    public double MemoryWriteGBps { get; init; }
    /// <summary>
    /// A loop reading half its buffer while writing the other half, in bytes moved per second: how far each level overlaps
    /// reads with writes (L1 with 256-bit vectors has separate load and store ports; beyond L2 both share the line fills).
    /// </summary>
    public double L1ReadWriteGBps { get; init; }
    public double L2ReadWriteGBps { get; init; }
    public double L3ReadWriteGBps { get; init; }
    public double MemoryReadWriteGBps { get; init; }
    public long L1DataBytes { get; init; }
    public long L2Bytes { get; init; }
    public long L3Bytes { get; init; }
    public string CacheSizeSource { get; init; } = "";
    /// <summary>Buffer sizes the L1/L2/L3/memory loops read (half the level or more, never more than the level).</summary>
    public long[] TestBufferBytes { get; init; } = [];
    /// <summary>Buffer sizes of the bandwidth curves (read, update, write), where the cache levels blur: every √2 from 4 KiB to half of L2, then every 2^⅛ to twice L2, then every √2 to twice the L3 CPUID reports.</summary>
    public long[] ReadCurveBytes { get; init; } = [];
    /// <summary>The read bandwidth measured with a buffer of each of <see cref="ReadCurveBytes"/>.</summary>
    public double[] ReadCurveGBps { get; init; } = [];
    /// <summary>The in-place update rate (bytes moved, as <see cref="L1UpdateGBps"/>) with a buffer of each of <see cref="ReadCurveBytes"/>.</summary>
    public double[] UpdateCurveGBps { get; init; } = [];
    /// <summary>The write-only rate with a buffer of each of <see cref="ReadCurveBytes"/>.</summary>
    public double[] WriteCurveGBps { get; init; } = [];
    /// <summary>The ISA of the read loops (widest available: one load = one vector).</summary>
    public JitIsa BandwidthIsa { get; init; }
    public double TscGHz { get; init; }
    public double MeasurementMilliseconds { get; init; }

    /// <summary>The FMA peak of <paramref name="isa"/>, falling back to the narrower one.</summary>
    public double PeakGFlops(JitIsa isa) =>
        (isa == JitIsa.Avx512 ? Avx512PeakGFlops ?? Avx2PeakGFlops : Avx2PeakGFlops) ?? 0;

    /// <summary>
    /// The fastest a working set of <paramref name="bytes"/> can be read, and the level it fits in (see <see cref="CeilingFor"/>).
    /// </summary>
    public (string Level, double GBps) BandwidthFor(long bytes)
    {
        var c = CeilingFor(bytes);
        return (c.Level, c.ReadGBps);
    }

    /// <summary>
    /// The fastest a working set of <paramref name="bytes"/> can be read, updated in place and written, and the level CPUID
    /// says it fits in. Each rate is the one measured at the largest buffer not above <paramref name="bytes"/> (a level's test
    /// buffer or a curve point): a larger working set is never served faster, so that rate is a ceiling, and the nearest
    /// such buffer gives the tightest one. A buffer measured slower than a larger one was slowed by a neighbour, so the
    /// fastest of it and every larger buffer counts. Below the smallest buffer, that buffer's rate: L1 is no faster there.
    /// Where a cache keeping part of the working set would be faster (<see cref="PartKept"/>: just past a level, where a
    /// sweep loses the whole cache), that rate counts.
    /// The levels' sizes name the level and set how reads and writes overlap; the rates come from what was measured, so
    /// an L3 that serves a core less than CPUID's size (a virtual machine's share) is charged as it ran.
    /// </summary>
    public BandwidthCeiling CeilingFor(long bytes)
    {
        int level = bytes <= L1DataBytes ? 0 : bytes <= L2Bytes ? 1 : bytes <= L3Bytes ? 2 : 3;
        string[] names = ["L1", "L2", "L3", "Memory"];
        double[] read = [L1ReadGBps, L2ReadGBps, L3ReadGBps, MemoryReadGBps], write = [L1WriteGBps, L2WriteGBps, L3WriteGBps, MemoryWriteGBps];
        double[] update = [L1UpdateGBps, L2UpdateGBps, L3UpdateGBps, MemoryUpdateGBps];
        double[] readWrite = [L1ReadWriteGBps, L2ReadWriteGBps, L3ReadWriteGBps, MemoryReadWriteGBps];
        // Every measured buffer: the four levels' test buffers (unrecorded: a level's rate holds from where the level starts)
        // and the curve's points.
        long[] levelStart = [0, L1DataBytes + 1, L2Bytes + 1, L3Bytes + 1];
        var points = Enumerable.Range(0, 4)
            .Select(i => (Bytes: TestBufferBytes.Length == 4 ? TestBufferBytes[i] : levelStart[i], Read: read[i], Update: update[i], Write: write[i]))
            .Concat(ReadCurveBytes.Select((b, i) => (Bytes: b, Read: At(ReadCurveGBps, i), Update: At(UpdateCurveGBps, i), Write: At(WriteCurveGBps, i))))
            .OrderBy(p => p.Bytes).ToArray();
        int at = Math.Max(Array.FindLastIndex(points, p => p.Bytes <= bytes), 0);
        var from = points[at..];
        double Rate(Func<(long Bytes, double Read, double Update, double Write), double> kind) =>
            Math.Max(from.Max(kind), PartKept(points.Select(p => (p.Bytes, kind(p))).ToArray(), bytes));
        return new BandwidthCeiling(names[level], Rate(p => p.Read), Rate(p => p.Update), Rate(p => p.Write),
            Serial(read[level], write[level], readWrite[level]));
    }

    /// <summary>
    /// The rate if a cache kept part of the working set between passes: the bytes of a smaller measured buffer at its rate
    /// and the rest at the fastest rate measured at this size or beyond (past the largest buffer, its rate), the best such
    /// split. A loop sweeping a buffer just larger than a cache runs slower than this (the replacement policy evicts each
    /// line before its reuse), but a step that reads its data in another order (or a cache with a better policy) keeps up
    /// to a cache's worth, so only this split bounds it: on a 1 MiB L2 a sweep of 1.25 MB read at 43 GB/s, while the DNC
    /// step of N = 64 (1.24 MB) ran 10% faster than that rate allows.
    /// </summary>
    private static double PartKept((long Bytes, double Rate)[] points, long bytes)
    {
        if (points.Length == 0 || bytes <= 0) return 0;
        // Past the largest buffer, that buffer's rate (memory's).
        var beyond = points.Where(p => p.Bytes >= bytes).Select(p => p.Rate).DefaultIfEmpty(points.MaxBy(p => p.Bytes).Rate).Max();
        if (beyond <= 0) return 0;
        double best = bytes / beyond;
        foreach (var (b, r) in points)
            if (b < bytes && r > 0) best = Math.Min(best, b / r + (bytes - b) / beyond);
        return bytes / best;
    }

    private static double At(double[] rates, int i) => i < rates.Length ? rates[i] : 0;

    /// <summary>
    /// Where between overlapped (0) and added up (1) the times of reads and writes lie at a level, from its half-read,
    /// half-written loop: 1 − (what the loop saved against adding both halves' times) ÷ (what full overlap would save).
    /// Unmeasured: added up.
    /// </summary>
    private static double Serial(double read, double write, double readWrite)
    {
        if (read <= 0 || write <= 0 || readWrite <= 0) return 1;
        double added = 0.5 / read + 0.5 / write, overlapped = Math.Max(0.5 / read, 0.5 / write), measured = 1 / readWrite;
        return added > overlapped ? Math.Clamp((measured - overlapped) / (added - overlapped), 0, 1) : 1;
    }

    public override string ToString() =>
        $"FMA AVX2 {Avx2PeakGFlops:N1} / AVX-512 {Avx512PeakGFlops:N1} GFLOP/s; read L1 {L1ReadGBps:N0}, L2 {L2ReadGBps:N0}, L3 {L3ReadGBps:N0}, memory {MemoryReadGBps:N0} GB/s; "
        + $"update {L1UpdateGBps:N0}, {L2UpdateGBps:N0}, {L3UpdateGBps:N0}, {MemoryUpdateGBps:N0}; write {L1WriteGBps:N0}, {L2WriteGBps:N0}, {L3WriteGBps:N0}, {MemoryWriteGBps:N0} GB/s";
}

/// <summary>
/// What memory can do for one working set, from <see cref="RooflineResult.CeilingFor"/>: the level it fits in and its rate
/// (GB/s) for bytes read, bytes updated in place (counted read and written, as <see cref="RooflineResult.L1UpdateGBps"/>)
/// and bytes written; <see cref="Serial"/> says how the times of different kinds combine there: 0, the longest of them
/// (they overlap); 1, their sum; between, in proportion.
/// </summary>
public readonly record struct BandwidthCeiling(string Level, double ReadGBps, double UpdateGBps, double WriteGBps, double Serial = 1);
