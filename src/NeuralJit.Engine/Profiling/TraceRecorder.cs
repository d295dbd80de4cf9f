using System.Runtime.InteropServices;
using System.Text.Json;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Profiling;

/// <summary>What one trace event is.</summary>
public enum TraceEventKind : short
{
    /// <summary>One profiled kernel call (a complete event named "Op Dims").</summary>
    Call,
    /// <summary>A model span (inference, step, layer) enclosing the calls made inside it.</summary>
    Span,
    /// <summary>A JIT kernel swapped into its slot (an instant event with the key, ISA and compile time).</summary>
    KernelSwap,
    /// <summary>The code cache's bytes in use (a counter event).</summary>
    CodeCacheBytes,
}

/// <summary>
/// Opt-in recording of every profiled call into a bounded ring buffer, for the Chrome trace event
/// format (Perfetto, chrome://tracing). One event is <see cref="EventBytes"/> bytes; the buffer holds
/// <see cref="Capacity"/> events (a power of two) allocated once at start, so a long run overwrites
/// the oldest events and never grows: the default 1,048,576 events take 32 MiB.
/// Besides calls it holds model spans (inference → step → layer, so calls nest inside them), JIT kernel
/// swaps and code-cache counters. Writers claim an index with one interlocked add and publish the event
/// by writing its sequence number last; a reader keeps only events whose sequence matches, so a snapshot
/// taken while calls are still being recorded never returns a half-written event.
/// A span claims its index when it begins and publishes when it ends, so the buffer is in start-time
/// order per thread and a parent precedes its children, as a trace viewer expects.
/// </summary>
public sealed class TraceRecorder
{
    /// <summary>Events kept by default (2^20).</summary>
    public const int DefaultCapacity = 1 << 20;
    /// <summary>Largest capacity accepted (2^26 events, 2 GiB).</summary>
    public const int MaxCapacity = 1 << 26;
    /// <summary>Size of one recorded event in the ring buffer.</summary>
    public static int EventBytes => Marshal.SizeOf<RawEvent>();

    [StructLayout(LayoutKind.Sequential)]
    private struct RawEvent
    {
        public long StartTicks;
        public long Value;      // Call, Span: duration in ticks; KernelSwap: compile time in ns; CodeCacheBytes: bytes
        public int Id;          // Call, KernelSwap: the slot's trace id; Span: the engine's label id
        public int ThreadId;
        public short Kind;
        public short Tier;      // 0 = managed SIMD, 1 + (int)JitIsa for JIT code
        public int Sequence;    // low 32 bits of (index + 1); written last
    }

    /// <summary>
    /// A span still open this close to being overwritten is dropped at its end rather than written: the writer
    /// that laps it could be filling the same element at that moment.
    /// </summary>
    private const long SpanLapMargin = 1024;

    private readonly RawEvent[] _events;
    private readonly int _mask;
    private long _next;

    /// <param name="capacity">Events to keep; rounded up to a power of two.</param>
    public TraceRecorder(int capacity = DefaultCapacity)
    {
        if (capacity < 1 || capacity > MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"The capacity must be between 1 and {MaxCapacity:N0} events.");
        int size = 1;
        while (size < capacity) size <<= 1;
        _events = new RawEvent[size];
        _mask = size - 1;
        StartTicks = CycleClock.Read();
        StartedUtc = DateTime.UtcNow;
    }

    /// <summary>Events the buffer keeps (a power of two).</summary>
    public int Capacity => _events.Length;
    /// <summary>Bytes of the ring buffer: <see cref="Capacity"/> × <see cref="EventBytes"/>.</summary>
    public long BufferBytes => (long)_events.Length * EventBytes;
    /// <summary>Events recorded since start, including those overwritten since.</summary>
    public long Recorded => Volatile.Read(ref _next);
    /// <summary>Events lost to wraparound (the oldest ones).</summary>
    public long Overwritten => Math.Max(0, Recorded - Capacity);
    /// <summary>Clock reading at start: event timestamps are relative to it.</summary>
    public long StartTicks { get; }
    public DateTime StartedUtc { get; }
    /// <summary>Set when recording stops; null while recording.</summary>
    public DateTime? StoppedUtc { get; internal set; }

    /// <summary>Records one call. Safe from any number of threads.</summary>
    internal void Record(int slotId, JitKernel? kernel, long startTicks, long durationTicks) =>
        Publish(ref Claim(out long index), index, TraceEventKind.Call, slotId, kernel is null ? (short)0 : (short)(1 + (int)kernel.Isa), startTicks, durationTicks);

    /// <summary>Records that <paramref name="kernel"/> was swapped into the slot with trace id <paramref name="slotId"/>.</summary>
    internal void RecordKernelSwap(int slotId, JitKernel kernel) =>
        Publish(ref Claim(out long index), index, TraceEventKind.KernelSwap, slotId, (short)(1 + (int)kernel.Isa), CycleClock.Read(), (long)Math.Round(kernel.CompileMicroseconds * 1000));

