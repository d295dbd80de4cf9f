using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>Compiles one (op, shape) for one ISA in an engine, for benchmarks: the kernel is not installed in any slot.</summary>
public static class KernelSource
{
    /// <summary>The kernel, or null when no emitter handles the op. Throws <see cref="ExecutableMemoryException"/> when the OS refuses.</summary>
    public static JitKernel? Compile(NeuralEngine engine, OpKey key, JitIsa isa) => null;
}
