namespace NeuralJit.Ops;

/// <summary>
/// Every kernel the engine runs. The comment on each member is the contract shared by the
/// reference, the managed SIMD tier and the JIT: which <see cref="KernelArgs"/> fields it reads
/// and writes, and which <see cref="OpShape"/> fields size it. All matrices are row-major fp32.
/// </summary>
public enum OpKind
{
    /// <summary>C[M×N] (ldc) = Alpha·A[M×K] (lda) · B[K×N] (ldb) + Beta·C. Elements = M·N·K (multiply-adds).</summary>
    Gemm,

    /// <summary>C[M] = Alpha·A[M×N] (lda) · B[N] + Beta·C[M]. Elements = M·N.</summary>
    Gemv,

    /// <summary>
    /// Fused LSTM pre-activation for all four gates (PyTorch order i, f, g, o):
    /// E[M] = A[M×(N+K)] · [B[N]; C[K]] + D[M], where M = 4·hidden, N = input, K = hidden,
    /// A = [W_ih | W_hh] with row stride Lda ≥ N+K and D = b_ih + b_hh.
    /// A JIT kernel may fuse the cell (see <see cref="LstmCell"/>): then it also updates F = c[K] in place
    /// and writes G = h′[K] (G never aliases C), and the slot reports <c>FusesCell</c>.
    /// </summary>
    LstmGates,

    /// <summary>
    /// LSTM cell from pre-activations A[4M] (i, f, g, o blocks of M): i=σ, f=σ, g=tanh, o=σ;
    /// B = c[M] updated in place to c′ = f·c + i·g; C[M] = h′ = o·tanh(c′). M = hidden.
    /// </summary>
    LstmCell,

    /// <summary>C[M] = (A_i · B) / (‖A_i‖·‖B‖ + 1e-6) for each row A_i of A[M×N] (lda). M = slots, N = width.</summary>
    CosineSimilarity,

    /// <summary>C[M] = softmax(Alpha · cosine(A_i, B)): DNC content addressing, Alpha = key strength β.</summary>
    DncContent,

    /// <summary>Result = Alpha/2 · Σ C_i·(A_i − B_i)² over M·N parameters (A = θ, B = θ*, C = Fisher diagonal, Alpha = λ), summed in double.</summary>
    EwcPenalty,

    /// <summary>C[M] = 1/(1+e^−A). The logistic function, not softsign.</summary>
    Sigmoid,

    /// <summary>C[M] = tanh(A).</summary>
    Tanh,

    /// <summary>C[M] = max(A, 0); NaN stays NaN.</summary>
    Relu,

    /// <summary>C[M] = A/(1+|A|).</summary>
    Softsign,

    /// <summary>C[M] = softmax(A) (max-subtracted).</summary>
    Softmax,

    /// <summary>C[M] = A + B.</summary>
    Add,

    /// <summary>C[M] = A · B (element-wise).</summary>
    Mul,

    /// <summary>C[M] += Alpha · A.</summary>
    Axpy,

    /// <summary>Result = Σ A_i·B_i over M elements (float accumulation, returned widened).</summary>
    Dot,

    /// <summary>C[M] = A[M×N] (lda) · B[N] + D[M]: a dense (Linear) layer for one input vector.</summary>
    Dense,
}
