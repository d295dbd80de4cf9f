using System.Runtime.CompilerServices;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Profiling;

/// <summary>
/// One (op, shape) of one engine: its profile counters and the kernel that currently runs it. Models
/// resolve their slots once, at construction, so the hot path never hashes. Calls are counted
/// exactly; cycles are measured on every call while a key is new, then on a sample of calls whose
/// period adapts so timing costs ≤ ~0.25% of the kernel's own time (<see cref="OpStats.CyclesEstimated"/>
/// says when totals are scaled up from samples).
/// Counting without a locked instruction: the first thread to call a slot becomes its owner and counts
/// with a plain increment of a field no other thread writes; every other thread counts with an interlocked
/// add on a second field. Calls = owner's + shared, exact under any concurrency. A locked add costs ~5 ns
/// and waits for the kernel's pending stores to drain; the owner path is a thread-id compare and an add.
/// Because the owner's field has one writer, <see cref="Reset"/> never writes it: it records a baseline.
/// The JIT tier is installed by swapping one reference atomically, while other threads keep calling.
/// </summary>
public sealed unsafe class OpSlot
{
    /// <summary>Calls measured back to back before sampling may start.</summary>
    internal const int WarmupCalls = 32;
    /// <summary>Largest sampling period (a power of two).</summary>
    internal const int MaxSamplePeriod = 1024;
    /// <summary>Clock overhead allowed, as a fraction of the kernel's average time: 1/400 = 0.25%.</summary>
    internal const int OverheadDivisor = 400;

    /// <summary>
    /// Ticks a timed call costs beyond a counted-only one: the fenced clock pair, the counter check and the
    /// bookkeeping (interlocked adds, min/max exchange). Measured once per process on a private slot running a
    /// one-element kernel (the fastest of 7 runs of 31 timed calls against 31 untimed ones); here ~240 ticks (~115 ns),
    /// about 3 fenced clock pairs (<see cref="CycleClock.PairCostTicks"/>), because the fences also stall the code around them.
    /// </summary>
    internal static long SampleCostTicks => SampleCost.Ticks;

    private static class SampleCost
    {
        public static readonly long Ticks = Measure();

        private static long Measure()
        {
            // The path an engine's slot takes with profiling on, no trace, no counters; no promotion (too few calls to ask).
            var state = new ProfilerState(new EngineOptions { JitEnabled = false }, new NoHardwareCounters("calibration"), promotion: null);
            var slot = new OpSlot(engine: null, state, new OpKey(OpKind.Relu, OpShape.Vector(1)));
            float x = 1;
            KernelArgs a = default;
            a.A = &x; a.C = &x;
            const int Burst = WarmupCalls - 1;
            long best = long.MaxValue;
            for (int r = 0; r < 8; r++)
            {
                slot.Reset();
                long t0 = CycleClock.Read();
                for (int i = 0; i < Burst; i++) slot.Invoke(&a); // all timed: a reset slot is in its warm-up
                long t1 = CycleClock.Read();
                for (int i = 0; i < Burst; i++) slot.Run(&a);
                long t2 = CycleClock.Read();
                if (r > 0) best = Math.Min(best, ((t1 - t0) - (t2 - t1)) / Burst); // run 0 warms the code up
            }
            return Math.Max(2 * CycleClock.PairCostTicks, best);
        }
    }

    private readonly NeuralEngine? _engine;
    private readonly ProfilerState _state;
    private readonly delegate*<in OpShape, KernelArgs*, void> _managed;
    private readonly OpShape _shape;
    private JitKernel? _jit;

    // Counters: 'calls' is exact; the rest cover the measured calls only.
    private long _ownerCalls;   // written only by the owner thread (plain increments)
    private long _ownerBase;    // _ownerCalls at the last Reset
    private long _sharedCalls;  // every other thread: interlocked
    private int _owner;         // managed thread id of the owner, 0 until the first call
    private long _measuredCalls;
    private long _measuredTicks;
    private long _minTicks = long.MaxValue;
    private long _maxTicks;
    private long _cacheMisses;
    private long _tlbMisses;
    private long _counterReads;
    private long _outlierCalls;
    private int _coldCallSeen;  // 1 once the first timed call (which compiles the managed kernel) has been set aside
    private long _sampleMask; // period − 1
    private int _promotionState; // 0 none, 1 requested
    private long _nextPromotionCheck; // call count before which MaybePromote does not ask again
    // The counters' values when the current kernel was installed (0 after a Reset, which the kernel survives): a key
    // promoted mid-run reports what its calls cost now beside the totals that mix both tiers.
    private long _tierCallsBase;
    private long _tierMeasuredBase;
    private long _tierTicksBase;

