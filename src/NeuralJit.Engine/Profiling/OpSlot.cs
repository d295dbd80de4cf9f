using System.Runtime.CompilerServices;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Profiling;

/// <summary>
/// One (op, shape) of one engine: its profile counters and the kernel that currently runs it. Models
/// resolve their slots once, at construction, so the hot path never hashes. Calls are counted
/// exactly (one interlocked add); cycles are measured on every call while a key is new, then on a
/// sample of calls whose period adapts so the clock costs ≤ ~0.25% of the kernel's own time
/// (<see cref="CyclesEstimated"/> says when totals are scaled up from samples).
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

    private readonly NeuralEngine _engine;
    private readonly delegate*<in OpShape, KernelArgs*, void> _managed;
    private readonly OpShape _shape;
    private JitKernel? _jit;

    // Counters: 'calls' is exact; the rest cover the measured calls only.
    private long _calls;
    private long _measuredCalls;
    private long _measuredTicks;
    private long _minTicks = long.MaxValue;
    private long _maxTicks;
    private long _cacheMisses;
    private long _tlbMisses;
    private long _counterReads;
    private long _sampleMask; // period − 1
    private int _promotionState; // 0 none, 1 requested

    internal OpSlot(NeuralEngine engine, OpKey key)
    {
        _engine = engine;
        Key = key;
        _shape = key.Shape;
        _managed = ManagedKernels.Get(key.Op, KernelTier.ManagedSimd);
        TraceId = engine.NextSlotId();
    }

    /// <summary>This slot's number in trace events (unique within its engine).</summary>
    internal int TraceId { get; }

    public OpKey Key { get; }
    public NeuralEngine Engine => _engine;

    /// <summary>The JIT kernel running this slot, or null on the managed tier.</summary>
    public JitKernel? JitKernel => Volatile.Read(ref _jit);
    public KernelTier Tier => JitKernel is null ? KernelTier.ManagedSimd : KernelTier.Jit;
    /// <summary>True when the installed kernel also performs the LSTM cell update (see <see cref="OpKind.LstmGates"/>).</summary>
    public bool FusesCell => JitKernel?.FusesCell == true;
    /// <summary>True once the profile asked the JIT for this key.</summary>
    public bool PromotionRequested => Volatile.Read(ref _promotionState) != 0;

    /// <summary>
    /// Runs the current kernel for this slot's shape, profiling the call. Returns true when the kernel
    /// that ran also performed the LSTM cell (<see cref="FusesCell"/>): callers decide from this
    /// return value, never from a separate read, because the kernel may be swapped between two reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Invoke(KernelArgs* args)
    {
        if (_engine.ActiveTrace is { } trace) return InvokeTraced(trace, args); // null unless Start-NeuralTrace: one predictable branch
        if (!_engine.ProfilingEnabled) return Run(args);
        long n = Interlocked.Increment(ref _calls);
        if ((n & Volatile.Read(ref _sampleMask)) != 0) return Run(args);
        return InvokeMeasured(args, n);
    }

    /// <summary>Runs the current kernel without touching the profile; returns what <see cref="Invoke"/> returns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Run(KernelArgs* args)
    {
        var jit = Volatile.Read(ref _jit);
        if (jit is null) { _managed(in _shape, args); return false; }
        if (jit.SuppressGcTransition) ((delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)jit.Entry)(args);
        else ((delegate* unmanaged<KernelArgs*, void>)jit.Entry)(args);
        return jit.FusesCell;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool InvokeMeasured(KernelArgs* args, long n)
    {
        var counters = _engine.Counters;
        ulong c0 = 0, t0miss = 0;
        bool haveCounters = counters.IsAvailable && counters.TryRead(out c0, out t0miss);
        long t0 = CycleClock.Read();
        bool fused = Run(args);
        long t1 = CycleClock.Read();
        if (haveCounters && counters.TryRead(out ulong c1, out ulong t1miss))
        {
            Interlocked.Add(ref _cacheMisses, (long)(c1 - c0));
            Interlocked.Add(ref _tlbMisses, (long)(t1miss - t0miss));
            Interlocked.Increment(ref _counterReads);
        }
        long ticks = Math.Max(0, t1 - t0 - CycleClock.ReadOverheadTicks);
        Record(ticks);
        if (n >= _engine.Options.CallThreshold && _jit is null && Volatile.Read(ref _promotionState) == 0)
            _engine.ConsiderPromotion(this);
        return fused;
    }

    /// <summary>While a trace records: time every call, record it in the trace, and count it in the profile as a measured call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool InvokeTraced(TraceRecorder trace, KernelArgs* args)
    {
        var jit = Volatile.Read(ref _jit);
        long t0 = CycleClock.Read();
        bool fused;
        if (jit is null) { _managed(in _shape, args); fused = false; }
        else
        {
            if (jit.SuppressGcTransition) ((delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)jit.Entry)(args);
            else ((delegate* unmanaged<KernelArgs*, void>)jit.Entry)(args);
            fused = jit.FusesCell;
        }
        long t1 = CycleClock.Read();
        long ticks = Math.Max(0, t1 - t0 - CycleClock.ReadOverheadTicks);
        trace.Record(TraceId, jit, t0, ticks);
        if (_engine.ProfilingEnabled)
        {
            long n = Interlocked.Increment(ref _calls);
            Record(ticks);
            if (n >= _engine.Options.CallThreshold && jit is null && Volatile.Read(ref _promotionState) == 0)
                _engine.ConsiderPromotion(this);
        }
        return fused;
    }

    private void Record(long ticks)
    {
        long measured = Interlocked.Increment(ref _measuredCalls);
        long total = Interlocked.Add(ref _measuredTicks, ticks);
        long cur;
        while (ticks < (cur = Volatile.Read(ref _minTicks)) && Interlocked.CompareExchange(ref _minTicks, ticks, cur) != cur) { }
        while (ticks > (cur = Volatile.Read(ref _maxTicks)) && Interlocked.CompareExchange(ref _maxTicks, ticks, cur) != cur) { }
        if (measured < WarmupCalls) return;
        // Period so that the clock's cost (≈ one empty timed region) stays under 1/OverheadDivisor of the work.
        double avg = Math.Max(1.0, (double)total / measured);
        double wanted = (CycleClock.ReadOverheadTicks + 1) * (double)OverheadDivisor / avg;
        long period = 1;
        while (period < wanted && period < MaxSamplePeriod) period <<= 1;
        Volatile.Write(ref _sampleMask, period - 1);
    }

    /// <summary>Installs a JIT kernel (or null to go back to managed); atomic with respect to callers.</summary>
    public void Install(JitKernel? kernel) => Volatile.Write(ref _jit, kernel);

    internal bool TryMarkPromotionRequested() => Interlocked.CompareExchange(ref _promotionState, 1, 0) == 0;
    internal void ClearPromotionRequest() => Volatile.Write(ref _promotionState, 0);

    /// <summary>Zeroes the counters (the installed kernel stays).</summary>
    public void Reset()
    {
        Volatile.Write(ref _calls, 0);
        Volatile.Write(ref _measuredCalls, 0);
        Volatile.Write(ref _measuredTicks, 0);
        Volatile.Write(ref _minTicks, long.MaxValue);
        Volatile.Write(ref _maxTicks, 0);
        Volatile.Write(ref _cacheMisses, 0);
        Volatile.Write(ref _tlbMisses, 0);
        Volatile.Write(ref _counterReads, 0);
        Volatile.Write(ref _sampleMask, 0);
    }

    /// <summary>A consistent-enough copy of the counters for reporting.</summary>
    public OpStats Snapshot()
    {
        long calls = Volatile.Read(ref _calls);
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
            Tier: Tier);
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
    public double AvgCycles => Calls == 0 ? 0 : (double)TotalCycles / Calls;
    public double CyclesPerElement => Key.Elements == 0 ? 0 : AvgCycles / Key.Elements;
}
