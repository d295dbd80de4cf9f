using System.Management.Automation;
using System.Text.Json;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Start/Stop/Export-NeuralTrace: Chrome trace JSON with the calls, a bounded ring buffer, escaping, ShouldProcess.</summary>
public sealed class TraceTests : IDisposable
{
    private readonly ModuleSession _s = ModuleSession.InScratchFolder("neuraljit-trace-");

    public void Dispose() => _s.Dispose();

    /// <summary>The kernel calls: complete events other than the model's spans.</summary>
    private static JsonElement[] CallEvents(JsonDocument doc) =>
        doc.RootElement.GetProperty("traceEvents").EnumerateArray().Where(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("cat").GetString() != "model").ToArray();

    [Fact]
    public void ExportWritesOneCompleteEventPerCallWithDimsTierAndMicroseconds()
    {
        var start = _s.Run("Start-NeuralTrace -Capacity 4096").Single();
        Assert.Equal("Recording", start.Properties["State"].Value);
        Assert.Equal(4096L * 32, start.Properties["BufferBytes"].Value);
        _s.Run("Invoke-NeuralInference -InputSize 7 -HiddenSize 9 -OutputSize 2 -Steps 25");
        var stop = _s.Run("Stop-NeuralTrace").Single();
        Assert.Equal(126L, stop.Properties["Recorded"].Value);  // the inference span + 25 steps × (step, layer, head spans; LSTM step, dense calls)
        var info = _s.Run("Export-NeuralTrace -Path trace.json -PassThru").Single();
        Assert.Equal(Path.Combine(_s.Scratch.FullName, "trace.json"), info.Properties["Path"].Value);
        Assert.Equal(126L, info.Properties["ExportedEvents"].Value);

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
        var depth = NeuralJit.Engine.Tests.Support.ChromeTraceChecker.CheckStructure(doc);
        Assert.Equal(0, depth["Invoke-NeuralInference"]);
        Assert.Equal(1, depth["step"]);
        Assert.Equal(2, depth["LSTM layer 0 7→9"]);
        Assert.Equal(2, depth["Dense head 9→2"]);
        Assert.Equal(3, depth["LstmStep 36x16"]);
        Assert.Equal(3, depth["Dense 2x9"]);
    }

    [Fact]
    public void RingBufferKeepsTheNewestEventsWhenItWrapsAround()
    {
        _s.Run("Start-NeuralTrace -Capacity 16; Invoke-NeuralInference -InputSize 3 -HiddenSize 3 -Steps 40; Invoke-NeuralInference -InputSize 5 -HiddenSize 2 -Steps 8");
        var stop = _s.Run("Stop-NeuralTrace").Single();
        Assert.Equal(16, stop.Properties["Capacity"].Value);
        Assert.Equal(1 + 40 * 5 + 1 + 8 * 5L, stop.Properties["Recorded"].Value); // per run an inference span, per step 3 spans and 2 calls
        Assert.Equal(16L, stop.Properties["Kept"].Value);
        Assert.Equal(242L - 16, stop.Properties["Overwritten"].Value);
        _s.Run("Export-NeuralTrace wrap.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_s.Scratch.FullName, "wrap.json")));
        var names = CallEvents(doc).Select(e => e.GetProperty("name").GetString()).ToList();
        // The last 16 events all belong to the second run (8 steps × 5 events = 40 > 16): three whole steps
        // (step, layer, LSTM step, head, dense) and the last event of the step before (dense).
        Assert.Equal(2 + 2 + 2 + 1, names.Count);
        Assert.All(names, n => Assert.Contains(n, new[] { "LstmStep 8x7", "Dense 10x2" }));
        Assert.Equal(242L, doc.RootElement.GetProperty("otherData").GetProperty("recorded").GetInt64());
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


    [Fact]
    public void ADirectoryPathIsAClearErrorAndWritesNothing()
    {
        _s.Run("Start-NeuralTrace -Capacity 64; Invoke-NeuralInference -InputSize 2 -HiddenSize 2 -Steps 3; Stop-NeuralTrace");
        Directory.CreateDirectory(Path.Combine(_s.Scratch.FullName, "out"));
        var e = Assert.Single(_s.Errors("Export-NeuralTrace -Path out"));
        Assert.Equal("ExportNeuralTraceIsDirectory,NeuralJit.PowerShell.Commands.ExportNeuralTraceCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        Assert.Equal("out", e.TargetObject);
        Assert.Contains("is a directory", e.ErrorDetails.Message);
        Assert.Contains("trace.json", e.ErrorDetails.RecommendedAction);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_s.Scratch.FullName, "out")));
    }

