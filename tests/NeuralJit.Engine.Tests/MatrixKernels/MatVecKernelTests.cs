using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Jit.Emitters;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.MatrixKernels;

public class MatVecKernelTests
{
    /// <summary>NaN and ±∞ sprinkled into otherwise uniform [−1, 1) inputs (no huge finite values: those make a sum depend on its order).</summary>
    private static float NonFinite(string field, Random rng) =>
        rng.Next(40) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, _ => (float)(rng.NextDouble() * 2 - 1) };

    private static OpTolerance Dot(int width) => new(4e-6 * (width + 4), 1e-5);

    /// <summary>Weights past L1 with inputs of 2, 3, 4 AVX-512 register blocks (tails included) and one past them.</summary>
    private static readonly OpShape[] WideInputs = [OpShape.Matrix(40, 250), OpShape.Matrix(33, 500, 509), OpShape.Matrix(20, 832), OpShape.Matrix(17, 850)];

    /// <summary>
    /// The column loop's 4-chunk runs (AVX2, from 20 chunks of 8): 19 chunks (pairs), exactly 20, 21 (one chunk after the
    /// runs) and 20 with a 1-column tail; with row tails and a padded stride.
    /// </summary>
    private static readonly OpShape[] ColumnRuns = [OpShape.Matrix(13, 152), OpShape.Matrix(16, 160), OpShape.Matrix(21, 168, 171), OpShape.Matrix(9, 161)];

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void GemvMatchesReferenceOnRandomShapes(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(8 << 20);
        int i = 0;
        foreach (var shape in JitConformance.Shapes(OpKind.Gemv, 90, 4242 + (int)isa).Append(OpShape.Matrix(301, 150, 157)).Concat(WideInputs).Concat(ColumnRuns))
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.Gemv, shape), isa);
            float? beta = i % 3 == 0 ? 0f : null; // β = 0: y is written, never read (NaN in y must not leak)
            JitConformance.Check(kernel, Dot(shape.N), 500 + i, JitConformance.PlacementFor(i), beta: beta,
                fill: beta == 0 ? (f, rng) => f == "C" ? float.NaN : (float)(rng.NextDouble() * 2 - 1) : null);
            if (i % 16 == 0) JitTestEngine.AssertDecodes(kernel);
            i++;
        }
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void DenseMatchesReferenceOnRandomShapes(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(8 << 20);
        int i = 0;
        foreach (var shape in JitConformance.Shapes(OpKind.Dense, 90, 777 + (int)isa).Append(OpShape.Matrix(128, 64)).Append(OpShape.Matrix(301, 150, 157)).Concat(WideInputs).Concat(ColumnRuns))
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.Dense, shape), isa);
            JitConformance.Check(kernel, Dot(shape.N), 900 + i, JitConformance.PlacementFor(i));
            if (i % 16 == 0) JitTestEngine.AssertDecodes(kernel);
            i++;
        }
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void GemvAndDensePropagateNaNAndInfinity(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        int i = 0;
        foreach (var op in new[] { OpKind.Gemv, OpKind.Dense })
            foreach (var shape in new[] { OpShape.Matrix(37, 29), OpShape.Matrix(128, 64), OpShape.Matrix(5, 300, 311), OpShape.Matrix(301, 150, 157) })
            {
                var kernel = engine.Jit.Compile(new OpKey(op, shape), isa);
                JitConformance.Check(kernel, Dot(shape.N), 40 + i, JitConformance.PlacementFor(i++), fill: NonFinite);
            }
    }

    /// <summary>LSTM shapes: (input, hidden, extra row stride).</summary>
    internal static IEnumerable<OpShape> LstmShapes(int count, int seed)
    {
        var rng = new Random(seed);
        var fixedShapes = new (int I, int H, int Extra)[] { (64, 128, 0), (1, 1, 0), (3, 5, 0), (16, 16, 0), (17, 33, 3), (128, 64, 0), (7, 100, 9), (300, 3, 0), (2, 257, 0),
            // The fused step's 64-unit batches: exactly one, one plus a single unit, several plus a row tail, no input.
            (64, 64, 0), (9, 65, 0), (32, 200, 5), (0, 70, 0), (0, 1, 0),
            // AVX-512 input blocks: 2 (317 floats), 3 (the DNC curve's 320 + 128), 4 (733), 5 = past them (840: no blocks).
            (300, 17, 0), (320, 128, 0), (700, 33, 7), (800, 40, 0),
            // AVX2 4-chunk column runs (from 20 chunks): x of 20 chunks, of 21 plus a tail, of 19; h of 20 chunks plus a tail.
            (160, 19, 0), (169, 21, 3), (152, 9, 0), (5, 163, 0) };
        foreach (var (inp, hid, extra) in fixedShapes.Concat(Enumerable.Range(0, count).Select(_ => (rng.Next(1, 160), rng.Next(1, 160), rng.Next(3) == 0 ? rng.Next(1, 9) : 0))))
            yield return new OpShape(4 * hid, inp, hid, extra == 0 ? 0 : inp + hid + extra);
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void FusedLstmStepMatchesGatesThenCell(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(8 << 20);
        int i = 0;
        foreach (var shape in LstmShapes(40, 99 + (int)isa))
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.LstmStep, shape), isa);
            // Weights ×3 drive the gates deep into σ/tanh saturation as well as through their middle.
            JitConformance.Check(kernel, Dot(shape.N + shape.K), 300 + i, JitConformance.PlacementFor(i), range: i % 2 == 0 ? 1f : 3f);
            if (i % 8 == 0) JitTestEngine.AssertDecodes(kernel);
            i++;
        }
    }

    /// <summary>
    /// The fused step runs its 64-unit batches (and their row groups) backwards when h′ lies below h (the layer swaps them every step, see
    /// MatVecEmitter.LstmStep): both orders must give the reference's values and the same bits.
    /// </summary>
    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public unsafe void FusedLstmStepGivesTheSameBitsWhicheverOrderItsBatchesRun(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(8 << 20);
        // 2 batches (the DNC controller), 4, 3 with a row stride; 2 + a row tail and 2 + a tail that is not a whole vector
        // keep the forward order (no zigzag with a tail batch) and must not care where h′ lies either.
        foreach (var shape in new[] { new OpShape(512, 320, 128), new OpShape(600, 9, 150), new OpShape(1024, 5, 256), new OpShape(772, 30, 193), new OpShape(768, 20, 192, 220) })
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.LstmStep, shape), isa);
            int hidden = shape.K, lda = shape.StrideA(OpKind.LstmStep);
            var rng = new Random(hidden);
            float[] Random(int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
            // Small weights keep the pre-activations moderate, so an absolute tolerance is a tight one.
            float[] w = Random(shape.M * lda, 0.1f), x = Random(shape.N, 1), bias = Random(shape.M, 0.5f), h = Random(hidden, 1), c = Random(hidden, 2);
            var reference = new Dictionary<string, float[]>
            {
                ["A"] = w, ["B"] = x, ["C"] = (float[])h.Clone(), ["D"] = bias, ["E"] = new float[shape.M], ["F"] = (float[])c.Clone(), ["G"] = new float[hidden],
            };
            JitConformance.RunReference(kernel.Key, reference, 0, 0);
            float[]? first = null;
            foreach (bool hBelow in new[] { true, false })
            {
                // h and h′ in one buffer, in either order.
                var pair = new float[2 * hidden];
                int hAt = hBelow ? 0 : hidden, hOutAt = hBelow ? hidden : 0;
                h.CopyTo(pair, hAt);
                var cj = (float[])c.Clone();
                fixed (float* pw = w, px = x, pb = bias, pp = pair, pc = cj)
                {
                    KernelArgs a = default;
                    a.A = pw; a.B = px; a.C = pp + hAt; a.D = pb; a.F = pc; a.G = pp + hOutAt;
                    ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
                }
                var outputs = cj.Concat(pair.Skip(hOutAt).Take(hidden)).ToArray();
                var expected = reference["F"].Concat(reference["G"]).ToArray();
                for (int i = 0; i < outputs.Length; i++)
                    Assert.True(Math.Abs(outputs[i] - expected[i]) <= 1e-5, $"{shape} on {isa}, h {(hBelow ? "below" : "above")} h′: output {i} is {outputs[i]}, the reference {expected[i]}");
                if (first is null) first = outputs;
                else Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), outputs.Select(BitConverter.SingleToInt32Bits));
            }
        }
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void LstmKernelsPropagateNaNAndInfinity(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        int i = 0;
        foreach (var op in new[] { OpKind.LstmStep, OpKind.LstmGates })
            foreach (var shape in new[] { new OpShape(512, 64, 128), new OpShape(20, 3, 5), new OpShape(68, 9, 17, 40) })
            {
                var kernel = engine.Jit.Compile(new OpKey(op, shape), isa);
                JitConformance.Check(kernel, Dot(shape.N + shape.K), 60 + i, JitConformance.PlacementFor(i++), fill: NonFinite);
            }
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void LstmGatesKernelMatchesReference(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(8 << 20);
        int i = 0;
        foreach (var shape in LstmShapes(40, 17 + (int)isa))
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.LstmGates, shape), isa);
            JitConformance.Check(kernel, Dot(shape.N + shape.K), 700 + i, JitConformance.PlacementFor(i), range: i % 2 == 0 ? 1f : 3f);
            if (i % 8 == 0) JitTestEngine.AssertDecodes(kernel);
            i++;
        }
    }

    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void LstmCellMatchesReferenceIncludingSpecialValues(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(4 << 20);
        int i = 0;
        foreach (var shape in JitConformance.Shapes(OpKind.LstmCell, 50, 13 + (int)isa))
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.LstmCell, shape), isa);
            JitConformance.Check(kernel, new OpTolerance(1e-6, 1e-6), 70 + i, JitConformance.PlacementFor(i), i % 2 == 0 ? InputKind.Special : InputKind.Random, range: 30f);
            i++;
        }
    }
}
