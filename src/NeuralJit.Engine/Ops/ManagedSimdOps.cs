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

    // ---------------------------------------------------------------- helpers

    private static long Span(int rows, int cols, int ld) => rows <= 0 || cols <= 0 ? 0 : (long)(rows - 1) * ld + cols;

    private static void Require(bool ok, string param, string message)
    {
        if (!ok) throw new ArgumentException(message, param);
    }
}
