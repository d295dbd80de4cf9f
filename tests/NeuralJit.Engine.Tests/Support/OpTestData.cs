using System.Globalization;
using System.Text;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>Special values that <see cref="OpOperands.Inject"/> can plant in the inputs of an op.</summary>
[Flags]
public enum SpecialValues
{
    None = 0,
    NaN = 1 << 0,
    PositiveInfinity = 1 << 1,
    NegativeInfinity = 1 << 2,
    /// <summary>±1e30: finite alone, overflows to ±∞ when two of them are multiplied.</summary>
    Huge = 1 << 3,
    /// <summary>±1e-30: a normal float whose square underflows.</summary>
    Tiny = 1 << 4,
    /// <summary>±1e-40: a subnormal float (DAZ/FTZ would flush it; .NET does not).</summary>
    Denormal = 1 << 5,
    NegativeZero = 1 << 6,
    Infinities = PositiveInfinity | NegativeInfinity,
    /// <summary>Finite extremes only: every result stays comparable with a relative tolerance.</summary>
    Extremes = Huge | Tiny | Denormal | NegativeZero,
    All = NaN | Infinities | Extremes,
}

/// <summary>One operand (A..G) of a <see cref="KernelArgs"/> block, in native memory with guard floats after it.</summary>
public sealed unsafe class Operand : IDisposable
{
    /// <summary>Floats after the operand filled with <see cref="GuardValue"/>: a kernel that writes past its span changes them.</summary>
    public const int GuardFloats = 32;
    /// <summary>A NaN with a payload no arithmetic produces, so an overrun write is recognisable.</summary>
    public static readonly float GuardValue = BitConverter.Int32BitsToSingle(0x7FA5_A5A5);

    private readonly AlignedBuffer _buffer;
    private readonly int _offset;

    public Operand(char name, int length, bool isInput, bool isOutput, bool unaligned)
    {
        Name = name;
        Length = length;
        IsInput = isInput;
        IsOutput = isOutput;
        _offset = unaligned ? 1 : 0;
        _buffer = new AlignedBuffer(length + _offset + GuardFloats);
        _buffer.Span.Fill(GuardValue);
        Span.Clear();
    }

    public char Name { get; }
    public int Length { get; }
    /// <summary>The kernel reads it (random data is generated for it).</summary>
    public bool IsInput { get; }
    /// <summary>The kernel writes it (compared by <see cref="OpTestData.Compare"/>).</summary>
    public bool IsOutput { get; }
    /// <summary>Generated as |x| (a Fisher diagonal).</summary>
    public bool NonNegative { get; init; }
    public bool Unaligned => _offset != 0;
    public float* Pointer => _buffer.Pointer + _offset;
    public Span<float> Span => new(Pointer, Length);
    public float[] ToArray() => Span.ToArray();

    /// <summary>Index of the first guard float a kernel overwrote, or −1.</summary>
    public int FirstDamagedGuard()
    {
        var guard = new ReadOnlySpan<float>(_buffer.Pointer + _offset + Length, GuardFloats);
        int bits = BitConverter.SingleToInt32Bits(GuardValue);
        for (int i = 0; i < guard.Length; i++)
            if (BitConverter.SingleToInt32Bits(guard[i]) != bits) return i;
        // The float before an unaligned operand is a guard too.
        if (_offset != 0 && BitConverter.SingleToInt32Bits(_buffer.Pointer[0]) != bits) return -2;
        return -1;
    }

    public void Dispose() => _buffer.Dispose();
}

/// <summary>
/// Everything one call of (op, shape) needs: operands A..G sized from the <see cref="OpKind"/> contract,
/// filled with seeded random data, the scalars, and the <see cref="KernelArgs"/> block pointing at them.
/// Make two with the same seed (or <see cref="Clone"/> one), run a different tier on each, then
/// <see cref="OpTestData.Compare"/> them.
/// </summary>
public sealed unsafe class OpOperands : IDisposable
{
    private readonly Operand?[] _operands = new Operand?[7];

    internal OpOperands(OpKind op, OpShape shape, bool unaligned)
    {
        Op = op;
        Shape = shape;
        Unaligned = unaligned;
    }

    public OpKind Op { get; }
    public OpShape Shape { get; }
    public bool Unaligned { get; }
    public float Alpha { get; set; }
    public float Beta { get; set; }
    /// <summary>The scalar result of Dot/EwcPenalty after <see cref="Run"/>.</summary>
    public double Result { get; set; }

