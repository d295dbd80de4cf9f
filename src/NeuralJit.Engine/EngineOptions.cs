using NeuralJit.Jit;

namespace NeuralJit;

/// <summary>Tunables of one engine. Changing them takes effect on the next call.</summary>
public sealed class EngineOptions
{
    /// <summary>Calls a key needs before it can become a JIT candidate (default 1000).</summary>
    public long CallThreshold { get; set; } = 1000;

    /// <summary>
    /// Share of all profiled cycles a key needs to become a JIT candidate. 2%: small enough that every
    /// op of an LSTM step that costs more than its call overhead qualifies, large enough that one-off
    /// ops of a warm-up never do.
    /// </summary>
    public double ShareThreshold { get; set; } = 0.02;

    /// <summary>When false, keys are never compiled automatically (explicit compiles still work).</summary>
    public bool JitEnabled { get; set; } = true;

    /// <summary>Widest ISA the JIT may emit; null = what the CPU has, capped by NEURALJIT_MAX_ISA.</summary>
    public JitIsa? IsaCap { get; set; }

    /// <summary>Size of the code cache (default 64 KiB).</summary>
    public int CodeCacheBytes { get; set; } = 64 * 1024;

    /// <summary>When false, calls run without being counted or timed.</summary>
    public bool ProfilingEnabled { get; set; } = true;

    /// <summary>
    /// While a network steps (<see cref="Models.NeuralNetwork.Step"/>), run its kernels with subnormal floats flushed to
    /// zero (MXCSR FTZ and DAZ on the stepping thread, put back after each step), on both tiers alike. Off by default:
    /// results are then IEEE's. On Intel CPUs each operation that makes or reads a subnormal takes a microcode assist, so
    /// a DNC whose weightings fall below 1.2e-38 (sharp content addressing) can run tens of times slower; flushing
    /// changes only values that small. x86-64 only. A .NET method first compiled on the stepping thread during a
    /// flushed step is compiled with the bits set, which would change only the folding of subnormal constants (the
    /// managed kernels have none).
    /// </summary>
    public bool FlushDenormals { get; set; }

    /// <summary>Compile promoted keys on the calling thread (deterministic tests) instead of in the background.</summary>
    public bool SynchronousCompilation { get; set; }
}
