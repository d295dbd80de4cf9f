using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NeuralJit.Ops;

/// <summary>The matrix kernels: GEMM, the row dot products (Gemv, Dense, LstmGates) and cosine similarity (DncContent).</summary>
public sealed partial class ManagedSimdOps
{
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
}
