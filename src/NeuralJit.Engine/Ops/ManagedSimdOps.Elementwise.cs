using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NeuralJit.Ops;

/// <summary>The element-wise ops, softmax and dot, the vectorised exp, σ and tanh they share, and the map over the width abstraction.</summary>
public sealed partial class ManagedSimdOps
{
    // ---------------------------------------------------------------- element-wise

    /// <summary>TensorPrimitives' vectorised 1/(1+e^−x) (exp to ~1 ulp; Vector512 where accelerated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        if (!x.IsEmpty) TensorPrimitives.Sigmoid(x, y[..x.Length]); // TensorPrimitives.Sigmoid refuses empty spans
    }

    /// <summary>
    /// Vectorised tanh (<see cref="TanhVector{TV, S}"/>). Not TensorPrimitives.Tanh: the net8.0 build of
    /// System.Numerics.Tensors 9.0 runs it element by element (~8 ns an element measured here, as slow as MathF.Tanh).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        if (s_use512) TanhCore<Vector512<float>, Simd512>(x, y);
        else if (Vector256.IsHardwareAccelerated) TanhCore<Vector256<float>, Simd256>(x, y);
        else ReferenceOps.Tanh(x, y);
    }

    /// <summary>y = tanh(x), vector by vector (each loaded before it is stored, so y == x works), scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TanhCore<TV, S>(ReadOnlySpan<float> x, Span<float> y)
        where TV : struct where S : struct, ISimd<TV>
    {
        int n = x.Length;
        Require(y.Length >= n, nameof(y), "The output is shorter than the input.");
        ref float X = ref MemoryMarshal.GetReference(x);
        ref float Y = ref MemoryMarshal.GetReference(y);
        int w = S.Count, i = 0;
        for (; i + w <= n; i += w) S.Store(TanhVector<TV, S>(S.Load(ref X, (nuint)i)), ref Y, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref Y, i) = TanhScalar(Unsafe.Add(ref X, i));
    }

    // Cephes expf: e^x = 2^n · e^r, n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in two so r is exact), e^r by a
    // degree-7 polynomial. ≤ 1 ulp on [−87, 88] (Cephes: peak relative error 1.7e-7 over the float range).
    private const float ExpLn2Hi = 0.693359375f, ExpLn2Lo = -2.12194440e-4f, Log2E = 1.44269504088896341f;
    private const float RoundMagic = 12582912f; // 1.5·2²³: adding and subtracting it rounds a float to an integer

    /// <summary>
    /// e^x for every lane: clamped to [−104, 89] (beyond, the result is 0 or +∞ anyway), 2ⁿ applied as two
    /// halves so that subnormal results and results near float.MaxValue come out right; NaN lanes stay NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV ExpVector<TV, S>(TV x) where TV : struct where S : struct, ISimd<TV>
    {
        TV xc = S.Min(S.Max(x, S.Broadcast(-104f)), S.Broadcast(89f));
        TV magic = S.Broadcast(RoundMagic);
        TV n = S.Sub(S.Fma(xc, S.Broadcast(Log2E), magic), magic);
        TV r = S.Fma(n, S.Broadcast(-ExpLn2Hi), xc);
        r = S.Fma(n, S.Broadcast(-ExpLn2Lo), r);
        TV p = S.Fma(S.Broadcast(1.9875691500e-4f), r, S.Broadcast(1.3981999507e-3f));
        p = S.Fma(p, r, S.Broadcast(8.3334519073e-3f));
        p = S.Fma(p, r, S.Broadcast(4.1665795894e-2f));
        p = S.Fma(p, r, S.Broadcast(1.6666665459e-1f));
        p = S.Fma(p, r, S.Broadcast(5.0000001201e-1f));
        TV z = S.Fma(p, S.Mul(r, r), S.Add(r, S.Broadcast(1f)));
        TV n1 = S.Sub(S.Fma(n, S.Broadcast(0.5f), magic), magic); // n1 = round(n/2), n2 = n − n1: both within [−76, 65]
        TV n2 = S.Sub(n, n1);
        TV e = S.Mul(S.Mul(z, S.Pow2(n1)), S.Pow2(n2));
        return S.Select(S.IsNotNaN(x), e, x);
    }

    /// <summary>σ(x) = 1/(1 + e^−x): 0 for −∞ (e^∞ = ∞), 1 for +∞, NaN for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV SigmoidVector<TV, S>(TV x) where TV : struct where S : struct, ISimd<TV>
    {
        TV one = S.Broadcast(1f);
        return S.Div(one, S.Add(one, ExpVector<TV, S>(S.Sub(S.Zero, x))));
    }

    /// <summary>
    /// Cephes' tanhf: for |x| &lt; 0.625 the odd polynomial x + x³·P(x²) (no cancellation near 0), else
    /// 1 − 2/(e^(2|x|) + 1); the sign of x on both (tanh(−0) = −0). ≤ 4 ulp (tested against double precision);
    /// ±∞ → ±1, NaN → NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV TanhVector<TV, S>(TV x) where TV : struct where S : struct, ISimd<TV>
    {
        TV one = S.Broadcast(1f);
        TV ax = S.Abs(x);
        TV z = S.Mul(x, x);
        TV poly = S.Fma(S.Fma(S.Fma(S.Fma(S.Broadcast(-5.70498872745e-3f), z, S.Broadcast(2.06390887954e-2f)), z, S.Broadcast(-5.37397155531e-2f)), z,
            S.Broadcast(1.33314422036e-1f)), z, S.Broadcast(-3.33332819422e-1f));
        TV small = S.Fma(S.Mul(poly, z), ax, ax);
        TV big = S.Sub(one, S.Div(S.Broadcast(2f), S.Add(ExpVector<TV, S>(S.Add(ax, ax)), one)));
        return S.CopySign(S.Select(S.LessThan(ax, S.Broadcast(0.625f)), small, big), x);
    }

    private static float TanhScalar(float v)
    {
        float a = MathF.Abs(v);
        float r;
        if (a < 0.625f)
        {
            float z = v * v;
            float poly = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(-5.70498872745e-3f, z, 2.06390887954e-2f), z, -5.37397155531e-2f), z, 1.33314422036e-1f), z, -3.33332819422e-1f);
            r = MathF.FusedMultiplyAdd(poly * z, a, a);
        }
        else r = 1f - 2f / (MathF.Exp(a + a) + 1f);
        return float.IsNaN(v) ? v : MathF.CopySign(r, v);
    }

    /// <summary>max(x, 0) with NaN kept (a plain vmaxps would turn NaN into 0 or keep it depending on operand order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => Map<ReluOp>(x, y, 0);

    /// <summary>x/(1+|x|) with the same two IEEE operations as the reference, so results are identical.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softsign(ReadOnlySpan<float> x, Span<float> y) => Map<SoftsignOp>(x, y, 0);

    /// <summary>y += α·x as a separate multiply and add (not an FMA), so results equal the reference bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y) => Map<AxpyOp>(x, y, alpha);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => TensorPrimitives.Add(a, b[..a.Length], y[..a.Length]);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Mul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => TensorPrimitives.Multiply(a, b[..a.Length], y[..a.Length]);

    /// <summary>Float dot product (TensorPrimitives: several vector accumulators, Vector512 where accelerated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b[..a.Length]);

    /// <summary>
    /// Max-subtracted softmax: max (NaN if any element is NaN, as MathF.Max in the reference), e^(x−max), sum, divide.
    /// A NaN or +∞ input makes every output NaN, exactly as in the reference.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length == 0) return;
        y = y[..x.Length];
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        TensorPrimitives.Exp(y, y);
        float sum = TensorPrimitives.Sum(y);
        TensorPrimitives.Divide(y, sum, y);
    }


    // ---------------------------------------------------------------- element-wise map over the width abstraction

    internal interface IMapOp
    {
        static abstract TV Apply<TV, S>(TV x, TV y, float alpha) where TV : struct where S : struct, ISimd<TV>;
        static abstract float Apply(float x, float y, float alpha);
    }

    internal readonly struct ReluOp : IMapOp
    {
        public static TV Apply<TV, S>(TV x, TV y, float alpha) where TV : struct where S : struct, ISimd<TV> => S.ReluKeepNaN(x);
        public static float Apply(float x, float y, float alpha) => float.IsNaN(x) ? float.NaN : x > 0 ? x : 0f;
    }

    internal readonly struct SoftsignOp : IMapOp
    {
        public static TV Apply<TV, S>(TV x, TV y, float alpha) where TV : struct where S : struct, ISimd<TV> => S.Div(x, S.Add(S.Broadcast(1f), S.Abs(x)));
        public static float Apply(float x, float y, float alpha) => x / (1 + MathF.Abs(x));
    }

    internal readonly struct AxpyOp : IMapOp
    {
        public static TV Apply<TV, S>(TV x, TV y, float alpha) where TV : struct where S : struct, ISimd<TV> => S.Add(y, S.Mul(S.Broadcast(alpha), x));
        public static float Apply(float x, float y, float alpha) => y + alpha * x;
    }

    /// <summary>
    /// y = TOp(x, y) at the width this machine runs (Vector512, Vector256, or TOp's scalar form, the reference's arithmetic):
    /// the one width dispatch of the element-wise ops, so a new one is an <see cref="IMapOp"/> and a one-line entry point.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Map<TOp>(ReadOnlySpan<float> x, Span<float> y, float alpha) where TOp : struct, IMapOp
    {
        if (s_use512) MapCore<Vector512<float>, Simd512, TOp>(x, y, alpha);
        else if (Vector256.IsHardwareAccelerated) MapCore<Vector256<float>, Simd256, TOp>(x, y, alpha);
        else
        {
            Require(y.Length >= x.Length, nameof(y), "The output is shorter than the input.");
            for (int i = 0; i < x.Length; i++) y[i] = TOp.Apply(x[i], y[i], alpha);
        }
    }

    /// <summary>y[i] = Op(x[i], y[i]); each vector is loaded before it is stored, so y == x (exact overlap) is safe.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MapCore<TV, S, TOp>(ReadOnlySpan<float> x, Span<float> y, float alpha)
        where TV : struct where S : struct, ISimd<TV> where TOp : struct, IMapOp
    {
        int n = x.Length;
        Require(y.Length >= n, nameof(y), "The output is shorter than the input.");
        ref float X = ref MemoryMarshal.GetReference(x);
        ref float Y = ref MemoryMarshal.GetReference(y);
        int w = S.Count;
        int i = 0;
        for (; i + w <= n; i += w) S.Store(TOp.Apply<TV, S>(S.Load(ref X, (nuint)i), S.Load(ref Y, (nuint)i), alpha), ref Y, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref Y, i) = TOp.Apply(Unsafe.Add(ref X, i), Unsafe.Add(ref Y, i), alpha);
    }
}
