using NeuralJit.Benchmarking;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;
using Xunit.Abstractions;

namespace NeuralJit.Engine.Tests.Benchmarking;

/// <summary>
/// A bound is a bound: no kernel, JIT or managed, runs faster than the roofline says it can. The keys are the
/// reference shapes and the rows that once printed more than 100% (a working set just over L1, an L2-resident EWC).
/// </summary>
public class RooflineBoundTests(ITestOutputHelper output)
{
    /// <summary>
    /// Medians of short side-by-side runs on a shared 2-core VM move by a few percent between runs, and each ceiling
    /// is the best of 7 runs, so a kernel at its true bound may read up to this much over 100%.
    /// </summary>
    private const double TolerancePercent = 10;

    /// <summary>
    /// A wrong bound is exceeded every time; a neighbour that slowed one ceiling's measurement is not. So a row fails
    /// only when it exceeds its bound in this many independent attempts, each against a freshly measured roofline.
    /// </summary>
    private const int Attempts = 3;

    /// <summary>The reference shapes, then the rows that once printed over 100% and a few of every kind of bound.</summary>
    private static readonly OpKey[] Keys =
    [
        .. SpeedupBenchmark.SeedTable,
        new(OpKind.LstmGates, new OpShape(512, 64, 128)),
        new(OpKind.Dense, OpShape.Matrix(128, 64)),
        new(OpKind.Dense, OpShape.Matrix(64, 128)),
        new(OpKind.Gemv, OpShape.Matrix(1024, 192)),
        new(OpKind.Add, OpShape.Vector(4096)),
        new(OpKind.Relu, OpShape.Vector(8)),
        new(OpKind.Softmax, OpShape.Vector(256)),
        // Operands updated in place (the link matrix, the memory), held to the update rate.
        new(OpKind.DncLinkUpdate, OpShape.Vector(256)),
        new(OpKind.DncWrite, new OpShape(256, 64)),
    ];

    [Fact]
    public void NoRowExceedsItsRooflineBound()
    {
        using var engine = JitTestEngine.Create();
        var rows = new List<string>();
        var rooflines = new List<RooflineResult> { Roofline.Cached };
        foreach (var key in Keys)
        {
            var kernel = engine.Jit.Compile(key, CpuFeatures.Best);
            for (int attempt = 0; ; attempt++)
            {
                if (attempt == rooflines.Count) rooflines.Add(Roofline.Measure());
                var r = SpeedupBenchmark.Compare(kernel, KernelTier.ManagedSimd, new BenchmarkBudget(TimeSpan.FromMilliseconds(60)), rooflines[attempt]);
                double managedPercent = 100 * r.BoundNanoseconds / r.BaselineNanoseconds;
                rows.Add($"{key,-24} {r.Isa,-7} bound {r.BoundNanoseconds,9:N1} ns ({r.Bound,-7}) JIT {r.JitNanoseconds,9:N1} ns = {r.PercentOfBound,5:N1}%  managed {r.BaselineNanoseconds,9:N1} ns = {managedPercent,5:N1}%");
                Assert.True(r.BoundNanoseconds > 0, $"{key}: no bound");
                if (r.PercentOfBound <= 100 + TolerancePercent && managedPercent <= 100 + TolerancePercent) break;
                Assert.True(attempt + 1 < Attempts,
                    $"{key} ran at {Math.Max(r.PercentOfBound, managedPercent):N1}% of its {r.Bound} bound in {Attempts} attempts: the bound is wrong.\n{string.Join('\n', rows)}");
            }
        }
        output.WriteLine(string.Join('\n', rows));
    }

    /// <summary>
    /// On this machine's measurement: the ceiling for a working set is never below a rate measured at any buffer at least
    /// as large (a larger working set is never served faster), nor above the fastest rate measured at any buffer not
    /// larger (part of it kept in a cache is served at most that fast). The curve reaches past the L3, so a working set in
    /// memory is never charged an L3 rate.
    /// </summary>
    [Fact]
    public void TheBandwidthCeilingLiesBetweenTheRatesMeasuredAtLargerBuffersAndTheFastestAtSmallerOnes()
    {
        var r = Roofline.Cached;
        Assert.NotEmpty(r.ReadCurveBytes);
        Assert.Equal(r.ReadCurveBytes.Length, r.ReadCurveGBps.Length);
        Assert.Equal(4, r.TestBufferBytes.Length);
        Assert.True(r.ReadCurveBytes[^1] > r.L3Bytes, $"the curve ends at {r.ReadCurveBytes[^1]} B, inside the {r.L3Bytes} B L3");
        var points = r.TestBufferBytes.Select((b, i) => (Bytes: b, Read: new[] { r.L1ReadGBps, r.L2ReadGBps, r.L3ReadGBps, r.MemoryReadGBps }[i]))
            .Concat(r.ReadCurveBytes.Select((b, i) => (Bytes: b, Read: r.ReadCurveGBps[i]))).OrderBy(p => p.Bytes).ToArray();
        foreach (long bytes in new long[] { 1, 4096, 20_000, r.L1DataBytes, r.L1DataBytes + 1, 100_000, r.L2Bytes, r.L2Bytes + 1,
                     3 * r.L2Bytes, r.L3Bytes / 2, r.L3Bytes, r.L3Bytes * 3 / 2, r.L3Bytes * 4, r.TestBufferBytes[3] * 2 })
        {
            var (_, gbps) = r.BandwidthFor(bytes);
            foreach (var p in points.Where(p => p.Bytes >= bytes))
                Assert.True(gbps >= p.Read, $"{bytes} B: {gbps} GB/s below the {p.Read} GB/s measured at {p.Bytes} B");
            double fastest = points.Where(p => p.Bytes <= bytes).Select(p => p.Read).DefaultIfEmpty(points[0].Read).Max();
            double beyond = points.Where(p => p.Bytes >= bytes).Select(p => p.Read).DefaultIfEmpty(0).Max();
            Assert.True(gbps <= Math.Max(fastest, beyond) * (1 + 1e-12), $"{bytes} B: {gbps} GB/s above every rate measured at or below it ({fastest}) and beyond ({beyond})");
        }
    }
}
