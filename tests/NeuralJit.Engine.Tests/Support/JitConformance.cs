using System.Runtime.InteropServices;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>What values the inputs hold.</summary>
public enum InputKind
{
    /// <summary>Uniform in [−Range, Range].</summary>
    Random,
    /// <summary>Random, with one in eight drawn from <see cref="SpecialValues.All"/> (NaN, ±∞, huge, tiny, subnormal, −0).</summary>
    Special,
}

/// <summary>The worst element of one check.</summary>
public sealed record ConformanceResult(string Field, int WorstIndex, double Expected, double Actual, double MaxAbsError);

/// <summary>
/// Runs a JIT kernel against <see cref="ReferenceOps"/> on one shape and ISA, with every operand in its own
/// <see cref="FencedBuffer"/>, and fails (Assert.Fail) with op, shape, ISA, placement, seed, field, worst
/// index, expected vs actual when anything is off: a value out of tolerance, a NaN/∞ mismatch, a write past
/// or before a buffer, or a write to an input. Outputs are pre-filled with random values, so a kernel that
/// skips an element fails too. jit-gemm reuses this for Gemm/Gemv/Dense/LSTM.
/// </summary>
public static unsafe class JitConformance
{
    /// <summary>One operand as the op's <see cref="OpSpec"/> lays it out: Input is read (random data), Output is compared.</summary>
    public sealed record Operand(string Field, int Length, bool Input, bool Output, OperandRole Role);

    public static IReadOnlyList<Operand> Operands(OpKey key) =>
        key.Spec.Operands.Select(o => new Operand(o.Field.ToString(), o.Extent(key.Shape).Floats, o.IsRead, o.IsWritten, o.Role)).ToList();

    /// <summary>Does the op write KernelArgs.Result?</summary>
    public static bool WritesResult(OpKind op) => OpSpecs.For(op).WritesResult;

