using System.Diagnostics;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>Compiles the kernels the rows measure, and keeps them alive for the run.</summary>
internal sealed class JitSource : IDisposable
{
    private readonly CodeCache _cache = new(8 << 20);
    private readonly Dictionary<(OpKey, JitIsa), JitKernel?> _done = new();

    public string Description => "JIT: emitters compiled into a private 8 MiB code cache.";

    public JitKernel? Compile(OpKey key, JitIsa isa)
    {
        if (_done.TryGetValue((key, isa), out var k)) return k;
        var e = KernelEmitters.For(key.Op);
        if (e is null || e.CannotEmit(key, isa) is not null) return _done[(key, isa)] = null;
        var sw = Stopwatch.StartNew();
        var a = new KernelAssembler(isa);
        e.Emit(a, key);
        var asm = a.Finish();
        if (!_cache.TryInstall(asm, out nint entry, out _)) return _done[(key, isa)] = null;
        return _done[(key, isa)] = new JitKernel(key, isa, entry, asm.Bytes, sw.Elapsed.TotalMicroseconds, e.FusesCell(key), suppressGcTransition: true);
    }

    public void Dispose() => _cache.Dispose();
}
