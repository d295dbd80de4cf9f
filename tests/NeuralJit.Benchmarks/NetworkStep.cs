using NeuralJit.Benchmarking;
using NeuralJit.Jit;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>
/// One whole network step (LSTM controller + DNC + output layer) as a benchmark subject: an engine of its own
/// (profiling on, as users run it; no background promotion), a random network from a fixed seed, and a fixed input.
/// With an ISA, every slot that has an emitter is compiled for it and installed before the first step.
/// </summary>
internal sealed class NetworkStep : IBenchmarkSubject, IDisposable
{
    private readonly NeuralEngine _engine;
    private readonly NeuralNetwork _net;
    private readonly float[] _x;

    public NetworkStep(NetworkSizes sizes, JitIsa? isa)
    {
        _engine = new NeuralEngine(new EngineOptions { JitEnabled = false, IsaCap = isa, SynchronousCompilation = true, CodeCacheBytes = 4 << 20 });
        _net = NeuralNetwork.CreateRandom(_engine, sizes, NetworkSeed);
        if (isa is not null)
            foreach (var slot in _engine.Profile.Slots)
                if (KernelEmitters.For(slot.Key.Op) is not null && _engine.Promotion.CompileAndInstall(slot) is null)
                    throw new InvalidOperationException($"{slot.Key} did not compile for {isa}: {_engine.Jit.WhyManaged(slot.Key)}");
        _x = Input(sizes.InputSize);
    }

    /// <summary>The random network's seed: another build's step (<see cref="ForeignBuild"/>) builds the same network.</summary>
    public const int NetworkSeed = 7;

    /// <summary>The fixed input every step is given (the same for another build's step).</summary>
    public static float[] Input(int size)
    {
        var rng = new Random(3);
        return Enumerable.Range(0, size).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    public void Run(long calls)
    {
        for (long i = 0; i < calls; i++) _net.Step(_x);
    }

    /// <summary>Outputs of <paramref name="steps"/> steps from a fresh state, each step's input drawn from one seed.</summary>
    public float[][] Trace(int steps)
    {
        _net.ResetState();
        var rng = new Random(5);
        var x = new float[_x.Length];
        var outputs = new float[steps][];
        for (int s = 0; s < steps; s++)
        {
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            outputs[s] = _net.Step(x).ToArray();
        }
        return outputs;
    }

    /// <summary>
    /// The step's roofline bound (ns) and working set: each op's calls per step at its <see cref="SpeedupBenchmark.BoundOf"/>
    /// (compute at the ISA's FMA peak, or its reads, updates and writes at their rates), all at the level the whole step's
    /// operands fit in (each op's footprint once per step, however often it runs). Read from this engine's profile.
    /// </summary>
    public (double Nanoseconds, long WorkingSetBytes) Bound(JitIsa isa, RooflineResult roof, int stepsRun)
    {
        var (ops, workingSet) = OpBounds(isa, roof, stepsRun);
        return (ops.Values.Sum(), workingSet);
    }

    /// <summary>Each op's share of <see cref="Bound"/> (ns per step), and the step's working set.</summary>
    public (IReadOnlyDictionary<OpKey, double> Nanoseconds, long WorkingSetBytes) OpBounds(JitIsa isa, RooflineResult roof, int stepsRun)
    {
        var slots = _engine.Profile.Slots.Select(s => (s.Key, Calls: s.Snapshot().Calls)).Where(s => s.Calls > 0).ToList();
        double perStep(long calls) => (double)calls / stepsRun;
        long workingSet = (long)slots.Sum(s => s.Key.Spec.Traffic(s.Key.Shape).Footprint * Math.Min(1, perStep(s.Calls)));
        var ns = slots.ToDictionary(s => s.Key, s => perStep(s.Calls) * SpeedupBenchmark.BoundOf(s.Key.Spec.Flops(s.Key.Shape), s.Key.Spec.Traffic(s.Key.Shape), workingSet, isa, roof).Nanoseconds);
        return (ns, workingSet);
    }

    public void ResetProfile() => _engine.Profile.Reset();

    /// <summary>Each op's calls and nanoseconds per step since the last <see cref="ResetProfile"/>, over <paramref name="stepsRun"/> steps, largest first.</summary>
    public IReadOnlyList<(OpKey Key, double CallsPerStep, double NanosecondsPerStep)> OpsPerStep(int stepsRun) =>
        _engine.Profile.Slots.Select(s => s.Snapshot()).Where(s => s.Calls > 0)
            .Select(s => (s.Key, (double)s.Calls / stepsRun, s.TotalCycles * 1e9 / Profiling.CycleClock.Frequency / stepsRun))
            .OrderByDescending(r => r.Item3).ToList();

    public void Dispose()
    {
        _net.Dispose();
        _engine.Dispose();
    }
}
