using NeuralJit.Profiling;

namespace NeuralJit;

/// <summary>
/// What <c>Start-NeuralTrace</c>, <c>Stop-NeuralTrace</c> and <c>Export-NeuralTrace -PassThru</c> return:
/// the state of one trace recording and the size of its ring buffer.
/// </summary>
public sealed class TraceInfo
{
    /// <summary>Recording, Stopped or Exported.</summary>
    public string State { get; init; } = "";
    /// <summary>Events the ring buffer keeps (a power of two).</summary>
    public int Capacity { get; init; }
    /// <summary>Bytes of one event in the buffer.</summary>
    public int EventBytes { get; init; }
    /// <summary>Bytes of the whole ring buffer (Capacity × EventBytes), allocated at start.</summary>
    public long BufferBytes { get; init; }
    /// <summary>Events (calls, model spans, kernel swaps, code-cache counters) recorded since start, including those overwritten.</summary>
    public long Recorded { get; init; }
    /// <summary>Events still in the buffer (the newest ones).</summary>
    public long Kept { get; init; }
    /// <summary>Oldest events lost to wraparound.</summary>
    public long Overwritten { get; init; }
    public DateTime StartedUtc { get; init; }
    /// <summary>Null while recording.</summary>
    public DateTime? StoppedUtc { get; init; }
    /// <summary>Wall-clock time from start to stop (or to now while recording).</summary>
    public double DurationMilliseconds { get; init; }
    /// <summary>The file written by Export-NeuralTrace; null otherwise.</summary>
    public string? Path { get; init; }
    /// <summary>Events written to <see cref="Path"/>.</summary>
    public long ExportedEvents { get; init; }

    public static TraceInfo From(TraceRecorder trace, string state, string? path = null, long exportedEvents = 0)
    {
        long recorded = trace.Recorded;
        var end = trace.StoppedUtc ?? DateTime.UtcNow;
        return new TraceInfo
        {
            State = state,
            Capacity = trace.Capacity,
            EventBytes = TraceRecorder.EventBytes,
            BufferBytes = trace.BufferBytes,
            Recorded = recorded,
            Kept = Math.Min(recorded, trace.Capacity),
            Overwritten = Math.Max(0, recorded - trace.Capacity),
            StartedUtc = trace.StartedUtc,
            StoppedUtc = trace.StoppedUtc,
            DurationMilliseconds = (end - trace.StartedUtc).TotalMilliseconds,
            Path = path,
            ExportedEvents = exportedEvents,
        };
    }

    public override string ToString() => Path is null ? $"{State}: {Kept:N0} of {Capacity:N0} events" : $"{State}: {ExportedEvents:N0} events to {Path}";
}
