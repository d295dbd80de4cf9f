namespace NeuralJit.Ops;

/// <summary>The pointer fields of <see cref="KernelArgs"/> an operand can sit in, in struct order.</summary>
public enum OperandField { A, B, C, D, E, F, G }

/// <summary>What a kernel does with an operand.</summary>
public enum OperandRole
{
    /// <summary>Read, never written.</summary>
    Input,
    /// <summary>Every element written, none read.</summary>
    Output,
    /// <summary>Read, then updated in place.</summary>
    InOut,
    /// <summary>Working memory a tier may write (the managed LSTM step's gate buffer); its contents after a call are unspecified.</summary>
    Scratch,
}

/// <summary>
/// The floats an operand spans: <see cref="Rows"/> rows of <see cref="Cols"/> floats, <see cref="Stride"/> apart
/// (a vector is one row). <see cref="Floats"/> is what a kernel may touch; <see cref="Touched"/> what it moves.
/// </summary>
public readonly record struct OperandExtent(int Rows, int Cols, int Stride)
{
    public static OperandExtent Vector(int length) => new(1, length, length);
    public static OperandExtent Matrix(int rows, int cols, int stride) => new(rows, cols, stride);

    public int Floats => Rows <= 0 || Cols <= 0 ? 0 : checked((Rows - 1) * Stride + Cols);
    public long Touched => Rows <= 0 || Cols <= 0 ? 0 : (long)Rows * Cols;
}

/// <summary>One operand of an op: where it is passed, a name from the op's domain, its role and its extent for a shape.</summary>
public sealed record OperandSpec(OperandField Field, string Name, OperandRole Role, Func<OpShape, OperandExtent> Extent)
{
    /// <summary>Inputs that must be ≥ 0 to mean anything (a Fisher diagonal, a usage, a gate): generators draw |x|.</summary>
    public bool NonNegative { get; init; }
    /// <summary>
    /// Floats in one weighting when the operand holds weightings (a head's weighting over the slots, a precedence, read
    /// modes): each is ≥ 0 and sums to 1, as the DNC makes them, so generators draw them so. Repeated calls on sample data
    /// then stay finite (a precedence fed unscaled weightings grows without bound and turns the link matrix into NaN).
    /// </summary>
    public Func<OpShape, int>? WeightingLength { get; init; }
    /// <summary>
    /// Floats between two consecutive output rows in this operand when it follows the output's rows (output row r uses
    /// only row r of it: a matrix row, or one element of a vector); null when every output row may use all of it.
    /// Stated per operand, never inferred from an extent of M rows (a square B would match by accident).
    /// </summary>
    public Func<OpShape, int>? RowStep { get; init; }
    public bool IsRead => Role is OperandRole.Input or OperandRole.InOut;
    public bool IsWritten => Role is OperandRole.Output or OperandRole.InOut;
}

/// <summary>
/// The bytes one call moves, by kind: <see cref="Read"/> from input operands; <see cref="Updated"/> by in-out operands,
/// each element read and written back in place (counted twice, 8 bytes per float); <see cref="Written"/> to output
/// operands, never read. Scratch is not counted.
/// </summary>
public readonly record struct OpTraffic(double Read, double Updated, double Written)
{
    /// <summary>Every byte moved: what <see cref="OpSpec.Bytes"/> returns.</summary>
    public double Total => Read + Updated + Written;
    /// <summary>The distinct bytes the operands span (an updated element once): the working set of one call.</summary>
    public double Footprint => Read + Updated / 2 + Written;
}

