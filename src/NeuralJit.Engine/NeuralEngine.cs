using NeuralJit.Jit;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit;

/// <summary>
/// The engine as an object: it owns its profile table, its JIT tier and code cache, and its options.
/// The cmdlets share <see cref="Default"/> (what users see, in every runspace of the process); tests
/// create their own so they run side by side without touching each other. Disposing releases the
/// executable memory.
/// </summary>
public sealed class NeuralEngine : IDisposable
{
    private static readonly object s_defaultGate = new();
    private static NeuralEngine? s_default;
    private bool _disposed;

    public NeuralEngine(EngineOptions? options = null, IHardwareCounterSource? counters = null, ProfileTable? table = null)
    {
        Options = options ?? new EngineOptions();
        Profile = table ?? new ProfileTable();
        Counters = counters ?? DefaultCounters.Value;
        Jit = new JitCompiler(Options, RaiseTiering);
        Promotion = new TierPromotion(Options, Profile, Jit, RaiseTiering, () => ActiveTrace);
        Profiler = new ProfilerState(Options, Counters, Promotion);
        // Iced costs ~50 ms on its first use in a process: pay it on a pool thread, not on a hot path.
        if (Options.JitEnabled) JitCompiler.WarmUpInBackground();
        // The managed kernels' optimised code likewise, once per process, so a fresh session's first step does not compile it.
        Models.ManagedTierWarmUp.StartInBackground();
    }

    /// <summary>The process-wide engine the cmdlets use.</summary>
    public static NeuralEngine Default
    {
        get
        {
            var e = Volatile.Read(ref s_default);
            if (e is not null) return e;
            lock (s_defaultGate) return s_default ??= new NeuralEngine();
        }
    }

    /// <summary>
    /// Starts, once per process and on a pool thread, what a first step would otherwise pay: the profiler's clock and the
    /// managed kernels' optimised code. Every engine does this when made; the module calls it on import, earlier.
    /// </summary>
    public static void WarmUpInBackground() => Models.ManagedTierWarmUp.StartInBackground();

    /// <summary>True once <see cref="Default"/> has been created (module removal disposes it only then).</summary>
    public static bool DefaultCreated => Volatile.Read(ref s_default) is not null;

    /// <summary>
    /// Disposes the default engine (its code cache is unmapped) so the next use of <see cref="Default"/> starts a new one.
    /// The module calls this when its last import is removed; the caller must be sure no pipeline still runs kernels.
    /// </summary>
    public static void ResetDefault()
    {
        NeuralEngine? old;
        lock (s_defaultGate) { old = s_default; s_default = null; }
        old?.Dispose();
    }

    private static readonly Lazy<IHardwareCounterSource> DefaultCounters = new(() =>
    {
        var perf = new PerfEventCounters();
        return perf.IsAvailable ? perf : new NoHardwareCounters(perf.Status);
    });

    public EngineOptions Options { get; }
    public ProfileTable Profile { get; }
    public IHardwareCounterSource Counters { get; }
    public bool ProfilingEnabled => Options.ProfilingEnabled;

    /// <summary>The JIT compiler: kernel cache and code cache (list kernels, compile on demand).</summary>
    public JitCompiler Jit { get; }
    /// <summary>Tier-up: which keys get compiled, and installing kernels into slots.</summary>
    public TierPromotion Promotion { get; }
    /// <summary>What this engine's slots read on their calls.</summary>
    internal ProfilerState Profiler { get; }

    /// <summary>The recorder calls write to, or null when no trace is recording (the slots' only extra check).</summary>
    internal TraceRecorder? ActiveTrace { get => Profiler.ActiveTrace; private set => Profiler.ActiveTrace = value; }
    private readonly object _traceGate = new();

    /// <summary>The trace recording now, or the last one stopped (kept for export); null if none was started.</summary>
    public TraceRecorder? Trace { get; private set; }
    public bool TraceRecording => ActiveTrace is not null;

    /// <summary>Starts recording every call into a new ring buffer of <paramref name="capacity"/> events.</summary>
    /// <exception cref="InvalidOperationException">A trace is already recording.</exception>
    public TraceRecorder StartTrace(int capacity = TraceRecorder.DefaultCapacity)
    {
        lock (_traceGate)
        {
            if (ActiveTrace is not null) throw new InvalidOperationException("A trace is already recording.");
            var trace = new TraceRecorder(capacity);
            Trace = trace;
            ActiveTrace = trace;
            return trace;
        }
    }