    /// <summary>
    /// Checks <paramref name="kernel"/> against the reference. <paramref name="fill"/> overrides the input
    /// generator per field (e.g. non-negative Fisher values); Alpha/Beta default to random values in [−2, 2]
    /// (Alpha in [0.5, 8] for DncContent and EwcPenalty).
    /// </summary>
    public static ConformanceResult Check(JitKernel kernel, OpTolerance tol, int seed, Placement placement,
        InputKind inputs = InputKind.Random, float range = 1f, Func<string, Random, float>? fill = null, float? alpha = null, float? beta = null)
    {
        var key = kernel.Key;
        var rng = new Random(seed);
        var ops = Operands(key);
        string where = $"{key.Op} shape {key.Shape} (dims {key.Dims}) on {kernel.Isa}, {placement}, {inputs}, seed {seed}";

        float Gen(string field)
        {
            if (fill is not null) return fill(field, rng);
            if (inputs == InputKind.Special && rng.Next(8) == 0)
                return Specials[rng.Next(Specials.Count)];
            return (float)(rng.NextDouble() * 2 - 1) * range;
        }

        var data = ops.ToDictionary(o => o.Field, o => Enumerable.Range(0, o.Length).Select(_ => o.Input ? Gen(o.Field) : (float)rng.NextDouble()).ToArray());
        float a = alpha ?? (key.Op is OpKind.DncContent or OpKind.EwcPenalty ? (float)(0.5 + rng.NextDouble() * 7.5) : (float)(rng.NextDouble() * 4 - 2));
        float b = beta ?? (float)(rng.NextDouble() * 4 - 2);

        // Reference on plain pinned copies.
        var expected = data.ToDictionary(p => p.Key, p => (float[])p.Value.Clone());
        double expectedResult = RunReference(key, expected, a, b);
        // For sums of signed terms the error is relative to Σ|terms|: the reference run on |inputs|.
        Dictionary<string, float[]>? magnitude = null;
        if (tol.MagnitudeFactor > 0)
        {
            magnitude = data.ToDictionary(p => p.Key, p => p.Value.Select(MathF.Abs).ToArray());
            RunReference(key, magnitude, MathF.Abs(a), MathF.Abs(b));
        }

        // JIT on fenced buffers.
        var fenced = data.ToDictionary(p => p.Key, p => new FencedBuffer(p.Value.Length, placement));
        try
        {
            foreach (var (f, buf) in fenced) buf.CopyFrom(data[f]);
            KernelArgs args = default;
            Bind(ref args, fenced.ToDictionary(p => p.Key, p => (nint)p.Value.Pointer));
            args.Alpha = a; args.Beta = b; args.Result = double.NaN;
            var fn = (delegate* unmanaged<KernelArgs*, void>)kernel.Entry;
            fn(&args);

            foreach (var (f, buf) in fenced) buf.CheckCanaries($"{where}: field {f}");
            ConformanceResult worst = new("-", -1, 0, 0, 0);
            foreach (var o in ops)
            {
                var act = fenced[o.Field].Span;
                var exp = expected[o.Field];
                if (o.Role == OperandRole.Scratch) continue; // the JIT may keep it in registers, the reference writes it
                if (!o.Output)
                {
                    for (int i = 0; i < exp.Length; i++)
                        if (BitConverter.SingleToInt32Bits(act[i]) != BitConverter.SingleToInt32Bits(data[o.Field][i]))
                            Assert.Fail($"{where}: input {o.Field}[{i}] was modified ({data[o.Field][i]} → {act[i]}).");
                    continue;
                }
                for (int i = 0; i < exp.Length; i++)
                {
                    var r = Compare(where, $"{o.Field}", i, exp[i], act[i], magnitude is null ? 0 : Math.Abs(magnitude[o.Field][i]), tol);
                    if (r.MaxAbsError > worst.MaxAbsError || worst.WorstIndex < 0) worst = r;
                }
            }
            if (WritesResult(key.Op))
            {
                double mag = Magnitude(key, data, a);
                var r = Compare(where, "Result", 0, expectedResult, args.Result, mag, tol);
                if (r.MaxAbsError >= worst.MaxAbsError) worst = r;
            }
            return worst;
        }
        finally
        {
            foreach (var buf in fenced.Values) buf.Dispose();
        }
    }

    private static readonly List<float> Specials = OpTestData.SpecialsOf(SpecialValues.All);

    private static ConformanceResult Compare(string where, string field, int i, double e, double act, double magnitude, OpTolerance tol)
    {
        if (double.IsNaN(e) || double.IsNaN(act))
        {
            if (double.IsNaN(e) != double.IsNaN(act)) Assert.Fail($"{where}: {field}[{i}] expected {e:R}, actual {act:R} (NaN mismatch).");
            return new(field, i, e, act, 0);
        }
        if (double.IsInfinity(e) || double.IsInfinity(act))
        {
            if (e != act) Assert.Fail($"{where}: {field}[{i}] expected {e:R}, actual {act:R} (infinity mismatch).");
            return new(field, i, e, act, 0);
        }
        double err = Math.Abs(act - e);
        double allowed = tol.Bound(e, magnitude);
        if (!(err <= allowed))
            Assert.Fail($"{where}: worst element {field}[{i}] expected {e:R}, actual {act:R}, |error| {err:G4} > allowed {allowed:G4} ({tol}).");
        return new(field, i, e, act, err);
    }

    /// <summary>Σ|terms| of the scalar reductions, the scale their rounding error is relative to.</summary>
    private static double Magnitude(OpKey key, Dictionary<string, float[]> d, float alpha)
    {
        double s = 0;
        if (key.Op == OpKind.Dot)
            for (int i = 0; i < d["A"].Length; i++) s += Math.Abs((double)d["A"][i] * d["B"][i]);
        else
            for (int i = 0; i < d["A"].Length; i++) { double x = (double)d["A"][i] - d["B"][i]; s += Math.Abs(d["C"][i] * x * x); }
        return key.Op == OpKind.EwcPenalty ? Math.Abs(alpha) / 2 * s : s;
    }

