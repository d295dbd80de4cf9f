using System.Runtime.CompilerServices;

namespace NeuralJit.Ops;

/// <summary>
/// The managed tiers in the kernel calling convention (<see cref="OpShape"/> + <see cref="KernelArgs"/>), so the scalar
/// and managed SIMD tiers are called exactly like a JIT kernel. The entry points are listed in <see cref="OpSpecs"/>.
/// </summary>
public static unsafe class ManagedKernels
{
    /// <summary>The managed entry point of <paramref name="op"/> for <paramref name="tier"/> (Scalar or ManagedSimd).</summary>
    public static delegate*<in OpShape, KernelArgs*, void> Get(OpKind op, KernelTier tier) => tier switch
    {
        KernelTier.Scalar => OpSpecs.For(op).Reference,
        KernelTier.ManagedSimd => OpSpecs.For(op).Managed,
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "Only the managed tiers have managed kernels."),
    };

    /// <summary>Floats spanned by a rows×cols matrix with row stride ld.</summary>
    public static int MatrixSpan(int rows, int cols, int ld) => OperandExtent.Matrix(rows, cols, ld).Floats;
}

/// <summary>
/// An <see cref="IOpSet"/>'s ops in the kernel calling convention. Spans are sized from the shape as the op's
/// <see cref="OpSpec.Operands"/> say (a test holds them to it), so a managed kernel never reads or writes past them.
/// </summary>
internal static unsafe class OpEntry<T> where T : IOpSet
{
    private static ReadOnlySpan<float> R(float* p, int n) => new(p, n);
    private static Span<float> W(float* p, int n) => new(p, n);
    private static int Span(int rows, int cols, int ld) => OperandExtent.Matrix(rows, cols, ld).Floats;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.Gemm), ldb = s.StrideB, ldc = s.StrideC;
        T.Gemm(s.M, s.N, s.K, a->Alpha, R(a->A, Span(s.M, s.K, lda)), lda, R(a->B, Span(s.K, s.N, ldb)), ldb, a->Beta, W(a->C, Span(s.M, s.N, ldc)), ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemv(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.Gemv);
        T.Gemv(s.M, s.N, a->Alpha, R(a->A, Span(s.M, s.N, lda)), lda, R(a->B, s.N), a->Beta, W(a->C, s.M));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dense(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.Dense);
        T.Dense(s.M, s.N, R(a->A, Span(s.M, s.N, lda)), lda, R(a->B, s.N), R(a->D, s.M), W(a->C, s.M));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmGates(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.LstmGates);
        T.LstmGates(s.M, s.N, s.K, R(a->A, Span(s.M, s.N + s.K, lda)), lda, R(a->B, s.N), R(a->C, s.K), R(a->D, s.M), W(a->E, s.M));
    }

    /// <summary>The managed step is the two ops in sequence: gates into E, then the cell from E.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmStep(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.LstmStep);
        T.LstmGates(s.M, s.N, s.K, R(a->A, Span(s.M, s.N + s.K, lda)), lda, R(a->B, s.N), R(a->C, s.K), R(a->D, s.M), W(a->E, s.M));
        T.LstmCell(s.K, R(a->E, 4 * s.K), W(a->F, s.K), W(a->G, s.K));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmCell(in OpShape s, KernelArgs* a) => T.LstmCell(s.M, R(a->A, 4 * s.M), W(a->B, s.M), W(a->C, s.M));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CosineSimilarity(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.CosineSimilarity);
        T.CosineSimilarity(s.M, s.N, R(a->A, Span(s.M, s.N, lda)), lda, R(a->B, s.N), W(a->C, s.M));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncContent(in OpShape s, KernelArgs* a)
    {
        int lda = s.StrideA(OpKind.DncContent);
        T.DncContent(s.M, s.N, R(a->A, Span(s.M, s.N, lda)), lda, R(a->B, s.N), a->Alpha, W(a->C, s.M));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void EwcPenalty(in OpShape s, KernelArgs* a)
    {
        int n = checked(s.M * Math.Max(1, s.N));
        a->Result = T.EwcPenalty(R(a->A, n), R(a->B, n), R(a->C, n), a->Alpha);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy(in OpShape s, KernelArgs* a) => T.Axpy(a->Alpha, R(a->A, s.M), W(a->C, s.M));
    public static void Dot(in OpShape s, KernelArgs* a) => a->Result = T.Dot(R(a->A, s.M), R(a->B, s.M));
}

/// <summary>An op C[M] = f(A[M]) as its two span implementations: the reference (the oracle) and the managed SIMD tier.</summary>
internal interface IUnaryOp
{
    static abstract void Reference(ReadOnlySpan<float> x, Span<float> y);
    static abstract void Managed(ReadOnlySpan<float> x, Span<float> y);
}

/// <summary>An op C[M] = f(A[M], B[M]) as its two span implementations.</summary>
internal interface IBinaryOp
{
    static abstract void Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y);
    static abstract void Managed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y);
}

