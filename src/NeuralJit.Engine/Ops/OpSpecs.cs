using static NeuralJit.Ops.OperandField;

namespace NeuralJit.Ops;

/// <summary>
/// One <see cref="OpSpec"/> per <see cref="OpKind"/>: the only table that knows ops one by one. Everything else
/// (shapes, dims text, validation, the managed tiers, the benchmark's workloads and cost, the test harness) reads it.
/// Built and checked once: a missing, duplicated or inconsistent descriptor fails the type initializer.
/// </summary>
public static unsafe class OpSpecs
{
    private static readonly OpSpec[] s_byKind = Build();

    /// <summary>The descriptor of <paramref name="op"/>.</summary>
    public static OpSpec For(OpKind op) => (uint)op < (uint)s_byKind.Length
        ? s_byKind[(int)op]
        : throw new ArgumentOutOfRangeException(nameof(op), op, "Not an op.");

    /// <summary>Every descriptor, in <see cref="OpKind"/> order.</summary>
    public static IReadOnlyList<OpSpec> All => s_byKind;

    private static OperandSpec In(OperandField f, string name, Func<OpShape, OperandExtent> e) => new(f, name, OperandRole.Input, e);
    private static OperandSpec Out(OperandField f, string name, Func<OpShape, OperandExtent> e) => new(f, name, OperandRole.Output, e);
    private static OperandSpec InOut(OperandField f, string name, Func<OpShape, OperandExtent> e) => new(f, name, OperandRole.InOut, e);
    private static OperandExtent Vec(int n) => OperandExtent.Vector(n);
    private static OperandExtent Vec(long n) => OperandExtent.Vector(checked((int)n));
    private static OperandExtent Mat(int rows, int cols, int ld) => OperandExtent.Matrix(rows, cols, ld);
    private static OperandExtent Rows(in OpShape s, OpKind op, int cols) => OperandExtent.Matrix(s.M, cols, s.StrideA(op));
    /// <summary><paramref name="o"/> follows the output rows, <paramref name="step"/> floats per row (one for a vector).</summary>
    private static OperandSpec ByRow(OperandSpec o, Func<OpShape, int>? step = null) => o with { RowStep = step ?? (_ => 1) };

    private static string? FourGatesPerUnit(OpKind op, in OpShape s) => s.M != 4 * s.K ? $"{op}: M ({s.M}) must be 4 × hidden ({s.K})." : null;