    /// <summary>Records the code cache's bytes in use now.</summary>
    internal void RecordCodeCacheBytes(long bytes) =>
        Publish(ref Claim(out long index), index, TraceEventKind.CodeCacheBytes, 0, 0, CycleClock.Read(), bytes);

    /// <summary>Opens a span labelled <paramref name="labelId"/>: claims its place now (start-time order), publishes in <see cref="EndSpan"/>.</summary>
    internal long BeginSpan(int labelId)
    {
        ref RawEvent e = ref Claim(out long index);
        e.Id = labelId;
        e.ThreadId = Environment.CurrentManagedThreadId;
        e.Kind = (short)TraceEventKind.Span;
        e.Tier = 0;
        e.Value = 0;
        e.StartTicks = CycleClock.Read();
        return index;
    }

    internal void EndSpan(long index)
    {
        long end = CycleClock.Read();
        if (Recorded - index > Capacity - Math.Min(SpanLapMargin, Capacity / 2)) return; // lapped (or about to be): its element belongs to a newer event
        ref RawEvent e = ref _events[index & _mask];
        e.Value = Math.Max(0, end - e.StartTicks);
        Volatile.Write(ref e.Sequence, unchecked((int)(index + 1)));
    }

    private ref RawEvent Claim(out long index)
    {
        index = Interlocked.Increment(ref _next) - 1;
        return ref _events[index & _mask];
    }

    private static void Publish(ref RawEvent e, long index, TraceEventKind kind, int id, short tier, long startTicks, long value)
    {
        e.StartTicks = startTicks;
        e.Value = value;
        e.Id = id;
        e.ThreadId = Environment.CurrentManagedThreadId;
        e.Kind = (short)kind;
        e.Tier = tier;
        Volatile.Write(ref e.Sequence, unchecked((int)(index + 1)));
    }

    /// <summary>
    /// The events still in the buffer, oldest first, read lazily (nothing is copied but the event being yielded):
    /// call and swap keys resolve through <paramref name="keys"/> (slot trace id → key), span names through
    /// <paramref name="labels"/>. Events still being written, or whose id is unknown, are skipped.
    /// </summary>
    public IEnumerable<TraceEvent> Read(IReadOnlyDictionary<int, OpKey> keys, IReadOnlyList<string> labels)
    {
        long end = Recorded;
        for (long i = Math.Max(0, end - Capacity); i < end; i++)
        {
            long at = i & _mask;
            int expected = unchecked((int)(i + 1));
            if (Volatile.Read(ref _events[at].Sequence) != expected) continue; // being written or already overwritten
            var copy = _events[at];
            if (Volatile.Read(ref _events[at].Sequence) != expected) continue; // rewritten while it was copied
            var kind = (TraceEventKind)copy.Kind;
            OpKey key = default;
            string name;
            switch (kind)
            {
                case TraceEventKind.Call or TraceEventKind.KernelSwap:
                    if (!keys.TryGetValue(copy.Id, out key)) continue;
                    name = key.ToString();
                    break;
                case TraceEventKind.Span:
                    if ((uint)copy.Id >= (uint)labels.Count) continue;
                    name = labels[copy.Id];
                    break;
                default:
                    name = "code cache";
                    break;
            }
            long duration = kind is TraceEventKind.Call or TraceEventKind.Span ? copy.Value : 0;
            yield return new TraceEvent(key, TierName(copy.Tier), copy.StartTicks - StartTicks, duration, copy.ThreadId)
            {
                Kind = kind,
                Name = name,
                Value = kind is TraceEventKind.KernelSwap or TraceEventKind.CodeCacheBytes ? copy.Value : 0,
            };
        }
    }

    private static string TierName(int tier) => tier == 0 ? "Managed" : ((JitIsa)(tier - 1)).ToString();

    /// <summary>Bytes the JSON writer may buffer before it flushes to the stream: export memory stays bounded by this.</summary>
    private const int FlushBytes = 1 << 16;

