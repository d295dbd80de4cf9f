using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>Compiles one (op, shape) for one ISA in an engine's JIT for a benchmark: the kernel is not installed in any slot.</summary>
public static class KernelSource
{
    /// <summary>The kernel, or null with why not (no emitter for the op, shape not supported, code cache full, OS refused).</summary>
    public static JitKernel? Compile(NeuralEngine engine, OpKey key, JitIsa isa, out JitFailure? failure) =>
        engine.Jit.TryCompile(key, isa, out var kernel, out failure) ? kernel : null;
}