    /// <summary>Stops recording; the trace stays available in <see cref="Trace"/>. Returns null when none was recording.</summary>
    public TraceRecorder? StopTrace()
    {
        lock (_traceGate)
        {
            var trace = ActiveTrace;
            if (trace is null) return null;
            ActiveTrace = null;
            trace.StoppedUtc = DateTime.UtcNow;
            return trace;
        }
    }

    /// <summary>The events of <paramref name="trace"/> with their keys and span names resolved, oldest first (a copy).</summary>
    public IReadOnlyList<TraceEvent> TraceEvents(TraceRecorder trace) => ReadTrace(trace).ToList();

    /// <summary>The events of <paramref name="trace"/>, oldest first, read lazily from its ring buffer (what an export streams).</summary>
    public IEnumerable<TraceEvent> ReadTrace(TraceRecorder trace)
    {
        var keys = new Dictionary<int, OpKey>();
        foreach (var s in Profile.Slots) keys[s.TraceId] = s.Key;
        string[] labels;
        lock (_traceLabels) labels = _traceLabels.ToArray();
        return trace.Read(keys, labels);
    }

    private readonly List<string> _traceLabels = [];
    private readonly Dictionary<string, int> _traceLabelIds = new(StringComparer.Ordinal);

    /// <summary>The id of a span label ("step", "LSTM layer 0 64→128"): models resolve theirs once, at construction.</summary>
    public int TraceLabel(string name)
    {
        lock (_traceLabels)
        {
            if (_traceLabelIds.TryGetValue(name, out int id)) return id;
            _traceLabelIds[name] = id = _traceLabels.Count;
            _traceLabels.Add(name);
            return id;
        }
    }

    /// <summary>Opens a span of label <paramref name="labelId"/> when a trace records (dispose to close); otherwise a no-op value.</summary>
    public TraceSpan BeginSpan(int labelId) => ActiveTrace is { } t ? new TraceSpan(t, t.BeginSpan(labelId)) : default;

    /// <summary>The slot for (op, shape): created on first use, shared by every model of this engine.</summary>
    public OpSlot Resolve(OpKind op, OpShape shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ValidateShape(op, shape);
        return Profile.GetOrAdd(new OpKey(op, shape), k => new OpSlot(this, Profiler, k));
    }

    /// <summary>Throws <see cref="ArgumentException"/> for sizes no kernel can run (negative, ld smaller than a row).</summary>
    public static void ValidateShape(OpKind op, OpShape s)
    {
        if (OpSpecs.For(op).Invalid(s) is { } why) throw new ArgumentOutOfRangeException(nameof(s), s, why);
    }

    /// <summary>
    /// The hotspot table: every key with its share of all profiled cycles, sorted by total cycles,
    /// descending. A key is a Candidate once it has CallThreshold calls and ShareThreshold of the cycles.
    /// </summary>
    public IReadOnlyList<HotspotRecord> GetHotspots()
    {
        var stats = Profile.Slots.Select(s => s.Snapshot()).Where(s => s.Calls > 0).ToList();
        double total = stats.Sum(s => (double)s.TotalCycles);
        return stats
            .OrderByDescending(s => s.TotalCycles)
            .Select(s =>
            {
                double share = total == 0 ? 0 : s.TotalCycles / total;
                var status = s.Tier == KernelTier.Jit ? HotspotStatus.Jit
                    : Promotion.IsCandidate(s.Calls, share) ? HotspotStatus.Candidate
                    : HotspotStatus.Managed;
                var kernel = status == HotspotStatus.Jit ? Profile.Find(s.Key)?.JitKernel : null;
                return new HotspotRecord
                {
                    Operation = s.Key.Op,
                    Dims = s.Key.Dims,
                    Calls = s.Calls,
                    TotalCycles = s.TotalCycles,
                    AvgCycles = s.AvgCycles,
                    MinCycles = s.MinCycles,
                    MaxCycles = s.MaxCycles,
                    Elements = s.Key.Elements,
                    CyclesPerElement = s.CyclesPerElement,
                    CacheMisses = s.CacheMisses,
                    TlbMisses = s.TlbMisses,
                    Share = share,
                    Status = status,
                    MeasuredCalls = s.MeasuredCalls,
                    OutlierCalls = s.OutlierCalls,
                    CyclesEstimated = s.CyclesEstimated,
                    AvgNanoseconds = CycleClock.TicksToNanoseconds(s.AvgCycles),
                    Tier = kernel is null ? HotspotTier.Managed : (HotspotTier)kernel.Isa,
                    TierCalls = s.TierCalls,
                    TierAvgCycles = s.TierAvgCycles,
                    TierAvgNanoseconds = s.TierAvgCycles is { } tierCycles ? CycleClock.TicksToNanoseconds(tierCycles) : null,
                };
            })
            .ToList();
    }