/// <summary>
/// How close a tier must come to the reference: element e passes when
/// |expected − actual| ≤ Absolute + Relative·|expected| + MagnitudeFactor·magnitude_e, NaN exactly where the reference
/// has NaN and infinities exactly equal. magnitude_e is the same op run by the reference on |inputs| (|α|, |β| too):
/// for a reduction it is Σ|terms|, and any summation order (with or without FMA) of L terms is within
/// γ_L·Σ|terms| of the exact sum (γ_L = L·ε/(1 − L·ε), Higham §3.1), so two orders differ by at most 2·γ_L·Σ|terms|
/// (<see cref="Gamma"/>). That bound holds for any data, cancellation of huge values included. <see cref="Why"/> states the
/// reasoning for the op.
/// </summary>
public readonly record struct OpTolerance(double Absolute, double Relative, string Why = "", double MagnitudeFactor = 0)
{
    /// <summary>The gap between 1 and the next float (2⁻²³).</summary>
    public const double FloatEps = 1.1920929e-7;
    /// <summary>The gap between 1 and the next double, halved (2⁻⁵³): the unit roundoff of double sums.</summary>
    public const double DoubleUnit = 1.1102230246251565e-16;

    public static OpTolerance Exact(string why) => new(0, 0, why);

    /// <summary>2·γ_L: how far two summation orders of <paramref name="terms"/> terms can be apart, relative to Σ|terms|.</summary>
    public static double Gamma(int terms, double eps = FloatEps) => 2.0 * Math.Max(1, terms) * eps / (1 - Math.Max(1, terms) * eps);

    public double Bound(double expected, double magnitude = 0) => Absolute + Relative * Math.Abs(expected) + (MagnitudeFactor > 0 ? MagnitudeFactor * magnitude : 0);
    public bool Accepts(double expected, double actual, double magnitude = 0) => Math.Abs(expected - actual) <= Bound(expected, magnitude);
    public override string ToString() => $"abs {Absolute:G3} + rel {Relative:G3}{(MagnitudeFactor > 0 ? $" + {MagnitudeFactor:G3}·Σ|terms|" : "")}";
}

/// <summary>How an op's shape is written as dims ("64x64x64", "512x192", "128"): both printing and parsing read it.</summary>
public enum DimsForm
{
    /// <summary>"M": vectors (N and K unused).</summary>
    Length,
    /// <summary>"MxN": rows × cols, or slots × heads/width for the DNC ops.</summary>
    Matrix,
    /// <summary>"MxNxK".</summary>
    Triple,
    /// <summary>"(4·hidden)x(input+hidden)": M = 4K, N = input, K = hidden.</summary>
    Lstm,
    /// <summary>"M", or "MxN" when N ≠ 0.</summary>
    LengthOrMatrix,
    /// <summary>"MxM" (N and K unused).</summary>
    Square,
    /// <summary>"MxMxN".</summary>
    SquareByN,
}

/// <summary>
/// The contract of one <see cref="OpKind"/> as data, read by every tier, the profiler, the benchmark and the tests:
/// how its dims are written, its operands with their extents, the row length of A, its work units, its cost per call,
/// and its managed entry points. <see cref="OpSpecs"/> holds one per op and checks them at startup.
/// </summary>
public sealed unsafe class OpSpec
{
    private readonly Func<OpShape, int> _rowLengthA;
    private readonly Func<OpShape, string?>? _constraint;
    private readonly Func<OpShape, long> _elements;
    private readonly Func<OpShape, double> _flops;
    private readonly delegate*<in OpShape, KernelArgs*, void> _reference, _managed;

    internal OpSpec(OpKind kind, DimsForm form, string dimsHint, OperandSpec[] operands,
        Func<OpShape, long> elements, Func<OpShape, double> flops,
        delegate*<in OpShape, KernelArgs*, void> reference, delegate*<in OpShape, KernelArgs*, void> managed,
        Func<OpShape, int>? rowLengthA = null, Func<OpShape, string?>? constraint = null)
    {
        Kind = kind;
        Form = form;
        DimsHint = dimsHint;
        Operands = operands;
        _elements = elements;
        _flops = flops;
        _reference = reference;
        _managed = managed;
        _rowLengthA = rowLengthA ?? (s => s.N);
        _constraint = constraint;
    }

