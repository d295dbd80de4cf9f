using NeuralJit.Benchmarking;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Benchmarking;

/// <summary>
/// The memory side of the roofline bound by kind of access: an op's bytes split into read, updated in place and written
/// from its descriptor, each charged at the rate the roofline measured for that kind at the working set's level.
/// </summary>
public class TrafficBoundTests
{
    /// <summary>Every rate distinct per kind and level, so a bound that charges one kind at another's rate, or at another level's, comes out different.</summary>
    private static RooflineResult Synthetic(long[]? curveBytes = null, double[]? readCurve = null, double[]? updateCurve = null, double[]? writeCurve = null) => new()
    {
        Avx2PeakGFlops = 100, Avx512PeakGFlops = 200,
        L1ReadGBps = 400, L2ReadGBps = 120, L3ReadGBps = 25, MemoryReadGBps = 12,
        L1UpdateGBps = 350, L2UpdateGBps = 100, L3UpdateGBps = 50, MemoryUpdateGBps = 22,
        L1WriteGBps = 170, L2WriteGBps = 55, L3WriteGBps = 20, MemoryWriteGBps = 8,
        L1DataBytes = 32 << 10, L2Bytes = 1 << 20, L3Bytes = 32 << 20, TestBufferBytes = [16 << 10, 512 << 10, 8 << 20, 128 << 20],
        ReadCurveBytes = curveBytes ?? [], ReadCurveGBps = readCurve ?? [], UpdateCurveGBps = updateCurve ?? [], WriteCurveGBps = writeCurve ?? [],
    };

    /// <summary>
    /// The rate of a working set of <paramref name="bytes"/> whose first <paramref name="kept"/> bytes a cache serves at
    /// <paramref name="keptRate"/> and the rest come at <paramref name="rate"/> (<see cref="RooflineResult.CeilingFor"/>).
    /// </summary>
    private static double Kept(long bytes, long kept, double keptRate, double rate) => bytes / (kept / keptRate + (bytes - kept) / rate);

