namespace NeuralJit.Ops;

/// <summary>
/// Every kernel the engine runs. The comment on each member states its equation; the rest of its contract (which
/// <see cref="KernelArgs"/> fields it reads and writes, their extents for an <see cref="OpShape"/>, its cost and entry
/// points) is its <see cref="OpSpec"/> in <see cref="OpSpecs"/>. All matrices are row-major fp32.
/// </summary>
public enum OpKind
{
    /// <summary>C[M×N] (ldc) = Alpha·A[M×K] (lda) · B[K×N] (ldb) + Beta·C. Elements = M·N·K (multiply-adds).</summary>
    Gemm,

    /// <summary>C[M] = Alpha·A[M×N] (lda) · B[N] + Beta·C[M]. Elements = M·N.</summary>
    Gemv,

    /// <summary>
    /// LSTM pre-activation for all four gates (PyTorch order i, f, g, o):
    /// E[M] = A[M×(N+K)] · [B[N]; C[K]] + D[M], where M = 4·hidden, N = input, K = hidden,
    /// A = [W_ih | W_hh] with row stride Lda ≥ N+K and D = b_ih + b_hh.
    /// </summary>
    LstmGates,

    /// <summary>
    /// LSTM cell from pre-activations A[4M] (i, f, g, o blocks of M): i=σ, f=σ, g=tanh, o=σ;
    /// B = c[M] updated in place to c′ = f·c + i·g; C[M] = h′ = o·tanh(c′). M = hidden.
    /// </summary>
    LstmCell,

    /// <summary>
    /// One LSTM time step, gates and cell as one op: the operands of <see cref="LstmGates"/> (same shape), then
    /// F = c[K] updated in place and G = h′[K] written (G never aliases C). E is scratch: the managed tiers write the
    /// gate pre-activations there between their two halves; the JIT kernel keeps them in registers and never touches it.
    /// </summary>
    LstmStep,

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

    // ── DNC (Graves et al. 2016, "Hybrid computing using a neural network with dynamic external memory").
    // For all of them: N = memory slots, W = memory width, R = read heads; per-head vectors are stored
    // head after head (row-major R×N or R×W). They are implemented in DncReferenceOps / DncManagedOps.

    /// <summary>
    /// Squashes the raw interface vector ξ in place (A = C allowed): M = R, N = W, length Ξ = R·W + 3W + 5R + 3.
    /// A[Ξ] raw → C[Ξ] in the layout [read keys R·W | read strengths R | write key W | write strength 1 |
    /// erase W | write vector W | free gates R | allocation gate 1 | write gate 1 | read modes 3R]:
    /// keys and the write vector are copied, strengths get oneplus(x) = 1 + log(1 + eˣ), erase and the
    /// gates the logistic sigmoid, and each head's three read modes (backward, content, forward) a softmax.
    /// Elements = Ξ.
    /// </summary>
    DncInterface,

    /// <summary>
    /// Retention and usage: M = N slots, N = R heads. A = free gates f[R], B = previous read weightings
    /// w^r[R×N], D = previous write weighting w^w[N], C = usage u[N] updated in place:
    /// ψ[n] = Π_i (1 − f_i·w^r_i[n]); u[n] = (u[n] + w^w[n] − u[n]·w^w[n])·ψ[n]. Elements = M·N.
    /// </summary>
    DncUsage,

    /// <summary>
    /// Allocation weighting: M = N slots. A = usage u[N], C = a[N]. φ = slots sorted by usage ascending
    /// (ties by the lower slot index first); a[φ_j] = (1 − u[φ_j])·Π_{i&lt;j} u[φ_i] (products in float,
    /// in sorted order). Elements = M.
    /// </summary>
    DncAllocation,

    /// <summary>
    /// Write weighting: M = N slots. A = allocation a[N], B = write content weighting c^w[N],
    /// Alpha = allocation gate g^a, Beta = write gate g^w; C[N] = g^w·(g^a·a + (1 − g^a)·c^w). Elements = M.
    /// </summary>
    DncWriteWeighting,

    /// <summary>
    /// Erase-then-add memory update: M = N slots, N = W width. A = memory[N×W] (lda) updated in place,
    /// B = write weighting w[N], C = erase e[W], D = write vector v[W]:
    /// A[i,j] = A[i,j]·(1 − w[i]·e[j]) + w[i]·v[j]. Elements = M·N.
    /// </summary>
    DncWrite,

    /// <summary>
    /// Temporal link matrix and precedence: M = N slots. A = link L[N×N] updated in place, B = write
    /// weighting w[N], C = precedence p[N] updated in place after L (L uses the previous p):
    /// L[i,j] = (1 − w[i] − w[j])·L[i,j] + w[i]·p[j] for i ≠ j, L[i,i] = 0;
    /// then p = (1 − Σ_i w[i])·p + w (the sum in double). Elements = M·M.
    /// </summary>
    DncLinkUpdate,

    /// <summary>
    /// Forward and backward weightings: M = N slots, N = R heads. A = link L[N×N], B = previous read
    /// weightings w^r[R×N]; C = forward f[R×N] with f_i = L·w^r_i, D = backward b[R×N] with b_i = Lᵀ·w^r_i.
    /// Elements = M·M·N.
    /// </summary>
    DncTemporal,

    /// <summary>
    /// Read weightings: M = N slots, N = R heads. A = backward b[R×N], B = content c^r[R×N],
    /// C = forward f[R×N], D = read modes π[R×3] (backward, content, forward), E = w^r[R×N]:
    /// w^r_i = π_i[0]·b_i + π_i[1]·c_i + π_i[2]·f_i. Elements = M·N.
    /// </summary>
    DncReadWeighting,

    /// <summary>
    /// Read vectors: M = N slots, N = W width, K = R heads. A = memory[N×W] (lda), B = read weightings
    /// w^r[R×N], C = read vectors r[R×W] with r_i = Mᵀ·w^r_i (r_i[j] = Σ_n w^r_i[n]·M[n,j]). Elements = M·N·K.
    /// </summary>
    DncRead,

    /// <summary>
    /// Fused <see cref="DncLinkUpdate"/> then <see cref="DncTemporal"/> on the updated links, for one pass over the N×N
    /// link matrix: M = N slots, N = R heads. A = link L[N×N] updated in place, B = write weighting w[N], C = precedence
    /// p[N] updated in place (after L, as in DncLinkUpdate), D = previous read weightings w^r[R×N], E = forward f[R×N]
    /// = L′·w^r_i, F = backward b[R×N] = L′ᵀ·w^r_i. Elements = M·M·(N + 1).
    /// </summary>
    DncLinkTemporal,

    /// <summary>
    /// Fused <see cref="DncWrite"/> then <see cref="DncContent"/> of every read key on the freshly written memory, for one
    /// pass over the N×W memory: M = N slots, N = W width, K = R heads. A = memory[N×W] (lda) updated in place as in
    /// DncWrite, B = write weighting w[N], C = erase e[W], D = write vector v[W], E = read keys k[R×W], F = read strengths
    /// β[R], G = read content weightings c^r[R×N] with c^r_h = softmax(β_h · cosine(A′_i, k_h)). Elements = M·N·(K + 1).
    /// </summary>
    DncWriteContent,
}
