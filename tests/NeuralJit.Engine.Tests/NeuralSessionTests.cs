using NeuralJit.Jit;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// A session keeps one sequence's state (LSTM h and c of every layer, the DNC's memory, usage, links, precedence,
/// weightings and read vectors) across calls; networks of one model share one read-only copy of the weights.
/// </summary>
public class NeuralSessionTests
{
    private static readonly NetworkSizes Lstm2 = new(7, 13, 5, Layers: 2);
    private static readonly NetworkSizes Dnc = new NetworkSizes(6, 16, 4) { MemorySlots = 11, MemoryWidth = 5, ReadHeads = 3 };

    private static float[][] Inputs(int steps, int size, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, size).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray()).ToArray();
    }

    private static float[][] FreshRun(NeuralModel model, NeuralEngine engine, float[][] inputs)
    {
        using var net = model.CreateNetwork(engine);
        return inputs.Select(x => net.Step(x).ToArray()).ToArray();
    }

    private static void AssertBitwise(float[][] expected, float[][] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int t = 0; t < expected.Length; t++)
            for (int i = 0; i < expected[t].Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[t][i]) == BitConverter.SingleToInt32Bits(actual[t][i]),
                    $"{what}: step {t} output {i} is {actual[t][i]:R}; one call over the sequence gave {expected[t][i]:R}.");
    }

    public static TheoryData<string> Models => new() { "lstm2", "dnc", "lstm1_7x13x5", "lstm2_5x11x3", "lstm1_4x6x2_bf16", "dnc_5x12x3_n9w4r2" };

    private static NeuralModel Model(string name) => name switch
    {
        "lstm2" => NeuralModel.Create(Lstm2, 3),
        "dnc" => NeuralModel.Create(Dnc, 4),
        _ => NeuralModel.Load(TestFiles.Fixture(name + ".safetensors")),
    };

    /// <summary>Stepping a session (state kept between steps, whatever the chunking) equals one fresh network over the whole sequence, bit for bit.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void SessionStepsEqualOneFreshRunBitForBit(string name)
    {
        var model = Model(name);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var inputs = name.Contains('_') ? TestFiles.Expected(name).Inputs : Inputs(40, model.InputSize, 9);
        var whole = FreshRun(model, engine, inputs);
        var session = new NeuralSession(model, engine, Guid.NewGuid(), 1);
        var chunked = new List<float[]>();
        int at = 0;
        foreach (int chunk in new[] { 1, 3, 2, 5, 1, 100 })
            for (int k = 0; k < chunk && at < inputs.Length; k++) chunked.Add(session.Step(inputs[at++]).ToArray());
        Assert.Equal(inputs.Length, session.Steps);
        AssertBitwise(whole, chunked.ToArray(), name);
    }

    /// <summary>After Reset the session gives a fresh network's outputs again, also after a DNC has written its memory.</summary>
    [Theory]
    [InlineData("lstm2")]
    [InlineData("dnc")]
    public void ResetStartsTheSequenceOver(string name)
    {
        var model = Model(name);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var inputs = Inputs(12, model.InputSize, 2);
        var fresh = FreshRun(model, engine, inputs);
        var session = new NeuralSession(model, engine, Guid.Empty, 0);
        foreach (var x in Inputs(7, model.InputSize, 8)) session.Step(x);
        var stale = session.Step(inputs[0]).ToArray();
        Assert.NotEqual(fresh[0], stale); // the state really carried over, so the reset below has something to undo
        session.Reset();
        Assert.Equal(0, session.Steps);
        AssertBitwise(fresh, inputs.Select(x => session.Step(x).ToArray()).ToArray(), name + " after Reset");
    }

    /// <summary>On the JIT tier too (both layers' fused LstmStep and the Dense head compiled), session steps equal one fresh run.</summary>
    [Fact]
    public void SessionOnTheJitTierEqualsOneFreshRunOnTheSameTier()
    {
        var isa = CpuFeatures.Best;
        if (isa < JitIsa.Avx2) return; // no JIT tier on this CPU: the managed tier is covered above
        var model = NeuralModel.Create(Lstm2, 5);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false, SynchronousCompilation = true, CodeCacheBytes = 1 << 20 });
        foreach (var (op, shape) in new[] { (OpKind.LstmStep, new OpShape(52, 7, 13)), (OpKind.LstmStep, new OpShape(52, 13, 13)), (OpKind.Dense, OpShape.Matrix(5, 13)) })
            Assert.NotNull(engine.Promotion.CompileAndInstall(engine.Resolve(op, shape)));
        var inputs = Inputs(30, model.InputSize, 4);
        var whole = FreshRun(model, engine, inputs);
        var session = new NeuralSession(model, engine, Guid.Empty, 0);
        AssertBitwise(whole, inputs.Select(x => session.Step(x).ToArray()).ToArray(), "JIT tier");
    }

    /// <summary>Every network of a model reads the same weights, and running them never changes a weight.</summary>
    [Fact]
    public void NetworksOfOneModelShareOneReadOnlyCopyOfTheWeights()
    {
        var model = NeuralModel.Create(Dnc, 6);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var a = model.CreateNetwork(engine);
        using var b = model.CreateNetwork(engine);
        Assert.Same(a.Weights, b.Weights);
        Assert.Same(model.Weights, a.Weights);
        var before = Snapshot(model.Weights);
        foreach (var x in Inputs(20, model.InputSize, 1)) { a.Step(x); b.Step(x); }
        Assert.Equal(before, Snapshot(model.Weights));
        // A network's own state is small beside the weights it does not copy.
        Assert.True(a.StateBytes < model.Weights.Bytes, $"state {a.StateBytes} B, weights {model.Weights.Bytes} B");
    }

    private static float[] Snapshot(NetworkWeights w) =>
        w.Layers.SelectMany(l => l.W.ToArray().Concat(l.Bias.ToArray()))
            .Concat(w.Interface is null ? [] : w.Interface.W.ToArray().Concat(w.Interface.Bias.ToArray()))
            .Concat(w.Head.W.ToArray()).Concat(w.Head.Bias.ToArray()).ToArray();

    /// <summary>Threads running networks of one model at once (shared weights, own state) get exactly the outputs of a lone run.</summary>
    [Fact]
    public void ThreadsOverOneModelGetTheOutputsOfALoneRun()
    {
        var model = NeuralModel.Create(Dnc, 7);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var inputs = Inputs(200, model.InputSize, 3);
        var alone = FreshRun(model, engine, inputs);
        var results = new float[4][][];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => results[i] = FreshRun(model, engine, inputs));
        foreach (var r in results) AssertBitwise(alone, r, "parallel run");
    }

    /// <summary>A session takes one caller at a time: a second claim fails until the first is released.</summary>
    [Fact]
    public void ASessionRefusesASecondCallerWhileOneHoldsIt()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var session = new NeuralSession(NeuralModel.Create(Lstm2, 1), engine, Guid.Empty, 0);
        using (session.Enter())
        {
            Assert.False(session.TryEnter());
            var e = Assert.Throws<InvalidOperationException>(() => session.Enter());
            Assert.Contains($"Session {session.Id}", e.Message);
        }
        Assert.True(session.TryEnter());
        session.Exit();
    }

    /// <summary>A rented network starts from a zero state even after a call left its state changed, and is reused on the same engine only.</summary>
    [Fact]
    public void ARentedNetworkIsReusedWithAFreshStateOnItsEngineOnly()
    {
        var m = NeuralModel.Create(Dnc, 9);
        var x = Enumerable.Range(0, 12).Select(t => Enumerable.Range(0, 6).Select(i => MathF.Cos(t * 6 + i)).ToArray()).ToArray();
        float[][] Run(NeuralNetwork net) => x.Select(v => net.Step(v).ToArray()).ToArray();
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var other = new NeuralEngine(new EngineOptions { JitEnabled = false });
        float[][] expected;
        using (var fresh = m.CreateNetwork(engine)) expected = Run(fresh);

        var first = m.RentNetwork(engine);
        Assert.Equal(expected, Run(first));
        m.ReturnNetwork(first);
        var second = m.RentNetwork(engine);
        Assert.Same(first, second);
        Assert.Equal(expected, Run(second)); // the first call's memory, links and h, c are gone
        m.ReturnNetwork(second);

        var elsewhere = m.RentNetwork(other);
        Assert.NotSame(first, elsewhere);
        Assert.Same(other, elsewhere.Engine);
        Assert.Equal(expected, Run(elsewhere));
        m.ReturnNetwork(elsewhere);

        Assert.Throws<ArgumentException>(() => NeuralModel.Create(Dnc, 9).ReturnNetwork(m.RentNetwork(engine)));
    }
}