    private static void Bind(ref KernelArgs args, Dictionary<string, nint> p)
    {
        float* P(string f) => p.TryGetValue(f, out var v) ? (float*)v : null;
        args.A = P("A"); args.B = P("B"); args.C = P("C"); args.D = P("D"); args.E = P("E"); args.F = P("F"); args.G = P("G");
    }

    /// <summary>Runs the Scalar tier on <paramref name="d"/> in place; returns KernelArgs.Result.</summary>
    public static double RunReference(OpKey key, Dictionary<string, float[]> d, float alpha, float beta)
    {
        var handles = d.ToDictionary(p => p.Key, p => GCHandle.Alloc(p.Value, GCHandleType.Pinned));
        try
        {
            KernelArgs args = default;
            Bind(ref args, handles.ToDictionary(p => p.Key, p => p.Value.AddrOfPinnedObject()));
            args.Alpha = alpha; args.Beta = beta;
            var shape = key.Shape;
            ManagedKernels.Get(key.Op, KernelTier.Scalar)(in shape, &args);
            return args.Result;
        }
        finally
        {
            foreach (var h in handles.Values) h.Free();
        }
    }

    /// <summary>
    /// Shapes for a sweep: 0, 1, 2, every size up to 33 that crosses a lane boundary, primes, and random sizes up
    /// to <paramref name="max"/>. For matrix ops (rows × width) one in three gets lda &gt; width.
    /// </summary>
    public static IEnumerable<OpShape> Shapes(OpKind op, int count, int seed, int max = 300)
    {
        var rng = new Random(seed);
        int[] special = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 97, 127, 128, 129, 251, 256, 257, 293 };
        bool matrix = op is OpKind.CosineSimilarity or OpKind.DncContent or OpKind.Gemv or OpKind.Dense;
        bool ewc = op == OpKind.EwcPenalty;
        for (int i = 0; i < count; i++)
        {
            int Size() => i < special.Length * 2 && rng.Next(2) == 0 ? special[rng.Next(special.Length)] : rng.Next(0, max + 1);
            // DNC: slots N × heads R (1..9, past one pass of registers) or width W; N² ops capped at 160 slots.
            int Slots() => Math.Min(Size(), 160);
            int Heads() => 1 + rng.Next(9);
            if (op is OpKind.DncUsage or OpKind.DncReadWeighting or OpKind.DncTemporal or OpKind.DncLinkTemporal) { yield return new OpShape(Slots(), Heads()); continue; }
            if (op is OpKind.DncLinkUpdate) { yield return OpShape.Vector(Slots()); continue; }
            if (op is OpKind.DncInterface) { yield return new OpShape(Heads(), Math.Max(1, Size() % 100)); continue; }
            if (op is OpKind.DncRead or OpKind.DncWrite or OpKind.DncWriteContent)
            {
                int n = Slots(), w = Math.Max(1, Size() % 100);
                int ld = rng.Next(3) == 0 ? w + rng.Next(1, 9) : 0;
                yield return op == OpKind.DncWrite ? new OpShape(n, w, 0, ld) : new OpShape(n, w, Heads(), ld);
                continue;
            }
            if (matrix)
            {
                int rows = Size(), width = Size();
                int lda = rng.Next(3) == 0 ? width + rng.Next(1, 20) : 0;
                yield return OpShape.Matrix(rows, width, lda);
            }
            else if (ewc) yield return rng.Next(2) == 0 ? OpShape.Matrix(Size(), Size()) : OpShape.Vector(Size() * 3);
            else yield return OpShape.Vector(i < special.Length ? special[i] : Size());
        }
    }

    public static Placement PlacementFor(int i) => (Placement)(i % 3);
}