    [Fact]
    public void AStoppedExportStopsWithinASecondAndLeavesNoFileAndTheOldOneIntact()
    {
        // ~4M events (~450 MB of JSON): seconds of export even on a fast disk, so the stop lands in the middle of it.
        _s.Run("Start-NeuralTrace -Capacity 4194304; Invoke-NeuralInference -InputSize 1 -HiddenSize 1 -OutputSize 1 -Steps 800000; Stop-NeuralTrace");
        string target = Path.Combine(_s.Scratch.FullName, "big.json");
        File.WriteAllText(target, "previous");
        using var ps = _s.NewPowerShell();
        ps.AddCommand("Export-NeuralTrace").AddParameter("Path", "big.json");
        var run = ps.BeginInvoke();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!Directory.EnumerateFiles(_s.Scratch.FullName, ".big.json.*.tmp").Any() && sw.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(5);
        Assert.False(run.IsCompleted, "the export finished before it could be stopped: make the trace larger");
        var stop = System.Diagnostics.Stopwatch.StartNew();
        ps.Stop();
        stop.Stop();
        Assert.True(stop.Elapsed < TimeSpan.FromSeconds(1), $"Stop() took {stop.Elapsed.TotalMilliseconds:N0} ms");
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        Assert.Equal(["big.json"], Directory.EnumerateFileSystemEntries(_s.Scratch.FullName).Select(Path.GetFileName));
        Assert.Equal("previous", File.ReadAllText(target));
    }

    [Fact]
    public void ALargeTraceExportsWithBoundedMemory()
    {
        // In its own process, so the peak working set is the export's: 2M events (a 64 MiB ring buffer, a ~250 MB file).
        // The export streams, so its growth is the writer's buffers; holding the events or the JSON would need 300 MB more.
        string file = Path.Combine(_s.Scratch.FullName, "large.json");
        string script = $$"""
            Start-NeuralTrace -Capacity 2097152 | Out-Null
            Invoke-NeuralInference -InputSize 1 -HiddenSize 1 -OutputSize 1 -Steps 450000 | Out-Null
            Stop-NeuralTrace | Out-Null
            [GC]::Collect()
            $p = [Diagnostics.Process]::GetCurrentProcess()
            $before = $p.WorkingSet64
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $i = Export-NeuralTrace -Path '{{file}}' -PassThru
            $p.Refresh()
            'events={0} bytes={1} before={2} peak={3} ms={4}' -f $i.ExportedEvents, [IO.FileInfo]::new('{{file}}').Length, $before, $p.PeakWorkingSet64, $sw.ElapsedMilliseconds
            """;
        var r = PwshProcess.Run(_s.Scratch.FullName, "-Command", script);
        Assert.True(r.ExitCode == 0, r.ToString());
        var m = System.Text.RegularExpressions.Regex.Match(r.StdOut, @"events=(\d+) bytes=(\d+) before=(\d+) peak=(\d+) ms=(\d+)");
        Assert.True(m.Success, r.ToString());
        long events = long.Parse(m.Groups[1].Value), bytes = long.Parse(m.Groups[2].Value), before = long.Parse(m.Groups[3].Value), peak = long.Parse(m.Groups[4].Value);
        Assert.Equal(2097152L, events); // the buffer wrapped: every kept event is written (the lapped inference span is not kept)
        Assert.True(bytes > 200_000_000, $"the file has {bytes:N0} bytes");
        Assert.True(peak - before < 64L << 20, $"exporting {events:N0} events ({bytes:N0} bytes) grew the working set from {before:N0} to a peak of {peak:N0} bytes");
        // Complete to the end (parsing 250 MB here would cost the test process a GB; the structure tests parse small traces).
        using var stream = File.OpenRead(file);
        stream.Seek(-400, SeekOrigin.End);
        var tail = new StreamReader(stream).ReadToEnd();
        Assert.Matches(@"""otherData"":\{""clock"":.*""recorded"":\d+.*\}\}$", tail);
    }

    private bool RecordingNow() => (bool)_s.Run("[NeuralJit.NeuralEngine]::Default.TraceRecording").Single().BaseObject;
}
