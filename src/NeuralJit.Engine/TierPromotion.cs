using NeuralJit.Jit;
using NeuralJit.Profiling;

namespace NeuralJit;

/// <summary>
/// The one owner of tier-up: a slot's measured path notifies it once the key has CallThreshold calls; it decides from
/// the profile whether the key is a candidate, asks the compiler (a service from (key, ISA) to a kernel or a
/// <see cref="JitFailure"/>) in the background or, with SynchronousCompilation, at once, and installs the kernel in the
/// slot. It also uninstalls every kernel before the engine unmaps its code cache, and refuses installs after that.
/// </summary>
public sealed class TierPromotion
{
    private readonly EngineOptions _options;
    private readonly ProfileTable _profile;
    private readonly JitCompiler _compiler;
    private readonly Action<TieringEvent> _raise;
    private readonly Func<TraceRecorder?> _trace;
    private readonly object _gate = new();
    private bool _disposed;
    private long _pending;

    internal TierPromotion(EngineOptions options, ProfileTable profile, JitCompiler compiler, Action<TieringEvent> raise, Func<TraceRecorder?> trace)
    {
        _trace = trace;
        _options = options;
        _profile = profile;
        _compiler = compiler;
        _raise = raise;
    }

    /// <summary>Background compilations queued or running.</summary>
    public long Pending => Interlocked.Read(ref _pending);

    /// <summary>A key is a JIT candidate once it has CallThreshold calls and ShareThreshold of all profiled cycles.</summary>
    internal bool IsCandidate(long calls, double share) => calls >= _options.CallThreshold && share >= _options.ShareThreshold;

    /// <summary>From a slot's measured path once it has passed CallThreshold calls: promotes it if it is now a candidate.</summary>
    internal void Consider(OpSlot slot)
    {
        if (!_options.JitEnabled) return;
        var mine = slot.Snapshot();
        double total = 0;
        foreach (var s in _profile.Slots) total += s.Snapshot().TotalCycles;
        if (total <= 0 || !IsCandidate(mine.Calls, mine.TotalCycles / total)) return;
        if (!slot.TryMarkPromotionRequested()) return;
        Request(slot, $"{slot.Key}: promoted after {mine.Calls:N0} calls with {100 * mine.TotalCycles / total:N1}% of the profiled cycles.");
        // The slots that run beside it in every step (NeuralEngine.PromoteTogether) follow it.
        foreach (var c in slot.Companions)
            if (c.JitKernel is null && c.TryMarkPromotionRequested())
                Request(c, $"{c.Key}: promoted with {slot.Key}, which runs beside it in every step.");
    }

    /// <summary>Compiles a slot whose promotion was just marked: at once with SynchronousCompilation, else in the background.</summary>
    private void Request(OpSlot slot, string why)
    {
        _raise(new TieringEvent(TieringEventKind.Promoted, slot.Key, why));
        JitCompiler.WarmUpInBackground();
        if (_options.SynchronousCompilation) { CompileAndInstall(slot); return; }
        Interlocked.Increment(ref _pending);
        ThreadPool.UnsafeQueueUserWorkItem(static s =>
        {
            var (owner, slot) = s;
            try { owner.CompileAndInstall(slot); }
            finally { Interlocked.Decrement(ref owner._pending); }
        }, (this, slot), preferLocal: false);
    }

    /// <summary>Compiles the slot's key for the engine ISA and swaps it in. Returns the kernel, or null (why in <see cref="JitCompiler.WhyManaged"/>).</summary>
    public JitKernel? CompileAndInstall(OpSlot slot)
    {
        if (_disposed) return null;
        JitKernel? kernel;
        var isa = _compiler.Isa;
        var where = _options.SynchronousCompilation ? "on the calling thread" : "in the background";
        bool cached = _compiler.Find(slot.Key) is not null; // compiled earlier (Invoke-NeuralJitCompile): reported as a cache hit, not a compile
        _raise(new TieringEvent(TieringEventKind.CompileStarted, slot.Key, $"{slot.Key}: compiling for {isa} {where}.") { Isa = isa });
        try
        {
            if (!_compiler.TryCompile(slot.Key, null, out kernel, out var failure))
            {
                _raise(new TieringEvent(TieringEventKind.Refused, slot.Key, $"{slot.Key}: stays on the managed tier: {failure}"));
                return null;
            }
        }
        catch (ObjectDisposedException) { return null; }
        _raise(new TieringEvent(TieringEventKind.Compiled, slot.Key, cached
            ? $"{slot.Key}: found in the kernel cache ({kernel!.Isa}, {kernel.Code.Length:N0} code bytes, compiled earlier in {kernel.CompileMicroseconds:N1} µs)."
            : $"{slot.Key}: compiled for {kernel!.Isa}: {kernel.Code.Length:N0} code bytes in {kernel.CompileMicroseconds:N1} µs.")
            { Isa = kernel.Isa, CompileMicroseconds = kernel.CompileMicroseconds, CodeBytes = kernel.Code.Length });
        if (!Install(slot, kernel)) return null;
        _raise(new TieringEvent(TieringEventKind.Installed, slot.Key,
            $"{slot.Key}: installed; its calls now run the {kernel.Isa} kernel at 0x{(long)kernel.Entry:X}.") { Isa = kernel.Isa });
        return kernel;
    }

    /// <summary>Installs an already compiled kernel into a slot of this engine (false after dispose or for another key).</summary>
    public bool Install(OpSlot slot, JitKernel kernel)
    {
        if (slot.Key != kernel.Key || !ReferenceEquals(_profile.Find(slot.Key), slot)) return false;
        lock (_gate)
        {
            if (_disposed) return false;
            slot.Install(kernel);
        }
        // A recording trace marks the moment the kernel arrives, with the code cache's bytes in use.
        if (_trace() is { } trace)
        {
            trace.RecordKernelSwap(slot.TraceId, kernel);
            trace.RecordCodeCacheBytes(_compiler.Cache?.UsedBytes ?? 0);
        }
        return true;
    }

    /// <summary>Puts every slot back on the managed tier for good (the engine then unmaps the code cache).</summary>
    internal void UninstallAll()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var slot in _profile.Slots) slot.Install(null);
        }
    }
}
