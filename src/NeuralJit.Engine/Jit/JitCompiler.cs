using System.Collections.Concurrent;
using System.Diagnostics;
using NeuralJit.Ops;

namespace NeuralJit.Jit;

/// <summary>
/// An engine's JIT compiler, a service: (op, shape, ISA) → <see cref="JitKernel"/> or a <see cref="JitFailure"/>, through
/// the op's emitter (<see cref="KernelEmitters"/>), Iced, and the engine's <see cref="CodeCache"/>. Kernels are cached
/// by (op, shape, ISA) with hit/miss/build counters (LIBXSMM's dispatch in miniature). It knows no slot: promotion
/// and installing are <see cref="TierPromotion"/>'s. The ISA is fixed at the
/// first compile (oneDNN's max-ISA rule): later cap changes are refused, explicit per-call ISAs are not.
/// Anything that cannot be compiled — no emitter, unsupported shape, full cache, no executable memory —
/// leaves the key on the managed tier with a typed <see cref="JitFailure"/> (<see cref="WhyManaged"/>; resource failures also in <see cref="Warnings"/>).
/// </summary>
public sealed class JitCompiler : IDisposable
{
    private static readonly Lazy<Task> s_warmUp = new(() => Task.Run(WarmUpNow));

    private readonly EngineOptions _options;
    private readonly Action<TieringEvent> _raise;
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<(OpKey, JitIsa), JitKernel> _kernels = new();
    private readonly ConcurrentDictionary<OpKey, JitFailure> _managedReasons = new();
    private readonly ConcurrentQueue<string> _warnings = new();
    private CodeCache? _cache;
    private JitFailure? _cacheUnavailable;
    private JitIsa? _fixedIsa;
    private bool _disposed;
    private long _hits, _misses, _builds, _failures;

    internal JitCompiler(EngineOptions options, Action<TieringEvent> raise)
    {
        _options = options;
        _raise = raise;
    }

    /// <summary>Maps the code cache (tests substitute one that fails like an OS that refuses executable memory).</summary>
    internal Func<int, CodeCache> CacheFactory { get; set; } = bytes => new CodeCache(bytes);

    /// <summary>
    /// Kernels with more work than this run with the GC transition (a GC can then suspend the thread while they run);
    /// shorter ones skip it (~70 instead of ~200 TSC ticks per call), which only delays a GC by their runtime.
    /// 65,536 elements is ~10 µs of streaming work.
    /// </summary>
    public const long SuppressGcTransitionMaxElements = 1 << 16;

    private EngineOptions Options => _options;

    /// <summary>The ISA promotions compile for: fixed at the first compile, until then what the cap allows.</summary>
    public JitIsa Isa => _fixedIsa ?? CpuFeatures.Effective(Options.IsaCap);
    /// <summary>True once the first kernel fixed <see cref="Isa"/>.</summary>
    public bool IsaFixed => _fixedIsa is not null;

