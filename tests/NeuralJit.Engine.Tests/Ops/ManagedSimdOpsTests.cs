using System.Runtime.Intrinsics;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Ops;

/// <summary>
/// The managed SIMD tier against the reference, through the KernelArgs adapter (ManagedKernels) like every tier is
/// called: random shapes with remainders of 8 and 16, size 1 and 0, leading dimensions larger than a row, operands
/// offset by one float, and special values. Tolerances per op are stated in its descriptor (<see cref="OpSpec.Accuracy"/>);
/// every element-wise op in the descriptor table is swept without being named here.
/// </summary>
public class ManagedSimdOpsTests
{
    private static readonly int[] VectorLengths = [0, 1, 7, 15, 16, 17, 31, 33, 100, 257, 1000];

    /// <summary>The element-wise ops of the descriptor table, then the other vector ops.</summary>
    private static IEnumerable<OpKind> VectorOps =>
        OpSpecs.All.Where(s => s.Elementwise).Select(s => s.Kind).Concat([OpKind.Softmax, OpKind.Dot]);

    /// <summary>(op, M, N, K, lda, ldb, ldc) cases per op; lda/ldb/ldc 0 = tight.</summary>
    public static IEnumerable<object[]> Shapes()
    {
        object[] S(OpKind op, int m, int n = 0, int k = 0, int lda = 0, int ldb = 0, int ldc = 0) => [op, m, n, k, lda, ldb, ldc];
        foreach (var (m, n, k) in new[] { (0, 5, 3), (5, 0, 3), (1, 1, 1), (3, 5, 0), (4, 32, 5), (4, 16, 3), (5, 33, 7), (7, 17, 1), (13, 47, 19), (9, 70, 33), (2, 8, 64) })
            yield return S(OpKind.Gemm, m, n, k);
        yield return S(OpKind.Gemm, 5, 33, 7, lda: 10, ldb: 40, ldc: 35);
        yield return S(OpKind.Gemm, 6, 20, 9, lda: 9, ldb: 21, ldc: 23);
        foreach (var op in new[] { OpKind.Gemv, OpKind.Dense, OpKind.CosineSimilarity, OpKind.DncContent })
        {
            foreach (var (m, n) in new[] { (0, 5), (1, 1), (1, 16), (4, 16), (5, 7), (7, 33), (13, 100), (130, 64) })
                yield return S(op, m, n);
            yield return S(op, 5, 17, lda: 20);
            yield return S(op, 9, 40, lda: 41);
        }
        foreach (var op in new[] { OpKind.LstmGates, OpKind.LstmStep })
        {
            foreach (var (input, hidden) in new[] { (1, 1), (5, 3), (13, 7), (17, 33), (64, 128), (0, 4) })
                yield return S(op, 4 * hidden, input, hidden);
            yield return S(op, 20, 3, 5, lda: 11);
        }
        foreach (int h in new[] { 0, 1, 7, 16, 17, 128, 130, 300 })
            yield return S(OpKind.LstmCell, h);
        foreach (var (m, n) in new[] { (0, 0), (1, 0), (15, 0), (17, 1), (100, 7), (1000, 10) })
            yield return S(OpKind.EwcPenalty, m, n);
        foreach (var op in VectorOps)
            foreach (int n in VectorLengths)
                yield return S(op, n);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ManagedSimdMatchesReferenceOnRandomShapes(OpKind op, int m, int n, int k, int lda, int ldb, int ldc)
    {
        var shape = new OpShape(m, n, k, lda, ldb, ldc);
        foreach (bool unaligned in new[] { false, true })
            foreach (int seed in new[] { 1, 2 })
                OpTestData.AssertTierMatchesReference(op, shape, KernelTier.ManagedSimd, seed, unaligned);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Vector256PathMatchesReference(OpKind op, int m, int n, int k, int lda, int ldb, int ldc)
    {
        if (!Vector256.IsHardwareAccelerated) return; // no AVX2: the public entry points already ran the scalar fallback
        if (!Width256.Supports(op)) return; // TensorPrimitives ops dispatch their width internally
        using var inputs = OpTestData.Create(op, new OpShape(m, n, k, lda, ldb, ldc), seed: 3, unaligned: true);
        OpTestData.AssertMatchesReference(inputs, Width256.Run, "Vector256 path");
    }

    public static IEnumerable<object[]> SpecialCases()
    {
        var shapes = new (OpKind, OpShape)[]
        {
            (OpKind.Gemm, OpShape.ForGemm(6, 37, 11)), (OpKind.Gemv, OpShape.Matrix(9, 37)), (OpKind.Dense, OpShape.Matrix(9, 37)),
            (OpKind.LstmGates, new OpShape(4 * 9, 13, 9)), (OpKind.LstmStep, new OpShape(4 * 9, 13, 9)), (OpKind.LstmCell, OpShape.Vector(37)),
            (OpKind.CosineSimilarity, OpShape.Matrix(9, 37)), (OpKind.DncContent, OpShape.Matrix(9, 37)),
            (OpKind.EwcPenalty, OpShape.Matrix(9, 37)),
        };
        foreach (var (op, s) in shapes.Concat(VectorOps.Select(op => (op, OpShape.Vector(37)))))
            yield return [op, s.M, s.N, s.K];
    }

    [Theory]
    [MemberData(nameof(SpecialCases))]
    public void SpecialValuesGiveTheReferenceResultsAndNaNPositions(OpKind op, int m, int n, int k)
    {
        var shape = new OpShape(m, n, k);
        for (int seed = 1; seed <= 12; seed++)
        {
            var kinds = (seed % 3) switch { 0 => SpecialValues.All, 1 => SpecialValues.Extremes, _ => SpecialValues.NaN | SpecialValues.Infinities };
            using var inputs = OpTestData.Create(op, shape, seed, unaligned: seed % 2 == 0);
            string planted = inputs.Inject(kinds, seed, count: 1 + seed % 4);
            OpTestData.AssertMatchesReference(inputs, o => o.Run(KernelTier.ManagedSimd), $"seed {seed}: {planted}");
            if (Vector256.IsHardwareAccelerated && Width256.Supports(op))
                OpTestData.AssertMatchesReference(inputs, Width256.Run, $"Vector256, seed {seed}: {planted}");
        }
    }

    [Theory]
    [InlineData(KernelTier.Scalar)]
    [InlineData(KernelTier.ManagedSimd)]
    public void LargeAndTinyInputsStayWithinTolerance(KernelTier tier)
    {
        foreach (float scale in new[] { 1e-20f, 1e15f })
            foreach (var op in new[] { OpKind.Gemm, OpKind.Gemv, OpKind.Dense, OpKind.Dot, OpKind.EwcPenalty, OpKind.CosineSimilarity, OpKind.Add, OpKind.Mul, OpKind.Softsign, OpKind.Relu })
            {
                var shape = op switch { OpKind.Gemm => OpShape.ForGemm(5, 19, 23), OpKind.Dot or OpKind.Add or OpKind.Mul or OpKind.Softsign or OpKind.Relu => OpShape.Vector(45), _ => OpShape.Matrix(7, 45) };
                OpTestData.AssertTierMatchesReference(op, shape, tier, seed: 11, scale: scale);
            }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BetaZeroOverwritesNaNGarbageInC(bool width256)
    {
        if (width256 && !Vector256.IsHardwareAccelerated) return;
        foreach (var (op, shape) in new[] { (OpKind.Gemm, OpShape.ForGemm(6, 37, 5, ldc: 40)), (OpKind.Gemv, OpShape.Matrix(9, 21)) })
        {
            using var inputs = OpTestData.Create(op, shape, seed: 5);
            inputs.Beta = 0;
            inputs['C']!.Span.Fill(float.NaN);
            using var actual = inputs.Clone();
            if (width256) Width256.Run(actual); else actual.Run(KernelTier.ManagedSimd);
            var c = actual['C']!.ToArray();
            int ldc = op == OpKind.Gemm ? shape.StrideC : 1, cols = op == OpKind.Gemm ? shape.N : 1;
            for (int i = 0; i < shape.M; i++)
                for (int j = 0; j < cols; j++)
                    Assert.False(float.IsNaN(c[i * ldc + j]), $"{op} {shape}: C[{i},{j}] kept the NaN that β = 0 must overwrite");
            OpTestData.AssertMatchesReference(inputs, o => { if (width256) Width256.Run(o); else o.Run(KernelTier.ManagedSimd); });
        }
    }

    public static TheoryData<OpKind> InPlaceOps() => [.. OpSpecs.All.Where(s => s.Elementwise).Select(s => s.Kind), OpKind.Softmax];

    [Theory]
    [MemberData(nameof(InPlaceOps))]
    public unsafe void ElementWiseOpsAllowExactInPlace(OpKind op)
    {
        var managed = ManagedKernels.Get(op, KernelTier.ManagedSimd);
        foreach (int n in new[] { 1, 17, 100 })
        {
            using var inputs = OpTestData.Create(op, OpShape.Vector(n), seed: 7);
            inputs.Inject(SpecialValues.All, seed: n, count: 2, 'A');
            var shape = inputs.Shape;
            OpTestData.AssertInPlaceMatchesReference(inputs, a => managed(in shape, (KernelArgs*)a), "in place (output == input)", KernelTier.ManagedSimd);
        }
    }

    [Fact]
    public void ReluKeepsNaNAndZeroesNegatives()
    {
        float[] x = [float.NaN, -1, -0f, 0, 2, float.NegativeInfinity, float.PositiveInfinity, -float.Epsilon, 3, float.NaN, 1, -5, 7, 8, 9, 10, 11];
        var y = new float[x.Length];
        ManagedSimdOps.Relu(x, y);
        Assert.True(float.IsNaN(y[0]) && float.IsNaN(y[9]), "Relu(NaN) must be NaN");
        Assert.Equal(new float[] { 0, 0, 0, 2, 0, float.PositiveInfinity, 0, 3 }, y[1..9]);
    }

    [Fact]
    public void SoftmaxWithNaNOrPlusInfinityIsAllNaNLikeTheReference()
    {
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
        {
            var x = Enumerable.Range(0, 37).Select(i => i * 0.1f).ToArray();
            x[20] = bad;
            var y = new float[x.Length];
            ManagedSimdOps.Softmax(x, y);
            Assert.All(y, v => Assert.True(float.IsNaN(v), $"softmax with {bad} gave {v}"));
        }
        // Large but finite inputs are fine thanks to the max subtraction.
        var big = new float[] { 1000, 1001, 999 };
        var p = new float[3];
        ManagedSimdOps.Softmax(big, p);
        Assert.Equal(1.0, p.Sum(), 5);
        Assert.True(p[1] > p[0] && p[0] > p[2]);
    }

    /// <summary>
    /// The adapter maps KernelArgs fields to the IOpSet parameters as OpKind documents: calling it must equal calling the op
    /// directly, for both tiers. Element-wise ops share one generic adapter (A, B → C), held by the sweeps and the in-place test.
    /// </summary>
    [Theory]
    [MemberData(nameof(AdapterCases))]
    public void ManagedKernelsAdapterPassesTheOperandsOpKindDocuments(OpKind op, int m, int n, int k)
    {
        var shape = op == OpKind.Gemm ? OpShape.ForGemm(m, n, k, lda: k + 2, ldb: n + 1, ldc: n + 3)
            : op is OpKind.Gemv or OpKind.Dense or OpKind.CosineSimilarity or OpKind.DncContent ? OpShape.Matrix(m, n, lda: n + 5)
            : op is OpKind.LstmGates or OpKind.LstmStep ? new OpShape(m, n, k, Lda: n + k + 4) : new OpShape(m, n, k);
        foreach (var tier in new[] { KernelTier.Scalar, KernelTier.ManagedSimd })
        {
            using var viaAdapter = OpTestData.Create(op, shape, seed: 9, unaligned: true);
            using var direct = viaAdapter.Clone();
            viaAdapter.Run(tier);
            if (tier == KernelTier.Scalar) Direct.Run<ReferenceOps>(direct); else Direct.Run<ManagedSimdOps>(direct);
            OpTestData.AssertClose(direct, viaAdapter, OpTolerance.Exact("the same code on the same data"), $"adapter, {tier}");
        }
    }

    /// <summary>The special cases of the ops with an adapter of their own (the <see cref="IOpSet"/> members).</summary>
    public static IEnumerable<object[]> AdapterCases() =>
        SpecialCases().Where(c => (OpKind)c[0] is var op && op != OpKind.Softmax && !(OpSpecs.For(op).Elementwise && op != OpKind.Axpy));

    /// <summary>Calls an <see cref="IOpSet"/> directly with spans over the operands.</summary>
    internal static class Direct
    {
        public static void Run<T>(OpOperands d) where T : IOpSet
        {
            var s = d.Shape;
            var op = d.Op;
            ReadOnlySpan<float> R(char c) => d[c]!.Span;
            Span<float> W(char c) => d[c]!.Span;
            switch (op)
            {
                case OpKind.Gemm: T.Gemm(s.M, s.N, s.K, d.Alpha, R('A'), s.StrideA(op), R('B'), s.StrideB, d.Beta, W('C'), s.StrideC); break;
                case OpKind.Gemv: T.Gemv(s.M, s.N, d.Alpha, R('A'), s.StrideA(op), R('B'), d.Beta, W('C')); break;
                case OpKind.Dense: T.Dense(s.M, s.N, R('A'), s.StrideA(op), R('B'), R('D'), W('C')); break;
                case OpKind.LstmGates: T.LstmGates(s.M, s.N, s.K, R('A'), s.StrideA(op), R('B'), R('C'), R('D'), W('E')); break;
                case OpKind.LstmCell: T.LstmCell(s.M, R('A'), W('B'), W('C')); break;
                case OpKind.LstmStep:
                    T.LstmGates(s.M, s.N, s.K, R('A'), s.StrideA(op), R('B'), R('C'), R('D'), W('E'));
                    T.LstmCell(s.K, R('E'), W('F'), W('G'));
                    break;
                case OpKind.CosineSimilarity: T.CosineSimilarity(s.M, s.N, R('A'), s.StrideA(op), R('B'), W('C')); break;
                case OpKind.DncContent: T.DncContent(s.M, s.N, R('A'), s.StrideA(op), R('B'), d.Alpha, W('C')); break;
                case OpKind.EwcPenalty: d.Result = T.EwcPenalty(R('A'), R('B'), R('C'), d.Alpha); break;
                case OpKind.Axpy: T.Axpy(d.Alpha, R('A'), W('C')); break;
                case OpKind.Dot: d.Result = T.Dot(R('A'), R('B')); break;
                default: throw new ArgumentOutOfRangeException(nameof(d), op, "unknown op");
            }
        }
    }

    /// <summary>The Vector256 instantiation of the width-generic kernels (the AVX2 machines' path), called directly.</summary>
    internal static class Width256
    {
        public static bool Supports(OpKind op) => op is OpKind.Gemm or OpKind.Gemv or OpKind.Dense or OpKind.LstmGates or OpKind.CosineSimilarity
            or OpKind.Relu or OpKind.Softsign or OpKind.Axpy or OpKind.Tanh or OpKind.LstmCell;

        public static void Run(OpOperands d)
        {
            var s = d.Shape;
            var op = d.Op;
            ReadOnlySpan<float> R(char c) => d[c]!.Span;
            Span<float> W(char c) => d[c]!.Span;
            switch (op)
            {
                case OpKind.Gemm: ManagedSimdOps.GemmCore<Vector256<float>, Simd256>(s.M, s.N, s.K, d.Alpha, R('A'), s.StrideA(op), R('B'), s.StrideB, d.Beta, W('C'), s.StrideC); break;
                case OpKind.Gemv: ManagedSimdOps.RowDotsCore<Vector256<float>, Simd256>(ManagedSimdOps.RowOp.Gemv, s.M, s.N, 0, R('A'), s.StrideA(op), R('B'), default, default, d.Alpha, d.Beta, W('C')); break;
                case OpKind.Dense: ManagedSimdOps.RowDotsCore<Vector256<float>, Simd256>(ManagedSimdOps.RowOp.Dense, s.M, s.N, 0, R('A'), s.StrideA(op), R('B'), default, R('D'), 1, 0, W('C')); break;
                case OpKind.LstmGates: ManagedSimdOps.RowDotsCore<Vector256<float>, Simd256>(ManagedSimdOps.RowOp.LstmGates, s.M, s.N, s.K, R('A'), s.StrideA(op), R('B'), R('C'), R('D'), 1, 0, W('E')); break;
                case OpKind.CosineSimilarity: ManagedSimdOps.CosineCore<Vector256<float>, Simd256>(s.M, s.N, R('A'), s.StrideA(op), R('B'), W('C')); break;
                case OpKind.Relu: ManagedSimdOps.MapCore<Vector256<float>, Simd256, ManagedSimdOps.ReluOp>(R('A'), W('C'), 0); break;
                case OpKind.Softsign: ManagedSimdOps.MapCore<Vector256<float>, Simd256, ManagedSimdOps.SoftsignOp>(R('A'), W('C'), 0); break;
                case OpKind.Tanh: ManagedSimdOps.TanhCore<Vector256<float>, Simd256>(R('A'), W('C')); break;
                case OpKind.LstmCell: if (s.M > 0) ManagedSimdOps.LstmCellCore<Vector256<float>, Simd256>(s.M, R('A'), W('B'), W('C')); break;
                case OpKind.Axpy: ManagedSimdOps.MapCore<Vector256<float>, Simd256, ManagedSimdOps.AxpyOp>(R('A'), W('C'), d.Alpha); break;
                default: throw new ArgumentOutOfRangeException(nameof(d), op, "no Vector256 entry point");
            }
        }
    }
}

public class ManagedSimdActivationAccuracyTests
{
    private static double Ulp(double t) { float f = (float)Math.Abs(t); return Math.Max((double)MathF.BitIncrement(f) - f, float.Epsilon); }

    /// <summary>The vectorised tanh (Cephes tanhf) and TensorPrimitives' sigmoid against double precision: a sweep through both tanh branches and the saturation range.</summary>
    [Fact]
    public void TanhAndSigmoidAreWithinFourUlpOfDoublePrecision()
    {
        var x = new List<float>();
        for (int i = -4000; i <= 4000; i++) x.Add(i * 0.005f);           // [−20, 20], crosses |x| = 0.625
        for (int e = -40; e <= 38; e++) { x.Add(MathF.Pow(10, e)); x.Add(-MathF.Pow(10, e)); }
        x.AddRange([0.62499f, 0.625f, 0.62501f, -0.625f, 9f, 44f, 89f]);
        var xs = x.ToArray();
        foreach (bool width256 in new[] { false, true })
        {
            var y = new float[xs.Length];
            if (width256) ManagedSimdOps.TanhCore<Vector256<float>, Simd256>(xs, y); else ManagedSimdOps.Tanh(xs, y);
            for (int i = 0; i < xs.Length; i++)
            {
                double t = Math.Tanh(xs[i]);
                double err = Math.Abs(y[i] - t) / Ulp(t);
                Assert.True(err <= 4, $"tanh({xs[i]:R}) = {y[i]:R}, exact {t:R}: {err:F1} ulp{(width256 ? " (Vector256)" : "")}");
            }
        }
        var s = new float[xs.Length];
        ManagedSimdOps.Sigmoid(xs, s);
        for (int i = 0; i < xs.Length; i++)
        {
            if (Math.Abs(xs[i]) > 80) continue; // e^−x underflows: σ is 0 or 1 within 1e-35
            double t = 1 / (1 + Math.Exp(-(double)xs[i]));
            double err = Math.Abs(s[i] - t) / Ulp(t);
            Assert.True(err <= 4, $"sigmoid({xs[i]:R}) = {s[i]:R}, exact {t:R}: {err:F1} ulp");
        }
        // The vectorised exp and σ behind the fused LSTM cell, through both widths.
        var e512 = new float[xs.Length]; var s512 = new float[xs.Length];
        for (int i = 0; i + 16 <= xs.Length; i += 16)
        {
            var v = System.Runtime.Intrinsics.Vector512.Create(xs.AsSpan(i, 16));
            ManagedSimdOps.ExpVector<Vector512<float>, Simd512>(v).CopyTo(e512.AsSpan(i, 16));
            ManagedSimdOps.SigmoidVector<Vector512<float>, Simd512>(v).CopyTo(s512.AsSpan(i, 16));
        }
        for (int i = 0; i + 16 <= xs.Length; i++)
        {
            double te = Math.Exp(xs[i]);
            if (te < 1.2e-38 || te > 3.4e38) continue; // subnormal or overflowing results: checked separately below
            Assert.True(Math.Abs(e512[i] - te) / Ulp(te) <= 2, $"exp({xs[i]:R}) = {e512[i]:R}, exact {te:R}");
            if (Math.Abs(xs[i]) <= 80)
            {
                double tsig = 1 / (1 + Math.Exp(-(double)xs[i]));
                Assert.True(Math.Abs(s512[i] - tsig) / Ulp(tsig) <= 4, $"σ({xs[i]:R}) = {s512[i]:R}, exact {tsig:R}");
            }
        }
        var edge = System.Runtime.Intrinsics.Vector512.Create(new float[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 88.7f, 89f, -87f, -95f, -104f, -200f, 0, -0f, 1, 2, 3, 4, 5 });
        var ev = ManagedSimdOps.ExpVector<Vector512<float>, Simd512>(edge);
        Assert.True(float.IsNaN(ev[0]));
        Assert.Equal(float.PositiveInfinity, ev[1]);
        Assert.Equal(0f, ev[2]);
        Assert.True(Math.Abs(ev[3] - Math.Exp(88.7f)) / Math.Exp(88.7f) < 1e-6, $"exp(88.7) = {ev[3]} (near float.MaxValue)");
        Assert.Equal(float.PositiveInfinity, ev[4]);
        Assert.True(Math.Abs(ev[5] - Math.Exp(-87)) / Math.Exp(-87) < 1e-6);
        Assert.True(Math.Abs(ev[6] - Math.Exp(-95)) < 1e-44, $"subnormal exp(-95) = {ev[6]}");
        Assert.True(ev[7] < 1e-44 && ev[8] == 0);
        var special = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f };
        var ts = new float[4];
        ManagedSimdOps.Tanh(special, ts);
        Assert.True(float.IsNaN(ts[0]));
        Assert.Equal([1f, -1f], ts[1..3]);
        Assert.True(ts[3] == 0 && float.IsNegative(ts[3]), "tanh(−0) must be −0");
    }
}