    /// <summary>
    /// Each kind at its own level's rate, except the part of the working set the level below (its test buffer) keeps:
    /// 16 KiB in L1 at 512 KiB, L2's 512 KiB at 8 MiB, L3's 8 MiB at 256 MiB, each at that kind's rate there.
    /// </summary>
    [Theory]
    [InlineData(16L << 10, "L1", 0L, 400, 350, 170, 400, 350, 170)]
    [InlineData(512L << 10, "L2", 16L << 10, 400, 350, 170, 120, 100, 55)]
    [InlineData(8L << 20, "L3", 512L << 10, 120, 100, 55, 25, 50, 20)]
    [InlineData(256L << 20, "Memory", 8L << 20, 25, 50, 20, 12, 22, 8)]
    public void BoundChargesEachKindOfTrafficAtItsOwnRateAtTheWorkingSetsLevel(long workingSet, string level, long kept,
        double keptRead, double keptUpdate, double keptWrite, double read, double update, double write)
    {
        var r = Synthetic();
        read = Kept(workingSet, kept, keptRead, read);
        update = Kept(workingSet, kept, keptUpdate, update);
        write = Kept(workingSet, kept, keptWrite, write);
        var c = r.CeilingFor(workingSet);
        Assert.Equal((read, update, write), (c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        var traffic = new OpTraffic(Read: 3000, Updated: 8000, Written: 2000);
        var (bound, ns) = SpeedupBenchmark.BoundOf(flops: 1, traffic, workingSet, JitIsa.Avx512, r);
        Assert.Equal(level, bound);
        Assert.Equal(3000 / read + 8000 / update + 2000 / write, ns, 9);
        // Each kind alone: its bytes at its rate, nothing else.
        Assert.Equal(3000 / read, SpeedupBenchmark.BoundOf(1, new OpTraffic(3000, 0, 0), workingSet, JitIsa.Avx512, r).Nanoseconds, 9);
        Assert.Equal(8000 / update, SpeedupBenchmark.BoundOf(1, new OpTraffic(0, 8000, 0), workingSet, JitIsa.Avx512, r).Nanoseconds, 9);
        Assert.Equal(2000 / write, SpeedupBenchmark.BoundOf(1, new OpTraffic(0, 0, 2000), workingSet, JitIsa.Avx512, r).Nanoseconds, 9);
    }

    /// <summary>
    /// A level whose half-read, half-written loop ran at the rate of its slower half overlaps reads with writes: the bound is
    /// the longest kind's time. One that ran at the rate adding both halves' times predicts adds them; one between, between.
    /// </summary>
    [Theory]
    [InlineData(170.0 * 2, 0.0)]            // 0.5/400 and 0.5/170 overlapped: the write half alone, 1/340 per byte
    [InlineData(1 / (0.5 / 400 + 0.5 / 170), 1.0)]
    [InlineData(1 / (0.5 / 340 + 0.5 * (0.5 / 400 + 0.5 / 170)), 0.5)] // a time halfway between
    public void TimesOfDifferentKindsAddAsFarAsTheLevelsReadWriteLoopShowsTheyDo(double readWriteGBps, double serial)
    {
        var r = Synthetic();
        r = new RooflineResult
        {
            Avx2PeakGFlops = r.Avx2PeakGFlops, L1ReadGBps = r.L1ReadGBps, L1UpdateGBps = r.L1UpdateGBps, L1WriteGBps = r.L1WriteGBps,
            L1ReadWriteGBps = readWriteGBps, L1DataBytes = r.L1DataBytes, L2Bytes = r.L2Bytes, L3Bytes = r.L3Bytes,
        };
        var c = r.CeilingFor(16 << 10);
        Assert.Equal(serial, c.Serial, 6);
        double read = 3000 / 400.0, updated = 8000 / 350.0, written = 2000 / 170.0;
        double expected = updated + serial * (read + written);
        Assert.Equal(expected, SpeedupBenchmark.BoundOf(1, new OpTraffic(3000, 8000, 2000), 16 << 10, JitIsa.Avx2, r).Nanoseconds, 6);
    }

    [Fact]
    public void BoundIsComputeWhenTheFlopsTakeLongerThanTheTraffic()
    {
        var r = Synthetic();
        var (bound, ns) = SpeedupBenchmark.BoundOf(flops: 1e6, new OpTraffic(1000, 1000, 1000), 16 << 10, JitIsa.Avx2, r);
        Assert.Equal("Compute", bound);
        Assert.Equal(1e6 / 100, ns, 9);
        Assert.Equal(1e6 / 200, SpeedupBenchmark.BoundOf(1e6, new OpTraffic(1000, 1000, 1000), 16 << 10, JitIsa.Avx512, r).Nanoseconds, 9);
    }

    [Fact]
    public void TheCurveRaisesEachKindsCeilingAboveItsLevelAndADisturbedPointDoesNotLowerIt()
    {
        // Between L2 and L3: the curve at 1 MiB (the largest point not above 1.1 MiB) is faster than the L3 loop.
        var r = Synthetic(curveBytes: [1 << 20, 1_200_000, 2 << 20], readCurve: [60, 40, 26], updateCurve: [80, 30, 60], writeCurve: [35, 30, 24]);
        var c = r.CeilingFor(1_100_000);
        // Writes: the L2 loop's 512 KiB kept at 55 and the rest at 30 (the 1.2 MB point's) beat the 1 MiB point's 35.
        Assert.Equal(("L3", 60.0, 80.0, Kept(1_100_000, 512 << 10, 55, 30)), (c.Level, c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        Assert.Equal(("L3", 60.0), r.BandwidthFor(1_100_000));
        // At 1.3 MB the update point at 1.2 MB (30) is slower than the larger buffer's (60): a neighbour slowed it, so the
        // rest beyond the 1 MiB kept comes at 60. Each kind keeps the 1 MiB point's bytes, the rest at the fastest beyond.
        c = r.CeilingFor(1_300_000);
        Assert.Equal((Kept(1_300_000, 1 << 20, 60, 26), Kept(1_300_000, 1 << 20, 80, 60), Kept(1_300_000, 1 << 20, 35, 24)), (c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        // At the curve's last point, 1 MiB of it kept and the rest at that point's rate.
        c = r.CeilingFor(2 << 20);
        Assert.Equal(("L3", Kept(2 << 20, 1 << 20, 60, 26), Kept(2 << 20, 1 << 20, 80, 60), Kept(2 << 20, 1 << 20, 35, 24)), (c.Level, c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        // Past it, the next measured buffer's: the L3 loop's (8 MiB; keeping 8 MiB of 20 at it, the rest at memory's, is slower).
        c = r.CeilingFor(20L << 20);
        Assert.Equal(("L3", 25.0, 50.0, 20.0), (c.Level, c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        // Past the largest buffer: the L3 loop's 8 MiB kept, the rest at memory's rate.
        c = r.CeilingFor(256L << 20);
        Assert.Equal(("Memory", Kept(256L << 20, 8 << 20, 25, 12), Kept(256L << 20, 8 << 20, 50, 22), Kept(256L << 20, 8 << 20, 20, 8)), (c.Level, c.ReadGBps, c.UpdateGBps, c.WriteGBps));
    }

    /// <summary>
    /// An L3 that serves one core less than CPUID's size (a virtual machine's share): the curve past the L3 loop's buffer
    /// falls to memory's rates well inside the reported L3, and a working set there is charged as if the L3 kept what its
    /// loop measured and the rest came at memory's rate, not at the L3 loop's rate for all of it.
    /// </summary>
    [Fact]
    public void AWorkingSetPastWhereTheL3EndsForOneCoreIsChargedAsTheCurveRanThere()
    {
        var r = Synthetic(curveBytes: [2 << 20, 4 << 20, 11 << 20, 16 << 20, 64 << 20],
            readCurve: [40, 30, 14, 12, 11], updateCurve: [70, 55, 26, 23, 21], writeCurve: [30, 24, 10, 9, 8]);
        // 20 MiB: the sweeps there ran at 12 / 23 / 9, but the L3 loop's 8 MiB kept at 25 / 50 / 20 and the rest at
        // memory's (the fastest beyond: 12 / 22 / 8) is faster; never the L3 loop's rate for all of it.
        var c = r.CeilingFor(20L << 20);
        Assert.Equal(("L3", Kept(20L << 20, 8 << 20, 25, 12), Kept(20L << 20, 8 << 20, 50, 22), Kept(20L << 20, 8 << 20, 20, 8)), (c.Level, c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        Assert.Equal(("L3", Kept(20L << 20, 8 << 20, 25, 12)), r.BandwidthFor(20L << 20));
        // 5 MiB: the 4 MiB point, 30 / 24 (faster than the L3 loop's 25 / 20 at 8 MiB); updates: 2 MiB kept at 70, the
        // rest at the L3 loop's 50, beat the 4 MiB point's 55.
        c = r.CeilingFor(5L << 20);
        Assert.Equal((30.0, Kept(5L << 20, 2 << 20, 70, 50), 24.0), (c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        // 9 MiB: the L3 loop's buffer (8 MiB) is the nearest below.
        c = r.CeilingFor(9L << 20);
        Assert.Equal((25.0, 50.0, 20.0), (c.ReadGBps, c.UpdateGBps, c.WriteGBps));
        // Past the curve's last point (64 MiB, in memory): the L3 loop's 8 MiB kept, the rest at memory's loop (128 MiB).
        c = r.CeilingFor(100L << 20);
        Assert.Equal(("Memory", Kept(100L << 20, 8 << 20, 25, 12), Kept(100L << 20, 8 << 20, 50, 22), Kept(100L << 20, 8 << 20, 20, 8)), (c.Level, c.ReadGBps, c.UpdateGBps, c.WriteGBps));
    }

    /// <summary>The split recomputed from the operands' roles: inputs read (4 B a float), in-out operands read and written back (8 B), outputs written (4 B), scratch not moved.</summary>
    [Fact]
    public void TrafficSplitsBytesByOperandRoleForEveryOp()
    {
        foreach (var spec in OpSpecs.All)
            foreach (var shape in SampleShapes.Of(spec))
            {
                double read = 0, updated = 0, written = 0, footprint = 0;
                foreach (var o in spec.Operands)
                {
                    long n = o.Extent(shape).Touched;
                    if (o.Role == OperandRole.Input) read += 4.0 * n;
                    if (o.Role == OperandRole.InOut) updated += 8.0 * n;
                    if (o.Role == OperandRole.Output) written += 4.0 * n;
                    if (o.Role != OperandRole.Scratch) footprint += 4.0 * n;
                }
                var t = spec.Traffic(shape);
                string at = $"{spec.Kind} {spec.FormatDims(shape)}";
                Assert.True(new OpTraffic(read, updated, written) == t, $"{at}: {t}, expected read {read}, updated {updated}, written {written}");
                Assert.True(t.Read + t.Updated + t.Written == spec.Bytes(shape), $"{at}: the split sums to {t.Total}, Bytes is {spec.Bytes(shape)}");
                Assert.True(footprint == t.Footprint, $"{at}: footprint {t.Footprint}, the operands span {footprint}");
            }
    }

    [Fact]
    public void LstmStepUpdatesItsCellAndWritesItsHiddenState()
    {
        var step = new OpKey(OpKind.LstmStep, new OpShape(512, 64, 128));
        // W, x, h, bias read; c read and written back; h′ written; the gate scratch not counted.
        Assert.Equal(new OpTraffic(4.0 * (512 * 192 + 64 + 128 + 512), 8.0 * 128, 4.0 * 128), step.Spec.Traffic(step.Shape));
        var link = new OpKey(OpKind.DncLinkTemporal, new OpShape(1024, 4));
        // The N×N link matrix and the precedence updated in place; the forward and backward weightings written.
        Assert.Equal(new OpTraffic(4.0 * (1024 + 4 * 1024), 8.0 * (1024 * 1024 + 1024), 4.0 * 2 * 4 * 1024), link.Spec.Traffic(link.Shape));
    }

    /// <summary>Sanity only, no timings: each kind measured at every level and along the curve, and L1 faster than L2 faster than memory by far.</summary>
    [Fact]
    public void TheMeasuredRatesArePositiveAndFallFromL1ToMemory()
    {
        var r = Roofline.Cached;
        foreach (var (kind, l1, l2, l3, mem, curve) in new[]
        {
            ("read", r.L1ReadGBps, r.L2ReadGBps, r.L3ReadGBps, r.MemoryReadGBps, r.ReadCurveGBps),
            ("update", r.L1UpdateGBps, r.L2UpdateGBps, r.L3UpdateGBps, r.MemoryUpdateGBps, r.UpdateCurveGBps),
            ("write", r.L1WriteGBps, r.L2WriteGBps, r.L3WriteGBps, r.MemoryWriteGBps, r.WriteCurveGBps),
        })
        {
            Assert.True(l1 > 0 && l2 > 0 && l3 > 0 && mem > 0, $"{kind}: {l1}, {l2}, {l3}, {mem} GB/s");
            Assert.True(l1 > l2 && l2 > mem, $"{kind}: L1 {l1}, L2 {l2}, memory {mem} GB/s");
            Assert.Equal(r.ReadCurveBytes.Length, curve.Length);
            Assert.All(curve, g => Assert.True(g > 0, $"{kind} curve: {g} GB/s"));
        }
        // The curve is dense where L2 ends: no two points from half of L2 to twice L2 more than 10% apart; past that, none
        // more than √2 apart, out past the L3.
        var past = r.ReadCurveBytes.Where(b => b >= r.L2Bytes / 2 && b <= 2 * r.L2Bytes).ToArray();
        Assert.Contains(past, b => b >= 2 * r.L2Bytes - 512);
        Assert.All(past.Zip(past.Skip(1)), p => Assert.True(p.Second <= 1.1 * p.First, $"{p.First} B then {p.Second} B"));
        var beyond = r.ReadCurveBytes.Where(b => b >= past[^1]).ToArray();
        Assert.True(beyond[^1] > r.L3Bytes, $"the curve ends at {beyond[^1]} B, inside the {r.L3Bytes} B L3");
        Assert.All(beyond.Zip(beyond.Skip(1)), p => Assert.True(p.Second <= 1.42 * p.First, $"{p.First} B then {p.Second} B"));
    }
}