    /// <summary>
    /// Writes <paramref name="events"/> as a Chrome trace (JSON object format), streaming: the writer flushes every
    /// 64 KiB, so memory stays bounded whatever the trace's size. Calls and spans are complete events ("ph":"X",
    /// ts and dur in microseconds since the start of recording; a call's args carry op, dims, tier and TSC ticks);
    /// kernel swaps are process-wide instant events ("ph":"i", "s":"p") with the key, ISA and compile µs; the code
    /// cache's bytes in use are counter events ("ph":"C"); metadata names the process and threads. Strings go
    /// through a JSON writer, so quotes, backslashes and control characters are escaped.
    /// <paramref name="cancellation"/> is checked every 4,096 events; <paramref name="progress"/> gets the events written so far.
    /// Returns the number of events written (metadata excluded).
    /// </summary>
    public long WriteChromeTrace(Stream stream, IEnumerable<TraceEvent> events, string processName = "NeuralJit",
        Action<long>? progress = null, CancellationToken cancellation = default)
    {
        // Relaxed escaping: quotes and backslashes as \" and \\ (not \u0022), non-ASCII as UTF-8; still valid JSON.
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        double usPerTick = 1e6 / CycleClock.Frequency;
        // ts and end are rounded from ticks, dur = end − ts: a child's [ts, ts+dur] stays inside its parent's after rounding.
        double Us(long ticks) => Math.Round(ticks * usPerTick, 3);
        int pid = Environment.ProcessId;
        var threads = new SortedSet<int>();
        long written = 0;
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        WriteMetadata(w, "process_name", pid, 0, processName);
        foreach (var e in events)
        {
            threads.Add(e.ThreadId);
            w.WriteStartObject();
            w.WriteString("name", e.Kind == TraceEventKind.KernelSwap ? "JIT " + e.Name : e.Name);
            switch (e.Kind)
            {
                case TraceEventKind.Call:
                case TraceEventKind.Span:
                    w.WriteString("cat", e.Kind == TraceEventKind.Call ? e.Key.Op.ToString() : "model");
                    w.WriteString("ph", "X");
                    double ts = Us(e.StartTicks);
                    w.WriteNumber("ts", ts);
                    w.WriteNumber("dur", Math.Round(Us(e.StartTicks + e.DurationTicks) - ts, 3));
                    break;
                case TraceEventKind.KernelSwap:
                    w.WriteString("cat", "jit");
                    w.WriteString("ph", "i");
                    w.WriteString("s", "p");
                    w.WriteNumber("ts", Us(e.StartTicks));
                    break;
                default:
                    w.WriteString("ph", "C");
                    w.WriteNumber("ts", Us(e.StartTicks));
                    break;
            }
            w.WriteNumber("pid", pid);
            w.WriteNumber("tid", e.ThreadId);
            switch (e.Kind)
            {
                case TraceEventKind.Call:
                    w.WriteStartObject("args");
                    w.WriteString("op", e.Key.Op.ToString());
                    w.WriteString("dims", e.Key.Dims);
                    w.WriteString("tier", e.Tier);
                    w.WriteNumber("ticks", e.DurationTicks);
                    w.WriteEndObject();
                    break;
                case TraceEventKind.KernelSwap:
                    w.WriteStartObject("args");
                    w.WriteString("key", e.Name);
                    w.WriteString("isa", e.Tier);
                    w.WriteNumber("compileMicroseconds", e.Value / 1000.0);
                    w.WriteEndObject();
                    break;
                case TraceEventKind.CodeCacheBytes:
                    w.WriteStartObject("args");
                    w.WriteNumber("bytes in use", e.Value);
                    w.WriteEndObject();
                    break;
            }
            w.WriteEndObject();
            if (w.BytesPending >= FlushBytes) w.Flush();
            if ((++written & 4095) == 0)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Invoke(written);
            }
        }
        foreach (int tid in threads) WriteMetadata(w, "thread_name", pid, tid, $"managed thread {tid}");
        w.WriteEndArray();
        w.WriteStartObject("otherData");
        w.WriteString("clock", CycleClock.Source);
        w.WriteNumber("clockFrequencyHz", Math.Round(CycleClock.Frequency));
        w.WriteNumber("capacity", Capacity);
        w.WriteNumber("recorded", Recorded);
        w.WriteNumber("overwritten", Overwritten);
        w.WriteString("startedUtc", StartedUtc.ToString("O"));
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        return written;
    }

    private static void WriteMetadata(Utf8JsonWriter w, string what, int pid, int tid, string name)
    {
        w.WriteStartObject();
        w.WriteString("name", what);
        w.WriteString("ph", "M");
        w.WriteNumber("pid", pid);
        w.WriteNumber("tid", tid);
        w.WriteStartObject("args");
        w.WriteString("name", name);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}

/// <summary>
/// One recorded event: a call (its key, the tier that ran it — "Managed", "Avx2", "Avx512" — and its timing in clock
/// ticks), a model span, a kernel swap (key, ISA in <see cref="Tier"/>, compile ns in <see cref="Value"/>) or the code
/// cache's bytes in use (<see cref="Value"/>).
/// </summary>
/// <param name="StartTicks">Ticks since the start of recording.</param>
public readonly record struct TraceEvent(OpKey Key, string Tier, long StartTicks, long DurationTicks, int ThreadId)
{
    public TraceEventKind Kind { get; init; }
    /// <summary>"LstmGates 512x192" for a call or swap, the span's label, or "code cache".</summary>
    public string Name { get; init; } = "";
    /// <summary>KernelSwap: compile time in ns; CodeCacheBytes: bytes in use; otherwise 0.</summary>
    public long Value { get; init; }
}

/// <summary>
/// An open model span; disposing it closes it. The default value (no trace recording) does nothing, so models
/// write <c>using var s = engine.BeginSpan(label);</c> at the cost of one field read when no trace records.
/// </summary>
public readonly struct TraceSpan : IDisposable
{
    private readonly TraceRecorder? _trace;
    private readonly long _index;

    internal TraceSpan(TraceRecorder trace, long index)
    {
        _trace = trace;
        _index = index;
    }

    public void Dispose() => _trace?.EndSpan(_index);
}
