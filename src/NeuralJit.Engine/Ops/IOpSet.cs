namespace NeuralJit.Ops;

/// <summary>
/// One implementation of every op over spans. <see cref="ReferenceOps"/> (plain scalar loops, the
/// oracle and the "Scalar" baseline) and <see cref="ManagedSimdOps"/> (the default tier) implement it;
/// <see cref="ManagedKernels"/> adapts either to the <see cref="KernelArgs"/> calling convention.
/// Semantics are those documented on <see cref="OpKind"/>. The element-wise ops (C = f(A) or f(A, B)) are not
/// members: each names its two implementations in its descriptor (<see cref="IUnaryOp"/>, <see cref="IBinaryOp"/>).
/// </summary>
public interface IOpSet
{
    static abstract void Gemm(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc);
    static abstract void Gemv(int m, int n, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> x, float beta, Span<float> y);
    static abstract void Dense(int m, int n, ReadOnlySpan<float> w, int ldw, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y);
    static abstract void LstmGates(int gates, int input, int hidden, ReadOnlySpan<float> w, int ldw, ReadOnlySpan<float> x, ReadOnlySpan<float> h, ReadOnlySpan<float> bias, Span<float> output);
    static abstract void LstmCell(int hidden, ReadOnlySpan<float> gates, Span<float> c, Span<float> h);
    static abstract void CosineSimilarity(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, Span<float> output);
    static abstract void DncContent(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, float strength, Span<float> output);
    static abstract double EwcPenalty(ReadOnlySpan<float> theta, ReadOnlySpan<float> anchor, ReadOnlySpan<float> fisher, float lambda);
    static abstract void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y);
    static abstract float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b);
}