    /// <summary>Operand by name 'A'..'G', or null when the op does not use it.</summary>
    public Operand? this[char name] => _operands[name - 'A'];
    public IEnumerable<Operand> All => _operands.Where(o => o is not null)!;

    internal void Set(char name, Operand o) => _operands[name - 'A'] = o;

    /// <summary>The argument block for one call (pointers into this object's buffers).</summary>
    public KernelArgs Args
    {
        get
        {
            KernelArgs a = default;
            a.A = this['A'] is { } A ? A.Pointer : null;
            a.B = this['B'] is { } B ? B.Pointer : null;
            a.C = this['C'] is { } C ? C.Pointer : null;
            a.D = this['D'] is { } D ? D.Pointer : null;
            a.E = this['E'] is { } E ? E.Pointer : null;
            a.F = this['F'] is { } F ? F.Pointer : null;
            a.G = this['G'] is { } G ? G.Pointer : null;
            a.Alpha = Alpha;
            a.Beta = Beta;
            return a;
        }
    }

    /// <summary>Runs a kernel with the calling convention of every tier and keeps its scalar result.</summary>
    public void Run(delegate*<in OpShape, KernelArgs*, void> kernel)
    {
        var a = Args;
        var shape = Shape;
        kernel(in shape, &a);
        Result = a.Result;
    }

    /// <summary>Runs the managed kernel of <paramref name="tier"/> (Scalar or ManagedSimd) through <see cref="ManagedKernels"/>.</summary>
    public void Run(KernelTier tier) => Run(ManagedKernels.Get(Op, tier));

    /// <summary>Runs a native (JIT) entry point <c>void(KernelArgs*)</c>.</summary>
    public void RunNative(nint entry)
    {
        var a = Args;
        ((delegate* unmanaged<KernelArgs*, void>)entry)(&a);
        Result = a.Result;
    }

    /// <summary>Runs through a profiled slot (whatever tier it has installed).</summary>
    public void Run(OpSlot slot)
    {
        var a = Args;
        slot.Invoke(&a);
        Result = a.Result;
    }

    /// <summary>An identical copy (same data, scalars, alignment) in fresh buffers.</summary>
    public OpOperands Clone()
    {
        var c = new OpOperands(Op, Shape, Unaligned) { Alpha = Alpha, Beta = Beta, Result = Result };
        foreach (var o in All)
        {
            var copy = new Operand(o.Name, o.Length, o.IsInput, o.IsOutput, o.Unaligned) { NonNegative = o.NonNegative };
            o.Span.CopyTo(copy.Span);
            c.Set(o.Name, copy);
        }
        return c;
    }

    /// <summary>
    /// Plants <paramref name="count"/> special values (chosen among <paramref name="kinds"/>) at seeded random
    /// positions of the operands the op reads. Returns where they went, for failure messages.
    /// </summary>
    public string Inject(SpecialValues kinds, int seed, int count = 3, params char[] only)
    {
        var values = OpTestData.SpecialsOf(kinds);
        if (values.Count == 0) return "";
        var rng = new Random(seed);
        var targets = All.Where(o => o.IsInput && o.Length > 0 && (only.Length == 0 || only.Contains(o.Name))).ToList();
        if (targets.Count == 0) return "";
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            var t = targets[rng.Next(targets.Count)];
            int at = rng.Next(t.Length);
            float v = values[rng.Next(values.Count)];
            t.Span[at] = v;
            sb.Append(CultureInfo.InvariantCulture, $"{t.Name}[{at}]={OpTestData.Show(v)} ");
        }
        return sb.ToString().TrimEnd();
    }

    /// <summary>Null when no kernel wrote outside its operands, else which guard was hit.</summary>
    public string? GuardDamage()
    {
        foreach (var o in All)
        {
            int g = o.FirstDamagedGuard();
            if (g != -1) return g == -2 ? $"{Op} {Shape}: the float before operand {o.Name} was overwritten"
                : $"{Op} {Shape}: write past the end of operand {o.Name} (length {o.Length}) at +{g}";
        }
        return null;
    }

    public void Dispose()
    {
        foreach (var o in All) o.Dispose();
    }
}

