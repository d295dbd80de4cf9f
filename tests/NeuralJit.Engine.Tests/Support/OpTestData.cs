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

    /// <summary>
    /// Runs <paramref name="call"/> (given a <c>KernelArgs*</c>) with C pointing at A, for ops whose output may be their
    /// input, then copies A into C so that <see cref="OpTestData.Compare"/> sees the result where it looks for it.
    /// </summary>
    public void RunInPlace(Action<nint> call)
    {
        var a = Args;
        a.C = a.A;
        call((nint)(&a));
        Result = a.Result;
        this['A']!.Span.CopyTo(this['C']!.Span);
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

/// <summary>The outcome of comparing a tier against the reference on one (op, shape).</summary>
public sealed record OpComparison(bool Passed, string Message, double MaxAbsoluteError, double MaxRelativeError);

/// <summary>Deterministic inputs, special values, tolerances and comparison for every (op, shape).</summary>
public static class OpTestData
{
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
    /// The tolerance of <paramref name="tier"/> against <see cref="ReferenceOps"/>: the op's <see cref="OpSpec.Accuracy"/>
    /// (<see cref="OpSpec.JitAccuracy"/> for the JIT), where the descriptor states the reasoning per op.
    /// </summary>
    public static OpTolerance For(OpKind op, OpShape shape, KernelTier tier = KernelTier.ManagedSimd) => OpSpecs.For(op).Tolerance(shape, tier);

    /// <summary>
    /// Σ|terms| per output element for the reductions: the reference run on |inputs| (and |α|, |β|), which is what
    /// <see cref="OpTolerance.MagnitudeFactor"/> multiplies. Null for ops whose tolerance has no magnitude term.
    /// </summary>
    public static OpOperands? Magnitude(OpOperands inputs, KernelTier tier = KernelTier.ManagedSimd)
    {
        if (For(inputs.Op, inputs.Shape, tier).MagnitudeFactor == 0) return null;
        if (inputs.Op == OpKind.LstmStep) return StepMagnitude(inputs);
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
    public static OpComparison Compare(OpOperands expected, OpOperands actual, OpTolerance tol, string? context = null, OpOperands? magnitude = null)
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
    public static void AssertClose(OpOperands expected, OpOperands actual, OpTolerance tol, string? context = null, OpOperands? magnitude = null)
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
    public static void AssertMatchesReference(OpOperands inputs, Action<OpOperands> actualRun, string? context = null, KernelTier tier = KernelTier.ManagedSimd)
    {
        using var magnitude = Magnitude(inputs, tier);
        using var expected = inputs.Clone();
        using var actual = inputs.Clone();
        expected.Run(KernelTier.Scalar);
        actualRun(actual);
        AssertClose(expected, actual, For(inputs.Op, inputs.Shape, tier), context, magnitude);
    }

    /// <summary>
    /// The same with the output over the input (C = A) on both sides: the reference runs in place too, so ops whose
    /// output is also read (Axpy) are compared like the others. C of <paramref name="inputs"/> is set to A first, so the
    /// magnitude (for tolerances that have one) is that of the in-place call.
    /// </summary>
    public static unsafe void AssertInPlaceMatchesReference(OpOperands inputs, Action<nint> actualCall, string context, KernelTier tier)
    {
        inputs['A']!.Span.CopyTo(inputs['C']!.Span);
        using var magnitude = Magnitude(inputs, tier);
        using var expected = inputs.Clone();
        using var actual = inputs.Clone();
        var reference = ManagedKernels.Get(inputs.Op, KernelTier.Scalar);
        var shape = inputs.Shape;
        expected.RunInPlace(a => reference(in shape, (KernelArgs*)a));
        actual.RunInPlace(actualCall);
        AssertClose(expected, actual, For(inputs.Op, inputs.Shape, tier), context, magnitude);
    }

    /// <summary>The values of <paramref name="kinds"/>: the one special-value set of the managed and JIT harnesses.</summary>
    public static List<float> SpecialsOf(SpecialValues kinds)
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
