using NeuralJit.Jit;
using NeuralJit.Profiling;

namespace NeuralJit;

/// <summary>What <c>Get-NeuralEngine</c> reports: the CPU, the ISA the JIT would use, the clock, thresholds and sizes.</summary>
public sealed class EngineInfo
{
    public string CpuFeatures { get; init; } = "";
    /// <summary>Widest ISA this CPU supports for our kernels.</summary>
    public string BestIsa { get; init; } = "";
    /// <summary>ISA the JIT would emit now, after the cap.</summary>
    public string JitIsa { get; init; } = "";
    public bool JitEnabled { get; init; }
    public string ClockSource { get; init; } = "";
    public double ClockFrequencyHz { get; init; }
    public bool ClockTrusted { get; init; }
    public string ClockTrustReason { get; init; } = "";
    public long ClockOverheadCycles { get; init; }
    public string HardwareCounters { get; init; } = "";
    public bool HardwareCountersAvailable { get; init; }
    public long CallThreshold { get; init; }
    public double ShareThreshold { get; init; }
    public bool ProfilingEnabled { get; init; }
    public int ProfileBuckets { get; init; }
    public int ProfileWays { get; init; }
    public long ProfileTableBytes { get; init; }
    public int ProfiledKeys { get; init; }
    public int OverflowKeys { get; init; }
    public int CodeCacheBytes { get; init; }

    public static EngineInfo From(NeuralEngine engine) => new()
    {
        CpuFeatures = Jit.CpuFeatures.Describe(),
        BestIsa = Jit.CpuFeatures.Best.ToString(),
        JitIsa = Jit.CpuFeatures.Effective(engine.Options.IsaCap).ToString(),
        JitEnabled = engine.Options.JitEnabled,
        ClockSource = CycleClock.Source,
        ClockFrequencyHz = CycleClock.Frequency,
        ClockTrusted = CycleClock.IsTrusted,
        ClockTrustReason = CycleClock.TrustReason,
        ClockOverheadCycles = CycleClock.ReadOverheadTicks,
        HardwareCounters = engine.Counters.Status,
        HardwareCountersAvailable = engine.Counters.IsAvailable,
        CallThreshold = engine.Options.CallThreshold,
        ShareThreshold = engine.Options.ShareThreshold,
        ProfilingEnabled = engine.Options.ProfilingEnabled,
        ProfileBuckets = engine.Profile.Buckets,
        ProfileWays = ProfileTable.Ways,
        ProfileTableBytes = engine.Profile.TableBytes,
        ProfiledKeys = engine.Profile.Count,
        OverflowKeys = engine.Profile.OverflowKeys,
        CodeCacheBytes = engine.Options.CodeCacheBytes,
    };
}
