using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Jit.Emitters;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.MatrixKernels;

public class GemmKernelTests
{
    /// <summary>M, N, K from 1 to ~300 (LIBXSMM's sweep style): lane-boundary sizes, primes, random, and leading dims equal and larger.</summary>
    public static IEnumerable<OpShape> Shapes(int count, int seed)
    {
        var rng = new Random(seed);
        int[] special = [1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 97, 127, 128, 131, 257, 293];
        yield return OpShape.ForGemm(64, 64, 64);
        yield return OpShape.ForGemm(128, 64, 64);
        yield return OpShape.ForGemm(1, 1, 1);
        yield return OpShape.ForGemm(3, 7, 0);       // K = 0: C = β·C
        yield return OpShape.ForGemm(5, 293, 3, 301, 300, 299);
        yield return OpShape.ForGemm(293, 17, 5);
        // K split into L1 panels (panel > 16 KiB, several row tiles): whole panels, a remainder panel, ld > row.
        yield return OpShape.ForGemm(64, 64, 300);
        yield return OpShape.ForGemm(100, 33, 257, 260, 40, 35);
        yield return OpShape.ForGemm(37, 256, 131);
        yield return OpShape.ForGemm(30, 100, 64);
        yield return OpShape.ForGemm(20, 48, 600);   // AVX2 panels too (64–96 B per B row)
        for (int i = 0; i < count; i++)
        {
            int Pick() => rng.Next(3) == 0 ? special[rng.Next(special.Length)] : rng.Next(1, i < count * 3 / 4 ? 80 : 301);
            int m = Pick(), n = Pick(), k = Pick();
            if ((long)m * n * k > 2_000_000) k = Math.Max(1, 2_000_000 / (m * n));
            bool ld = rng.Next(3) == 0;
            yield return OpShape.ForGemm(m, n, k, ld ? k + rng.Next(1, 9) : 0, ld ? n + rng.Next(1, 9) : 0, ld ? n + rng.Next(1, 9) : 0);
        }
    }

    /// <summary>Summation order differs from the reference (FMA, blocked): error grows with K (|a|, |b| ≤ 1, |α|, |β| ≤ 2).</summary>
    private static OpTolerance For(OpShape s) => new(5e-6 * (s.K + 4), 1e-5);

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void MatchesReferenceOnRandomShapesWithFencedBuffers(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(16 << 20);
        int i = 0;
        foreach (var shape in Shapes(130, 31337 + (int)isa))
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.Gemm, shape), isa);
            // Every fourth call runs β = 0 with NaN/∞ sprinkled in C: β = 0 must overwrite C without reading it.
            float? beta = i % 4 == 0 ? 0f : i % 4 == 1 ? 1f : null;
            JitConformance.Check(kernel, For(shape), 1000 + i, JitConformance.PlacementFor(i), alpha: i % 3 == 0 ? 1f : null, beta: beta,
                fill: beta == 0 ? (field, rng) => field == "C" && rng.Next(5) == 0 ? float.NaN : (float)(rng.NextDouble() * 2 - 1) : null);
            if (i % 16 == 0) JitTestEngine.AssertDecodes(kernel);
            i++;
        }
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void NaNAndInfinityPropagateLikeTheReference(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        int i = 0;
        foreach (var shape in new[] { OpShape.ForGemm(9, 21, 10), OpShape.ForGemm(17, 33, 5), OpShape.ForGemm(64, 64, 64), OpShape.ForGemm(3, 8, 40, 41, 9, 8) })
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.Gemm, shape), isa);
            JitConformance.Check(kernel, For(shape), 77 + i, JitConformance.PlacementFor(i++),
                fill: (field, rng) => rng.Next(40) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, _ => (float)(rng.NextDouble() * 2 - 1) });
        }
    }

    [Fact]
    public void BlockingFitsTheRegisterBudgetAndKeepsEightChainsInFlight()
    {
        foreach (bool avx512 in new[] { false, true })
            foreach (int n in new[] { 1, 7, 8, 16, 17, 64, 100, 256, 300 })
                foreach (int m in new[] { 1, 5, 64, 300 })
                {
                    var p = GemmPlan.Choose(m, n, 64, avx512);
                    int regs = avx512 ? 32 : 16, lanes = avx512 ? 16 : 8;
                    bool mask = n % lanes != 0;
                    for (int w = 1; w <= p.Nr; w++)
                    {
                        int mr = p.RowsFor(w);
                        int used = mr * w + w + (avx512 && w == 1 ? 0 : 1) + (!avx512 && mask ? 1 : 0);
                        Assert.True(used <= regs, $"m={m} n={n} avx512={avx512}: a {mr}x{w} tile needs {used} registers of {regs}");
                        Assert.True(regs - mr * w - (!avx512 && mask ? 1 : 0) >= 3, $"m={m} n={n} avx512={avx512}: no 3 registers left for the α/β epilogue");
                    }
                    if (m >= 8) Assert.True(p.RowsFor(p.Nr) * p.Nr >= 8, $"m={m} n={n} avx512={avx512}: only {p.RowsFor(p.Nr) * p.Nr} accumulators");
                }
    }

    [Theory]
    [InlineData(false, 64, 64, 64)]
    [InlineData(true, 64, 64, 64)]
    [InlineData(false, 128, 128, 128)]
    [InlineData(true, 256, 256, 256)]
    [InlineData(true, 128, 64, 64)]
    public void ChosenBlockingKeepsTheFmaPortsBusyOnTheSeedShapes(bool avx512, int m, int n, int k)
    {
        // The model's own ideal: every FMA port busy every cycle, M·N·K / (lanes · 2 ports) cycles.
        var p = GemmPlan.Choose(m, n, k, avx512);
        double ideal = (double)m * n * k / ((avx512 ? 16 : 8) * 2);
        Assert.True(p.ModelCycles <= ideal * 1.08, $"{m}x{n}x{k} avx512={avx512}: nr={p.Nr}, mr={p.RowsFor(p.Nr)} models {p.ModelCycles:N0} cycles, ideal {ideal:N0}");
    }
}