    private static List<OpSpec> Table()
    {
        var table = new List<OpSpec>();
        void Add(OpSpec spec) => table.Add(spec);

        Add(new(OpKind.Gemm, DimsForm.Triple, "MxNxK (e.g. 64x64x64)",
            [ByRow(In(A, "A", s => Rows(s, OpKind.Gemm, s.K)), s => s.StrideA(OpKind.Gemm)), In(B, "B", s => Mat(s.K, s.N, s.StrideB)),
             ByRow(InOut(C, "C", s => Mat(s.M, s.N, s.StrideC)), s => s.StrideC)],
            s => (long)s.M * s.N * s.K, s => 2.0 * s.M * s.N * s.K,
            &OpEntry<ReferenceOps>.Gemm, &OpEntry<ManagedSimdOps>.Gemm, rowLengthA: s => s.K)
        {
            ComputeBound = true, SampleAlpha = 1.5f, SampleBeta = 0.5f, RowMultiplyAdds = s => (long)s.N * s.K,
            Accuracy = s => new(Underflow, 0, "K-term sums in another order/FMA, then α·sum + β·c: 2·γ_(K+2)·(|α|Σ|a||b| + |β||c|)", Gamma(s.K + 2)),
        });

        Add(new(OpKind.Gemv, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [ByRow(In(A, "A", s => Rows(s, OpKind.Gemv, s.N)), s => s.StrideA(OpKind.Gemv)), In(B, "x", s => Vec(s.N)), ByRow(InOut(C, "y", s => Vec(s.M)))],
            s => (long)s.M * s.N, s => 2.0 * s.M * s.N,
            &OpEntry<ReferenceOps>.Gemv, &OpEntry<ManagedSimdOps>.Gemv)
        {
            ComputeBound = true, SampleAlpha = 1.5f, SampleBeta = 0.5f, RowMultiplyAdds = s => s.N,
            Accuracy = s => new(Underflow, 0, "N-term sums in another order/FMA, then α·sum + β·y: 2·γ_(N+2)·(|α|Σ|a||x| + |β||y|)", Gamma(s.N + 2)),
        });

        var lstmOperands = new[]
        {
            In(A, "W", s => Rows(s, OpKind.LstmGates, s.N + s.K)), In(B, "x", s => Vec(s.N)), In(C, "h", s => Vec(s.K)),
            In(D, "bias", s => Vec(s.M)),
        };
        Add(new(OpKind.LstmGates, DimsForm.Lstm, "(4·hidden)x(input+hidden) (e.g. 512x192)",
            [ByRow(lstmOperands[0], s => s.StrideA(OpKind.LstmGates)), lstmOperands[1], lstmOperands[2], ByRow(lstmOperands[3]),
             ByRow(Out(E, "gates", s => Vec(s.M)))],
            s => (long)s.M * (s.N + s.K), s => 2.0 * s.M * (s.N + s.K) + s.M,
            &OpEntry<ReferenceOps>.LstmGates, &OpEntry<ManagedSimdOps>.LstmGates,
            rowLengthA: s => s.N + s.K, constraint: s => FourGatesPerUnit(OpKind.LstmGates, s))
        {
            ComputeBound = true, RowMultiplyAdds = s => (long)s.N + s.K,
            Accuracy = s => new(Underflow, 0, "(N+K)-term sums in another order/FMA, plus the bias: 2·γ_(N+K+1)·(Σ|w||[x;h]| + |b|)", Gamma(s.N + s.K + 1)),
        });

        Add(new(OpKind.LstmCell, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "gates", s => Vec(4L * s.M)), InOut(B, "c", s => Vec(s.M)), Out(C, "h'", s => Vec(s.M))],
            s => s.M, s => 10.0 * s.M,
            &OpEntry<ReferenceOps>.LstmCell, &OpEntry<ManagedSimdOps>.LstmCell)
        {
            // σ and tanh are computed by vectorised exp approximations (≤ a few ulp) and combined by 2–3 operations.
            Accuracy = _ => new(2e-6, 1e-5, "vectorised σ/tanh (≤ 4 ulp each, tested) combined into c′ = f·c + i·g and h′ = o·tanh(c′); with |c| = O(1) a few ulp of 1 is ≤ 1e-6 absolute"),
        });

        Add(new(OpKind.LstmStep, DimsForm.Lstm, "(4·hidden)x(input+hidden) (e.g. 512x192)",
            [.. lstmOperands, new(E, "gates", OperandRole.Scratch, s => Vec(s.M)), InOut(F, "c", s => Vec(s.K)), Out(G, "h'", s => Vec(s.K))],
            s => (long)s.M * (s.N + s.K), s => 2.0 * s.M * (s.N + s.K) + 10.0 * s.K,
            &OpEntry<ReferenceOps>.LstmStep, &OpEntry<ManagedSimdOps>.LstmStep,
            rowLengthA: s => s.N + s.K, constraint: s => FourGatesPerUnit(OpKind.LstmStep, s))
        {
            ComputeBound = true,
            // The gates' sum error δ ≤ 2γ·Σ|terms| passes through σ (slope ≤ ¼) and tanh (slope ≤ 1) into c′ and h′.
            Accuracy = s => new(2e-6, 1e-5, "the cell's tolerance plus each gate's sum error 2·γ_(N+K+1)·Σ|terms| carried through σ′ ≤ ¼ and tanh′ ≤ 1 into c′ and h′", Gamma(s.N + s.K + 1)),
        });

        Add(new(OpKind.CosineSimilarity, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [ByRow(In(A, "memory", s => Rows(s, OpKind.CosineSimilarity, s.N)), s => s.StrideA(OpKind.CosineSimilarity)), In(B, "key", s => Vec(s.N)),
             ByRow(Out(C, "similarity", s => Vec(s.M)))],
            s => (long)s.M * s.N, s => 4.0 * s.M * s.N,
            &OpEntry<ReferenceOps>.CosineSimilarity, &OpEntry<ManagedSimdOps>.CosineSimilarity)
        {
            ComputeBound = true, RowMultiplyAdds = s => s.N,
            // |cos| ≤ 1: by Cauchy–Schwarz the dot's error is ≤ 2γ_N·‖a‖‖b‖, and each norm's relative error is ≤ γ_N.
            Accuracy = s => new(CosineError(s), 1e-6, "dot error ≤ 2γ_N·‖a‖‖b‖ (Cauchy–Schwarz) plus the norms' γ_N each and sqrt/divide roundings, on outputs in [−1, 1]"),
        });

        Add(new(OpKind.DncContent, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [In(A, "memory", s => Rows(s, OpKind.DncContent, s.N)), In(B, "key", s => Vec(s.N)), Out(C, "weighting", s => Vec(s.M))],
            s => (long)s.M * s.N, s => 4.0 * s.M * s.N + 3.0 * s.M,
            &OpEntry<ReferenceOps>.DncContent, &OpEntry<ManagedSimdOps>.DncContent)
        {
            ComputeBound = true, SampleAlpha = 3f,
            // softmax(β·cos): an error δ in a cosine moves an output p by ≈ β·δ·p ≤ β·δ; plus the M-term normaliser.
            Accuracy = s => new(3 * CosineError(s) + 2 * Gamma(s.M) + 1e-7, 1e-5, "cosine error amplified by the key strength β = 3, plus the M-term softmax normaliser and exp (few ulp)"),
        });

        Add(new(OpKind.EwcPenalty, DimsForm.LengthOrMatrix, "rowsxcols or a parameter count (e.g. 128x128 or 1000000)",
            [In(A, "theta", s => Vec((long)s.M * Math.Max(1, s.N))), In(B, "anchor", s => Vec((long)s.M * Math.Max(1, s.N))),
             In(C, "fisher", s => Vec((long)s.M * Math.Max(1, s.N))) with { NonNegative = true }],
            s => (long)s.M * Math.Max(1, s.N), s => 3.0 * s.M * Math.Max(1, s.N),
            &OpEntry<ReferenceOps>.EwcPenalty, &OpEntry<ManagedSimdOps>.EwcPenalty)
        {
            WritesResult = true, SampleAlpha = 0.7f,
            Accuracy = s => new(0, 4 * OpTolerance.DoubleUnit, "terms computed in double, summed in another order: 2·γ_L(double)·λ/2·Σ|F|(θ−θ*)²",
                Gamma(s.M * Math.Max(1, s.N), OpTolerance.DoubleUnit)),
        });

        // Element-wise ops: the struct names the two implementations; the sweeps pick the op up from the table.
        Add(Unary<SigmoidOp>(OpKind.Sigmoid,
            new(1e-7, 1e-5, "vectorised exp (≤ 4 ulp); absolute 1e-7 where σ underflows towards 0 (1/(1+e^−x) gives 0 where the reference's e^x/(1+e^x) is subnormal)"),
            jit: Transcendental));
        Add(Unary<TanhOp>(OpKind.Tanh, new(1e-7, 1e-5, "vectorised tanh (≤ ~4 ulp); absolute 1e-7 near 0"), jit: Transcendental));
        Add(Unary<ReluOp>(OpKind.Relu, OpTolerance.Exact("max(x, 0) is exact; NaN must stay NaN")));
        Add(Unary<SoftsignOp>(OpKind.Softsign, OpTolerance.Exact("x/(1+|x|): the same two IEEE operations per element")));
        Add(new(OpKind.Softmax, DimsForm.Length, "a length (e.g. 128)", [In(A, "x", s => Vec(s.M)), Out(C, "y", s => Vec(s.M))], s => s.M, s => s.M,
            &UnaryEntry<SoftmaxOp>.Reference, &UnaryEntry<SoftmaxOp>.Managed)
        {
            Accuracy = s => new(2 * Gamma(s.M) + 1e-7, 1e-5, "vectorised exp (≤ ~4 ulp) and an M-term normalising sum in another order (2γ_M, outputs ≤ 1)"),
        });

        Add(Binary<AddOp>(OpKind.Add, OpTolerance.Exact("one IEEE addition per element")));
        Add(Binary<MulOp>(OpKind.Mul, OpTolerance.Exact("one IEEE multiplication per element")));

        Add(new(OpKind.Axpy, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "x", s => Vec(s.M)), InOut(C, "y", s => Vec(s.M))],
            s => s.M, s => 2.0 * s.M,
            &OpEntry<ReferenceOps>.Axpy, &OpEntry<ManagedSimdOps>.Axpy)
        {
            SampleAlpha = -1.25f, Elementwise = true,
            Accuracy = _ => OpTolerance.Exact("y + α·x as a separate multiply and add (no FMA), like the reference"),
            // Fused: one rounding instead of two; each result is within ½ulp·(|y| + |αx|)·(1 + ε) of the exact value.
            JitAccuracy = _ => new(Underflow, 0, "y + α·x fused (one rounding instead of two): ε·(|y| + |α||x|) apart at most", 1.01 * OpTolerance.FloatEps),
        });

        Add(new(OpKind.Dot, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "a", s => Vec(s.M)), In(B, "b", s => Vec(s.M))],
            s => s.M, s => 2.0 * s.M,
            &OpEntry<ReferenceOps>.Dot, &OpEntry<ManagedSimdOps>.Dot)
        { WritesResult = true, Accuracy = s => new(Underflow, 0, "M-term float sum in another order/FMA: 2·γ_M·Σ|a||b|", Gamma(s.M)) });

        Add(new(OpKind.Dense, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [ByRow(In(A, "W", s => Rows(s, OpKind.Dense, s.N)), s => s.StrideA(OpKind.Dense)), In(B, "x", s => Vec(s.N)), ByRow(In(D, "bias", s => Vec(s.M))),
             ByRow(Out(C, "y", s => Vec(s.M)))],
            s => (long)s.M * s.N, s => 2.0 * s.M * s.N + s.M,
            &OpEntry<ReferenceOps>.Dense, &OpEntry<ManagedSimdOps>.Dense)
        {
            ComputeBound = true, RowMultiplyAdds = s => s.N,
            Accuracy = s => new(Underflow, 0, "N-term sums in another order/FMA, plus the bias: 2·γ_(N+1)·(Σ|w||x| + |b|)", Gamma(s.N + 1)),
        });

        // DNC (N slots = M, W width, R heads): see the members of OpKind for the equations.
        Add(new(OpKind.DncInterface, DimsForm.Matrix, "headsxwidth (e.g. 2x8)",
            [In(A, "raw", s => Vec(DncInterfaceLayout.SizeOf(s.M, s.N))), Out(C, "interface", s => Vec(DncInterfaceLayout.SizeOf(s.M, s.N)))],
            s => DncInterfaceLayout.SizeOf(s.M, s.N), s => DncInterfaceLayout.SizeOf(s.M, s.N),
            &DncEntry<DncReferenceOps>.Interface, &DncEntry<DncManagedOps>.Interface));

        Add(new(OpKind.DncUsage, DimsForm.Matrix, "slotsxheads (e.g. 16x2)",
            [In(A, "free gates", s => Vec(s.N)) with { NonNegative = true }, In(B, "read weightings", s => Vec((long)s.N * s.M)) with { WeightingLength = Slots }, In(D, "write weighting", s => Vec(s.M)) with { WeightingLength = Slots },
             InOut(C, "usage", s => Vec(s.M)) with { NonNegative = true }],
            s => (long)s.M * s.N, s => 3.0 * s.M * s.N + 4.0 * s.M,
            &DncEntry<DncReferenceOps>.Usage, &DncEntry<DncManagedOps>.Usage));

        Add(new(OpKind.DncAllocation, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "usage", s => Vec(s.M)) with { NonNegative = true }, Out(C, "allocation", s => Vec(s.M))],
            s => s.M, s => 2.0 * s.M,
            &DncEntry<DncReferenceOps>.Allocation, &DncEntry<DncManagedOps>.Allocation));

        Add(new(OpKind.DncWriteWeighting, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "allocation", s => Vec(s.M)) with { WeightingLength = Slots }, In(B, "content", s => Vec(s.M)) with { WeightingLength = Slots }, Out(C, "write weighting", s => Vec(s.M))],
            s => s.M, s => 4.0 * s.M,
            &DncEntry<DncReferenceOps>.WriteWeighting, &DncEntry<DncManagedOps>.WriteWeighting)
        { SampleAlpha = 0.6f, SampleBeta = 0.9f });

        Add(new(OpKind.DncWrite, DimsForm.Matrix, "slotsxwidth (e.g. 16x8)",
            [InOut(A, "memory", s => Rows(s, OpKind.DncWrite, s.N)), In(B, "write weighting", s => Vec(s.M)) with { WeightingLength = Slots }, In(C, "erase", s => Vec(s.N)) with { NonNegative = true },
             In(D, "write vector", s => Vec(s.N))],
            s => (long)s.M * s.N, s => 4.0 * s.M * s.N,
            &DncEntry<DncReferenceOps>.Write, &DncEntry<DncManagedOps>.Write));

        Add(new(OpKind.DncLinkUpdate, DimsForm.Square, "slotsxslots (e.g. 16x16)",
            [InOut(A, "link", s => Vec((long)s.M * s.M)) with { NonNegative = true }, In(B, "write weighting", s => Vec(s.M)) with { WeightingLength = Slots }, InOut(C, "precedence", s => Vec(s.M)) with { WeightingLength = Slots }],
            s => (long)s.M * s.M, s => 5.0 * s.M * s.M + 3.0 * s.M,
            &DncEntry<DncReferenceOps>.LinkUpdate, &DncEntry<DncManagedOps>.LinkUpdate));

        Add(new(OpKind.DncTemporal, DimsForm.SquareByN, "slotsxslotsxheads (e.g. 16x16x2)",
            [In(A, "link", s => Vec((long)s.M * s.M)) with { NonNegative = true }, In(B, "read weightings", s => Vec((long)s.N * s.M)) with { WeightingLength = Slots },
             Out(C, "forward", s => Vec((long)s.N * s.M)), Out(D, "backward", s => Vec((long)s.N * s.M))],
            s => (long)s.M * s.M * s.N, s => 4.0 * s.M * s.M * s.N,
            &DncEntry<DncReferenceOps>.Temporal, &DncEntry<DncManagedOps>.Temporal)
        { ComputeBound = true });

        Add(new(OpKind.DncLinkTemporal, DimsForm.SquareByN, "slotsxslotsxheads (e.g. 16x16x2)",
            [InOut(A, "link", s => Vec((long)s.M * s.M)) with { NonNegative = true }, In(B, "write weighting", s => Vec(s.M)) with { WeightingLength = Slots }, InOut(C, "precedence", s => Vec(s.M)) with { WeightingLength = Slots },
             In(D, "read weightings", s => Vec((long)s.N * s.M)) with { WeightingLength = Slots }, Out(E, "forward", s => Vec((long)s.N * s.M)), Out(F, "backward", s => Vec((long)s.N * s.M))],
            s => (long)s.M * s.M * (s.N + 1), s => 5.0 * s.M * s.M + 3.0 * s.M + 4.0 * s.M * s.M * s.N,
            &DncEntry<DncReferenceOps>.LinkTemporal, &DncEntry<DncManagedOps>.LinkTemporal)
        { ComputeBound = true });

        Add(new(OpKind.DncReadWeighting, DimsForm.Matrix, "slotsxheads (e.g. 16x2)",
            [In(A, "backward", s => Vec((long)s.N * s.M)) with { WeightingLength = Slots }, In(B, "content", s => Vec((long)s.N * s.M)) with { WeightingLength = Slots }, In(C, "forward", s => Vec((long)s.N * s.M)) with { WeightingLength = Slots },
             In(D, "read modes", s => Vec(3L * s.N)) with { WeightingLength = _ => 3 }, Out(E, "read weightings", s => Vec((long)s.N * s.M))],
            s => (long)s.M * s.N, s => 5.0 * s.M * s.N,
            &DncEntry<DncReferenceOps>.ReadWeighting, &DncEntry<DncManagedOps>.ReadWeighting));

        Add(new(OpKind.DncRead, DimsForm.Triple, "slotsxwidthxheads (e.g. 16x8x2)",
            [In(A, "memory", s => Rows(s, OpKind.DncRead, s.N)), In(B, "read weightings", s => Vec((long)s.K * s.M)) with { WeightingLength = Slots },
             Out(C, "read vectors", s => Vec((long)s.K * s.N))],
            s => (long)s.M * s.N * s.K, s => 2.0 * s.M * s.N * s.K,
            &DncEntry<DncReferenceOps>.Read, &DncEntry<DncManagedOps>.Read)
        { ComputeBound = true });

        Add(new(OpKind.DncWriteContent, DimsForm.Triple, "slotsxwidthxheads (e.g. 16x8x2)",
            [InOut(A, "memory", s => Rows(s, OpKind.DncWriteContent, s.N)), In(B, "write weighting", s => Vec(s.M)) with { WeightingLength = Slots }, In(C, "erase", s => Vec(s.N)) with { NonNegative = true },
             In(D, "write vector", s => Vec(s.N)), In(E, "read keys", s => Vec((long)s.K * s.N)), In(F, "read strengths", s => Vec(s.K)),
             Out(G, "read content", s => Vec((long)s.K * s.M))],
            s => (long)s.M * s.N * (s.K + 1), s => 4.0 * s.M * s.N + s.K * (4.0 * s.M * s.N + 3.0 * s.M),
            &DncEntry<DncReferenceOps>.WriteContent, &DncEntry<DncManagedOps>.WriteContent)
        { ComputeBound = true });
        return table;
    }

    /// <summary>A DNC weighting spans the slots (M).</summary>
    private static int Slots(OpShape s) => s.M;

    /// <summary>C[M] = f(A[M]): one flop per element (a transcendental counts 1, see <see cref="OpSpec.Flops"/>).</summary>
    private static OpSpec Unary<TOp>(OpKind op, OpTolerance accuracy, OpTolerance? jit = null) where TOp : IUnaryOp =>
        new(op, DimsForm.Length, "a length (e.g. 128)", [In(A, "x", s => Vec(s.M)), Out(C, "y", s => Vec(s.M))], s => s.M, s => s.M,
            &UnaryEntry<TOp>.Reference, &UnaryEntry<TOp>.Managed)
        { Elementwise = true, Accuracy = _ => accuracy, JitAccuracy = jit is { } j ? _ => j : null };

    /// <summary>C[M] = f(A[M], B[M]).</summary>
    private static OpSpec Binary<TOp>(OpKind op, OpTolerance accuracy, OpTolerance? jit = null) where TOp : IBinaryOp =>
        new(op, DimsForm.Length, "a length (e.g. 128)", [In(A, "a", s => Vec(s.M)), In(B, "b", s => Vec(s.M)), Out(C, "y", s => Vec(s.M))], s => s.M, s => s.M,
            &BinaryEntry<TOp>.Reference, &BinaryEntry<TOp>.Managed)
        { Elementwise = true, Accuracy = _ => accuracy, JitAccuracy = jit is { } j ? _ => j : null };

    // Tolerance terms shared by several ops (see OpTolerance for the γ bound).
    private const double Underflow = 1e-37; // products of subnormals lose absolute precision below the γ model
    private static double Gamma(int terms, double eps = OpTolerance.FloatEps) => OpTolerance.Gamma(terms, eps);
    private static double CosineError(in OpShape s) => 4 * Gamma(s.N) + 8 * OpTolerance.FloatEps;
    /// <summary>The JIT's σ and tanh (MathEmitter's bounds, with margin); tiny results (x &lt; −88) may be 0 against a subnormal.</summary>
    private static OpTolerance Transcendental => new(1e-30, 1e-6, "MathEmitter's exp-based σ/tanh (error bounds pinned by its tests), relative to |expected|");

    private readonly struct SigmoidOp : IUnaryOp
    {
        public static void Reference(ReadOnlySpan<float> x, Span<float> y) => ReferenceOps.Sigmoid(x, y);
        public static void Managed(ReadOnlySpan<float> x, Span<float> y) => ManagedSimdOps.Sigmoid(x, y);
    }

    private readonly struct TanhOp : IUnaryOp
    {
        public static void Reference(ReadOnlySpan<float> x, Span<float> y) => ReferenceOps.Tanh(x, y);
        public static void Managed(ReadOnlySpan<float> x, Span<float> y) => ManagedSimdOps.Tanh(x, y);
    }

    private readonly struct ReluOp : IUnaryOp
    {
        public static void Reference(ReadOnlySpan<float> x, Span<float> y) => ReferenceOps.Relu(x, y);
        public static void Managed(ReadOnlySpan<float> x, Span<float> y) => ManagedSimdOps.Relu(x, y);
    }

    private readonly struct SoftsignOp : IUnaryOp
    {
        public static void Reference(ReadOnlySpan<float> x, Span<float> y) => ReferenceOps.Softsign(x, y);
        public static void Managed(ReadOnlySpan<float> x, Span<float> y) => ManagedSimdOps.Softsign(x, y);
    }

    private readonly struct SoftmaxOp : IUnaryOp
    {
        public static void Reference(ReadOnlySpan<float> x, Span<float> y) => ReferenceOps.Softmax(x, y);
        public static void Managed(ReadOnlySpan<float> x, Span<float> y) => ManagedSimdOps.Softmax(x, y);
    }

    private readonly struct AddOp : IBinaryOp
    {
        public static void Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => ReferenceOps.Add(a, b, y);
        public static void Managed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => ManagedSimdOps.Add(a, b, y);
    }

    private readonly struct MulOp : IBinaryOp
    {
        public static void Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => ReferenceOps.Mul(a, b, y);
        public static void Managed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) => ManagedSimdOps.Mul(a, b, y);
    }

    /// <summary>Every kind exactly once, each with both entry points and operands in distinct fields.</summary>
    private static OpSpec[] Build()
    {
        var kinds = Enum.GetValues<OpKind>();
        var table = new OpSpec?[kinds.Length];
        foreach (var spec in Table())
        {
            if ((uint)spec.Kind >= (uint)table.Length) throw new InvalidOperationException($"OpSpecs: {spec.Kind} is not a contiguous OpKind value.");
            if (table[(int)spec.Kind] is not null) throw new InvalidOperationException($"OpSpecs: {spec.Kind} has two descriptors.");
            if (spec.Reference == null || spec.Managed == null) throw new InvalidOperationException($"OpSpecs: {spec.Kind} lacks an entry point.");
            if (spec.Operands.Select(o => o.Field).Distinct().Count() != spec.Operands.Count) throw new InvalidOperationException($"OpSpecs: {spec.Kind} uses a field twice.");
            if (!spec.WritesResult && !spec.Operands.Any(o => o.IsWritten)) throw new InvalidOperationException($"OpSpecs: {spec.Kind} writes nothing.");
            CheckRows(spec);
            table[(int)spec.Kind] = spec;
        }
        foreach (var k in kinds)
            if (table[(int)k] is null) throw new InvalidOperationException($"OpSpecs: {k} has no descriptor; add one to OpSpecs.Table.");
        return table!;
    }

    /// <summary>Independent rows: every operand a row panel writes follows the rows, and no scalar result spans them all.</summary>
    private static void CheckRows(OpSpec spec)
    {
        bool byRow = spec.RowMultiplyAdds is not null;
        if (!byRow && spec.Operands.Any(o => o.RowStep is not null))
            throw new InvalidOperationException($"OpSpecs: {spec.Kind} has operands that follow the rows but no RowMultiplyAdds.");
        if (byRow && (spec.WritesResult || spec.Operands.Any(o => o.Role != OperandRole.Input && o.RowStep is null)))
            throw new InvalidOperationException($"OpSpecs: {spec.Kind} states independent rows, but writes something that does not follow them.");
    }
}
