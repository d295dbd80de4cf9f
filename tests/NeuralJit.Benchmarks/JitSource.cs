using NeuralJit.Benchmarking;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>Compiles the kernels the rows measure through a private engine's JIT (8 MiB code cache), alive for the run.</summary>
internal sealed class JitSource : IDisposable
{
    private readonly NeuralEngine _engine = new(new EngineOptions { CodeCacheBytes = 8 << 20, JitEnabled = false, ProfilingEnabled = false, SynchronousCompilation = true });

    public string Description => $"JIT: the engine's JitCompiler (emitters for {string.Join(", ", KernelEmitters.All.SelectMany(e => e.Ops))}).";

    public JitKernel? Compile(OpKey key, JitIsa isa) => KernelSource.Compile(_engine, key, isa, out _);

    public void Dispose() => _engine.Dispose();
}