    /// <summary>A slot of <paramref name="engine"/> (null only for the profiler's calibration), reading <paramref name="state"/> on its calls.</summary>
    internal OpSlot(NeuralEngine? engine, ProfilerState state, OpKey key)
    {
        _engine = engine;
        _state = state;
        Key = key;
        _shape = key.Shape;
        _managed = ManagedKernels.Get(key.Op, KernelTier.ManagedSimd);
        TraceId = state.NextSlotId();
    }

    /// <summary>This slot's number in trace events (unique within its engine).</summary>
    internal int TraceId { get; }

    public OpKey Key { get; }
    public NeuralEngine Engine => _engine ?? throw new InvalidOperationException("The profiler's calibration slot belongs to no engine.");

    /// <summary>The JIT kernel running this slot, or null on the managed tier.</summary>
    public JitKernel? JitKernel => Volatile.Read(ref _jit);
    public KernelTier Tier => JitKernel is null ? KernelTier.ManagedSimd : KernelTier.Jit;
    /// <summary>True once the profile asked the JIT for this key.</summary>
    public bool PromotionRequested => Volatile.Read(ref _promotionState) != 0;

    /// <summary>Runs the current kernel for this slot's shape, profiling the call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Invoke(KernelArgs* args)
    {
        if (_state.ActiveTrace is { } trace) { InvokeTraced(trace, args); return; } // null unless Start-NeuralTrace: one predictable branch
        if (!_state.Options.ProfilingEnabled) { Run(args); return; }
        long n = CountCall();
        if ((n & Volatile.Read(ref _sampleMask)) != 0) { Run(args); return; }
        InvokeMeasured(args, n);
    }

    /// <summary>Counts one call exactly: a plain add on the owner thread, an interlocked add on any other.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long CountCall() => _owner == Environment.CurrentManagedThreadId ? ++_ownerCalls : CountShared();