/// <summary>An <see cref="IUnaryOp"/> in the kernel calling convention: A → x, C → y, M floats each.</summary>
internal static unsafe class UnaryEntry<TOp> where TOp : IUnaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Reference(in OpShape s, KernelArgs* a) => TOp.Reference(new(a->A, s.M), new(a->C, s.M));
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Managed(in OpShape s, KernelArgs* a) => TOp.Managed(new(a->A, s.M), new(a->C, s.M));
}

/// <summary>An <see cref="IBinaryOp"/> in the kernel calling convention: A → a, B → b, C → y, M floats each.</summary>
internal static unsafe class BinaryEntry<TOp> where TOp : IBinaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Reference(in OpShape s, KernelArgs* a) => TOp.Reference(new(a->A, s.M), new(a->B, s.M), new(a->C, s.M));
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Managed(in OpShape s, KernelArgs* a) => TOp.Managed(new(a->A, s.M), new(a->B, s.M), new(a->C, s.M));
}

/// <summary>An <see cref="IDncOpSet"/>'s DNC steps in the kernel calling convention, spans sized as in <see cref="OpEntry{T}"/>.</summary>
internal static unsafe class DncEntry<T> where T : IDncOpSet
{
    private static ReadOnlySpan<float> R(float* p, int n) => new(p, n);
    private static Span<float> W(float* p, int n) => new(p, n);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Interface(in OpShape s, KernelArgs* a)
    {
        int n = DncInterfaceLayout.SizeOf(s.M, s.N);
        T.DncInterface(s.M, s.N, R(a->A, n), W(a->C, n));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Usage(in OpShape s, KernelArgs* a) =>
        T.DncUsage(s.M, s.N, R(a->A, s.N), R(a->B, checked(s.N * s.M)), R(a->D, s.M), W(a->C, s.M));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Allocation(in OpShape s, KernelArgs* a) => T.DncAllocation(s.M, R(a->A, s.M), W(a->C, s.M));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteWeighting(in OpShape s, KernelArgs* a) =>
        T.DncWriteWeighting(s.M, R(a->A, s.M), R(a->B, s.M), a->Alpha, a->Beta, W(a->C, s.M));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Write(in OpShape s, KernelArgs* a)
    {
        int ld = s.StrideA(OpKind.DncWrite);
        T.DncWrite(s.M, s.N, W(a->A, ManagedKernels.MatrixSpan(s.M, s.N, ld)), ld, R(a->B, s.M), R(a->C, s.N), R(a->D, s.N));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LinkUpdate(in OpShape s, KernelArgs* a) =>
        T.DncLinkUpdate(s.M, W(a->A, checked(s.M * s.M)), R(a->B, s.M), W(a->C, s.M));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Temporal(in OpShape s, KernelArgs* a)
    {
        int rn = checked(s.N * s.M);
        T.DncTemporal(s.M, s.N, R(a->A, checked(s.M * s.M)), R(a->B, rn), W(a->C, rn), W(a->D, rn));
    }

    /// <summary>The fused op on the managed tiers is the two ops in order (the fusion is the JIT's: one pass over L).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LinkTemporal(in OpShape s, KernelArgs* a)
    {
        int rn = checked(s.N * s.M);
        var link = W(a->A, checked(s.M * s.M));
        T.DncLinkUpdate(s.M, link, R(a->B, s.M), W(a->C, s.M));
        T.DncTemporal(s.M, s.N, link, R(a->D, rn), W(a->E, rn), W(a->F, rn));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReadWeighting(in OpShape s, KernelArgs* a)
    {
        int rn = checked(s.N * s.M);
        T.DncReadWeighting(s.M, s.N, R(a->A, rn), R(a->B, rn), R(a->C, rn), R(a->D, 3 * s.N), W(a->E, rn));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Read(in OpShape s, KernelArgs* a)
    {
        int ld = s.StrideA(OpKind.DncRead);
        T.DncRead(s.M, s.N, s.K, R(a->A, ManagedKernels.MatrixSpan(s.M, s.N, ld)), ld, R(a->B, checked(s.K * s.M)), W(a->C, checked(s.K * s.N)));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteContent(in OpShape s, KernelArgs* a)
    {
        int ld = s.StrideA(OpKind.DncWriteContent);
        var memory = W(a->A, ManagedKernels.MatrixSpan(s.M, s.N, ld));
        T.DncWrite(s.M, s.N, memory, ld, R(a->B, s.M), R(a->C, s.N), R(a->D, s.N));
        T.DncReadContent(s.M, s.N, s.K, memory, ld, R(a->E, checked(s.K * s.N)), R(a->F, s.K), W(a->G, checked(s.K * s.M)));
    }
}
