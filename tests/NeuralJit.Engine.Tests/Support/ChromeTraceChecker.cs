using System.Text.Json;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>
/// Checks what a trace viewer relies on in a Chrome trace file: every event has ph, pid, tid (and ts unless metadata);
/// per thread the timestamps never go back in file order; complete events ("X") nest properly — each one lies inside
/// the enclosing open one or starts after it ended, never straddling its end. Returns the complete events' depths.
/// </summary>
public static class ChromeTraceChecker
{
    /// <summary>Slack for the 3-decimal µs rounding of ts and dur.</summary>
    private const double Slack = 0.0015;

    public static Dictionary<string, int> CheckStructure(JsonDocument doc)
    {
        var depths = new Dictionary<string, int>();
        var open = new Dictionary<int, Stack<(string Name, double End)>>();
        var lastTs = new Dictionary<int, double>();
        int index = 0;
        foreach (var e in doc.RootElement.GetProperty("traceEvents").EnumerateArray())
        {
            index++;
            string ph = e.GetProperty("ph").GetString()!;
            string name = e.GetProperty("name").GetString()!;
            e.GetProperty("pid").GetInt32();
            int tid = e.GetProperty("tid").GetInt32();
            if (ph == "M") continue;
            double ts = e.GetProperty("ts").GetDouble();
            Assert.True(ts >= 0, $"event {index} '{name}' has ts {ts} < 0");
            if (lastTs.TryGetValue(tid, out double prev))
                Assert.True(ts >= prev, $"event {index} '{name}' on thread {tid} starts at {ts} µs, before the previous event of that thread ({prev} µs)");
            lastTs[tid] = ts;
            if (ph != "X") { Assert.Contains(ph, new[] { "i", "C" }); continue; }
            double dur = e.GetProperty("dur").GetDouble();
            Assert.True(dur >= 0, $"event {index} '{name}' has dur {dur}");
            var stack = open.TryGetValue(tid, out var st) ? st : open[tid] = new();
            while (stack.Count > 0 && ts >= stack.Peek().End - Slack) stack.Pop();
            if (stack.Count > 0)
                Assert.True(ts + dur <= stack.Peek().End + Slack,
                    $"event {index} '{name}' [{ts}, {ts + dur}] µs straddles the end of its enclosing '{stack.Peek().Name}' ({stack.Peek().End} µs)");
            int depth = stack.Count;
            depths[name] = depths.TryGetValue(name, out int d) ? Math.Max(d, depth) : depth;
            stack.Push((name, ts + dur));
        }
        return depths;
    }
}
