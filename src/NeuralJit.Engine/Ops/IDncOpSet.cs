namespace NeuralJit.Ops;

/// <summary>
/// The DNC steps over spans, one member per DNC <see cref="OpKind"/> (DncInterface … DncRead), with the
/// semantics documented there. <see cref="DncReferenceOps"/> (the paper's equations as plain loops, the
/// oracle) and <see cref="DncManagedOps"/> (the default managed tier) implement it; <see cref="ManagedKernels"/>
/// adapts either to the <see cref="KernelArgs"/> calling convention. Kept apart from <see cref="IOpSet"/> so
/// the DNC kernels live in their own files.
/// </summary>
public interface IDncOpSet
{
    static abstract void DncInterface(int heads, int width, ReadOnlySpan<float> raw, Span<float> output);
    static abstract void DncUsage(int slots, int heads, ReadOnlySpan<float> freeGates, ReadOnlySpan<float> readWeights, ReadOnlySpan<float> writeWeights, Span<float> usage);
    static abstract void DncAllocation(int slots, ReadOnlySpan<float> usage, Span<float> allocation);
    static abstract void DncWriteWeighting(int slots, ReadOnlySpan<float> allocation, ReadOnlySpan<float> content, float allocationGate, float writeGate, Span<float> output);
    static abstract void DncWrite(int slots, int width, Span<float> memory, int ldm, ReadOnlySpan<float> writeWeights, ReadOnlySpan<float> erase, ReadOnlySpan<float> writeVector);
    static abstract void DncLinkUpdate(int slots, Span<float> link, ReadOnlySpan<float> writeWeights, Span<float> precedence);
    static abstract void DncTemporal(int slots, int heads, ReadOnlySpan<float> link, ReadOnlySpan<float> readWeights, Span<float> forward, Span<float> backward);
    static abstract void DncReadWeighting(int slots, int heads, ReadOnlySpan<float> backward, ReadOnlySpan<float> content, ReadOnlySpan<float> forward, ReadOnlySpan<float> modes, Span<float> output);
    /// <summary>Content weightings of R keys (R×W) with strengths β[R] over the memory: output[h·N..] = softmax(β_h·cosine(M_i, k_h)).</summary>
    static abstract void DncReadContent(int slots, int width, int heads, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> keys, ReadOnlySpan<float> strengths, Span<float> output);
    static abstract void DncRead(int slots, int width, int heads, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> readWeights, Span<float> output);
}
