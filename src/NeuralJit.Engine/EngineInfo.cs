using NeuralJit.Jit;
using NeuralJit.Profiling;

namespace NeuralJit;

/// <summary>What <c>Get-NeuralEngine</c> reports: the CPU, the ISA the JIT would use, the clock, thresholds and sizes.</summary>
public sealed class EngineInfo
{
    public string CpuFeatures { get; init; } = "";
    /// <summary>Widest ISA this CPU supports for our kernels.</summary>
    public JitIsa BestIsa { get; init; }
    /// <summary>ISA the JIT would emit now, after the cap.</summary>
    public JitIsa JitIsa { get; init; }
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
    /// <summary>Whether network steps flush subnormal floats to zero (<see cref="EngineOptions.FlushDenormals"/>).</summary>
    public bool FlushDenormals { get; init; }
    public int ProfileBuckets { get; init; }
    public int ProfileWays { get; init; }
    public long ProfileTableBytes { get; init; }
    public int ProfiledKeys { get; init; }
    public int OverflowKeys { get; init; }
    public int CodeCacheBytes { get; init; }
    /// <summary>Bytes of the code cache holding kernels (0 before the first compile).</summary>
    public int CodeCacheUsedBytes { get; init; }
    /// <summary>DualMapping or PageFlip once mapped, else "not mapped".</summary>
    public string CodeCacheMode { get; init; } = "";
    public int JitKernels { get; init; }
    /// <summary>Kernel cache lookups that found a compiled kernel / had to build one / builds that succeeded.</summary>
    public long JitCacheHits { get; init; }
    public long JitCacheMisses { get; init; }
    public long JitBuilds { get; init; }
    /// <summary>Promotions queued or compiling in the background: wait for 0 before reading the kernels a run left behind.</summary>
    public long PendingCompilations { get; init; }
    /// <summary>Why keys stay managed (cache full, no executable memory …), oldest first.</summary>
    public string[] JitWarnings { get; init; } = [];

    public static EngineInfo From(NeuralEngine engine) => new()
    {
        CpuFeatures = Platform.CpuFeatures.Describe(),
        BestIsa = Platform.CpuFeatures.Best,
        JitIsa = engine.Jit.Isa,
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
        FlushDenormals = engine.Options.FlushDenormals,
        ProfileBuckets = engine.Profile.Buckets,
        ProfileWays = ProfileTable.Ways,
        ProfileTableBytes = engine.Profile.TableBytes,
        ProfiledKeys = engine.Profile.Count,
        OverflowKeys = engine.Profile.OverflowKeys,
        CodeCacheBytes = engine.Jit.Cache?.CapacityBytes ?? engine.Options.CodeCacheBytes,
        CodeCacheUsedBytes = engine.Jit.Cache?.UsedBytes ?? 0,
        CodeCacheMode = engine.Jit.Cache?.Mode.ToString() ?? "not mapped",
        JitKernels = engine.Jit.Kernels.Count,
        JitCacheHits = engine.Jit.Hits,
        JitCacheMisses = engine.Jit.Misses,
        JitBuilds = engine.Jit.Builds,
        PendingCompilations = engine.Promotion.Pending,
        JitWarnings = engine.Jit.Warnings.ToArray(),
    };
}