/// <summary>
/// How close a tier must be to the reference: element e passes when
/// |expected − actual| ≤ Absolute + Relative·|expected| + MagnitudeFactor·magnitude_e, NaN exactly where the reference
/// has NaN and infinities exactly equal. magnitude_e is the same op run by the reference on |inputs| (|α|, |β| too):
/// for a reduction it is Σ|terms|, and any summation order (with or without FMA) of L terms is within
/// γ_L·Σ|terms| of the exact sum (γ_L = L·ε/(1 − L·ε), Higham §3.1), so two orders differ by at most 2·γ_L·Σ|terms|.
/// That bound holds for any data, cancellation of huge values included. <see cref="Why"/> states the reasoning per op.
/// </summary>
public readonly record struct Tolerance(double Absolute, double Relative, string Why, double MagnitudeFactor = 0)
{
    public static Tolerance Exact(string why) => new(0, 0, why);
    public double Bound(double expected, double magnitude) => Absolute + Relative * Math.Abs(expected) + (MagnitudeFactor > 0 ? MagnitudeFactor * magnitude : 0);
    public bool Accepts(double expected, double actual, double magnitude = 0) => Math.Abs(expected - actual) <= Bound(expected, magnitude);
}

/// <summary>The outcome of comparing a tier against the reference on one (op, shape).</summary>
public sealed record OpComparison(bool Passed, string Message, double MaxAbsoluteError, double MaxRelativeError);

/// <summary>Deterministic inputs, special values, tolerances and comparison for every (op, shape).</summary>
public static class OpTestData
{
    /// <summary>float.Epsilon in the numerical-analysis sense: the gap between 1 and the next float (2⁻²³).</summary>
    public const double FloatEps = 1.1920929e-7;

    /// <summary>
    /// Allocates the operands <paramref name="op"/> reads and writes for <paramref name="shape"/> (strides included)
    /// and fills the inputs with uniform values in [−scale, scale] from <paramref name="seed"/>. Outputs that the op
    /// overwrites start as NaN garbage, so a kernel that reads them (or skips an element) is caught. Operands the spec
    /// marks non-negative (EwcPenalty's Fisher diagonal) are in [0, scale]. Alpha/Beta are the spec's sample values.
    /// </summary>
    public static OpOperands Create(OpKind op, OpShape shape, int seed, bool unaligned = false, float scale = 1f)
    {
        var r = new OpOperands(op, shape, unaligned);
        var spec = OpSpecs.For(op);
        foreach (var o in spec.Operands)
        {
            char name = (char)('A' + (int)o.Field);
            r.Set(name, new Operand(name, o.Extent(shape).Floats, o.IsRead, o.IsWritten, unaligned) { NonNegative = o.NonNegative });
        }
        r.Alpha = spec.SampleAlpha;
        r.Beta = spec.SampleBeta;

        var rng = new Random(HashCode.Combine(seed, (int)op, shape.GetHashCode()) ^ seed);
        foreach (var o in r.All)
        {
            var span = o.Span;
            if (!o.IsInput) { span.Fill(float.NaN); continue; }
            bool nonNegative = o.NonNegative;
            for (int i = 0; i < span.Length; i++)
            {
                float u = (float)rng.NextDouble();
                span[i] = nonNegative ? u * scale : (2 * u - 1) * scale;
            }
        }
        return r;
    }

