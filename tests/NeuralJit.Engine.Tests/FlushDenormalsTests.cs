using System.Runtime.CompilerServices;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Models;
using NeuralJit.Platform;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// <see cref="EngineOptions.FlushDenormals"/>: the MXCSR stubs, the scope that sets and restores FTZ and DAZ, and a DNC
/// whose sharp addressing makes subnormal weightings, stepped with and without it on both tiers.
/// </summary>
public class FlushDenormalsTests
{
    private const float Subnormal = 1e-39f;

    /// <summary>MXCSR without its six sticky exception flags, which any arithmetic may set.</summary>
    private const uint Control = ~0x3Fu;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Multiply(float a, float b) => a * b; // at run time, under this thread's MXCSR

    [Theory]
    [InlineData("sysv-set", "stmxcsr [rdi+4]|mov eax,[rdi+4]|or eax,[rdi]|mov [rdi+8],eax|ldmxcsr [rdi+8]|ret")]
    [InlineData("sysv-load", "ldmxcsr [rdi]|ret")]
    [InlineData("win64-set", "stmxcsr [rcx+4]|mov eax,[rcx+4]|or eax,[rcx]|mov [rcx+8],eax|ldmxcsr [rcx+8]|ret")]
    [InlineData("win64-load", "ldmxcsr [rcx]|ret")]
    public void TheStubsBytesDecodeToTheirInstructions(string stub, string expected)
    {
        var code = stub switch
        {
            "sysv-set" => FloatingPointControl.SysVSetBitsCode,
            "sysv-load" => FloatingPointControl.SysVLoadCode,
            "win64-set" => FloatingPointControl.Win64SetBitsCode,
            _ => FloatingPointControl.Win64LoadCode,
        };
        Assert.True(code.Length <= FloatingPointControl.LoadOffset, "the set stub ends before the load stub");
        Assert.Equal(expected, StubListing.Of(code, stub));
    }

    [Fact]
    public void TheScopeFlushesSubnormalsOnThisThreadAndPutsTheRegisterBack()
    {
        uint before = FloatingPointControl.Read() & Control;
        Assert.Equal(0u, before & (FloatingPointControl.FlushToZero | FloatingPointControl.DenormalsAreZero)); // .NET's IEEE default
        Assert.Equal(Subnormal, Multiply(Subnormal, 1f));
        using (FloatingPointControl.FlushDenormalsWhile(false))
            Assert.Equal(before, FloatingPointControl.Read() & Control);
        using (FloatingPointControl.FlushDenormalsWhile(true))
        {
            Assert.Equal(before | FloatingPointControl.FlushToZero | FloatingPointControl.DenormalsAreZero, FloatingPointControl.Read() & Control);
            Assert.Equal(0f, Multiply(Subnormal, 1f));     // read as zero (DAZ)
            Assert.Equal(0f, Multiply(1e-20f, 1e-20f));    // written as zero (FTZ): 1e-40 would be subnormal
            float other = 0;
            var thread = new Thread(() => other = Multiply(Subnormal, 1f));
            thread.Start();
            thread.Join();
            Assert.Equal(Subnormal, other);                 // the register is per thread
        }
        Assert.Equal(before, FloatingPointControl.Read() & Control);
        Assert.Equal(Subnormal, Multiply(Subnormal, 1f));
    }

    private static readonly NetworkSizes Small = new(32, 64, 10) { MemorySlots = 64, MemoryWidth = 16, ReadHeads = 2 };

    /// <summary>A random DNC whose interface weights are scaled up: key strengths and gates saturate, content addressing is sharp.</summary>
    private static NeuralModel SharpModel()
    {
        var m = NeuralModel.Create(Small, 5);
        var tensors = m.TensorNames.ToDictionary(n => n, n =>
        {
            var values = m.GetParameter(n)!;
            if (n == "interface.weight") for (int i = 0; i < values.Length; i++) values[i] *= 40;
            return new SafeTensor(n, "F32", m.GetParameterShape(n)!.Select(d => (long)d).ToArray(), values);
        });
        return NeuralModel.FromTensors(tensors, m.Metadata, "sharp");
    }