    /// <summary>The code cache, or null before the first compile.</summary>
    public CodeCache? Cache => _cache;
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);
    public long Builds => Interlocked.Read(ref _builds);
    public long Failures => Interlocked.Read(ref _failures);
    /// <summary>Every kernel this engine compiled (all ISAs).</summary>
    public IReadOnlyList<JitKernel> Kernels => _kernels.Values.OrderBy(k => k.Key.Op).ThenBy(k => k.Key.Dims, StringComparer.Ordinal).ThenBy(k => k.Isa).ToList();

    /// <summary>Warnings for the caller (cache full, no executable memory, …), oldest first; at most 64 kept.</summary>
    public IReadOnlyList<string> Warnings => _warnings.ToArray();

    /// <summary>Why a key stays on the managed tier after a compile was attempted, or null.</summary>
    public JitFailure? WhyManaged(OpKey key) => _managedReasons.TryGetValue(key, out var r) ? r : null;

    /// <summary>The kernel already compiled for (key, isa), or null. Counts nothing.</summary>
    public JitKernel? Find(OpKey key, JitIsa? isa = null) => _kernels.TryGetValue((key, isa ?? Isa), out var k) ? k : null;

    /// <summary>Sets the ISA cap; refused (false, with the reason) once the first kernel fixed the ISA.</summary>
    public bool TrySetIsaCap(JitIsa? cap, out string? reason)
    {
        lock (_gate)
        {
            if (_fixedIsa is { } isa && CpuFeatures.Effective(cap) != isa)
            {
                reason = $"The JIT ISA was fixed at {isa} by the first compile; create a new engine (or restart the session) to change it. Explicit compiles may still pass -Isa.";
                return false;
            }
            Options.IsaCap = cap;
            reason = null;
            return true;
        }
    }

    /// <summary>Sets the cache size; refused once the cache is mapped (kernels in it may be running).</summary>
    public bool TrySetCodeCacheBytes(int bytes, out string? reason)
    {
        lock (_gate)
        {
            if (bytes < 4096) { reason = "The code cache needs at least 4096 bytes."; return false; }
            if (_cache is not null && bytes != Options.CodeCacheBytes)
            {
                reason = $"The code cache is already mapped with {_cache.CapacityBytes} bytes; the size applies to new engines (or after restarting the session).";
                return false;
            }
            Options.CodeCacheBytes = bytes;
            reason = null;
            return true;
        }
    }

    /// <summary>Compiles (or finds) the kernel; throws <see cref="JitCompilationException"/> with the reason when it cannot.</summary>
    public JitKernel Compile(OpKey key, JitIsa? isa = null) =>
        TryCompile(key, isa, out var kernel, out var failure) ? kernel! : throw new JitCompilationException(key, isa ?? Isa, failure!);

    /// <summary>Compiles (or finds in the kernel cache) the kernel for (key, isa). Never throws for expected failures.</summary>
    public bool TryCompile(OpKey key, JitIsa? isa, out JitKernel? kernel, out JitFailure? failure)
    {
        var target = isa ?? FixIsa();
        if (_kernels.TryGetValue((key, target), out kernel)) { Interlocked.Increment(ref _hits); failure = null; return true; }
        Interlocked.Increment(ref _misses);
        lock (_gate)
        {
            if (_kernels.TryGetValue((key, target), out kernel)) { failure = null; return true; }
            failure = Build(key, target, out kernel);
            if (kernel is null)
            {
                Interlocked.Increment(ref _failures);
                _managedReasons[key] = failure!;
                return false;
            }
            _kernels[(key, target)] = kernel;
            _managedReasons.TryRemove(key, out _);
            Interlocked.Increment(ref _builds);
            return true;
        }
    }

    private JitIsa FixIsa()
    {
        lock (_gate) return _fixedIsa ??= CpuFeatures.Effective(Options.IsaCap);
    }

    /// <summary>
    /// Why <paramref name="key"/> cannot be compiled for <paramref name="isa"/> (the engine's ISA when null) whatever the
    /// code cache holds, or null: the checks a compile makes before it emits, for a caller that must not announce a
    /// compile that cannot happen (-WhatIf). Fixes nothing, compiles nothing.
    /// </summary>
    public JitFailure? CannotCompile(OpKey key, JitIsa? isa = null) => CannotEmit(key, isa ?? Isa, out _);

    private static JitFailure? CannotEmit(OpKey key, JitIsa isa, out IKernelEmitter? emitter)
    {
        emitter = null;
        if (!CpuFeatures.CanRun(isa)) return JitFailure.IsaUnavailable(isa);
        emitter = Enum.IsDefined(key.Op) ? KernelEmitters.For(key.Op) : null;
        if (emitter is null) return JitFailure.NoEmitter(key.Op);
        if (key.Spec.Invalid(key.Shape) is { } invalid) return new(JitFailureKind.InvalidDims, invalid);
        if (emitter.CannotEmit(key, isa) is { } why) return new(JitFailureKind.UnsupportedShape, why);
        return null;
    }

    // Called under _gate.
    private JitFailure? Build(OpKey key, JitIsa isa, out JitKernel? kernel)
    {
        kernel = null;
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (CannotEmit(key, isa, out var emitter) is { } cannot) return cannot;
        if (_cacheUnavailable is not null) return _cacheUnavailable;
        if (_cache is null)
        {
            try { _cache = CacheFactory(Options.CodeCacheBytes); }
            catch (Exception e) when (e is ExecutableMemoryException or DllNotFoundException or EntryPointNotFoundException)
            {
                _cacheUnavailable = new(JitFailureKind.NoExecutableMemory, $"no executable memory, the managed tier stays in use ({e.Message})");
                Warn(key, _cacheUnavailable.Message);
                return _cacheUnavailable;
            }
        }

        long t0 = Stopwatch.GetTimestamp();
        var k = new KernelAssembler(isa);
        emitter!.Emit(k, key);
        var assembled = k.Finish();
        long t1 = Stopwatch.GetTimestamp();
        if (!_cache.TryInstall(assembled, out nint entry, out var failure))
        {
            Warn(key, $"{key} ({isa}): {failure!.Message}; it stays on the managed tier.");
            return failure;
        }
        long t2 = Stopwatch.GetTimestamp();
        kernel = new JitKernel(key, isa, entry, assembled.Bytes.AsSpan(assembled.EntryOffset).ToArray(),
            (t2 - t0) * 1e6 / Stopwatch.Frequency, suppressGcTransition: key.Elements <= SuppressGcTransitionMaxElements)
        {
            ConstantPoolBytes = assembled.EntryOffset,
            InstallMicroseconds = (t2 - t1) * 1e6 / Stopwatch.Frequency,
        };
        return null;
    }

    private void Warn(OpKey key, string message)
    {
        _warnings.Enqueue(message);
        while (_warnings.Count > 64) _warnings.TryDequeue(out _);
        _raise(new TieringEvent(TieringEventKind.Warning, key, message));
    }

    /// <summary>Starts the one-per-process warm-up of Iced (its first use costs ~50 ms of .NET JIT) on a pool thread.</summary>
    public static Task WarmUpInBackground() => s_warmUp.Value;

    /// <summary>
    /// Assembles (never installs) ~40 throwaway kernels over both ISAs and the emitters' common paths: enough
    /// calls (≥ 30 per method) for tiered compilation to promote Iced's encoder and our emitters to optimised
    /// code, so neither the first promotion nor later ones pay for .NET's JIT of Iced. A few ms on a pool thread.
    /// </summary>
    private static void WarmUpNow()
    {
        try
        {
            var keys = new[]
            {
                new OpKey(OpKind.Tanh, OpShape.Vector(37)), new OpKey(OpKind.Sigmoid, OpShape.Vector(100)),
                new OpKey(OpKind.Softmax, OpShape.Vector(45)), new OpKey(OpKind.DncContent, OpShape.Matrix(5, 19)),
                new OpKey(OpKind.EwcPenalty, OpShape.Vector(600)), new OpKey(OpKind.Dot, OpShape.Vector(21)),
                new OpKey(OpKind.Add, OpShape.Vector(9)),
                // The matrix emitters too, so a promoted GEMM or LSTM step is not emitted by cold (tier-0) code.
                new OpKey(OpKind.Gemm, OpShape.ForGemm(5, 7, 9)), new OpKey(OpKind.Gemv, OpShape.Matrix(6, 11)),
                new OpKey(OpKind.Dense, OpShape.Matrix(6, 11)), new OpKey(OpKind.LstmCell, OpShape.Vector(5)),
                new OpKey(OpKind.LstmGates, new OpShape(16, 3, 4)), new OpKey(OpKind.LstmStep, new OpShape(16, 3, 4)),
                new OpKey(OpKind.LstmStep, new OpShape(16, 210, 4)),
                // The DNC step's emitters, which its slots promote together.
                new OpKey(OpKind.DncInterface, new OpShape(2, 9)), new OpKey(OpKind.DncUsage, new OpShape(19, 2)),
                new OpKey(OpKind.DncAllocation, OpShape.Vector(19)), new OpKey(OpKind.DncWriteWeighting, OpShape.Vector(19)),
                new OpKey(OpKind.DncWriteContent, new OpShape(19, 9, 2)), new OpKey(OpKind.DncLinkTemporal, new OpShape(19, 2)),
                new OpKey(OpKind.DncReadWeighting, new OpShape(19, 2)), new OpKey(OpKind.DncRead, new OpShape(19, 9, 2)),
            };
            for (int round = 0; round < 3; round++)
                foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 })
                    foreach (var key in keys)
                    {
                        var k = new KernelAssembler(isa);
                        KernelEmitters.For(key.Op)?.Emit(k, key);
                        k.Finish();
                    }
        }
        catch (Exception e)
        {
            Trace.WriteLine($"NeuralJit: JIT warm-up failed: {e.Message}");
        }
    }

    /// <summary>Unmaps the code cache: the engine has put every slot back on the managed tier first.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _cache?.Dispose();
        }
    }
}

/// <summary>A kernel could not be compiled; the key stays on the managed tier.</summary>
public sealed class JitCompilationException(OpKey key, JitIsa isa, JitFailure failure)
    : Exception($"{key} ({isa}) was not compiled: {failure.Message}")
{
    public OpKey Key { get; } = key;
    public JitIsa Isa { get; } = isa;
    public JitFailure Failure { get; } = failure;
    public string Reason => Failure.Message;
}
