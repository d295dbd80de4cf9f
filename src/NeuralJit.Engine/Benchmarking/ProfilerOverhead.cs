using System.Diagnostics;
using System.Runtime.CompilerServices;
using NeuralJit.Models;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Benchmarking;

/// <summary>
/// What the profiler costs. The same network (same weights, buffers and slots) runs batches of steps with
/// <see cref="EngineOptions.ProfilingEnabled"/> on and off, interleaved round by round (on/off, then off/on, so
/// drift and turbo changes hit both sides alike); the result gives the median ns/step of each side, the median of the
/// per-round ratios (paired, so a preempted batch spoils one ratio, not the comparison), their mean and range, and the per-call costs behind them, measured on a trivial kernel
/// (so the call itself is what is timed): an unprofiled Invoke, a profiled one in steady state (counted, rarely
/// sampled) and a fully measured one (timed with the fenced clock pair).
/// The engine is private to the measurement (automatic promotion off, so both sides run the same kernels for the
/// whole run); the default engine's profile is not touched. With <c>tier = Jit</c> every key of the network is compiled
/// and installed first, so the ratio is that of the ~2–3 µs JIT step, where the profiler's share is largest.
/// </summary>
public static unsafe class ProfilerOverhead
{
    public static ProfilerOverheadResult Measure(int steps = 2000, int rounds = 15, NetworkSizes? sizes = null, int seed = 42,
        Action<int>? progress = null, KernelTier tier = KernelTier.ManagedSimd, CancellationToken cancel = default)
    {
        if (tier == KernelTier.Scalar) throw new ArgumentOutOfRangeException(nameof(tier), tier, "The profiler's overhead is measured on the ManagedSimd or the Jit tier.");
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        var sz = sizes ?? new NetworkSizes(64, 128, 10);
        sz.Validate();
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var net = NeuralNetwork.CreateRandom(engine, sz, seed);
        if (tier == KernelTier.Jit)
            foreach (var slot in engine.Profile.Slots)
                if (!cancel.IsCancellationRequested && engine.Promotion.CompileAndInstall(slot) is null)
                    throw new InvalidOperationException($"{slot.Key} could not be compiled: {engine.Jit.WhyManaged(slot.Key)?.Message}");
        var rng = new Random(seed ^ 0x0FEE);
        var input = new float[sz.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);

        // Warm-up: tier-1 code for both paths, slots past their fully measured start, caches warm.
        for (int w = 0; w < 3; w++)
        {
            RunBatch(engine, net, input, Math.Max(1, steps / 2), profiling: true, cancel);
            RunBatch(engine, net, input, Math.Max(1, steps / 2), profiling: false, cancel);
        }
        engine.Profile.Reset();

        var on = new double[rounds];
        var off = new double[rounds];
        var ratios = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            cancel.ThrowIfCancellationRequested();
            if (r % 2 == 0)
            {
                on[r] = RunBatch(engine, net, input, steps, profiling: true, cancel);
                off[r] = RunBatch(engine, net, input, steps, profiling: false, cancel);
            }
            else
            {
                off[r] = RunBatch(engine, net, input, steps, profiling: false, cancel);
                on[r] = RunBatch(engine, net, input, steps, profiling: true, cancel);
            }
            ratios[r] = on[r] / off[r];
            progress?.Invoke((r + 1) * 100 / rounds);
        }

        long profiledSteps = (long)steps * rounds;
        var stats = engine.Profile.Slots.Select(s => s.Snapshot()).Where(s => s.Calls > 0).ToList();
        // One LstmStep per layer and the head, on every tier.
        int callsPerStep = sz.Layers + 1;
        // Every slot is called once per step per layer that uses it; identical layers share a slot.
        long expectedCalls = stats.Sum(s => s.Calls);
        bool exact = expectedCalls == profiledSteps * callsPerStep;
        long measured = stats.Sum(s => s.MeasuredCalls);

        var (invokeOff, invokeOn, invokeMeasured) = InvokeCosts(Math.Max(5, rounds / 2), cancel);

