using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NeuralJit.Ops;

/// <summary>
/// The managed SIMD tier: the best .NET 8 gives without a JIT of our own, and the honest baseline the JIT
/// is measured against. The matrix kernels (Gemm, Gemv, Dense, LstmGates, CosineSimilarity) are written
/// once over a vector-width abstraction (<see cref="ISimd{TVec}"/>) and run on Vector512 where it is
/// hardware-accelerated, else Vector256, with scalar tails; sigmoid, exp and the simple element-wise ops use
/// TensorPrimitives (vectorised, exp ≤ 1 ulp); tanh and the fused LSTM cell use Cephes' expf/tanhf vectorised here
/// (≤ 4 ulp, tested against double precision). Semantics are those of <see cref="OpKind"/> and
/// <see cref="ReferenceOps"/>, including NaN propagation and β = 0 overwriting C; results differ from the
/// reference only by summation order, FMA contraction and the transcendental approximations (the
/// tolerances in the tests say by how much). Element-wise ops allow exact in-place use (output == input).
/// </summary>
public sealed partial class ManagedSimdOps : IOpSet
{
    /// <summary>Added to the product of norms in cosine similarity, as in <see cref="ReferenceOps.CosineEpsilon"/>.</summary>
    public const float CosineEpsilon = ReferenceOps.CosineEpsilon;

    /// <summary>
    /// True when the kernels use Vector512. NEURALJIT_MAX_ISA=Avx2 (read once, at first use) narrows the managed tier
    /// to Vector256 as it caps the JIT, so AVX2 JIT code can be compared with AVX2 managed code on an AVX-512 machine.
    /// </summary>
    private static readonly bool s_use512 = Vector512.IsHardwareAccelerated && CpuFeatures.Best >= JitIsa.Avx512;

    /// <summary>The vector width the matrix kernels use here: 512, 256, or 0 (scalar reference loops).</summary>
    public static int VectorBits => s_use512 ? 512 : Vector256.IsHardwareAccelerated ? 256 : 0;