    /// <summary>
    /// The tolerance of the managed SIMD tier (and of a JIT kernel) against <see cref="ReferenceOps"/>.
    /// Reductions (Gemm, Gemv, Dense, LstmGates, Dot, EwcPenalty) use the rigorous order-independence bound
    /// 2·γ_L·Σ|terms| (see <see cref="Tolerance"/>; L counts the rounded additions, including α, β and the bias).
    /// Transcendental ops allow a few ulp of the vectorised exp/tanh. Exact ops use the same IEEE operations in
    /// the same order per element and must match bit for bit (up to the sign of zero).
    /// </summary>
    public static Tolerance For(OpKind op, OpShape shape)
    {
        static double Gamma(int terms, double eps = FloatEps) => 2.0 * Math.Max(1, terms) * eps / (1 - Math.Max(1, terms) * eps);
        const double Underflow = 1e-37; // products of subnormals lose absolute precision below the γ model
        int M = shape.M, N = shape.N, K = shape.K;
        return op switch
        {
            OpKind.Gemm => new(Underflow, 0, "K-term sums in another order/FMA, then α·sum + β·c: 2·γ_(K+2)·(|α|Σ|a||b| + |β||c|)", Gamma(K + 2)),
            OpKind.Gemv => new(Underflow, 0, "N-term sums in another order/FMA, then α·sum + β·y: 2·γ_(N+2)·(|α|Σ|a||x| + |β||y|)", Gamma(N + 2)),
            OpKind.Dense => new(Underflow, 0, "N-term sums in another order/FMA, plus the bias: 2·γ_(N+1)·(Σ|w||x| + |b|)", Gamma(N + 1)),
            OpKind.LstmGates => new(Underflow, 0, "(N+K)-term sums in another order/FMA, plus the bias: 2·γ_(N+K+1)·(Σ|w||[x;h]| + |b|)", Gamma(N + K + 1)),
            // The gates' sum error δ ≤ 2γ·Σ|terms| passes through σ (slope ≤ ¼) and tanh (slope ≤ 1): see Magnitude.
            OpKind.LstmStep => new(2e-6, 1e-5, "the cell's tolerance plus each gate's sum error 2·γ_(N+K+1)·Σ|terms| carried through σ′ ≤ ¼ and tanh′ ≤ 1 into c′ and h′", Gamma(N + K + 1)),
            OpKind.Dot => new(Underflow, 0, "M-term float sum in another order/FMA: 2·γ_M·Σ|a||b|", Gamma(M)),
            OpKind.EwcPenalty => new(0, 4 * 1.1102230246251565e-16, "terms computed in double, summed in another order: 2·γ_L(double)·λ/2·Σ|F|(θ−θ*)²", Gamma(M * Math.Max(1, N), 1.1102230246251565e-16)),
            // σ and tanh are computed by vectorised exp approximations (≤ a few ulp) and combined by 2–3 operations.
            OpKind.LstmCell => new(2e-6, 1e-5, "vectorised σ/tanh (≤ 4 ulp each, tested) combined into c′ = f·c + i·g and h′ = o·tanh(c′); with |c| = O(1) a few ulp of 1 is ≤ 1e-6 absolute"),
            OpKind.Sigmoid => new(1e-7, 1e-5, "vectorised exp (≤ 4 ulp); absolute 1e-7 where σ underflows towards 0 (1/(1+e^−x) gives 0 where the reference's e^x/(1+e^x) is subnormal)"),
            OpKind.Tanh => new(1e-7, 1e-5, "vectorised tanh (≤ ~4 ulp); absolute 1e-7 near 0"),
            // |cos| ≤ 1: by Cauchy–Schwarz the dot's error is ≤ 2γ_N·‖a‖‖b‖, and each norm's relative error is ≤ γ_N.
            OpKind.CosineSimilarity => new(4 * Gamma(N) + 8 * FloatEps, 1e-6, "dot error ≤ 2γ_N·‖a‖‖b‖ (Cauchy–Schwarz) plus the norms' γ_N each and sqrt/divide roundings, on outputs in [−1, 1]"),
            // softmax(β·cos): an error δ in a cosine moves an output p by ≈ β·δ·p ≤ β·δ; plus the M-term normaliser.
            OpKind.DncContent => new(3 * (4 * Gamma(N) + 8 * FloatEps) + 2 * Gamma(M) + 1e-7, 1e-5, "cosine error amplified by the key strength β = 3, plus the M-term softmax normaliser and exp (few ulp)"),
            OpKind.Softmax => new(2 * Gamma(M) + 1e-7, 1e-5, "vectorised exp (≤ ~4 ulp) and an M-term normalising sum in another order (2γ_M, outputs ≤ 1)"),
            OpKind.Relu => Tolerance.Exact("max(x, 0) is exact; NaN must stay NaN"),
            OpKind.Softsign => Tolerance.Exact("x/(1+|x|): the same two IEEE operations per element"),
            OpKind.Add => Tolerance.Exact("one IEEE addition per element"),
            OpKind.Mul => Tolerance.Exact("one IEEE multiplication per element"),
            OpKind.Axpy => Tolerance.Exact("y + α·x as a separate multiply and add (no FMA), like the reference"),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "No tolerance stated for this op yet."),
        };
    }

    /// <summary>
    /// Σ|terms| per output element for the reductions: the reference run on |inputs| (and |α|, |β|), which is what
    /// <see cref="Tolerance.MagnitudeFactor"/> multiplies. Null for ops that are not linear reductions.
    /// </summary>
    public static OpOperands? Magnitude(OpOperands inputs)
    {
        if (inputs.Op == OpKind.LstmStep) return StepMagnitude(inputs);
        if (inputs.Op is not (OpKind.Gemm or OpKind.Gemv or OpKind.Dense or OpKind.LstmGates or OpKind.Dot or OpKind.EwcPenalty)) return null;
        var m = inputs.Clone();
        foreach (var o in m.All)
        {
            var s = o.Span;
            for (int i = 0; i < s.Length; i++) s[i] = MathF.Abs(s[i]);
        }
        m.Alpha = MathF.Abs(m.Alpha);
        m.Beta = MathF.Abs(m.Beta);
        if (m.Op == OpKind.EwcPenalty)
        {
            // |F|·(θ−θ*)² needs the signed difference: keep θ and θ* as they are, only |F|.
            inputs['A']!.Span.CopyTo(m['A']!.Span);
            inputs['B']!.Span.CopyTo(m['B']!.Span);
        }
        m.Run(KernelTier.Scalar);
        return m;
    }

    /// <summary>
    /// For LstmStep: per hidden unit j, m_j = the largest Σ|terms| of its four gates (the gates' reference on |inputs|);
    /// c′ moves by ≤ (|c|/4 + ¼ + 1)·δ and h′ by ≤ ¼·δ + that, so F_j and G_j get (|c_j|/4 + 1.5)·m_j.
    /// </summary>
    private static unsafe OpOperands StepMagnitude(OpOperands inputs)
    {
        var m = inputs.Clone();
        foreach (var o in m.All)
        {
            var s = o.Span;
            for (int i = 0; i < s.Length; i++) s[i] = MathF.Abs(s[i]);
        }
        m.Run(ManagedKernels.Get(OpKind.LstmGates, KernelTier.Scalar)); // same shape and fields: E = Σ|terms| per gate
        int hidden = inputs.Shape.K;
        var e = m['E']!.Span;
        var c = inputs['F']!.Span;
        for (int j = 0; j < hidden; j++)
        {
            float mj = MathF.Max(MathF.Max(e[j], e[hidden + j]), MathF.Max(e[2 * hidden + j], e[3 * hidden + j]));
            float bound = (MathF.Abs(c[j]) / 4 + 1.5f) * mj;
            m['F']!.Span[j] = bound;
            m['G']!.Span[j] = bound;
        }
        return m;
    }

    /// <summary>
    /// Compares every output operand (and the scalar result of Dot/EwcPenalty) of <paramref name="actual"/> with
    /// <paramref name="expected"/>. The message names the op, shape, operand, worst element index, expected vs
    /// actual, and any element where one side is NaN and the other is not.
    /// </summary>
    public static OpComparison Compare(OpOperands expected, OpOperands actual, Tolerance tol, string? context = null, OpOperands? magnitude = null)
    {
        if (expected.Op != actual.Op || expected.Shape != actual.Shape)
            throw new ArgumentException($"Comparing {expected.Op} {expected.Shape} with {actual.Op} {actual.Shape}.");
        var problems = new List<string>();
        double maxAbs = 0, maxRel = 0;
        string head = $"{expected.Op} {expected.Shape}{(actual.Unaligned ? " (unaligned)" : "")}{(context is null ? "" : " [" + context + "]")}";

        if (actual.GuardDamage() is { } damage) problems.Add(damage);

        static double[] D(Operand? o) => o is null ? [] : o.ToArray().Select(v => (double)v).ToArray();
        IEnumerable<(string Name, double[] E, double[] A, double[] Mag)> outputs = expected.All.Where(o => o.IsOutput)
            .Select(o => (o.Name.ToString(), D(o), D(actual[o.Name]), D(magnitude?[o.Name])));
        if (OpSpecs.For(expected.Op).WritesResult)
            outputs = outputs.Append(("Result", new[] { expected.Result }, new[] { actual.Result }, magnitude is null ? [] : new[] { magnitude.Result }));

        foreach (var (name, e, a, mag) in outputs)
        {
            int worst = -1; double worstErr = -1;
            var nanMismatch = new List<int>();
            int badCount = 0;
            for (int i = 0; i < e.Length; i++)
            {
                double ev = e[i], av = a[i];
                if (double.IsNaN(ev) || double.IsNaN(av))
                {
                    if (double.IsNaN(ev) != double.IsNaN(av)) nanMismatch.Add(i);
                    continue;
                }
                if (double.IsInfinity(ev) || double.IsInfinity(av))
                {
                    if (ev != av) { badCount++; if (worstErr < double.PositiveInfinity) { worst = i; worstErr = double.PositiveInfinity; } }
                    continue;
                }
                double err = Math.Abs(ev - av);
                maxAbs = Math.Max(maxAbs, err);
                if (ev != 0) maxRel = Math.Max(maxRel, err / Math.Abs(ev));
                double bound = tol.Bound(ev, i < mag.Length ? mag[i] : 0);
                if (!(err <= bound))
                {
                    badCount++;
                    double excess = err - bound;
                    if (excess > worstErr) { worstErr = excess; worst = i; }
                }
            }
            if (nanMismatch.Count > 0)
                problems.Add($"{name}: NaN positions differ at {nanMismatch.Count} element(s), first [{nanMismatch[0]}]: expected {Show(e[nanMismatch[0]])}, actual {Show(a[nanMismatch[0]])}");
            if (badCount > 0)
                problems.Add($"{name}: {badCount} element(s) outside |Δ| ≤ {tol.Absolute:G3} + {tol.Relative:G3}·|expected|{(tol.MagnitudeFactor > 0 ? $" + {tol.MagnitudeFactor:G3}·Σ|terms|" : "")}; worst [{worst}]: expected {Show(e[worst])}, actual {Show(a[worst])}, |Δ| = {Math.Abs(e[worst] - a[worst]):G3}, allowed {tol.Bound(e[worst], worst < mag.Length ? mag[worst] : 0):G3}");
        }

        string msg = problems.Count == 0
            ? $"{head}: ok (max |Δ| {maxAbs:G3}, max rel {maxRel:G3})"
            : $"{head}: {string.Join("; ", problems)} (tolerance: {tol.Why})";
        return new OpComparison(problems.Count == 0, msg, maxAbs, maxRel);
    }

    /// <summary>Fails the test with <see cref="Compare"/>'s message unless the outputs agree.</summary>
    public static void AssertClose(OpOperands expected, OpOperands actual, Tolerance tol, string? context = null, OpOperands? magnitude = null)
    {
        var c = Compare(expected, actual, tol, context, magnitude);
        if (!c.Passed) Assert.Fail(c.Message);
    }

    /// <summary>Runs the reference and <paramref name="tier"/> on identical copies and asserts they agree within <see cref="For"/>.</summary>
    public static void AssertTierMatchesReference(OpKind op, OpShape shape, KernelTier tier, int seed, bool unaligned = false,
        SpecialValues specials = SpecialValues.None, float scale = 1f)
    {
        using var expected = Create(op, shape, seed, unaligned, scale);
        string planted = expected.Inject(specials, seed);
        using var magnitude = Magnitude(expected);
        using var actual = expected.Clone();
        expected.Run(KernelTier.Scalar);
        actual.Run(tier);
        AssertClose(expected, actual, For(op, shape), planted.Length == 0 ? $"seed {seed}" : $"seed {seed}, {planted}", magnitude);
    }

    /// <summary>
    /// Runs <paramref name="actualRun"/> on a copy of <paramref name="inputs"/> and the reference on another, and asserts they
    /// agree within <see cref="For"/> (with the magnitude bound for reductions). <paramref name="inputs"/> is left untouched.
    /// </summary>
    public static void AssertMatchesReference(OpOperands inputs, Action<OpOperands> actualRun, string? context = null)
    {
        using var magnitude = Magnitude(inputs);
        using var expected = inputs.Clone();
        using var actual = inputs.Clone();
        expected.Run(KernelTier.Scalar);
        actualRun(actual);
        AssertClose(expected, actual, For(inputs.Op, inputs.Shape), context, magnitude);
    }

    internal static List<float> SpecialsOf(SpecialValues kinds)
    {
        var v = new List<float>();
        if (kinds.HasFlag(SpecialValues.NaN)) v.Add(float.NaN);
        if (kinds.HasFlag(SpecialValues.PositiveInfinity)) v.Add(float.PositiveInfinity);
        if (kinds.HasFlag(SpecialValues.NegativeInfinity)) v.Add(float.NegativeInfinity);
        if (kinds.HasFlag(SpecialValues.Huge)) { v.Add(1e30f); v.Add(-1e30f); }
        if (kinds.HasFlag(SpecialValues.Tiny)) { v.Add(1e-30f); v.Add(-1e-30f); }
        if (kinds.HasFlag(SpecialValues.Denormal)) { v.Add(1e-40f); v.Add(-1e-40f); }
        if (kinds.HasFlag(SpecialValues.NegativeZero)) v.Add(-0f);
        return v;
    }

    public static string Show(double v) => double.IsNaN(v) ? "NaN" : v.ToString("G9", CultureInfo.InvariantCulture);
}
