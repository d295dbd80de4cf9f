using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>Compiles the kernels the rows measure, through the engine's JIT, and keeps them alive for the run.</summary>
internal sealed class JitSource : IDisposable
{
    public string Description => "JIT: the engine's JitCompiler is not in this build yet — every JIT row reads NO JIT KERNEL.";

    public JitKernel? Compile(OpKey key, JitIsa isa) => null;

    public void Dispose() { }
}
