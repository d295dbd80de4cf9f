using NeuralJit.Models;

namespace NeuralJit.Engine.Tests;

public class NeuralModelTests
{
    private static Dictionary<string, SafeTensor> Tensors(NeuralModel m) =>
        m.TensorNames.ToDictionary(n => n, n => new SafeTensor(n, "F32", m.GetParameterShape(n)!.Select(d => (long)d).ToArray(), m.GetParameter(n)!));

    private static readonly NetworkSizes Lstm2 = new(5, 11, 3, 2);
    private static readonly NetworkSizes Dnc = new NetworkSizes(5, 12, 3) { MemorySlots = 9, MemoryWidth = 4, ReadHeads = 2 };

    [Theory]
    [InlineData("lstm1_7x13x5", 7, 13, 5, 1, "F32")]
    [InlineData("lstm2_5x11x3", 5, 11, 3, 2, "F32")]
    [InlineData("lstm1_4x6x2_bf16", 4, 6, 2, 1, "BF16")]
    public void PyTorchFilesGiveSizesFromTheirShapes(string name, int input, int hidden, int output, int layers, string dtype)
    {
        var m = NeuralModel.Load(TestFiles.Fixture(name + ".safetensors"));
        Assert.Equal((input, hidden, output, layers, false), (m.InputSize, m.HiddenSize, m.OutputSize, m.Layers, m.HasMemory));
        Assert.Equal(dtype, m.DType);
        long expected = 4L * hidden * input + 4L * hidden * hidden + 8L * hidden + (layers - 1) * (8L * hidden * hidden + 8L * hidden) + (long)output * hidden + output;
        Assert.Equal(expected, m.ParameterCount);
        Assert.Equal(expected * 4, m.Bytes);
        Assert.EndsWith(name + ".safetensors", m.Source);
    }