    // ---------------------------------------------------------------- matrix kernels (dispatch)

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (s_use512) GemmCore<Vector512<float>, Simd512>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else if (Vector256.IsHardwareAccelerated) GemmCore<Vector256<float>, Simd256>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else ReferenceOps.Gemm(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemv(int m, int n, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> x, float beta, Span<float> y)
    {
        if (s_use512) RowDotsCore<Vector512<float>, Simd512>(RowOp.Gemv, m, n, 0, a, lda, x, default, default, alpha, beta, y);
        else if (Vector256.IsHardwareAccelerated) RowDotsCore<Vector256<float>, Simd256>(RowOp.Gemv, m, n, 0, a, lda, x, default, default, alpha, beta, y);
        else ReferenceOps.Gemv(m, n, alpha, a, lda, x, beta, y);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dense(int m, int n, ReadOnlySpan<float> w, int ldw, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y)
    {
        if (s_use512) RowDotsCore<Vector512<float>, Simd512>(RowOp.Dense, m, n, 0, w, ldw, x, default, bias, 1, 0, y);
        else if (Vector256.IsHardwareAccelerated) RowDotsCore<Vector256<float>, Simd256>(RowOp.Dense, m, n, 0, w, ldw, x, default, bias, 1, 0, y);
        else ReferenceOps.Dense(m, n, w, ldw, x, bias, y);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmGates(int gates, int input, int hidden, ReadOnlySpan<float> w, int ldw, ReadOnlySpan<float> x, ReadOnlySpan<float> h, ReadOnlySpan<float> bias, Span<float> output)
    {
        if (s_use512) RowDotsCore<Vector512<float>, Simd512>(RowOp.LstmGates, gates, input, hidden, w, ldw, x, h, bias, 1, 0, output);
        else if (Vector256.IsHardwareAccelerated) RowDotsCore<Vector256<float>, Simd256>(RowOp.LstmGates, gates, input, hidden, w, ldw, x, h, bias, 1, 0, output);
        else ReferenceOps.LstmGates(gates, input, hidden, w, ldw, x, h, bias, output);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CosineSimilarity(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, Span<float> output)
    {
        if (s_use512) CosineCore<Vector512<float>, Simd512>(rows, width, memory, ldm, key, output);
        else if (Vector256.IsHardwareAccelerated) CosineCore<Vector256<float>, Simd256>(rows, width, memory, ldm, key, output);
        else ReferenceOps.CosineSimilarity(rows, width, memory, ldm, key, output);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncContent(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, float strength, Span<float> output)
    {
        if (rows <= 0) return;
        var o = output[..rows];
        CosineSimilarity(rows, width, memory, ldm, key, o);
        Scale(o, strength);
        Softmax(o, o);
    }

    /// <summary>x *= a. Not TensorPrimitives.Multiply: that assembly ships as IL only (tier-0 code for a fresh process's first steps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scale(Span<float> x, float a)
    {
        var av = new Vector<float>(a);
        int j = 0;
        for (; j <= x.Length - Vector<float>.Count; j += Vector<float>.Count) (new Vector<float>(x[j..]) * av).CopyTo(x[j..]);
        for (; j < x.Length; j++) x[j] *= a;
    }

    // ---------------------------------------------------------------- GEMM

    /// <summary>
    /// C = αAB + βC with a 4-row × 2-vector register block of C (8 accumulators + 2 B vectors + 1 broadcast of A:
    /// 11 registers, within the 16 ymm of AVX2 as well as the 32 zmm of AVX-512), then 4×1 vector, then scalar
    /// columns; leftover rows use 1×2, 1×1 and scalar. No packing or K-blocking: the managed tier targets the
    /// small, cache-resident shapes of this engine. Generic over the width so Vector256 and Vector512 share it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void GemmCore<TV, S>(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        where TV : struct where S : struct, ISimd<TV>
    {
        if (m <= 0 || n <= 0) return;
        Require(c.Length >= Span(m, n, ldc), nameof(c), "C is shorter than M×N with stride ldc.");
        if (k > 0)
        {
            Require(a.Length >= Span(m, k, lda), nameof(a), "A is shorter than M×K with stride lda.");
            Require(b.Length >= Span(k, n, ldb), nameof(b), "B is shorter than K×N with stride ldb.");
        }
        ref float A = ref MemoryMarshal.GetReference(a);
        ref float B = ref MemoryMarshal.GetReference(b);
        ref float C = ref MemoryMarshal.GetReference(c);
        int w = S.Count;
        int i = 0;
        for (; i + 4 <= m; i += 4)
        {
            int j = 0;
            for (; j + 2 * w <= n; j += 2 * w) GemmBlock4x2<TV, S>(ref A, lda, ref B, ldb, ref C, ldc, i, j, k, alpha, beta);
            for (; j + w <= n; j += w) GemmBlock4x1<TV, S>(ref A, lda, ref B, ldb, ref C, ldc, i, j, k, alpha, beta);
            for (; j < n; j++)
                for (int r = 0; r < 4; r++) GemmScalar(ref A, lda, ref B, ldb, ref C, ldc, i + r, j, k, alpha, beta);
        }
        for (; i < m; i++)
        {
            int j = 0;
            for (; j + 2 * w <= n; j += 2 * w) GemmBlock1x2<TV, S>(ref A, lda, ref B, ldb, ref C, ldc, i, j, k, alpha, beta);
            for (; j + w <= n; j += w) GemmBlock1x1<TV, S>(ref A, lda, ref B, ldb, ref C, ldc, i, j, k, alpha, beta);
            for (; j < n; j++) GemmScalar(ref A, lda, ref B, ldb, ref C, ldc, i, j, k, alpha, beta);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GemmBlock4x2<TV, S>(ref float A, int lda, ref float B, int ldb, ref float C, int ldc, int i, int j, int k, float alpha, float beta)
        where TV : struct where S : struct, ISimd<TV>
    {
        int w = S.Count;
        TV c00 = S.Zero, c01 = S.Zero, c10 = S.Zero, c11 = S.Zero, c20 = S.Zero, c21 = S.Zero, c30 = S.Zero, c31 = S.Zero;
        ref float a0 = ref Unsafe.Add(ref A, (nint)i * lda);
        ref float a1 = ref Unsafe.Add(ref a0, lda);
        ref float a2 = ref Unsafe.Add(ref a1, lda);
        ref float a3 = ref Unsafe.Add(ref a2, lda);
        ref float bp = ref Unsafe.Add(ref B, j);
        for (int p = 0; p < k; p++)
        {
            ref float brow = ref Unsafe.Add(ref bp, (nint)p * ldb);
            TV b0 = S.Load(ref brow, 0), b1 = S.Load(ref brow, (nuint)w);
            TV x = S.Broadcast(Unsafe.Add(ref a0, p)); c00 = S.Fma(x, b0, c00); c01 = S.Fma(x, b1, c01);
            x = S.Broadcast(Unsafe.Add(ref a1, p)); c10 = S.Fma(x, b0, c10); c11 = S.Fma(x, b1, c11);
            x = S.Broadcast(Unsafe.Add(ref a2, p)); c20 = S.Fma(x, b0, c20); c21 = S.Fma(x, b1, c21);
            x = S.Broadcast(Unsafe.Add(ref a3, p)); c30 = S.Fma(x, b0, c30); c31 = S.Fma(x, b1, c31);
        }
        ref float cp = ref Unsafe.Add(ref C, (nint)i * ldc + j);
        StoreC<TV, S>(ref cp, 0, c00, alpha, beta); StoreC<TV, S>(ref cp, (nuint)w, c01, alpha, beta);
        cp = ref Unsafe.Add(ref cp, ldc);
        StoreC<TV, S>(ref cp, 0, c10, alpha, beta); StoreC<TV, S>(ref cp, (nuint)w, c11, alpha, beta);
        cp = ref Unsafe.Add(ref cp, ldc);
        StoreC<TV, S>(ref cp, 0, c20, alpha, beta); StoreC<TV, S>(ref cp, (nuint)w, c21, alpha, beta);
        cp = ref Unsafe.Add(ref cp, ldc);
        StoreC<TV, S>(ref cp, 0, c30, alpha, beta); StoreC<TV, S>(ref cp, (nuint)w, c31, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GemmBlock4x1<TV, S>(ref float A, int lda, ref float B, int ldb, ref float C, int ldc, int i, int j, int k, float alpha, float beta)
        where TV : struct where S : struct, ISimd<TV>
    {
        TV c0 = S.Zero, c1 = S.Zero, c2 = S.Zero, c3 = S.Zero;
        ref float a0 = ref Unsafe.Add(ref A, (nint)i * lda);
        ref float a1 = ref Unsafe.Add(ref a0, lda);
        ref float a2 = ref Unsafe.Add(ref a1, lda);
        ref float a3 = ref Unsafe.Add(ref a2, lda);
        ref float bp = ref Unsafe.Add(ref B, j);
        for (int p = 0; p < k; p++)
        {
            TV b0 = S.Load(ref Unsafe.Add(ref bp, (nint)p * ldb), 0);
            c0 = S.Fma(S.Broadcast(Unsafe.Add(ref a0, p)), b0, c0);
            c1 = S.Fma(S.Broadcast(Unsafe.Add(ref a1, p)), b0, c1);
            c2 = S.Fma(S.Broadcast(Unsafe.Add(ref a2, p)), b0, c2);
            c3 = S.Fma(S.Broadcast(Unsafe.Add(ref a3, p)), b0, c3);
        }
        ref float cp = ref Unsafe.Add(ref C, (nint)i * ldc + j);
        StoreC<TV, S>(ref cp, 0, c0, alpha, beta);
        StoreC<TV, S>(ref Unsafe.Add(ref cp, ldc), 0, c1, alpha, beta);
        StoreC<TV, S>(ref Unsafe.Add(ref cp, 2 * (nint)ldc), 0, c2, alpha, beta);
        StoreC<TV, S>(ref Unsafe.Add(ref cp, 3 * (nint)ldc), 0, c3, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GemmBlock1x2<TV, S>(ref float A, int lda, ref float B, int ldb, ref float C, int ldc, int i, int j, int k, float alpha, float beta)
        where TV : struct where S : struct, ISimd<TV>
    {
        int w = S.Count;
        TV c0 = S.Zero, c1 = S.Zero;
        ref float a0 = ref Unsafe.Add(ref A, (nint)i * lda);
        ref float bp = ref Unsafe.Add(ref B, j);
        for (int p = 0; p < k; p++)
        {
            ref float brow = ref Unsafe.Add(ref bp, (nint)p * ldb);
            TV x = S.Broadcast(Unsafe.Add(ref a0, p));
            c0 = S.Fma(x, S.Load(ref brow, 0), c0);
            c1 = S.Fma(x, S.Load(ref brow, (nuint)w), c1);
        }
        ref float cp = ref Unsafe.Add(ref C, (nint)i * ldc + j);
        StoreC<TV, S>(ref cp, 0, c0, alpha, beta);
        StoreC<TV, S>(ref cp, (nuint)w, c1, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GemmBlock1x1<TV, S>(ref float A, int lda, ref float B, int ldb, ref float C, int ldc, int i, int j, int k, float alpha, float beta)
        where TV : struct where S : struct, ISimd<TV>
    {
        TV c0 = S.Zero;
        ref float a0 = ref Unsafe.Add(ref A, (nint)i * lda);
        ref float bp = ref Unsafe.Add(ref B, j);
        for (int p = 0; p < k; p++)
            c0 = S.Fma(S.Broadcast(Unsafe.Add(ref a0, p)), S.Load(ref Unsafe.Add(ref bp, (nint)p * ldb), 0), c0);
        StoreC<TV, S>(ref Unsafe.Add(ref C, (nint)i * ldc + j), 0, c0, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemmScalar(ref float A, int lda, ref float B, int ldb, ref float C, int ldc, int i, int j, int k, float alpha, float beta)
    {
        float sum = 0;
        ref float a0 = ref Unsafe.Add(ref A, (nint)i * lda);
        for (int p = 0; p < k; p++) sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref a0, p), Unsafe.Add(ref B, (nint)p * ldb + j), sum);
        ref float cij = ref Unsafe.Add(ref C, (nint)i * ldc + j);
        cij = beta == 0 ? alpha * sum : alpha * sum + beta * cij;
    }

    /// <summary>C = α·acc (β = 0: C is overwritten, never read, so NaN garbage in C cannot leak) or α·acc + β·C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreC<TV, S>(ref float c, nuint offset, TV acc, float alpha, float beta)
        where TV : struct where S : struct, ISimd<TV>
    {
        TV r = S.Mul(S.Broadcast(alpha), acc);
        if (beta != 0) r = S.Add(r, S.Mul(S.Broadcast(beta), S.Load(ref c, offset)));
        S.Store(r, ref c, offset);
    }

    // ---------------------------------------------------------------- row dot products: Gemv, Dense, LstmGates

    internal enum RowOp { Gemv, Dense, LstmGates }

    /// <summary>
    /// One pass per row: y_r = Σ_j A[r, j]·x_j (+ Σ_j A[r, n + j]·h_j for LstmGates), four rows at a time so each
    /// load of x (and h) feeds four FMAs. Gemv: α·dot (+ β·y, β = 0 overwrites); Dense and LstmGates: dot + bias.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowDotsCore<TV, S>(RowOp op, int m, int n, int n2, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> x,
        ReadOnlySpan<float> h, ReadOnlySpan<float> bias, float alpha, float beta, Span<float> y)
        where TV : struct where S : struct, ISimd<TV>
    {
        if (m <= 0) return;
        Require(y.Length >= m, nameof(y), "The output is shorter than M.");
        Require(a.Length >= Span(m, n + n2, lda), nameof(a), "The matrix is shorter than its rows with stride ld.");
        Require(x.Length >= n, nameof(x), "The input vector is shorter than N.");
        Require(h.Length >= n2, nameof(h), "The hidden vector is shorter than K.");
        if (op != RowOp.Gemv) Require(bias.Length >= m, nameof(bias), "The bias is shorter than M.");
        ref float A = ref MemoryMarshal.GetReference(a);
        ref float X = ref MemoryMarshal.GetReference(x);
        ref float H = ref MemoryMarshal.GetReference(h);
        ref float Bias = ref MemoryMarshal.GetReference(bias);
        ref float Y = ref MemoryMarshal.GetReference(y);

        int r = 0;
        for (; r + 4 <= m; r += 4)
        {
            TV v0 = S.Zero, v1 = S.Zero, v2 = S.Zero, v3 = S.Zero;
            float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
            ref float row = ref Unsafe.Add(ref A, (nint)r * lda);
            Dots4<TV, S>(ref row, lda, ref X, n, ref v0, ref v1, ref v2, ref v3, ref t0, ref t1, ref t2, ref t3);
            if (n2 > 0) Dots4<TV, S>(ref Unsafe.Add(ref row, n), lda, ref H, n2, ref v0, ref v1, ref v2, ref v3, ref t0, ref t1, ref t2, ref t3);
            Finish(op, ref Y, ref Bias, r, S.Sum(v0) + t0, alpha, beta);
            Finish(op, ref Y, ref Bias, r + 1, S.Sum(v1) + t1, alpha, beta);
            Finish(op, ref Y, ref Bias, r + 2, S.Sum(v2) + t2, alpha, beta);
            Finish(op, ref Y, ref Bias, r + 3, S.Sum(v3) + t3, alpha, beta);
        }
        for (; r < m; r++)
        {
            TV v = S.Zero;
            float t = 0;
            ref float row = ref Unsafe.Add(ref A, (nint)r * lda);
            Dots1<TV, S>(ref row, ref X, n, ref v, ref t);
            if (n2 > 0) Dots1<TV, S>(ref Unsafe.Add(ref row, n), ref H, n2, ref v, ref t);
            Finish(op, ref Y, ref Bias, r, S.Sum(v) + t, alpha, beta);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(RowOp op, ref float y, ref float bias, int r, float dot, float alpha, float beta)
    {
        ref float yr = ref Unsafe.Add(ref y, r);
        yr = op switch
        {
            RowOp.Gemv => beta == 0 ? alpha * dot : alpha * dot + beta * yr,
            _ => dot + Unsafe.Add(ref bias, r),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dots4<TV, S>(ref float row0, int lda, ref float x, int n, ref TV v0, ref TV v1, ref TV v2, ref TV v3,
        ref float t0, ref float t1, ref float t2, ref float t3)
        where TV : struct where S : struct, ISimd<TV>
    {
        int w = S.Count;
        ref float row1 = ref Unsafe.Add(ref row0, lda);
        ref float row2 = ref Unsafe.Add(ref row1, lda);
        ref float row3 = ref Unsafe.Add(ref row2, lda);
        int j = 0;
        for (; j + w <= n; j += w)
        {
            TV xv = S.Load(ref x, (nuint)j);
            v0 = S.Fma(S.Load(ref row0, (nuint)j), xv, v0);
            v1 = S.Fma(S.Load(ref row1, (nuint)j), xv, v1);
            v2 = S.Fma(S.Load(ref row2, (nuint)j), xv, v2);
            v3 = S.Fma(S.Load(ref row3, (nuint)j), xv, v3);
        }
        for (; j < n; j++)
        {
            float xs = Unsafe.Add(ref x, j);
            t0 = MathF.FusedMultiplyAdd(Unsafe.Add(ref row0, j), xs, t0);
            t1 = MathF.FusedMultiplyAdd(Unsafe.Add(ref row1, j), xs, t1);
            t2 = MathF.FusedMultiplyAdd(Unsafe.Add(ref row2, j), xs, t2);
            t3 = MathF.FusedMultiplyAdd(Unsafe.Add(ref row3, j), xs, t3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dots1<TV, S>(ref float row, ref float x, int n, ref TV v, ref float t)
        where TV : struct where S : struct, ISimd<TV>
    {
        int w = S.Count;
        int j = 0;
        for (; j + w <= n; j += w) v = S.Fma(S.Load(ref row, (nuint)j), S.Load(ref x, (nuint)j), v);
        for (; j < n; j++) t = MathF.FusedMultiplyAdd(Unsafe.Add(ref row, j), Unsafe.Add(ref x, j), t);
    }

    // ---------------------------------------------------------------- cosine similarity

    /// <summary>‖key‖ once, then one pass per row accumulating the dot and the row's squared norm together.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void CosineCore<TV, S>(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, Span<float> output)
        where TV : struct where S : struct, ISimd<TV>
    {
        if (rows <= 0) return;
        Require(output.Length >= rows, nameof(output), "The output is shorter than the number of rows.");
        Require(memory.Length >= Span(rows, width, ldm), nameof(memory), "The memory is shorter than rows × width with stride ld.");
        Require(key.Length >= width, nameof(key), "The key is shorter than the width.");
        ref float Mem = ref MemoryMarshal.GetReference(memory);
        ref float Key = ref MemoryMarshal.GetReference(key);
        int w = S.Count;
        TV kv = S.Zero;
        float kt = 0;
        Dots1<TV, S>(ref Key, ref Key, width, ref kv, ref kt);
        float keyNorm = MathF.Sqrt(S.Sum(kv) + kt);
        for (int i = 0; i < rows; i++)
        {
            ref float row = ref Unsafe.Add(ref Mem, (nint)i * ldm);
            TV dv = S.Zero, nv = S.Zero;
            float dt = 0, nt = 0;
            int j = 0;
            for (; j + w <= width; j += w)
            {
                TV rv = S.Load(ref row, (nuint)j);
                dv = S.Fma(rv, S.Load(ref Key, (nuint)j), dv);
                nv = S.Fma(rv, rv, nv);
            }
            for (; j < width; j++)
            {
                float v = Unsafe.Add(ref row, j);
                dt = MathF.FusedMultiplyAdd(v, Unsafe.Add(ref Key, j), dt);
                nt = MathF.FusedMultiplyAdd(v, v, nt);
            }
            output[i] = (S.Sum(dv) + dt) / (MathF.Sqrt(S.Sum(nv) + nt) * keyNorm + CosineEpsilon);
        }
    }

    // ---------------------------------------------------------------- EWC penalty

    /// <summary>
    /// λ/2 · Σ Fᵢ(θᵢ − θ*ᵢ)², every term computed in double (the float → double widening is exact, so each
    /// difference is exact to 1 double ulp) and summed in double vectors. Only the summation order differs from
    /// the reference: with non-negative Fisher terms the relative error of either order is ≤ L·2⁻⁵³ (L = the
    /// number of parameters), i.e. ≤ 1.1e-10 relative for a million parameters.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double EwcPenalty(ReadOnlySpan<float> theta, ReadOnlySpan<float> anchor, ReadOnlySpan<float> fisher, float lambda)
    {
        int n = theta.Length;
        Require(anchor.Length >= n && fisher.Length >= n, nameof(anchor), "θ*, F and θ must have the same length.");
        ref float T = ref MemoryMarshal.GetReference(theta);
        ref float P = ref MemoryMarshal.GetReference(anchor);
        ref float F = ref MemoryMarshal.GetReference(fisher);
        double sum = 0;
        int i = 0;
        if (s_use512)
        {
            Vector512<double> acc0 = Vector512<double>.Zero, acc1 = Vector512<double>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var (tl, th) = Vector512.Widen(Vector512.LoadUnsafe(ref T, (nuint)i));
                var (pl, ph) = Vector512.Widen(Vector512.LoadUnsafe(ref P, (nuint)i));
                var (fl, fh) = Vector512.Widen(Vector512.LoadUnsafe(ref F, (nuint)i));
                var dl = tl - pl; var dh = th - ph;
                acc0 += fl * dl * dl;
                acc1 += fh * dh * dh;
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> acc0 = Vector256<double>.Zero, acc1 = Vector256<double>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var (tl, th) = Vector256.Widen(Vector256.LoadUnsafe(ref T, (nuint)i));
                var (pl, ph) = Vector256.Widen(Vector256.LoadUnsafe(ref P, (nuint)i));
                var (fl, fh) = Vector256.Widen(Vector256.LoadUnsafe(ref F, (nuint)i));
                var dl = tl - pl; var dh = th - ph;
                acc0 += fl * dl * dl;
                acc1 += fh * dh * dh;
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++)
        {
            double d = (double)Unsafe.Add(ref T, i) - Unsafe.Add(ref P, i);
            sum += Unsafe.Add(ref F, i) * d * d;
        }
        return lambda / 2.0 * sum;
    }

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
    public static void Relu(ReadOnlySpan<float> x, Span<float> y)
    {
        if (s_use512) MapCore<Vector512<float>, Simd512, ReluOp>(x, y, 0);
        else if (Vector256.IsHardwareAccelerated) MapCore<Vector256<float>, Simd256, ReluOp>(x, y, 0);
        else ReferenceOps.Relu(x, y);
    }

    /// <summary>x/(1+|x|) with the same two IEEE operations as the reference, so results are identical.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softsign(ReadOnlySpan<float> x, Span<float> y)
    {
        if (s_use512) MapCore<Vector512<float>, Simd512, SoftsignOp>(x, y, 0);
        else if (Vector256.IsHardwareAccelerated) MapCore<Vector256<float>, Simd256, SoftsignOp>(x, y, 0);
        else ReferenceOps.Softsign(x, y);
    }

    /// <summary>y += α·x as a separate multiply and add (not an FMA), so results equal the reference bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        if (s_use512) MapCore<Vector512<float>, Simd512, AxpyOp>(x, y, alpha);
        else if (Vector256.IsHardwareAccelerated) MapCore<Vector256<float>, Simd256, AxpyOp>(x, y, alpha);
        else ReferenceOps.Axpy(alpha, x, y);
    }

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

    // ---------------------------------------------------------------- helpers

    private static long Span(int rows, int cols, int ld) => rows <= 0 || cols <= 0 ? 0 : (long)(rows - 1) * ld + cols;

    private static void Require(bool ok, string param, string message)
    {
        if (!ok) throw new ArgumentException(message, param);
    }
}
