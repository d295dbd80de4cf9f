namespace NeuralJit.Profiling;

/// <summary>
/// What the slots of one engine read on their calls: the options (profiling on, call threshold), the hardware
/// counters, the trace recording now, and whom to ask about promotion. The engine owns one; a slot needs this, not
/// the engine, so the profiler's own calibration runs a slot without building one.
/// </summary>
internal sealed class ProfilerState(EngineOptions options, IHardwareCounterSource counters, TierPromotion? promotion)
{
    private int _nextSlotId;

    public EngineOptions Options { get; } = options;
    public IHardwareCounterSource Counters { get; } = counters;
    /// <summary>Asked when a key passes the call threshold; null where nothing is ever promoted.</summary>
    public TierPromotion? Promotion { get; } = promotion;

    /// <summary>The recorder calls write to, or null when no trace is recording (the slots' only extra check).</summary>
    public volatile TraceRecorder? ActiveTrace;

    public int NextSlotId() => Interlocked.Increment(ref _nextSlotId);
}