    /// <summary>Import + run reproduces PyTorch's outputs (tests/fixtures/make_fixtures.py) to 1e-5 absolute.</summary>
    [Theory]
    [InlineData("lstm1_7x13x5")]
    [InlineData("lstm2_5x11x3")]
    [InlineData("lstm1_4x6x2_bf16")]
    [InlineData("dnc_5x12x3_n9w4r2")]
    public void ImportedPyTorchModelsReproducePyTorchOutputs(string name)
    {
        var m = NeuralModel.Load(TestFiles.Fixture(name + ".safetensors"));
        var (inputs, outputs) = TestFiles.Expected(name);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var net = m.CreateNetwork(engine);
        double worst = 0;
        for (int t = 0; t < inputs.Length; t++)
        {
            var y = net.Step(inputs[t]).ToArray();
            Assert.Equal(outputs[t].Length, y.Length);
            for (int i = 0; i < y.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(y[i] - outputs[t][i]));
                Assert.True(Math.Abs(y[i] - outputs[t][i]) <= 1e-5, $"{name} step {t} output {i}: {y[i]:R}, PyTorch {outputs[t][i]:R}");
            }
        }
        Assert.True(worst < 1e-5);
    }

    [Fact]
    public void DncFixtureDerivesHeadsAndWidthFromShapesAndSlotsFromMetadata()
    {
        var m = NeuralModel.Load(TestFiles.Fixture("dnc_5x12x3_n9w4r2.safetensors"));
        Assert.Equal((9, 4, 2, 5), (m.MemorySlots, m.MemoryWidth, m.ReadHeads, m.InputSize));
        var t = Tensors(m);
        var noWidthOrHeads = new Dictionary<string, string> { [NeuralModel.MemorySlotsKey] = "9" };
        var again = NeuralModel.FromTensors(t, noWidthOrHeads, "x");
        Assert.Equal((9, 4, 2), (again.MemorySlots, again.MemoryWidth, again.ReadHeads));
    }

    [Fact]
    public void SaveThenLoadGivesTheSameModelAndOutputs()
    {
        var m = NeuralModel.Create(Dnc, 3);
        var path = Path.GetTempFileName();
        try
        {
            m.Save(path);
            var back = NeuralModel.Load(path);
            Assert.Equal(m.TensorNames, back.TensorNames);
            Assert.Equal(m.GetSizes(), back.GetSizes());
            foreach (var n in m.TensorNames) Assert.Equal(m.GetParameter(n), back.GetParameter(n));
            using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
            using var a = m.CreateNetwork(engine);
            using var b = back.CreateNetwork(engine);
            var x = new float[] { 1, -2, 0.5f, 3, 0 };
            for (int t = 0; t < 4; t++) Assert.Equal(a.Step(x).ToArray(), b.Step(x).ToArray());
        }
        finally { File.Delete(path); }
    }

    public static TheoryData<string> WeightNames() => new()
    {
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.weight_hh_l1", "lstm.weight_ih_l1", "output.weight",
    };

    [Theory, MemberData(nameof(WeightNames))]
    public void AMissingWeightIsNamed(string name)
    {
        var t = Tensors(NeuralModel.Create(Lstm2, 1));
        t.Remove(name);
        var e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string>(), "x"));
        Assert.Equal("MissingTensor", e.Problem);
        Assert.Equal(name, e.TensorName);
    }

    [Fact]
    public void BiasesAreOptionalAsInPyTorchButComeInPairs()
    {
        var t = Tensors(NeuralModel.Create(Lstm2, 1));
        t.Remove("output.bias"); t.Remove("lstm.bias_ih_l1"); t.Remove("lstm.bias_hh_l1");
        Assert.Equal(2, NeuralModel.FromTensors(t, new Dictionary<string, string>(), "x").Layers);
        t.Remove("lstm.bias_ih_l0");
        var e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string>(), "x"));
        Assert.Equal(("MissingTensor", "lstm.bias_ih_l0"), (e.Problem, e.TensorName));
    }

    [Theory]
    [InlineData("lstm.weight_ih_l0_reverse", "bidirectional")]
    [InlineData("lstm.weight_hr_l0", "proj_size")]
    [InlineData("decoder.weight", "not part of")]
    public void AnExtraTensorIsNamed(string name, string hint)
    {
        var t = Tensors(NeuralModel.Create(Lstm2, 1));
        t[name] = new SafeTensor(name, "F32", [1], [0]);
        var e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string>(), "x"));
        Assert.Equal(("UnexpectedTensor", name), (e.Problem, e.TensorName));
        Assert.Contains(hint, e.Message);
    }

    [Theory]
    [InlineData("lstm.weight_hh_l0", new long[] { 44, 12 })]
    [InlineData("lstm.weight_ih_l1", new long[] { 44, 10 })]
    [InlineData("lstm.weight_ih_l0", new long[] { 40, 5 })]
    [InlineData("lstm.bias_hh_l1", new long[] { 43 })]
    [InlineData("output.weight", new long[] { 3, 10 })]
    [InlineData("output.bias", new long[] { 4 })]
    [InlineData("output.weight", new long[] { 3, 11, 1 })]
    public void ShapesThatDisagreeAreNamed(string name, long[] shape)
    {
        var t = Tensors(NeuralModel.Create(Lstm2, 1));
        long n = shape.Aggregate(1L, (a, d) => a * d);
        t[name] = new SafeTensor(name, "F32", shape, new float[n]);
        var e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string>(), "x"));
        Assert.Contains(e.Problem, new[] { "ShapeMismatch", "WrongRank" });
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void DncMetadataIsRequiredAndCheckedAgainstTheShapes()
    {
        var m = NeuralModel.Create(Dnc, 1);
        var t = Tensors(m);
        var e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string>(), "x"));
        Assert.Equal(("BadMetadata", NeuralModel.MemorySlotsKey), (e.Problem, e.TensorName));
        e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string> { [NeuralModel.MemorySlotsKey] = "nine" }, "x"));
        Assert.Equal("BadMetadata", e.Problem);
        e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, new Dictionary<string, string> { [NeuralModel.MemorySlotsKey] = "9", [NeuralModel.ReadHeadsKey] = "4" }, "x"));
        Assert.Equal(("ShapeMismatch", "interface.weight"), (e.Problem, e.TensorName));
        t.Remove("interface.weight");
        e = Assert.Throws<ModelLayoutException>(() => NeuralModel.FromTensors(t, m.Metadata, "x"));
        Assert.Equal(("MissingTensor", "interface.weight"), (e.Problem, e.TensorName));
    }

    [Fact]
    public void OneModelRunsInManyThreadsAtOnceWithTheSameResults()
    {
        var m = NeuralModel.Create(Dnc, 9);
        var x = Enumerable.Range(0, 20).Select(t => Enumerable.Range(0, 5).Select(i => MathF.Sin(t * 5 + i)).ToArray()).ToArray();
        float[] Run(NeuralEngine engine)
        {
            using var net = m.CreateNetwork(engine);
            float[] y = [];
            foreach (var v in x) y = net.Step(v).ToArray();
            return y;
        }
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var expected = Run(engine);
        var results = new float[8][];
        Parallel.For(0, 8, i => results[i] = Run(engine));
        foreach (var r in results) Assert.Equal(expected, r);
    }

    [Fact]
    public void EwcPenaltyOfArraysIsHalfLambdaTimesTheFisherWeightedSquares()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        // λ = 2: 2/2 · (1·(1−0)² + 0.5·(2−0)² + 3·(−1+1)²) = 3.
        var r = EwcPenalty.Measure(engine, [1, 2, -1], [0, 0, -1], [1, 0.5f, 3], 2);
        Assert.Equal(3.0, r.Penalty, 12);
        Assert.Equal(("Double", 3L, 1), (r.Accumulation, r.ParameterCount, r.Tensors));
        Assert.Contains(engine.GetHotspots(), h => h.Operation == NeuralJit.Ops.OpKind.EwcPenalty && h.Dims == "3");
        Assert.Throws<ArgumentException>(() => EwcPenalty.Measure(engine, [1, 2], [0], [1, 1], 1));
    }

    [Fact]
    public void EwcPenaltyOfAModelSumsEveryTensorThroughTheProfiledOp()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var theta = NeuralModel.Create(Lstm2, 1);
        var anchor = Tensors(NeuralModel.Create(Lstm2, 2));
        var fisher = Tensors(NeuralModel.Create(Lstm2, 3));
        foreach (var f in fisher.Values) for (int i = 0; i < f.Data.Length; i++) f.Data[i] = MathF.Abs(f.Data[i]);
        double expected = 0;
        foreach (var n in theta.TensorNames)
        {
            var p = theta.GetParameter(n)!;
            for (int i = 0; i < p.Length; i++) expected += (double)fisher[n].Data[i] * Math.Pow((double)p[i] - anchor[n].Data[i], 2);
        }
        expected *= 0.7f / 2.0;
        var r = EwcPenalty.Measure(engine, theta, anchor, fisher, 0.7f);
        Assert.Equal(expected, r.Penalty, 1e-9 * expected);
        Assert.Equal(theta.ParameterCount, r.ParameterCount);
        Assert.Equal(0.0, EwcPenalty.Measure(engine, theta, Tensors(theta), fisher, 5).Penalty);
        Assert.Contains(engine.GetHotspots(), h => h.Operation == NeuralJit.Ops.OpKind.EwcPenalty && h.Dims == "44x11");
        anchor.Remove("output.bias");
        var e = Assert.Throws<ModelLayoutException>(() => EwcPenalty.Measure(engine, theta, anchor, fisher, 1, "anchor.safetensors"));
        Assert.Equal(("MissingTensor", "output.bias", "anchor.safetensors"), (e.Problem, e.TensorName, e.FilePath));
    }
}