    public OpKind Kind { get; }
    public DimsForm Form { get; }
    /// <summary>What dims look like for this op, for messages: "MxNxK (e.g. 64x64x64)".</summary>
    public string DimsHint { get; }
    public IReadOnlyList<OperandSpec> Operands { get; }
    /// <summary>The op writes <see cref="KernelArgs.Result"/> (a scalar reduction).</summary>
    public bool WritesResult { get; init; }
    /// <summary>A matrix product: its figure of merit is GFLOP/s; other ops stream their operands (GB/s).</summary>
    public bool ComputeBound { get; init; }
    /// <summary>Alpha and Beta that exercise the op (a key strength, λ, the gates…), for tests and benchmarks.</summary>
    public float SampleAlpha { get; init; } = 1f;
    public float SampleBeta { get; init; }
    /// <summary>
    /// C = f(A), f(A, B) or f(A, C) (Axpy) lane by lane over M floats, C allowed to be A: the managed and JIT sweeps run every such op
    /// (the JIT sweep where an emitter declares it) without naming it.
    /// </summary>
    public bool Elementwise { get; init; }
    /// <summary>
    /// Multiply-adds of one output row, for ops whose output rows are independent (a row of C, y or the gates depends
    /// only on its row of A): rows [r0, r1) are then one call on offset pointers (<see cref="RowPanel"/>), with
    /// bit-identical results. Null for the others.
    /// </summary>
    public Func<OpShape, long>? RowMultiplyAdds { get; init; }
    /// <summary>
    /// The JIT has an emitter for the op (false: it stays managed). <c>KernelEmitters</c> checks at startup that its
    /// emitters cover exactly the ops that say so, so an op added without an emitter must declare it here.
    /// </summary>
    public bool HasEmitter { get; init; } = true;
    /// <summary>How close the managed SIMD tier must come to the reference on a shape; null for ops whose tests state their own.</summary>
    public Func<OpShape, OpTolerance>? Accuracy { get; init; }
    /// <summary>How close a JIT kernel must come, where it differs from <see cref="Accuracy"/> (a fused multiply-add, another approximation).</summary>
    public Func<OpShape, OpTolerance>? JitAccuracy { get; init; }

    /// <summary>The tolerance of <paramref name="tier"/> against the reference on <paramref name="s"/>.</summary>
    /// <exception cref="InvalidOperationException">The descriptor states none.</exception>
    public OpTolerance Tolerance(in OpShape s, KernelTier tier = KernelTier.ManagedSimd) =>
        (tier == KernelTier.Jit ? JitAccuracy ?? Accuracy : Accuracy)?.Invoke(s)
        ?? throw new InvalidOperationException($"OpSpecs: {Kind} states no tolerance for the {tier} tier.");

    /// <summary>Row length of A (the default row stride when Lda is 0).</summary>
    public int RowLengthA(in OpShape s) => _rowLengthA(s);

    /// <summary>Work units of one call, for cycles-per-element: multiply-adds for matrix ops, elements otherwise.</summary>
    public long Elements(in OpShape s) => _elements(s);

    /// <summary>fp32 flops of one call (a multiply-add is 2; a transcendental counts 1, so its bound is the memory term).</summary>
    public double Flops(in OpShape s) => _flops(s);

    /// <summary>Bytes one call moves: every operand read once and written once (in-out both); scratch is not counted.</summary>
    public double Bytes(in OpShape s) => Traffic(s).Total;

    /// <summary>The bytes of <see cref="Bytes"/> by kind of access, which memory serves at different rates.</summary>
    public OpTraffic Traffic(in OpShape s)
    {
        double read = 0, updated = 0, written = 0;
        foreach (var o in Operands)
        {
            long n = o.Extent(s).Touched;
            switch (o.Role)
            {
                case OperandRole.Input: read += 4.0 * n; break;
                case OperandRole.InOut: updated += 8.0 * n; break;
                case OperandRole.Output: written += 4.0 * n; break;
            }
        }
        return new OpTraffic(read, updated, written);
    }

    /// <summary>
    /// Points <paramref name="args"/> at output rows [<paramref name="r0"/>, r0 + <paramref name="rows"/>) of a call on
    /// <paramref name="s"/> (every operand with a <see cref="OperandSpec.RowStep"/> advanced by r0 steps) and returns the
    /// shape of that call: <paramref name="rows"/> rows, the leading dimensions of <paramref name="s"/>. Only for ops with
    /// <see cref="RowMultiplyAdds"/>.
    /// </summary>
    public OpShape RowPanel(in OpShape s, KernelArgs* args, int r0, int rows)
    {
        if (RowMultiplyAdds is null) throw new InvalidOperationException($"{Kind}: output rows are not independent.");
        foreach (var o in Operands)
            if (o.RowStep is { } step) *KernelArgs.Field(args, o.Field) += (long)r0 * step(s);
        return s with { M = rows, Lda = s.StrideA(Kind), Ldb = s.StrideB, Ldc = s.StrideC };
    }

    /// <summary>The operand in <paramref name="field"/>, or null when the op does not use it.</summary>
    public OperandSpec? Operand(OperandField field)
    {
        foreach (var o in Operands) if (o.Field == field) return o;
        return null;
    }

    /// <summary>The scalar reference (the oracle) in the kernel calling convention.</summary>
    public delegate*<in OpShape, KernelArgs*, void> Reference => _reference;
    /// <summary>The managed SIMD tier (the default tier) in the kernel calling convention.</summary>
    public delegate*<in OpShape, KernelArgs*, void> Managed => _managed;

