using System.Runtime.CompilerServices;

namespace NeuralJit.Ops;

/// <summary>
/// Adapts an <see cref="IOpSet"/> to the kernel calling convention (<see cref="OpShape"/> + <see cref="KernelArgs"/>),
/// so the scalar and managed SIMD tiers are called exactly like a JIT kernel. Spans are sized from the
/// shape, so a managed kernel can never read or write past what the shape describes.
/// </summary>
public static unsafe class ManagedKernels
{
    /// <summary>The managed entry point of <paramref name="op"/> for <paramref name="tier"/> (Scalar or ManagedSimd).</summary>
    public static delegate*<in OpShape, KernelArgs*, void> Get(OpKind op, KernelTier tier) => DncKernels.Handles(op) ? DncKernels.Get(op, tier) : tier switch
    {
        KernelTier.Scalar => Adapter<ReferenceOps>.Get(op),
        KernelTier.ManagedSimd => Adapter<ManagedSimdOps>.Get(op),
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "Only the managed tiers have managed kernels."),
    };

    /// <summary>Floats spanned by a rows×cols matrix with row stride ld.</summary>
    public static int MatrixSpan(int rows, int cols, int ld) => rows <= 0 || cols <= 0 ? 0 : checked((rows - 1) * ld + cols);

    private static class Adapter<T> where T : IOpSet
    {
        public static delegate*<in OpShape, KernelArgs*, void> Get(OpKind op) => op switch
        {
            OpKind.Gemm => &Gemm,
            OpKind.Gemv => &Gemv,
            OpKind.Dense => &Dense,
            OpKind.LstmGates => &LstmGates,
            OpKind.LstmCell => &LstmCell,
            OpKind.CosineSimilarity => &CosineSimilarity,
            OpKind.DncContent => &DncContent,
            OpKind.EwcPenalty => &EwcPenalty,
            OpKind.Sigmoid => &Sigmoid,
            OpKind.Tanh => &Tanh,
            OpKind.Relu => &Relu,
            OpKind.Softsign => &Softsign,
            OpKind.Softmax => &Softmax,
            OpKind.Add => &Add,
            OpKind.Mul => &Mul,
            OpKind.Axpy => &Axpy,
            OpKind.Dot => &Dot,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "No managed kernel for this op."),
        };

        private static ReadOnlySpan<float> R(float* p, int n) => new(p, n);
        private static Span<float> W(float* p, int n) => new(p, n);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Gemm(in OpShape s, KernelArgs* a)
        {
            int lda = s.StrideA(OpKind.Gemm), ldb = s.StrideB, ldc = s.StrideC;
            T.Gemm(s.M, s.N, s.K, a->Alpha, R(a->A, MatrixSpan(s.M, s.K, lda)), lda, R(a->B, MatrixSpan(s.K, s.N, ldb)), ldb, a->Beta, W(a->C, MatrixSpan(s.M, s.N, ldc)), ldc);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Gemv(in OpShape s, KernelArgs* a)
        {
            int lda = s.StrideA(OpKind.Gemv);
            T.Gemv(s.M, s.N, a->Alpha, R(a->A, MatrixSpan(s.M, s.N, lda)), lda, R(a->B, s.N), a->Beta, W(a->C, s.M));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Dense(in OpShape s, KernelArgs* a)
        {
            int lda = s.StrideA(OpKind.Dense);
            T.Dense(s.M, s.N, R(a->A, MatrixSpan(s.M, s.N, lda)), lda, R(a->B, s.N), R(a->D, s.M), W(a->C, s.M));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void LstmGates(in OpShape s, KernelArgs* a)
        {
            int lda = s.StrideA(OpKind.LstmGates);
            T.LstmGates(s.M, s.N, s.K, R(a->A, MatrixSpan(s.M, s.N + s.K, lda)), lda, R(a->B, s.N), R(a->C, s.K), R(a->D, s.M), W(a->E, s.M));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void LstmCell(in OpShape s, KernelArgs* a) => T.LstmCell(s.M, R(a->A, 4 * s.M), W(a->B, s.M), W(a->C, s.M));

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void CosineSimilarity(in OpShape s, KernelArgs* a)
        {
            int lda = s.StrideA(OpKind.CosineSimilarity);
            T.CosineSimilarity(s.M, s.N, R(a->A, MatrixSpan(s.M, s.N, lda)), lda, R(a->B, s.N), W(a->C, s.M));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void DncContent(in OpShape s, KernelArgs* a)
        {
            int lda = s.StrideA(OpKind.DncContent);
            T.DncContent(s.M, s.N, R(a->A, MatrixSpan(s.M, s.N, lda)), lda, R(a->B, s.N), a->Alpha, W(a->C, s.M));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void EwcPenalty(in OpShape s, KernelArgs* a)
        {
            int n = checked(s.M * Math.Max(1, s.N));
            a->Result = T.EwcPenalty(R(a->A, n), R(a->B, n), R(a->C, n), a->Alpha);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Sigmoid(in OpShape s, KernelArgs* a) => T.Sigmoid(R(a->A, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Tanh(in OpShape s, KernelArgs* a) => T.Tanh(R(a->A, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Relu(in OpShape s, KernelArgs* a) => T.Relu(R(a->A, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Softsign(in OpShape s, KernelArgs* a) => T.Softsign(R(a->A, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Softmax(in OpShape s, KernelArgs* a) => T.Softmax(R(a->A, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Add(in OpShape s, KernelArgs* a) => T.Add(R(a->A, s.M), R(a->B, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Mul(in OpShape s, KernelArgs* a) => T.Mul(R(a->A, s.M), R(a->B, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Axpy(in OpShape s, KernelArgs* a) => T.Axpy(a->Alpha, R(a->A, s.M), W(a->C, s.M));
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Dot(in OpShape s, KernelArgs* a) => a->Result = T.Dot(R(a->A, s.M), R(a->B, s.M));
    }
}
