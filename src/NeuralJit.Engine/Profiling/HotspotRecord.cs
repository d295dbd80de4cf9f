using NeuralJit.Ops;

namespace NeuralJit;

/// <summary>
/// One row of the hotspot table: an (op, shape) key with its counters and share of all profiled
/// cycles. Cycles are TSC ticks (see <c>Get-NeuralEngine</c> for the clock's frequency).
/// </summary>
public sealed class HotspotRecord
{
    public OpKind Operation { get; init; }
    public string Dims { get; init; } = "";
    public long Calls { get; init; }
    public long TotalCycles { get; init; }
    public double AvgCycles { get; init; }
    public long MinCycles { get; init; }
    public long MaxCycles { get; init; }
    public long Elements { get; init; }
    public double CyclesPerElement { get; init; }
    /// <summary>Null where the hardware counters are unavailable: never estimated.</summary>
    public long? CacheMisses { get; init; }
    /// <summary>Null where the hardware counters are unavailable: never estimated.</summary>
    public long? TlbMisses { get; init; }
    /// <summary>Fraction (0..1) of all profiled cycles spent in this key.</summary>
    public double Share { get; init; }
    public HotspotStatus Status { get; init; }
    /// <summary>Calls whose cycles were measured; fewer than Calls when the profiler sampled.</summary>
    public long MeasuredCalls { get; init; }
    /// <summary>
    /// Timed calls left out of the totals: the key's first (cold) call and calls preempted by the OS (over 256× the
    /// fastest and over 50 µs). They still count in Calls and MaxCycles; the cycles they stand for are estimated.
    /// </summary>
    public long OutlierCalls { get; init; }
    /// <summary>True when TotalCycles is scaled up from the measured sample rather than summed over every call.</summary>
    public bool CyclesEstimated { get; init; }
    public double AvgNanoseconds { get; init; }
    /// <summary>The code the key's calls run now: the managed tier, or the JIT kernel of that ISA.</summary>
    public HotspotTier Tier { get; init; }
    /// <summary>
    /// Calls run by <see cref="Tier"/>: since its kernel was installed, or since the last Reset-NeuralProfile if later.
    /// Calls, TotalCycles and AvgCycles cover every call since the reset, so they mix the tiers of a key promoted mid-run.
    /// </summary>
    public long TierCalls { get; init; }
    /// <summary>What a call of <see cref="Tier"/> costs on average (TSC ticks), or null while none of its calls was timed.</summary>
    public double? TierAvgCycles { get; init; }
    /// <summary><see cref="TierAvgCycles"/> in nanoseconds.</summary>
    public double? TierAvgNanoseconds { get; init; }

    public override string ToString() => $"{Operation} {Dims}";
}

/// <summary>The status of a key in the hotspot table.</summary>
public enum HotspotStatus
{
    /// <summary>Running on the managed tier, not (yet) worth compiling.</summary>
    Managed,
    /// <summary>Passed the call and share thresholds: the JIT will (or may) compile it.</summary>
    Candidate,
    /// <summary>Running JIT machine code.</summary>
    Jit,
}

/// <summary>The code a key of the hotspot table runs: the managed tier or a JIT kernel of one ISA (numbered as <see cref="Platform.JitIsa"/>).</summary>
public enum HotspotTier
{
    /// <summary>The managed tier (Vector256/Vector512 and TensorPrimitives).</summary>
    Managed = 0,
    /// <summary>A JIT kernel for AVX2 + FMA3.</summary>
    Avx2 = Platform.JitIsa.Avx2,
    /// <summary>A JIT kernel for AVX-512.</summary>
    Avx512 = Platform.JitIsa.Avx512,
}
