using System.Runtime.InteropServices;
using System.Text.Json;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Profiling;

/// <summary>
/// Opt-in recording of every profiled call into a bounded ring buffer, for the Chrome trace event
/// format (Perfetto, chrome://tracing). One event is <see cref="EventBytes"/> bytes; the buffer holds
/// <see cref="Capacity"/> events (a power of two) allocated once at start, so a long run overwrites
/// the oldest events and never grows: the default 1,048,576 events take 32 MiB.
/// Writers claim an index with one interlocked add and publish the event by writing its sequence
/// number last; a reader keeps only events whose sequence matches, so a snapshot taken while calls
/// are still being recorded never returns a half-written event.
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
        public long DurationTicks;
        public int SlotId;
        public int ThreadId;
        public int Tier;      // 0 = managed SIMD, 1 + (int)JitIsa for JIT code
        public int Sequence;  // low 32 bits of (index + 1); written last
    }

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
    internal void Record(int slotId, JitKernel? kernel, long startTicks, long durationTicks)
    {
        long index = Interlocked.Increment(ref _next) - 1;
        ref RawEvent e = ref _events[index & _mask];
        e.StartTicks = startTicks;
        e.DurationTicks = durationTicks;
        e.SlotId = slotId;
        e.ThreadId = Environment.CurrentManagedThreadId;
        e.Tier = kernel is null ? 0 : 1 + (int)kernel.Isa;
        Volatile.Write(ref e.Sequence, unchecked((int)(index + 1)));
    }

    /// <summary>
    /// The events still in the buffer, oldest first, with their keys resolved through
    /// <paramref name="slots"/> (every slot of the engine that recorded them).
    /// </summary>
    public IReadOnlyList<TraceEvent> Snapshot(IEnumerable<OpSlot> slots)
    {
        var keys = new Dictionary<int, OpKey>();
        foreach (var s in slots) keys[s.TraceId] = s.Key;
        long end = Recorded;
        long begin = Math.Max(0, end - Capacity);
        var list = new List<TraceEvent>((int)(end - begin));
        for (long i = begin; i < end; i++)
        {
            ref RawEvent e = ref _events[i & _mask];
            if (Volatile.Read(ref e.Sequence) != unchecked((int)(i + 1))) continue; // being written or already overwritten
            var copy = e;
            if (copy.Sequence != unchecked((int)(i + 1)) || !keys.TryGetValue(copy.SlotId, out var key)) continue;
            list.Add(new TraceEvent(key, TierName(copy.Tier), copy.StartTicks - StartTicks, copy.DurationTicks, copy.ThreadId));
        }
        return list;
    }

    private static string TierName(int tier) => tier == 0 ? "Managed" : ((JitIsa)(tier - 1)).ToString();

    /// <summary>
    /// Writes <paramref name="events"/> as a Chrome trace (JSON object format): one complete event
    /// ("ph":"X") per call with ts and dur in microseconds since the start of recording, the op and
    /// shape as name, and the dims, tier and TSC ticks as args; metadata names the process and threads.
    /// Strings go through a JSON writer, so quotes, backslashes and control characters are escaped.
    /// </summary>
    public void WriteChromeTrace(Stream stream, IReadOnlyList<TraceEvent> events, string processName = "NeuralJit")
    {
        // Relaxed escaping: quotes and backslashes as \" and \\ (not \u0022), non-ASCII as UTF-8; still valid JSON.
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        double usPerTick = 1e6 / CycleClock.Frequency;
        int pid = Environment.ProcessId;
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        w.WriteStartObject();
        w.WriteString("name", "process_name");
        w.WriteString("ph", "M");
        w.WriteNumber("pid", pid);
        w.WriteNumber("tid", 0);
        w.WriteStartObject("args");
        w.WriteString("name", processName);
        w.WriteEndObject();
        w.WriteEndObject();
        foreach (int tid in events.Select(e => e.ThreadId).Distinct())
        {
            w.WriteStartObject();
            w.WriteString("name", "thread_name");
            w.WriteString("ph", "M");
            w.WriteNumber("pid", pid);
            w.WriteNumber("tid", tid);
            w.WriteStartObject("args");
            w.WriteString("name", $"managed thread {tid}");
            w.WriteEndObject();
            w.WriteEndObject();
        }
        foreach (var e in events)
        {
            w.WriteStartObject();
            w.WriteString("name", e.Name);
            w.WriteString("cat", e.Key.Op.ToString());
            w.WriteString("ph", "X");
            w.WriteNumber("ts", Math.Round(e.StartTicks * usPerTick, 3));
            w.WriteNumber("dur", Math.Round(e.DurationTicks * usPerTick, 3));
            w.WriteNumber("pid", pid);
            w.WriteNumber("tid", e.ThreadId);
            w.WriteStartObject("args");
            w.WriteString("op", e.Key.Op.ToString());
            w.WriteString("dims", e.Key.Dims);
            w.WriteString("tier", e.Tier);
            w.WriteNumber("ticks", e.DurationTicks);
            w.WriteEndObject();
            w.WriteEndObject();
        }
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
    }
}

/// <summary>One recorded call: its key, the tier that ran it ("Managed", "Avx2", "Avx512"), and its timing in clock ticks.</summary>
/// <param name="StartTicks">Ticks since the start of recording.</param>
public readonly record struct TraceEvent(OpKey Key, string Tier, long StartTicks, long DurationTicks, int ThreadId)
{
    /// <summary>"LstmStep 512x192": the event name in the trace.</summary>
    public string Name => Key.ToString();
}
