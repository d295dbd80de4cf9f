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

    private static string? FourGatesPerUnit(OpKind op, in OpShape s) => s.M != 4 * s.K ? $"{op}: M ({s.M}) must be 4 × hidden ({s.K})." : null;

    private static List<OpSpec> Table()
    {
        var table = new List<OpSpec>();
        void Add(OpSpec spec) => table.Add(spec);

        Add(new(OpKind.Gemm, DimsForm.Triple, "MxNxK (e.g. 64x64x64)",
            [In(A, "A", s => Rows(s, OpKind.Gemm, s.K)), In(B, "B", s => Mat(s.K, s.N, s.StrideB)), InOut(C, "C", s => Mat(s.M, s.N, s.StrideC))],
            s => (long)s.M * s.N * s.K, s => 2.0 * s.M * s.N * s.K,
            &OpEntry<ReferenceOps>.Gemm, &OpEntry<ManagedSimdOps>.Gemm, rowLengthA: s => s.K)
        { ComputeBound = true, SampleAlpha = 1.5f, SampleBeta = 0.5f });

        Add(new(OpKind.Gemv, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [In(A, "A", s => Rows(s, OpKind.Gemv, s.N)), In(B, "x", s => Vec(s.N)), InOut(C, "y", s => Vec(s.M))],
            s => (long)s.M * s.N, s => 2.0 * s.M * s.N,
            &OpEntry<ReferenceOps>.Gemv, &OpEntry<ManagedSimdOps>.Gemv)
        { ComputeBound = true, SampleAlpha = 1.5f, SampleBeta = 0.5f });

        var lstmOperands = new[]
        {
            In(A, "W", s => Rows(s, OpKind.LstmGates, s.N + s.K)), In(B, "x", s => Vec(s.N)), In(C, "h", s => Vec(s.K)),
            In(D, "bias", s => Vec(s.M)),
        };
        Add(new(OpKind.LstmGates, DimsForm.Lstm, "(4·hidden)x(input+hidden) (e.g. 512x192)",
            [.. lstmOperands, Out(E, "gates", s => Vec(s.M))],
            s => (long)s.M * (s.N + s.K), s => 2.0 * s.M * (s.N + s.K) + s.M,
            &OpEntry<ReferenceOps>.LstmGates, &OpEntry<ManagedSimdOps>.LstmGates,
            rowLengthA: s => s.N + s.K, constraint: s => FourGatesPerUnit(OpKind.LstmGates, s))
        { ComputeBound = true });

        Add(new(OpKind.LstmCell, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "gates", s => Vec(4L * s.M)), InOut(B, "c", s => Vec(s.M)), Out(C, "h'", s => Vec(s.M))],
            s => s.M, s => 10.0 * s.M,
            &OpEntry<ReferenceOps>.LstmCell, &OpEntry<ManagedSimdOps>.LstmCell));

        Add(new(OpKind.LstmStep, DimsForm.Lstm, "(4·hidden)x(input+hidden) (e.g. 512x192)",
            [.. lstmOperands, new(E, "gates", OperandRole.Scratch, s => Vec(s.M)), InOut(F, "c", s => Vec(s.K)), Out(G, "h'", s => Vec(s.K))],
            s => (long)s.M * (s.N + s.K), s => 2.0 * s.M * (s.N + s.K) + 10.0 * s.K,
            &OpEntry<ReferenceOps>.LstmStep, &OpEntry<ManagedSimdOps>.LstmStep,
            rowLengthA: s => s.N + s.K, constraint: s => FourGatesPerUnit(OpKind.LstmStep, s))
        { ComputeBound = true });

        Add(new(OpKind.CosineSimilarity, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [In(A, "memory", s => Rows(s, OpKind.CosineSimilarity, s.N)), In(B, "key", s => Vec(s.N)), Out(C, "similarity", s => Vec(s.M))],
            s => (long)s.M * s.N, s => 4.0 * s.M * s.N,
            &OpEntry<ReferenceOps>.CosineSimilarity, &OpEntry<ManagedSimdOps>.CosineSimilarity)
        { ComputeBound = true });

        Add(new(OpKind.DncContent, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [In(A, "memory", s => Rows(s, OpKind.DncContent, s.N)), In(B, "key", s => Vec(s.N)), Out(C, "weighting", s => Vec(s.M))],
            s => (long)s.M * s.N, s => 4.0 * s.M * s.N + 3.0 * s.M,
            &OpEntry<ReferenceOps>.DncContent, &OpEntry<ManagedSimdOps>.DncContent)
        { ComputeBound = true, SampleAlpha = 3f });

        Add(new(OpKind.EwcPenalty, DimsForm.LengthOrMatrix, "rowsxcols or a parameter count (e.g. 128x128 or 1000000)",
            [In(A, "theta", s => Vec((long)s.M * Math.Max(1, s.N))), In(B, "anchor", s => Vec((long)s.M * Math.Max(1, s.N))),
             In(C, "fisher", s => Vec((long)s.M * Math.Max(1, s.N))) with { NonNegative = true }],
            s => (long)s.M * Math.Max(1, s.N), s => 3.0 * s.M * Math.Max(1, s.N),
            &OpEntry<ReferenceOps>.EwcPenalty, &OpEntry<ManagedSimdOps>.EwcPenalty)
        { WritesResult = true, SampleAlpha = 0.7f });

        Add(Unary(OpKind.Sigmoid, &OpEntry<ReferenceOps>.Sigmoid, &OpEntry<ManagedSimdOps>.Sigmoid));
        Add(Unary(OpKind.Tanh, &OpEntry<ReferenceOps>.Tanh, &OpEntry<ManagedSimdOps>.Tanh));
        Add(Unary(OpKind.Relu, &OpEntry<ReferenceOps>.Relu, &OpEntry<ManagedSimdOps>.Relu));
        Add(Unary(OpKind.Softsign, &OpEntry<ReferenceOps>.Softsign, &OpEntry<ManagedSimdOps>.Softsign));
        Add(Unary(OpKind.Softmax, &OpEntry<ReferenceOps>.Softmax, &OpEntry<ManagedSimdOps>.Softmax));

        Add(Binary(OpKind.Add, &OpEntry<ReferenceOps>.Add, &OpEntry<ManagedSimdOps>.Add));
        Add(Binary(OpKind.Mul, &OpEntry<ReferenceOps>.Mul, &OpEntry<ManagedSimdOps>.Mul));

        Add(new(OpKind.Axpy, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "x", s => Vec(s.M)), InOut(C, "y", s => Vec(s.M))],
            s => s.M, s => 2.0 * s.M,
            &OpEntry<ReferenceOps>.Axpy, &OpEntry<ManagedSimdOps>.Axpy)
        { SampleAlpha = -1.25f });

        Add(new(OpKind.Dot, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "a", s => Vec(s.M)), In(B, "b", s => Vec(s.M))],
            s => s.M, s => 2.0 * s.M,
            &OpEntry<ReferenceOps>.Dot, &OpEntry<ManagedSimdOps>.Dot)
        { WritesResult = true });

        Add(new(OpKind.Dense, DimsForm.Matrix, "rowsxcols (e.g. 256x64)",
            [In(A, "W", s => Rows(s, OpKind.Dense, s.N)), In(B, "x", s => Vec(s.N)), In(D, "bias", s => Vec(s.M)), Out(C, "y", s => Vec(s.M))],
            s => (long)s.M * s.N, s => 2.0 * s.M * s.N + s.M,
            &OpEntry<ReferenceOps>.Dense, &OpEntry<ManagedSimdOps>.Dense)
        { ComputeBound = true });

        // DNC (N slots = M, W width, R heads): see the members of OpKind for the equations.
        Add(new(OpKind.DncInterface, DimsForm.Matrix, "headsxwidth (e.g. 2x8)",
            [In(A, "raw", s => Vec(DncInterfaceLayout.SizeOf(s.M, s.N))), Out(C, "interface", s => Vec(DncInterfaceLayout.SizeOf(s.M, s.N)))],
            s => DncInterfaceLayout.SizeOf(s.M, s.N), s => DncInterfaceLayout.SizeOf(s.M, s.N),
            &DncEntry<DncReferenceOps>.Interface, &DncEntry<DncManagedOps>.Interface));

        Add(new(OpKind.DncUsage, DimsForm.Matrix, "slotsxheads (e.g. 16x2)",
            [In(A, "free gates", s => Vec(s.N)), In(B, "read weightings", s => Vec((long)s.N * s.M)), In(D, "write weighting", s => Vec(s.M)),
             InOut(C, "usage", s => Vec(s.M))],
            s => (long)s.M * s.N, s => 3.0 * s.M * s.N + 4.0 * s.M,
            &DncEntry<DncReferenceOps>.Usage, &DncEntry<DncManagedOps>.Usage));

        Add(new(OpKind.DncAllocation, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "usage", s => Vec(s.M)), Out(C, "allocation", s => Vec(s.M))],
            s => s.M, s => 2.0 * s.M,
            &DncEntry<DncReferenceOps>.Allocation, &DncEntry<DncManagedOps>.Allocation));

        Add(new(OpKind.DncWriteWeighting, DimsForm.Length, "a length (e.g. 128)",
            [In(A, "allocation", s => Vec(s.M)), In(B, "content", s => Vec(s.M)), Out(C, "write weighting", s => Vec(s.M))],
            s => s.M, s => 4.0 * s.M,
            &DncEntry<DncReferenceOps>.WriteWeighting, &DncEntry<DncManagedOps>.WriteWeighting)
        { SampleAlpha = 0.6f, SampleBeta = 0.9f });

        Add(new(OpKind.DncWrite, DimsForm.Matrix, "slotsxwidth (e.g. 16x8)",
            [InOut(A, "memory", s => Rows(s, OpKind.DncWrite, s.N)), In(B, "write weighting", s => Vec(s.M)), In(C, "erase", s => Vec(s.N)),
             In(D, "write vector", s => Vec(s.N))],
            s => (long)s.M * s.N, s => 4.0 * s.M * s.N,
            &DncEntry<DncReferenceOps>.Write, &DncEntry<DncManagedOps>.Write));

        Add(new(OpKind.DncLinkUpdate, DimsForm.Square, "slotsxslots (e.g. 16x16)",
            [InOut(A, "link", s => Vec((long)s.M * s.M)), In(B, "write weighting", s => Vec(s.M)), InOut(C, "precedence", s => Vec(s.M))],
            s => (long)s.M * s.M, s => 5.0 * s.M * s.M + 3.0 * s.M,
            &DncEntry<DncReferenceOps>.LinkUpdate, &DncEntry<DncManagedOps>.LinkUpdate));

        Add(new(OpKind.DncTemporal, DimsForm.SquareByN, "slotsxslotsxheads (e.g. 16x16x2)",
            [In(A, "link", s => Vec((long)s.M * s.M)), In(B, "read weightings", s => Vec((long)s.N * s.M)),
             Out(C, "forward", s => Vec((long)s.N * s.M)), Out(D, "backward", s => Vec((long)s.N * s.M))],
            s => (long)s.M * s.M * s.N, s => 4.0 * s.M * s.M * s.N,
            &DncEntry<DncReferenceOps>.Temporal, &DncEntry<DncManagedOps>.Temporal)
        { ComputeBound = true });

        Add(new(OpKind.DncLinkTemporal, DimsForm.SquareByN, "slotsxslotsxheads (e.g. 16x16x2)",
            [InOut(A, "link", s => Vec((long)s.M * s.M)), In(B, "write weighting", s => Vec(s.M)), InOut(C, "precedence", s => Vec(s.M)),
             In(D, "read weightings", s => Vec((long)s.N * s.M)), Out(E, "forward", s => Vec((long)s.N * s.M)), Out(F, "backward", s => Vec((long)s.N * s.M))],
            s => (long)s.M * s.M * (s.N + 1), s => 5.0 * s.M * s.M + 3.0 * s.M + 4.0 * s.M * s.M * s.N,
            &DncEntry<DncReferenceOps>.LinkTemporal, &DncEntry<DncManagedOps>.LinkTemporal)
        { ComputeBound = true });

        Add(new(OpKind.DncReadWeighting, DimsForm.Matrix, "slotsxheads (e.g. 16x2)",
            [In(A, "backward", s => Vec((long)s.N * s.M)), In(B, "content", s => Vec((long)s.N * s.M)), In(C, "forward", s => Vec((long)s.N * s.M)),
             In(D, "read modes", s => Vec(3L * s.N)), Out(E, "read weightings", s => Vec((long)s.N * s.M))],
            s => (long)s.M * s.N, s => 5.0 * s.M * s.N,
            &DncEntry<DncReferenceOps>.ReadWeighting, &DncEntry<DncManagedOps>.ReadWeighting));

        Add(new(OpKind.DncRead, DimsForm.Triple, "slotsxwidthxheads (e.g. 16x8x2)",
            [In(A, "memory", s => Rows(s, OpKind.DncRead, s.N)), In(B, "read weightings", s => Vec((long)s.K * s.M)),
             Out(C, "read vectors", s => Vec((long)s.K * s.N))],
            s => (long)s.M * s.N * s.K, s => 2.0 * s.M * s.N * s.K,
            &DncEntry<DncReferenceOps>.Read, &DncEntry<DncManagedOps>.Read)
        { ComputeBound = true });

        Add(new(OpKind.DncWriteContent, DimsForm.Triple, "slotsxwidthxheads (e.g. 16x8x2)",
            [InOut(A, "memory", s => Rows(s, OpKind.DncWriteContent, s.N)), In(B, "write weighting", s => Vec(s.M)), In(C, "erase", s => Vec(s.N)),
             In(D, "write vector", s => Vec(s.N)), In(E, "read keys", s => Vec((long)s.K * s.N)), In(F, "read strengths", s => Vec(s.K)),
             Out(G, "read content", s => Vec((long)s.K * s.M))],
            s => (long)s.M * s.N * (s.K + 1), s => 4.0 * s.M * s.N + s.K * (4.0 * s.M * s.N + 3.0 * s.M),
            &DncEntry<DncReferenceOps>.WriteContent, &DncEntry<DncManagedOps>.WriteContent)
        { ComputeBound = true });
        return table;
    }

    private static OpSpec Unary(OpKind op, delegate*<in OpShape, KernelArgs*, void> reference, delegate*<in OpShape, KernelArgs*, void> managed) =>
        new(op, DimsForm.Length, "a length (e.g. 128)", [In(A, "x", s => Vec(s.M)), Out(C, "y", s => Vec(s.M))], s => s.M, s => s.M, reference, managed);

    private static OpSpec Binary(OpKind op, delegate*<in OpShape, KernelArgs*, void> reference, delegate*<in OpShape, KernelArgs*, void> managed) =>
        new(op, DimsForm.Length, "a length (e.g. 128)", [In(A, "a", s => Vec(s.M)), In(B, "b", s => Vec(s.M)), Out(C, "y", s => Vec(s.M))], s => s.M, s => s.M, reference, managed);

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
            table[(int)spec.Kind] = spec;
        }
        foreach (var k in kinds)
            if (table[(int)k] is null) throw new InvalidOperationException($"OpSpecs: {k} has no descriptor; add one to OpSpecs.Table.");
        return table!;
    }
}