    /// <summary>Null when <paramref name="s"/> is a shape this op can run, else why not.</summary>
    public string? Invalid(in OpShape s)
    {
        if (s.M < 0 || s.N < 0 || s.K < 0) return $"{Kind}: sizes must not be negative.";
        int row = _rowLengthA(s);
        if (s.Lda != 0 && s.Lda < row) return $"{Kind}: lda {s.Lda} is smaller than the row length {row}.";
        if (s.Ldb != 0 && s.Ldb < s.N) return $"{Kind}: ldb {s.Ldb} is smaller than N {s.N}.";
        if (s.Ldc != 0 && s.Ldc < s.N) return $"{Kind}: ldc {s.Ldc} is smaller than N {s.N}.";
        if (_constraint?.Invoke(s) is { } why) return why;
        // Kernels index operands with int: an operand past 2³¹ floats (EwcPenalty 65536x65536) is no shape, not an overflow later.
        if ((long)s.N + s.K > int.MaxValue) return $"{Kind}: N + K ({(long)s.N + s.K:N0}) passes {int.MaxValue:N0}.";
        foreach (var o in Operands)
        {
            OperandExtent e;
            try { e = o.Extent(s); }
            catch (OverflowException) { return $"{Kind}: the operand {o.Name} would hold more than the {int.MaxValue:N0} floats a kernel can index."; }
            long floats = e.Rows <= 0 || e.Cols <= 0 ? 0 : (long)(e.Rows - 1) * e.Stride + e.Cols;
            if (e.Rows < 0 || e.Cols < 0 || e.Stride < 0 || floats > int.MaxValue)
                return $"{Kind}: the operand {o.Name} would hold {Math.Max(floats, (long)e.Rows * e.Cols):N0} floats, more than the {int.MaxValue:N0} a kernel can index.";
        }
        return null;
    }

    /// <summary>The dims text of <paramref name="s"/> without leading dimensions.</summary>
    public string FormatDims(in OpShape s) => Form switch
    {
        DimsForm.Triple => $"{s.M}x{s.N}x{s.K}",
        DimsForm.Lstm => $"{s.M}x{s.N + s.K}",
        DimsForm.Matrix => $"{s.M}x{s.N}",
        DimsForm.LengthOrMatrix when s.N != 0 => $"{s.M}x{s.N}",
        DimsForm.Square => $"{s.M}x{s.M}",
        DimsForm.SquareByN => $"{s.M}x{s.M}x{s.N}",
        _ => $"{s.M}",
    };

    /// <summary>The shape whose dims are the numbers <paramref name="v"/> (leading dimensions apart), or an error.</summary>
    public bool TryShapeOf(ReadOnlySpan<int> v, out OpShape shape, out string? error)
    {
        shape = default;
        error = null;
        switch (Form)
        {
            case DimsForm.Triple when v.Length == 3: shape = new OpShape(v[0], v[1], v[2]); return true;
            case DimsForm.Lstm when v.Length == 2:
                if (v[0] % 4 != 0 || v[1] < v[0] / 4) { error = $"{Kind} rows must be 4·hidden and columns input+hidden ≥ hidden."; return false; }
                shape = new OpShape(v[0], v[1] - v[0] / 4, v[0] / 4); return true;
            case DimsForm.Matrix when v.Length == 2: shape = new OpShape(v[0], v[1]); return true;
            case DimsForm.LengthOrMatrix when v.Length == 1: shape = new OpShape(v[0]); return true;
            case DimsForm.LengthOrMatrix when v.Length == 2 && v[1] != 0: shape = new OpShape(v[0], v[1]); return true; // "Mx0" is written "M"
            case DimsForm.Square when v.Length == 2:
                if (v[0] != v[1]) { error = $"the {Kind} link matrix is square: expected {DimsHint}."; return false; }
                shape = new OpShape(v[0]); return true;
            case DimsForm.SquareByN when v.Length == 3:
                if (v[0] != v[1]) { error = $"the {Kind} link matrix is square: expected {DimsHint}."; return false; }
                shape = new OpShape(v[0], v[2]); return true;
            case DimsForm.Length when v.Length == 1: shape = new OpShape(v[0]); return true;
            default: return false;
        }
    }

    public override string ToString() => Kind.ToString();
}
