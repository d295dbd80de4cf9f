namespace NeuralJit;

/// <summary>
/// What <c>Measure-NeuralProfilerOverhead</c> returns: ns per inference step with the profiler on and off, measured
/// interleaved on the same network, and the per-call costs behind the difference.
/// </summary>
public sealed class ProfilerOverheadResult
{
    public string Model { get; init; } = "";
    public int InputSize { get; init; }
    public int HiddenSize { get; init; }
    public int OutputSize { get; init; }
    public int Layers { get; init; }
    /// <summary>Steps per timed batch.</summary>
    public int Steps { get; init; }
    /// <summary>Pairs of batches (one on, one off), alternating which goes first.</summary>
    public int Rounds { get; init; }
    /// <summary>Median ns per step with profiling off.</summary>
    public double NanosecondsPerStepOff { get; init; }
    /// <summary>Median ns per step with profiling on.</summary>
    public double NanosecondsPerStepOn { get; init; }
    /// <summary>Median of the per-round ratios (on / off) of batches run back to back.</summary>
    public double Ratio { get; init; }
    /// <summary>(Ratio − 1) × 100: the profiler's cost in percent of the unprofiled step (negative = within noise).</summary>
    public double OverheadPercent { get; init; }
    /// <summary>Mean of the per-round ratios on/off (BenchmarkDotNet's ratio), with their range below: a wide range means a noisy machine.</summary>
    public double MeanRatio { get; init; }
    public double MinRatio { get; init; }
    public double MaxRatio { get; init; }
    /// <summary>Profiled slot calls per step (one LstmStep per layer, plus the Dense head).</summary>
    public int CallsPerStep { get; init; }
    /// <summary>Calls the profile counted during the profiled batches.</summary>
    public long ProfiledCalls { get; init; }
    /// <summary>True when <see cref="ProfiledCalls"/> is exactly steps × rounds × calls per step.</summary>
    public bool CountsExact { get; init; }
    /// <summary>Share of the profiled calls that were timed (the rest were counted only).</summary>
    public double MeasuredCallFraction { get; init; }
    /// <summary>ns per Invoke of a one-element kernel with profiling off.</summary>
    public double InvokeNanosecondsOff { get; init; }
    /// <summary>ns per Invoke of a one-element kernel with profiling on, steady state (counted, sampled).</summary>
    public double InvokeNanosecondsOn { get; init; }
    /// <summary>ns per Invoke of a one-element kernel when every call is timed.</summary>
    public double InvokeNanosecondsMeasured { get; init; }
    /// <summary>Per key, the share of its calls that were timed, e.g. "LstmStep 512x192: 6.3%; …" (the period adapts per key).</summary>
    public string TimedShareByKey { get; init; } = "";
    /// <summary>What timing one call costs, in clock ticks, as the sampling policy assumes it (measured once per process).</summary>
    public long SampleCostTicks { get; init; }
    public string ClockSource { get; init; } = "";
    public long ClockPairCostTicks { get; init; }
    public long ClockOverheadTicks { get; init; }
    public double ClockFrequencyHz { get; init; }
}
