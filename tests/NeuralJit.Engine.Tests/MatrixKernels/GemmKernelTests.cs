using NeuralJit.Jit;
using NeuralJit.Jit.Emitters;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.MatrixKernels;

public unsafe class GemmKernelTests
{
    private static readonly GemmEmitter Emitter = new();

    /// <summary>Random shapes 1..~300 with primes, leading dims larger than rows, misaligned operands, several α/β.</summary>
    public static IEnumerable<object[]> Shapes()
    {
        var rng = new Random(31337);
        int[] interesting = [1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 97, 127, 128, 131];
        var list = new List<(int, int, int, int, int, int)>
        {
            (64, 64, 64, 0, 0, 0), (128, 64, 64, 0, 0, 0), (1, 1, 1, 0, 0, 0), (6, 64, 64, 0, 0, 0), (14, 32, 9, 0, 0, 0),
            (13, 257, 11, 0, 0, 0), (293, 17, 5, 0, 0, 0), (5, 293, 3, 301, 300, 299), (211, 199, 7, 0, 0, 0), (3, 7, 0, 0, 0, 0),
        };
        for (int i = 0; i < 130; i++)
        {
            int Pick() => rng.Next(3) == 0 ? interesting[rng.Next(interesting.Length)] : rng.Next(1, i < 100 ? 80 : 300);
            int m = Pick(), n = Pick(), k = Pick();
            if ((long)m * n * k > 3_000_000) k = Math.Max(1, 3_000_000 / (m * n));
            bool ld = rng.Next(3) == 0;
            list.Add((m, n, k, ld ? k + rng.Next(1, 9) : 0, ld ? n + rng.Next(1, 9) : 0, ld ? n + rng.Next(1, 9) : 0));
        }
        int seed = 0;
        foreach (var (m, n, k, lda, ldb, ldc) in list)
            foreach (var isa in EmitterHarness.Isas)
                yield return [m, n, k, lda, ldb, ldc, isa, seed++];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesReferenceOnFencedMisalignedBuffers(int m, int n, int k, int lda, int ldb, int ldc, JitIsa isa, int seed)
    {
        var shape = OpShape.ForGemm(m, n, k, lda, ldb, ldc);
        var key = new OpKey(OpKind.Gemm, shape);
        using var h = new EmitterHarness();
        var (entry, code, off) = h.Compile(Emitter, key, isa);
        var rng = new Random(seed);
        int sa = ManagedKernels.MatrixSpan(m, k, shape.StrideA(OpKind.Gemm)), sb = ManagedKernels.MatrixSpan(k, n, shape.StrideB), sc = ManagedKernels.MatrixSpan(m, n, shape.StrideC);
        var a = Random(rng, sa); var b = Random(rng, sb); var c0 = Random(rng, sc);
        float alpha = seed % 3 == 0 ? 1f : (float)(rng.NextDouble() * 2 - 1);
        float beta = (seed % 4) switch { 0 => 0f, 1 => 1f, _ => (float)(rng.NextDouble() * 2 - 1) };
        if (beta == 0) c0[rng.Next(sc)] = float.NaN; // β = 0 must not read C

        using var fa = new FencedBuffer(sa, seed % 7); using var fb = new FencedBuffer(sb, seed % 5); using var fc = new FencedBuffer(sc, seed % 3);
        fa.CopyFrom(a); fb.CopyFrom(b); fc.CopyFrom(c0);
        KernelArgs args = default;
        args.A = fa.Pointer; args.B = fb.Pointer; args.C = fc.Pointer; args.Alpha = alpha; args.Beta = beta;
        EmitterHarness.Call(entry, &args);

        var expected = (float[])c0.Clone();
        ReferenceOps.Gemm(m, n, k, alpha, a, shape.StrideA(OpKind.Gemm), b, shape.StrideB, beta, expected, shape.StrideC);
        string what = $"Gemm {key.Dims} {isa} α={alpha} β={beta}";
        fa.AssertFencesIntact(what + " A"); fb.AssertFencesIntact(what + " B"); fc.AssertFencesIntact(what + " C");
        float tol = 2e-6f * (k + 4);
        var got = fc.Span;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < shape.StrideC && i * shape.StrideC + j < sc; j++)
            {
                int at = i * shape.StrideC + j;
                if (j >= n) { Assert.True(got[at].Equals(c0[at]), $"{what}: wrote C[{i},{j}] between rows (ldc padding)"); continue; }
                Assert.True(Math.Abs(got[at] - expected[at]) <= tol, $"{what}: C[{i},{j}] = {got[at]}, expected {expected[at]} (tolerance {tol})");
            }
        EmitterHarness.AssertDecodes(code, off, what);
    }

    [Theory]
    [InlineData(JitIsa.Avx2)]
    [InlineData(JitIsa.Avx512)]
    public void NaNAndInfinityPropagateLikeTheReference(JitIsa isa)
    {
        if (isa > CpuFeatures.Best) return;
        const int m = 9, n = 21, k = 10;
        var key = new OpKey(OpKind.Gemm, OpShape.ForGemm(m, n, k));
        using var h = new EmitterHarness();
        var (entry, _, _) = h.Compile(Emitter, key, isa);
        var rng = new Random(7);
        var a = Random(rng, m * k); var b = Random(rng, k * n); var c = Random(rng, m * n);
        a[2 * k + 3] = float.NaN;          // row 2 of C becomes NaN
        b[4 * n + 20] = float.PositiveInfinity; // column 20 becomes ±∞ (or NaN where it meets the NaN row)
        using var fa = new FencedBuffer(a.Length); using var fb = new FencedBuffer(b.Length); using var fc = new FencedBuffer(c.Length);
        fa.CopyFrom(a); fb.CopyFrom(b); fc.CopyFrom(c);
        KernelArgs args = default;
        args.A = fa.Pointer; args.B = fb.Pointer; args.C = fc.Pointer; args.Alpha = 1; args.Beta = 0.5f;
        EmitterHarness.Call(entry, &args);
        var expected = (float[])c.Clone();
        ReferenceOps.Gemm(m, n, k, 1, a, k, b, n, 0.5f, expected, n);
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) || float.IsInfinity(expected[i])) Assert.True(expected[i].Equals(fc.Span[i]), $"Gemm {isa}: C[{i / n},{i % n}] = {fc.Span[i]}, expected {expected[i]}");
            else Assert.True(Math.Abs(expected[i] - fc.Span[i]) < 1e-4, $"Gemm {isa}: C[{i / n},{i % n}] = {fc.Span[i]}, expected {expected[i]}");
        }
    }

    [Fact]
    public void BlockingFitsTheRegisterBudgetAndKeepsEightChains()
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
                        Assert.True(used <= regs, $"m={m} n={n} avx512={avx512}: {mr}x{w} tile needs {used} registers");
                        Assert.True(regs - mr * w - (!avx512 && mask ? 1 : 0) >= 3, $"m={m} n={n}: no room for the epilogue");
                    }
                    int nvec = (n + lanes - 1) / lanes;
                    if (m >= 8 && nvec >= 1) Assert.True(p.RowsFor(p.Nr) * p.Nr >= 8, $"m={m} n={n} avx512={avx512}: only {p.RowsFor(p.Nr) * p.Nr} accumulators");
                }
    }

    internal static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}