    /// <summary>The first caller claims the slot (then counts as owner); every other thread counts atomically.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private long CountShared()
    {
        int me = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref _owner) == 0 && Interlocked.CompareExchange(ref _owner, me, 0) == 0) return ++_ownerCalls;
        return Interlocked.Increment(ref _sharedCalls);
    }

    /// <summary>Runs the current kernel without touching the profile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Run(KernelArgs* args) => RunWith(Volatile.Read(ref _jit), args);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RunWith(JitKernel? jit, KernelArgs* args)
    {
        if (jit is null) _managed(in _shape, args);
        else if (jit.SuppressGcTransition) ((delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)jit.Entry)(args);
        else ((delegate* unmanaged<KernelArgs*, void>)jit.Entry)(args);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void InvokeMeasured(KernelArgs* args, long n)
    {
        var counters = _state.Counters;
        ulong c0 = 0, t0miss = 0;
        bool haveCounters = counters.IsAvailable && counters.TryRead(out c0, out t0miss);
        long t0 = CycleClock.Read();
        Run(args);
        long t1 = CycleClock.ReadEnd();
        if (haveCounters && counters.TryRead(out ulong c1, out ulong t1miss))
        {
            Interlocked.Add(ref _cacheMisses, (long)(c1 - c0));
            Interlocked.Add(ref _tlbMisses, (long)(t1miss - t0miss));
            Interlocked.Increment(ref _counterReads);
        }
        long ticks = Math.Max(0, t1 - t0 - CycleClock.ReadOverheadTicks);
        Record(ticks);
        MaybePromote(n, _jit);
    }

    /// <summary>A timed call this many times slower than the key's fastest (and over <see cref="OutlierFloorTicks"/>) was interrupted, not slow.</summary>
    internal const int OutlierFactor = 256;
    /// <summary>50 µs: above a scheduler interrupt or a page fault, below a time slice.</summary>
    internal static readonly long OutlierFloorTicks = (long)(50e-6 * CycleClock.Frequency);
    /// <summary>While a trace records: time every call, record it in the trace, and count it in the profile as a measured call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void InvokeTraced(TraceRecorder trace, KernelArgs* args)
    {
        var jit = Volatile.Read(ref _jit); // one read: the trace names the tier that really ran
        long t0 = CycleClock.Read();
        RunWith(jit, args);
        long t1 = CycleClock.ReadEnd();
        long ticks = Math.Max(0, t1 - t0 - CycleClock.ReadOverheadTicks);
        trace.Record(TraceId, jit, t0, ticks);
        if (_state.Options.ProfilingEnabled)
        {
            long n = CountCall();
            Record(ticks);
            MaybePromote(n, jit);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Record(long ticks)
    {
        long cur;
        // A sample scaled up by the period stands for many calls, so one call that measured something else than the
        // kernel would outweigh every other key: the slot's very first call (it JIT-compiles the managed kernel: ~ms)
        // and, past the warm-up, a call > 256× the fastest and > 50 µs (preempted on a loaded machine). Those are
        // counted as outliers and left out of the totals (they still show in MaxCycles); the calls they stand for
        // are estimated from the clean samples.
        bool cold = Volatile.Read(ref _coldCallSeen) == 0 && Interlocked.Exchange(ref _coldCallSeen, 1) == 0;
        if (cold || (Volatile.Read(ref _measuredCalls) >= WarmupCalls && ticks > OutlierFloorTicks && ticks / OutlierFactor > Volatile.Read(ref _minTicks)))
        {
            Interlocked.Increment(ref _outlierCalls);
            while (ticks > (cur = Volatile.Read(ref _maxTicks)) && Interlocked.CompareExchange(ref _maxTicks, ticks, cur) != cur) { }
            return;
        }
        long measured = Interlocked.Increment(ref _measuredCalls);
        Interlocked.Add(ref _measuredTicks, ticks);
        while (ticks < (cur = Volatile.Read(ref _minTicks)) && Interlocked.CompareExchange(ref _minTicks, ticks, cur) != cur) { }
        while (ticks > (cur = Volatile.Read(ref _maxTicks)) && Interlocked.CompareExchange(ref _maxTicks, ticks, cur) != cur) { }
        if (measured - Volatile.Read(ref _tierMeasuredBase) < WarmupCalls) return;
        // Period so that what a timed call adds (SampleCostTicks) stays under 1/OverheadDivisor of the kernel's time.
        // The kernel's time is its fastest measured call: unlike the mean, a preempted call cannot shrink the period
        // (a 10 ms preemption among 32 samples would otherwise make every call timed), and it is the conservative side.
        long fastest = Math.Max(1, Volatile.Read(ref _minTicks));
        double wanted = SampleCostTicks * (double)OverheadDivisor / fastest;
        long period = 1;
        while (period < wanted && period < MaxSamplePeriod) period <<= 1;
        Volatile.Write(ref _sampleMask, period - 1);
    }

    /// <summary>
    /// Installs a JIT kernel (or null to go back to managed); atomic with respect to callers. A new kernel starts the
    /// current tier's counters (<see cref="OpStats.TierCalls"/>) and its own warm-up of timed calls, so its average is
    /// known after a few calls even where the managed tier's calls were sampled 1 in 1,024; a call running across the
    /// swap may count on either side.
    /// </summary>
    public void Install(JitKernel? kernel)
    {
        if (ReferenceEquals(Interlocked.Exchange(ref _jit, kernel), kernel)) return;
        Volatile.Write(ref _tierCallsBase, Calls());
        Volatile.Write(ref _tierMeasuredBase, Volatile.Read(ref _measuredCalls));
        Volatile.Write(ref _tierTicksBase, Volatile.Read(ref _measuredTicks));
        Volatile.Write(ref _sampleMask, 0); // the new tier's first WarmupCalls calls are timed, as a new key's are
    }

    /// <summary>Calls since the last <see cref="Reset"/>.</summary>
    private long Calls()
    {
        long ownerBase = Volatile.Read(ref _ownerBase); // first: a baseline is a past value of _ownerCalls, so the difference is never negative
        return Volatile.Read(ref _ownerCalls) - ownerBase + Volatile.Read(ref _sharedCalls);
    }

    /// <summary>
    /// From a measured call: asks the engine whether this key is now a JIT candidate. Computing the share reads every
    /// slot of the table, so a key that was not a candidate is asked again only after another quarter of its calls
    /// (at least CallThreshold more): its share moves slowly, and the measured path stays cheap.
    /// </summary>
    private void MaybePromote(long n, JitKernel? installed)
    {
        long threshold = _state.Options.CallThreshold;
        if (n < threshold || n < Volatile.Read(ref _nextPromotionCheck) || installed is not null || Volatile.Read(ref _promotionState) != 0) return;
        Volatile.Write(ref _nextPromotionCheck, n + Math.Max(threshold, n / 4));
        _state.Promotion?.Consider(this);
    }

    /// <summary>Slots that run beside this one in every step of a model layer (<see cref="NeuralEngine.PromoteTogether"/>).</summary>
    internal OpSlot[] Companions = Array.Empty<OpSlot>();

    internal bool TryMarkPromotionRequested() => Interlocked.CompareExchange(ref _promotionState, 1, 0) == 0;
    internal void ClearPromotionRequest() => Volatile.Write(ref _promotionState, 0);

    /// <summary>Zeroes the counters (the installed kernel stays).</summary>
    public void Reset()
    {
        Volatile.Write(ref _ownerBase, Volatile.Read(ref _ownerCalls));
        Volatile.Write(ref _sharedCalls, 0);
        Volatile.Write(ref _nextPromotionCheck, 0);
        Volatile.Write(ref _measuredCalls, 0);
        Volatile.Write(ref _measuredTicks, 0);
        Volatile.Write(ref _minTicks, long.MaxValue);
        Volatile.Write(ref _maxTicks, 0);
        Volatile.Write(ref _cacheMisses, 0);
        Volatile.Write(ref _tlbMisses, 0);
        Volatile.Write(ref _counterReads, 0);
        Volatile.Write(ref _outlierCalls, 0);
        Volatile.Write(ref _sampleMask, 0);
        Volatile.Write(ref _tierCallsBase, 0);
        Volatile.Write(ref _tierMeasuredBase, 0);
        Volatile.Write(ref _tierTicksBase, 0);
    }

    /// <summary>A consistent-enough copy of the counters for reporting.</summary>
    public OpStats Snapshot()
    {
        long calls = Calls();
        long measured = Volatile.Read(ref _measuredCalls);
        long ticks = Volatile.Read(ref _measuredTicks);
        long reads = Volatile.Read(ref _counterReads);
        long min = Volatile.Read(ref _minTicks);
        return new OpStats(
            Key, calls, measured,
            TotalCycles: measured == 0 ? 0 : measured >= calls ? ticks : (long)Math.Round((double)ticks * calls / measured),
            MinCycles: min == long.MaxValue ? 0 : min,
            MaxCycles: Volatile.Read(ref _maxTicks),
            CacheMisses: reads > 0 ? Volatile.Read(ref _cacheMisses) : null,
            TlbMisses: reads > 0 ? Volatile.Read(ref _tlbMisses) : null,
            CounterCalls: reads,
            Tier: Tier)
        {
            MeasuredCycles = ticks, OutlierCalls = Volatile.Read(ref _outlierCalls),
            // A Reset racing an Install can leave a base above the counters: the tier then counts from zero.
            TierCalls = Math.Clamp(calls - Volatile.Read(ref _tierCallsBase), 0, calls),
            TierMeasuredCalls = Math.Clamp(measured - Volatile.Read(ref _tierMeasuredBase), 0, measured),
            TierMeasuredCycles = Math.Clamp(ticks - Volatile.Read(ref _tierTicksBase), 0, ticks),
        };
    }

    public override string ToString() => Key.ToString();
}

/// <summary>
/// The counters of one key at one moment. <see cref="TotalCycles"/> is measured when every call was
/// timed, else scaled from the <see cref="MeasuredCalls"/> sample (<see cref="CyclesEstimated"/>).
/// Cache and TLB misses are sums over the <see cref="CounterCalls"/> calls that read hardware counters, or null.
/// </summary>
public sealed record OpStats(OpKey Key, long Calls, long MeasuredCalls, long TotalCycles, long MinCycles, long MaxCycles,
    long? CacheMisses, long? TlbMisses, long CounterCalls, KernelTier Tier)
{
    public bool CyclesEstimated => MeasuredCalls < Calls;
    /// <summary>Cycles of the <see cref="MeasuredCalls"/> timed calls, before scaling to <see cref="Calls"/>.</summary>
    public long MeasuredCycles { get; init; }
    /// <summary>
    /// Timed calls left out of the totals: the key's first call (it compiles the managed kernel) and calls ≥ 256× the
    /// fastest and ≥ 50 µs (preemption, not the kernel). <see cref="MaxCycles"/> still includes them.
    /// </summary>
    public long OutlierCalls { get; init; }
    public double AvgCycles => Calls == 0 ? 0 : (double)TotalCycles / Calls;
    /// <summary>Calls run by the kernel installed now (<see cref="Tier"/>), since it was installed or since the last reset if later.</summary>
    public long TierCalls { get; init; }
    /// <summary>Timed calls among <see cref="TierCalls"/>.</summary>
    public long TierMeasuredCalls { get; init; }
    /// <summary>Cycles of the <see cref="TierMeasuredCalls"/>.</summary>
    public long TierMeasuredCycles { get; init; }
    /// <summary>What a call of the current tier costs on average, or null before one of its calls was timed.</summary>
    public double? TierAvgCycles => TierMeasuredCalls == 0 ? null : (double)TierMeasuredCycles / TierMeasuredCalls;
    public double CyclesPerElement => Key.Elements == 0 ? 0 : AvgCycles / Key.Elements;
}
