using NeuralJit.Jit;
using NeuralJit.Jit.Emitters;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.MatrixKernels;

public unsafe class MatVecKernelTests
{
    private static readonly MatVecEmitter Emitter = new();

    public static IEnumerable<object[]> MatrixShapes()
    {
        var rng = new Random(4242);
        int[] interesting = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 128, 131, 257, 293];
        var list = new List<(int M, int N, int Lda)> { (128, 64, 0), (512, 192, 0), (1, 1, 0), (17, 300, 307), (300, 17, 0) };
        for (int i = 0; i < 60; i++)
        {
            int Pick() => rng.Next(2) == 0 ? interesting[rng.Next(interesting.Length)] : rng.Next(1, 300);
            int m = Pick(), n = Pick();
            list.Add((m, n, rng.Next(3) == 0 ? n + rng.Next(1, 13) : 0));
        }
        int seed = 0;
        foreach (var (m, n, lda) in list)
            foreach (var isa in EmitterHarness.Isas)
                yield return [m, n, lda, isa, seed++];
    }

    [Theory]
    [MemberData(nameof(MatrixShapes))]
    public void GemvMatchesReference(int m, int n, int lda, JitIsa isa, int seed)
    {
        var shape = new OpShape(m, n, 0, lda);
        int ld = shape.StrideA(OpKind.Gemv), sa = ManagedKernels.MatrixSpan(m, n, ld);
        var rng = new Random(seed);
        var a = GemmKernelTests.Random(rng, sa); var x = GemmKernelTests.Random(rng, n); var y0 = GemmKernelTests.Random(rng, m);
        float alpha = seed % 3 == 0 ? 1f : (float)(rng.NextDouble() * 2 - 1), beta = seed % 2 == 0 ? 0f : (float)(rng.NextDouble() * 2 - 1);
        if (beta == 0) y0[rng.Next(m)] = float.NaN;
        using var h = new EmitterHarness();
        var (entry, code, off) = h.Compile(Emitter, new OpKey(OpKind.Gemv, shape), isa);
        using var fa = new FencedBuffer(sa, seed % 5); using var fx = new FencedBuffer(n, seed % 3 + 1); using var fy = new FencedBuffer(m, seed % 7);
        fa.CopyFrom(a); fx.CopyFrom(x); fy.CopyFrom(y0);
        KernelArgs args = default;
        args.A = fa.Pointer; args.B = fx.Pointer; args.C = fy.Pointer; args.Alpha = alpha; args.Beta = beta;
        EmitterHarness.Call(entry, &args);
        var expected = (float[])y0.Clone();
        ReferenceOps.Gemv(m, n, alpha, a, ld, x, beta, expected);
        string what = $"Gemv {m}x{n} lda {ld} {isa} α={alpha} β={beta}";
        fa.AssertFencesIntact(what); fx.AssertFencesIntact(what); fy.AssertFencesIntact(what);
        AssertClose(expected, fy.Span, 2e-6f * (n + 4), what);
        EmitterHarness.AssertDecodes(code, off, what);
    }

    [Theory]
    [MemberData(nameof(MatrixShapes))]
    public void DenseMatchesReference(int m, int n, int lda, JitIsa isa, int seed)
    {
        var shape = new OpShape(m, n, 0, lda);
        int ld = shape.StrideA(OpKind.Dense), sa = ManagedKernels.MatrixSpan(m, n, ld);
        var rng = new Random(seed + 1000);
        var w = GemmKernelTests.Random(rng, sa); var x = GemmKernelTests.Random(rng, n); var bias = GemmKernelTests.Random(rng, m);
        using var h = new EmitterHarness();
        var (entry, code, off) = h.Compile(Emitter, new OpKey(OpKind.Dense, shape), isa);
        using var fw = new FencedBuffer(sa, seed % 5); using var fx = new FencedBuffer(n, 1); using var fb = new FencedBuffer(m, seed % 3); using var fy = new FencedBuffer(m, 2);
        fw.CopyFrom(w); fx.CopyFrom(x); fb.CopyFrom(bias);
        KernelArgs args = default;
        args.A = fw.Pointer; args.B = fx.Pointer; args.D = fb.Pointer; args.C = fy.Pointer;
        EmitterHarness.Call(entry, &args);
        var expected = new float[m];
        ReferenceOps.Dense(m, n, w, ld, x, bias, expected);
        string what = $"Dense {m}x{n} lda {ld} {isa}";
        fw.AssertFencesIntact(what); fx.AssertFencesIntact(what); fb.AssertFencesIntact(what); fy.AssertFencesIntact(what);
        AssertClose(expected, fy.Span, 2e-6f * (n + 4), what);
        EmitterHarness.AssertDecodes(code, off, what);
    }

    public static IEnumerable<object[]> LstmShapes()
    {
        var rng = new Random(99);
        var list = new List<(int I, int H, int Extra)> { (64, 128, 0), (1, 1, 0), (3, 5, 0), (16, 16, 0), (17, 33, 3), (128, 64, 0), (7, 100, 9) };
        for (int i = 0; i < 40; i++) list.Add((rng.Next(1, 150), rng.Next(1, 150), rng.Next(3) == 0 ? rng.Next(1, 9) : 0));
        int seed = 0;
        foreach (var (inp, hid, extra) in list)
            foreach (var isa in EmitterHarness.Isas)
                yield return [inp, hid, extra, isa, seed++];
    }

    [Theory]
    [MemberData(nameof(LstmShapes))]
    public void FusedLstmStepMatchesGatesThenCell(int input, int hidden, int extraLd, JitIsa isa, int seed)
    {
        int g = 4 * hidden, row = input + hidden, ld = extraLd == 0 ? 0 : row + extraLd;
        var shape = new OpShape(g, input, hidden, ld);
        int stride = shape.StrideA(OpKind.LstmGates), sw = ManagedKernels.MatrixSpan(g, row, stride);
        var rng = new Random(seed + 77);
        var w = GemmKernelTests.Random(rng, sw); var x = GemmKernelTests.Random(rng, input); var hPrev = GemmKernelTests.Random(rng, hidden);
        var bias = GemmKernelTests.Random(rng, g); var c0 = GemmKernelTests.Random(rng, hidden);
        for (int i = 0; i < w.Length; i++) w[i] *= 2; // pre-activations up to ~±(2·row): exercises saturation of σ and tanh
        var key = new OpKey(OpKind.LstmGates, shape);
        Assert.True(Emitter.FusesCell(key));
        using var harness = new EmitterHarness();
        var (entry, code, off) = harness.Compile(Emitter, key, isa);
        using var fw = new FencedBuffer(sw, seed % 5); using var fx = new FencedBuffer(input, 1); using var fh = new FencedBuffer(hidden, 2);
        using var fb = new FencedBuffer(g, 3); using var fc = new FencedBuffer(hidden, seed % 4); using var fo = new FencedBuffer(hidden, 5);
        fw.CopyFrom(w); fx.CopyFrom(x); fh.CopyFrom(hPrev); fb.CopyFrom(bias); fc.CopyFrom(c0);
        KernelArgs args = default;
        args.A = fw.Pointer; args.B = fx.Pointer; args.C = fh.Pointer; args.D = fb.Pointer; args.F = fc.Pointer; args.G = fo.Pointer;
        EmitterHarness.Call(entry, &args);

        var gates = new float[g]; var c = (float[])c0.Clone(); var hNext = new float[hidden];
        ReferenceOps.LstmGates(g, input, hidden, w, stride, x, hPrev, bias, gates);
        ReferenceOps.LstmCell(hidden, gates, c, hNext);
        string what = $"LstmGates+cell {g}x{row} ld {stride} {isa}";
        foreach (var f in new[] { fw, fx, fh, fb, fc, fo }) f.AssertFencesIntact(what);
        // Pre-activations carry ~1e-6·row of summation-order error; σ/tanh have slope ≤ 1 and ~2.4e-7 relative error.
        float tol = 2e-6f * (row + 4);
        AssertClose(c, fc.Span, 2 * tol, what + " c′");
        AssertClose(hNext, fo.Span, 2 * tol, what + " h′");
        EmitterHarness.AssertDecodes(code, off, what);
    }

    [Theory]
    [InlineData(JitIsa.Avx2, 128)]
    [InlineData(JitIsa.Avx512, 128)]
    [InlineData(JitIsa.Avx2, 13)]
    [InlineData(JitIsa.Avx512, 37)]
    public void LstmCellMatchesReferenceIncludingNaNAndInfinity(JitIsa isa, int hidden)
    {
        if (isa > CpuFeatures.Best) return;
        var rng = new Random(hidden);
        var gates = GemmKernelTests.Random(rng, 4 * hidden); var c0 = GemmKernelTests.Random(rng, hidden);
        for (int i = 0; i < gates.Length; i++) gates[i] *= 40; // deep saturation
        gates[0] = float.NaN; gates[hidden + 1] = float.PositiveInfinity; gates[2 * hidden + 2] = float.NegativeInfinity; gates[3 * hidden + 3 % hidden] = float.NegativeInfinity;
        using var h = new EmitterHarness();
        var (entry, code, off) = h.Compile(Emitter, new OpKey(OpKind.LstmCell, OpShape.Vector(hidden)), isa);
        using var fg = new FencedBuffer(4 * hidden, 1); using var fc = new FencedBuffer(hidden, 2); using var fo = new FencedBuffer(hidden, 3);
        fg.CopyFrom(gates); fc.CopyFrom(c0);
        KernelArgs args = default;
        args.A = fg.Pointer; args.B = fc.Pointer; args.C = fo.Pointer;
        EmitterHarness.Call(entry, &args);
        var c = (float[])c0.Clone(); var hn = new float[hidden];
        ReferenceOps.LstmCell(hidden, gates, c, hn);
        string what = $"LstmCell {hidden} {isa}";
        fg.AssertFencesIntact(what); fc.AssertFencesIntact(what); fo.AssertFencesIntact(what);
        AssertClose(c, fc.Span, 1e-6f, what + " c′");
        AssertClose(hn, fo.Span, 1e-6f, what + " h′");
        EmitterHarness.AssertDecodes(code, off, what);
    }

    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tol, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (float.IsNaN(e) || float.IsInfinity(e)) { Assert.True(e.Equals(a), $"{what}: [{i}] = {a}, expected {e}"); continue; }
            Assert.True(Math.Abs(e - a) <= tol * Math.Max(1, Math.Abs(e)), $"{what}: [{i}] = {a}, expected {e} (|Δ| {Math.Abs(e - a):G3} > {tol:G3})");
        }
    }
}
