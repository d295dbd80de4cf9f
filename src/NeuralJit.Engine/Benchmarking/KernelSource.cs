using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>Compiles one (op, shape) for one ISA in an engine's JIT for a benchmark: the kernel is not installed in any slot.</summary>
public static class KernelSource
{
    /// <summary>The kernel, or null with the reason (no emitter for the op, shape not supported, code cache full, OS refused).</summary>
    public static JitKernel? Compile(NeuralEngine engine, OpKey key, JitIsa isa, out string? reason)
    {
        if (KernelEmitters.For(key.Op) is null) { reason = $"the JIT has no emitter for {key.Op}"; return null; }
        return engine.Jit.TryCompile(key, isa, out var kernel, out reason) ? kernel : null;
    }
}