    /// <summary>
    /// Each tiering step (promotion, compile, install, refusal, warning) as it happens, on the thread it happens on
    /// (background compiles included). Handlers must be quick, must not throw and must not wait for another thread
    /// (they run under a lock); cmdlets queue the events and write them to their verbose and warning streams on the
    /// pipeline thread. A warning raised while nobody listens (a background compile that ends between two cmdlets)
    /// is kept, up to <see cref="UnheardWarningsKept"/>, and goes to the next handler that subscribes.
    /// </summary>
    public event Action<TieringEvent>? Tiering
    {
        add
        {
            if (value is null) return;
            lock (_tieringGate)
            {
                _tiering += value;
                while (_unheardWarnings.TryDequeue(out var w)) Deliver(value, w);
            }
        }
        remove { lock (_tieringGate) _tiering -= value; }
    }

    /// <summary>How many warnings nobody has heard yet the engine keeps for the next <see cref="Tiering"/> handler.</summary>
    public const int UnheardWarningsKept = 64;

    private readonly object _tieringGate = new();
    private readonly Queue<TieringEvent> _unheardWarnings = new();
    private Action<TieringEvent>? _tiering;

    internal void RaiseTiering(TieringEvent e)
    {
        // Under the gate, so a handler that unsubscribes (a cmdlet that ends) either got the event or left it kept.
        lock (_tieringGate)
        {
            if (_tiering is { } handlers) Deliver(handlers, e);
            else if (e.Kind == TieringEventKind.Warning) KeepUnheard(e);
        }
    }

    /// <summary>Gives back warnings a handler received but never showed (a cmdlet stopped before it wrote them).</summary>
    public void ReturnUnheard(IEnumerable<TieringEvent> warnings)
    {
        foreach (var w in warnings)
            if (w.Kind == TieringEventKind.Warning) RaiseTiering(w);
    }

    private void KeepUnheard(TieringEvent e)
    {
        _unheardWarnings.Enqueue(e);
        while (_unheardWarnings.Count > UnheardWarningsKept) _unheardWarnings.Dequeue();
    }

    private static void Deliver(Action<TieringEvent> handlers, TieringEvent e)
    {
        // A faulty subscriber must not stop a compile or a promotion.
        try { handlers(e); }
        catch (Exception ex) { System.Diagnostics.Trace.WriteLine($"NeuralJit: a Tiering handler threw: {ex.Message}"); }
    }

    /// <summary>
    /// Declares slots that run together once per step (a DNC memory's ten ops; a network's LSTM layers, memory and
    /// head): when the profile promotes any of them, <see cref="TierPromotion"/> compiles the others too. The cheap ones
    /// (usage, gates, weightings, the head: well under 1% each) never reach ShareThreshold alone, yet each is a managed
    /// call in every step; once the step's hot op is compiled, compiling them costs tens of µs once.
    /// </summary>
    public void PromoteTogether(IReadOnlyList<OpSlot> slots)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var slot in slots)
            if (slot.Engine != this) throw new ArgumentException($"{slot.Key} belongs to another engine.", nameof(slots));
        lock (_groupGate)
        {
            // Every network built over a model declares the same group again: a known group costs only this check
            // (2–4 µs for 12 slots; merging again cost 17 µs).
            if (AreCompanions(slots)) return;
            foreach (var slot in slots)
                slot.Companions = slot.Companions.Concat(slots).Where(s => s != slot).Distinct().ToArray();
        }
    }

    /// <summary>True when each slot already has every other as a companion (the group was declared before).</summary>
    private static bool AreCompanions(IReadOnlyList<OpSlot> slots)
    {
        for (int i = 0; i < slots.Count; i++)
            for (int j = 0; j < slots.Count; j++)
                if (j != i && Array.IndexOf(slots[i].Companions, slots[j]) < 0) return false;
        return true;
    }

    private readonly object _groupGate = new();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Promotion.UninstallAll();
        Jit.Dispose();
    }
}