        double medOn = Median(on), medOff = Median(off);
        return new ProfilerOverheadResult
        {
            Model = $"LSTM {sz.InputSize}→{sz.HiddenSize}×{sz.Layers} + Dense→{sz.OutputSize} ({(tier == KernelTier.Jit ? $"JIT {engine.Jit.Isa}" : "managed SIMD")} tier, seed {seed})",
            InputSize = sz.InputSize,
            HiddenSize = sz.HiddenSize,
            OutputSize = sz.OutputSize,
            Layers = sz.Layers,
            Steps = steps,
            Rounds = rounds,
            NanosecondsPerStepOff = medOff,
            NanosecondsPerStepOn = medOn,
            Ratio = Median(ratios),
            OverheadPercent = (Median(ratios) - 1) * 100,
            MeanRatio = ratios.Average(),
            MinRatio = ratios.Min(),
            MaxRatio = ratios.Max(),
            CallsPerStep = callsPerStep,
            ProfiledCalls = expectedCalls,
            CountsExact = exact,
            MeasuredCallFraction = expectedCalls == 0 ? 0 : (double)measured / expectedCalls,
            InvokeNanosecondsOff = invokeOff,
            InvokeNanosecondsOn = invokeOn,
            InvokeNanosecondsMeasured = invokeMeasured,
            TimedShareByKey = string.Join("; ", stats.OrderByDescending(s => s.TotalCycles).Select(s => $"{s.Key}: {(double)s.MeasuredCalls / s.Calls:P1}")),
            SampleCostTicks = OpSlot.SampleCostTicks,
            ClockSource = CycleClock.Source,
            ClockPairCostTicks = CycleClock.PairCostTicks,
            ClockOverheadTicks = CycleClock.ReadOverheadTicks,
            ClockFrequencyHz = CycleClock.Frequency,
        };
    }

    /// <summary>ns per step of one batch; a stop request is seen within 64 steps (a few hundred µs), on both sides alike.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double RunBatch(NeuralEngine engine, NeuralNetwork net, float[] input, int steps, bool profiling, CancellationToken cancel)
    {
        engine.Options.ProfilingEnabled = profiling;
        long t0 = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++)
        {
            if ((s & 63) == 0 && cancel.IsCancellationRequested) break;
            net.Step(input);
        }
        long t1 = Stopwatch.GetTimestamp();
        engine.Options.ProfilingEnabled = true;
        cancel.ThrowIfCancellationRequested();
        return (t1 - t0) * 1e9 / Stopwatch.Frequency / steps;
    }

    /// <summary>
    /// ns per <see cref="OpSlot.Invoke"/> of a one-element Relu: profiling off; on in steady state (exact count,
    /// sampled timing: for so short a kernel the period is the maximum); and fully measured (the first
    /// <see cref="OpSlot.WarmupCalls"/> calls after a reset are all timed). Medians of interleaved rounds.
    /// </summary>
    private static (double Off, double On, double Measured) InvokeCosts(int rounds, CancellationToken cancel)
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(1));
        float x = 1;
        KernelArgs a = default;
        a.A = &x; a.C = &x;
        const int Calls = 20_000;
        const int Burst = OpSlot.WarmupCalls - 1;
        var off = new double[rounds];
        var on = new double[rounds];
        var measured = new double[rounds];
        for (int r = -1; r < rounds; r++) // round −1 warms the code up
        {
            cancel.ThrowIfCancellationRequested(); // a round is ~1 ms
            engine.Options.ProfilingEnabled = false;
            double tOff = Loop(slot, &a, Calls);
            engine.Options.ProfilingEnabled = true;
            double tOn = Loop(slot, &a, Calls);
            double tMeasured = TimedBursts(slot, &a, Calls / Burst, Burst);
            if (r < 0) continue;
            off[r] = tOff; on[r] = tOn; measured[r] = tMeasured;
        }
        return (Median(off), Median(on), Median(measured));
    }

    /// <summary>Bursts of calls right after a reset: all timed (the warm-up), with one Reset per burst.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double TimedBursts(OpSlot slot, KernelArgs* a, int bursts, int burst)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int b = 0; b < bursts; b++)
        {
            slot.Reset();
            for (int i = 0; i < burst; i++) slot.Invoke(a);
        }
        return (Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency / (bursts * burst);
    }

    // The timing loops are compiled fully optimised at once: a tier-0 loop would not inline Invoke and would time
    // the unoptimised caller (~20 ns a call here) instead of the profiler.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double Loop(OpSlot slot, KernelArgs* a, int calls)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++) slot.Invoke(a);
        return (Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency / calls;
    }

    private static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
