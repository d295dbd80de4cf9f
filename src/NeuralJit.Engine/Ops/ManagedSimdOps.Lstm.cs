using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NeuralJit.Ops;

/// <summary>The fused LSTM cell.</summary>
public sealed partial class ManagedSimdOps
{
    /// <summary>
    /// One pass over the hidden units: i, f, o = σ and g = tanh of the four gate blocks, c′ = f·c + i·g (in place),
    /// h′ = o·tanh(c′), all in registers (vectorised exp/σ/tanh above, ≤ a few ulp each); scalar tail with the
    /// reference's σ and tanh.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmCell(int hidden, ReadOnlySpan<float> gates, Span<float> c, Span<float> h)
    {
        if (hidden <= 0) return;
        Require(gates.Length >= 4 * hidden, nameof(gates), "The gates are shorter than 4 × hidden.");
        Require(c.Length >= hidden && h.Length >= hidden, nameof(c), "c and h must hold hidden values.");
        if (s_use512) LstmCellCore<Vector512<float>, Simd512>(hidden, gates, c, h);
        else if (Vector256.IsHardwareAccelerated) LstmCellCore<Vector256<float>, Simd256>(hidden, gates, c, h);
        else ReferenceOps.LstmCell(hidden, gates, c, h);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void LstmCellCore<TV, S>(int hidden, ReadOnlySpan<float> gates, Span<float> c, Span<float> h)
        where TV : struct where S : struct, ISimd<TV>
    {
        ref float G = ref MemoryMarshal.GetReference(gates);
        ref float Cs = ref MemoryMarshal.GetReference(c);
        ref float Hs = ref MemoryMarshal.GetReference(h);
        ref float Gi = ref G;
        ref float Gf = ref Unsafe.Add(ref G, hidden);
        ref float Gg = ref Unsafe.Add(ref G, 2 * hidden);
        ref float Go = ref Unsafe.Add(ref G, 3 * hidden);
        int w = S.Count, j = 0;
        for (; j + w <= hidden; j += w)
        {
            TV i = SigmoidVector<TV, S>(S.Load(ref Gi, (nuint)j));
            TV f = SigmoidVector<TV, S>(S.Load(ref Gf, (nuint)j));
            TV g = TanhVector<TV, S>(S.Load(ref Gg, (nuint)j));
            TV o = SigmoidVector<TV, S>(S.Load(ref Go, (nuint)j));
            TV cNew = S.Add(S.Mul(f, S.Load(ref Cs, (nuint)j)), S.Mul(i, g)); // two products and a sum, like the reference
            S.Store(cNew, ref Cs, (nuint)j);
            S.Store(S.Mul(o, TanhVector<TV, S>(cNew)), ref Hs, (nuint)j);
        }
        for (; j < hidden; j++)
        {
            float i = ReferenceOps.Logistic(Unsafe.Add(ref Gi, j));
            float f = ReferenceOps.Logistic(Unsafe.Add(ref Gf, j));
            float g = MathF.Tanh(Unsafe.Add(ref Gg, j));
            float o = ReferenceOps.Logistic(Unsafe.Add(ref Go, j));
            float cNew = f * Unsafe.Add(ref Cs, j) + i * g;
            Unsafe.Add(ref Cs, j) = cNew;
            Unsafe.Add(ref Hs, j) = o * MathF.Tanh(cNew);
        }
    }
}
