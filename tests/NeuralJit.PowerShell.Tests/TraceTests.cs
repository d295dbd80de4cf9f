using System.Management.Automation;
using System.Text.Json;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Start/Stop/Export-NeuralTrace: Chrome trace JSON with the calls, a bounded ring buffer, escaping, ShouldProcess.</summary>
public sealed class TraceTests : IDisposable
{
    private readonly ModuleSession _s = ModuleSession.InScratchFolder("neuraljit-trace-");

    public void Dispose() => _s.Dispose();

    private static JsonElement[] CallEvents(JsonDocument doc) =>
        doc.RootElement.GetProperty("traceEvents").EnumerateArray().Where(e => e.GetProperty("ph").GetString() == "X").ToArray();

    [Fact]
    public void ExportWritesOneCompleteEventPerCallWithDimsTierAndMicroseconds()
    {
        var start = _s.Run("Start-NeuralTrace -Capacity 4096").Single();
        Assert.Equal("Recording", start.Properties["State"].Value);
        Assert.Equal(4096L * 32, start.Properties["BufferBytes"].Value);
        _s.Run("Invoke-NeuralInference -InputSize 7 -HiddenSize 9 -OutputSize 2 -Steps 25");
        var stop = _s.Run("Stop-NeuralTrace").Single();
        Assert.Equal(50L, stop.Properties["Recorded"].Value);   // 25 steps × (LSTM step, dense)
        var info = _s.Run("Export-NeuralTrace -Path trace.json -PassThru").Single();
        Assert.Equal(Path.Combine(_s.Scratch.FullName, "trace.json"), info.Properties["Path"].Value);
        Assert.Equal(50L, info.Properties["ExportedEvents"].Value);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_s.Scratch.FullName, "trace.json")));
        var events = CallEvents(doc);
        Assert.Equal(50, events.Length);
        Assert.Equal(25, events.Count(e => e.GetProperty("name").GetString() == "LstmStep 36x16"));
        Assert.Equal(25, events.Count(e => e.GetProperty("name").GetString() == "Dense 2x9"));
        double lastTs = -1;
        foreach (var e in events)
        {
            var args = e.GetProperty("args");
            Assert.Equal(e.GetProperty("cat").GetString(), args.GetProperty("op").GetString());
            Assert.EndsWith(" " + args.GetProperty("dims").GetString(), e.GetProperty("name").GetString());
            Assert.Contains(args.GetProperty("tier").GetString(), new[] { "Managed", "Avx2", "Avx512" });
            Assert.True(e.GetProperty("dur").GetDouble() >= 0);
            double ts = e.GetProperty("ts").GetDouble();
            Assert.True(ts >= lastTs, "events of one thread are in time order");
            lastTs = ts;
            Assert.Equal(Environment.ProcessId, e.GetProperty("pid").GetInt32());
            Assert.True(e.GetProperty("tid").GetInt32() > 0);
        }
        Assert.Contains(doc.RootElement.GetProperty("traceEvents").EnumerateArray(), e => e.GetProperty("name").GetString() == "process_name");
    }

    [Fact]
    public void RingBufferKeepsTheNewestEventsWhenItWrapsAround()
    {
        _s.Run("Start-NeuralTrace -Capacity 16; Invoke-NeuralInference -InputSize 3 -HiddenSize 3 -Steps 40; Invoke-NeuralInference -InputSize 5 -HiddenSize 2 -Steps 8");
        var stop = _s.Run("Stop-NeuralTrace").Single();
        Assert.Equal(16, stop.Properties["Capacity"].Value);
        Assert.Equal(96L, stop.Properties["Recorded"].Value);
        Assert.Equal(16L, stop.Properties["Kept"].Value);
        Assert.Equal(80L, stop.Properties["Overwritten"].Value);
        _s.Run("Export-NeuralTrace wrap.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_s.Scratch.FullName, "wrap.json")));
        var names = CallEvents(doc).Select(e => e.GetProperty("name").GetString()).ToList();
        Assert.Equal(16, names.Count);
        // The last 16 calls are exactly the second run (8 steps × 2 calls).
        Assert.All(names, n => Assert.Contains(n, new[] { "LstmStep 8x7", "Dense 10x2" }));
        Assert.Equal(96L, doc.RootElement.GetProperty("otherData").GetProperty("recorded").GetInt64());
    }

    [Fact]
    public void NamesWithQuotesAndBackslashesAreEscaped()
    {
        const string name = "run \"42\" C:\\temp\\x\ttab";
        _s.Run("Start-NeuralTrace -Capacity 64; Invoke-NeuralInference -InputSize 2 -HiddenSize 2 -Steps 1; Stop-NeuralTrace");
        using (var ps = _s.NewPowerShell())
        {
            ps.AddCommand("Export-NeuralTrace").AddParameter("Path", "escaped.json").AddParameter("ProcessName", name);
            ps.Invoke();
            Assert.Empty(ps.Streams.Error);
        }
        var raw = File.ReadAllText(Path.Combine(_s.Scratch.FullName, "escaped.json"));
        Assert.Contains("run \\\"42\\\" C:\\\\temp\\\\x\\ttab", raw);
        using var doc = JsonDocument.Parse(raw);
        var process = doc.RootElement.GetProperty("traceEvents").EnumerateArray().Single(e => e.GetProperty("name").GetString() == "process_name");
        Assert.Equal(name, process.GetProperty("args").GetProperty("name").GetString());
    }

    [Fact]
    public void WhatIfNeitherStartsNorWrites()
    {
        Assert.Empty(_s.Run("Start-NeuralTrace -WhatIf"));
        Assert.False(RecordingNow());
        _s.Run("Start-NeuralTrace -Capacity 8; Stop-NeuralTrace");
        _s.Run("Export-NeuralTrace -Path whatif.json -WhatIf");
        Assert.False(File.Exists(Path.Combine(_s.Scratch.FullName, "whatif.json")));
        _s.Run("Start-NeuralTrace -Capacity 8");
        _s.Run("Stop-NeuralTrace -WhatIf");
        Assert.True(RecordingNow());
    }

    [Fact]
    public void UntracedCallsAreNotRecorded()
    {
        _s.Run("Start-NeuralTrace -Capacity 64; Stop-NeuralTrace");
        _s.Run("Invoke-NeuralInference -InputSize 2 -HiddenSize 2 -Steps 10");
        var info = _s.Run("Export-NeuralTrace -Path idle.json -PassThru").Single();
        Assert.Equal(0L, info.Properties["ExportedEvents"].Value);
    }

    private bool RecordingNow() => (bool)_s.Run("[NeuralJit.NeuralEngine]::Default.TraceRecording").Single().BaseObject;
}