    private static int Subnormals(DncMemory memory)
    {
        int count = 0;
        foreach (var state in new[] { memory.WriteWeights.ToArray(), memory.Precedence.ToArray(), memory.ReadWeights.ToArray(), memory.Link.ToArray(),
            memory.Allocation.ToArray(), memory.ForwardWeights.ToArray(), memory.BackwardWeights.ToArray(), memory.ReadContentWeights.ToArray() })
            count += state.Count(v => v != 0 && float.IsSubnormal(v));
        return count;
    }

    /// <summary>Steps with inputs from <paramref name="seed"/>; returns every output and the subnormals seen in the state after each step.</summary>
    private static (float[] Outputs, int Subnormals) Run(NeuralNetwork net, int steps, int seed)
    {
        var rng = new Random(seed);
        var x = new float[net.Sizes.InputSize];
        var outputs = new List<float>();
        int subnormals = 0;
        for (int s = 0; s < steps; s++)
        {
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            outputs.AddRange(net.Step(x).ToArray());
            subnormals += Subnormals(net.Memory!);
        }
        return (outputs.ToArray(), subnormals);
    }

    private static NeuralEngine JitEngine(JitIsa isa, bool flush, NeuralModel model, out NeuralNetwork net)
    {
        var engine = new NeuralEngine(new EngineOptions { JitEnabled = false, IsaCap = isa, SynchronousCompilation = true, CodeCacheBytes = 1 << 20, FlushDenormals = flush });
        net = model.CreateNetwork(engine);
        JitTestEngine.InstallEverySlot(engine, isa);
        return engine;
    }

    /// <summary>
    /// The sharp DNC makes subnormal weightings with IEEE arithmetic; with FlushDenormals it makes none, on the managed
    /// tier and on the JIT tier alike, each tier's outputs stay within 1e-6 of its IEEE outputs, and the stepping
    /// thread's MXCSR controls are as they were after every step.
    /// </summary>
    [Theory, MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void AFlushingNetworkMakesNoSubnormalsOnEitherTierAndKeepsItsOutputs(JitIsa isa)
    {
        const int steps = 300;
        var model = SharpModel();
        uint before = FloatingPointControl.Read();
        float[] Outputs(NeuralNetwork net, bool flush, string what)
        {
            var (outputs, subnormals) = Run(net, steps, seed: 11);
            Assert.Equal(before & Control, FloatingPointControl.Read() & Control);
            if (flush) Assert.True(subnormals == 0, $"{what}: {subnormals} subnormals in the state while flushing");
            else Assert.True(subnormals > 0, $"{what}: the sharp DNC made no subnormal, so this test shows nothing");
            Assert.DoesNotContain(outputs, float.IsNaN);
            return outputs;
        }
        float[] ieee, managedFlushed, jitFlushed;
        using (var engine = new NeuralEngine(new EngineOptions { JitEnabled = false }))
        using (var net = model.CreateNetwork(engine)) ieee = Outputs(net, flush: false, "managed, IEEE");
        using (var engine = new NeuralEngine(new EngineOptions { JitEnabled = false, FlushDenormals = true }))
        using (var net = model.CreateNetwork(engine)) managedFlushed = Outputs(net, flush: true, "managed, flushed");
        using (var engine = JitEngine(isa, flush: true, model, out var net))
        using (net) jitFlushed = Outputs(net, flush: true, $"{isa}, flushed");
        float[] jitIeee;
        using (var engine = JitEngine(isa, flush: false, model, out var net))
        using (net) jitIeee = Outputs(net, flush: false, $"{isa}, IEEE");
        // The flushed values are far below what the outputs resolve: each tier gives what it gives with IEEE arithmetic.
        static double Max(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
        Assert.True(Max(ieee, managedFlushed) <= 1e-6, $"managed: flushing moved the outputs by {Max(ieee, managedFlushed):G3}");
        Assert.True(Max(jitIeee, jitFlushed) <= 1e-6, $"{isa}: flushing moved the outputs by {Max(jitIeee, jitFlushed):G3}");
    }
}
