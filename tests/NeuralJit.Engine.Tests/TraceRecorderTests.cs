using System.Text.Json;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Models;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Engine.Tests;

public unsafe class TraceRecorderTests
{
    private static void Call(OpSlot slot, int times)
    {
        float* x = stackalloc float[8];
        KernelArgs a = default;
        a.A = x; a.C = x;
        for (int i = 0; i < times; i++) slot.Invoke(&a);
    }

    [Fact]
    public void CapacityRoundsUpToAPowerOfTwoAndStatesItsBytes()
    {
        var t = new TraceRecorder(1000);
        Assert.Equal(1024, t.Capacity);
        Assert.Equal(32, TraceRecorder.EventBytes);
        Assert.Equal(1024L * 32, t.BufferBytes);
        Assert.Equal(32L << 20, new TraceRecorder().BufferBytes);   // default 1,048,576 events = 32 MiB
        Assert.Throws<ArgumentOutOfRangeException>(() => new TraceRecorder(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TraceRecorder(TraceRecorder.MaxCapacity + 1));
    }

    [Fact]
    public void RecordsOnlyWhileStartedAndKeepsProfileCountsExact()
    {
        using var engine = new NeuralEngine();
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(8));
        Call(slot, 10);
        var trace = engine.StartTrace(64);
        Call(slot, 5);
        Assert.Same(trace, engine.StopTrace());
        Call(slot, 7);
        var events = engine.TraceEvents(trace).Where(e => e.Kind == TraceEventKind.Call).ToList();
        Assert.Equal(5, events.Count);
        Assert.All(events, e => Assert.Equal(new OpKey(OpKind.Relu, OpShape.Vector(8)), e.Key));
        Assert.All(events, e => Assert.Equal("Managed", e.Tier));
        Assert.Equal(22, slot.Snapshot().Calls);
        Assert.Null(engine.StopTrace());
        Assert.Throws<InvalidOperationException>(() => { engine.StartTrace(8); engine.StartTrace(8); });
    }

    [Fact]
    public void WraparoundKeepsTheNewestEventsInOrderFromManyThreads()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false }); // a background swap would add its events to the count
        var early = engine.Resolve(OpKind.Relu, OpShape.Vector(3));
        var late = engine.Resolve(OpKind.Relu, OpShape.Vector(5));
        var trace = engine.StartTrace(256);
        Parallel.For(0, 4, _ => Call(early, 10_000));
        Parallel.For(0, 4, _ => Call(late, 100));
        engine.StopTrace();
        Assert.Equal(40_400, trace.Recorded);
        Assert.Equal(40_400 - 256, trace.Overwritten);
        var events = engine.TraceEvents(trace);
        Assert.Equal(256, events.Count);                      // nothing torn: every kept slot is complete
        Assert.Equal(256, events.Count(e => e.Key.Shape.M == 5) + events.Count(e => e.Key.Shape.M == 3));
        Assert.True(events.Count(e => e.Key.Shape.M == 5) == 256, "the 400 newest calls were all of the late key");
        Assert.Equal(40_000 + 400, early.Snapshot().Calls + late.Snapshot().Calls);
    }

    [Fact]
    public void ChromeTraceIsValidJsonWithEscapedNames()
    {
        using var engine = new NeuralEngine();
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8));
        var trace = engine.StartTrace(16);
        Call(slot, 3);
        engine.StopTrace();
        using var ms = new MemoryStream();
        Assert.Equal(3, trace.WriteChromeTrace(ms, engine.ReadTrace(trace), "a \"quoted\" \\ name\n"));
        using var doc = JsonDocument.Parse(ms.ToArray());
        var all = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.Equal("a \"quoted\" \\ name\n", all.Single(e => e.GetProperty("name").GetString() == "process_name").GetProperty("args").GetProperty("name").GetString());
        var calls = all.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        Assert.Equal(3, calls.Count);
        Assert.All(calls, e =>
        {
            Assert.Equal("Sigmoid 8", e.GetProperty("name").GetString());
            Assert.Equal("8", e.GetProperty("args").GetProperty("dims").GetString());
            Assert.True(e.GetProperty("dur").GetDouble() >= 0);
        });
    }

    [Fact]
    public void ModelStepsNestLayersAndCallsAndKernelSwapsAreInstantEventsWithTheCodeCacheCounter()
    {
        using var engine = new NeuralEngine(new EngineOptions { SynchronousCompilation = true, CallThreshold = 50, CodeCacheBytes = 1 << 20 });
        using var net = NeuralNetwork.CreateRandom(engine, new NetworkSizes(5, 8, 3, Layers: 2), seed: 1);
        var trace = engine.StartTrace(1 << 14);
        var x = new float[5];
        for (int i = 0; i < 200; i++) net.Step(x);
        engine.StopTrace();

        var events = engine.TraceEvents(trace);
        Assert.Equal(200, events.Count(e => e.Kind == TraceEventKind.Span && e.Name == "step"));
        Assert.Equal(200, events.Count(e => e.Kind == TraceEventKind.Span && e.Name == "LSTM layer 1 8→8"));
        var swaps = events.Where(e => e.Kind == TraceEventKind.KernelSwap).ToList();
        if (CpuFeatures.Best >= JitIsa.Avx2)
        {
            Assert.NotEmpty(swaps);
            Assert.All(swaps, s => Assert.Contains(s.Tier, new[] { "Avx2", "Avx512" }));
            Assert.All(swaps, s => Assert.Equal(engine.Jit.Find(s.Key)!.CompileMicroseconds * 1000, s.Value, 1.0));
            var counters = events.Where(e => e.Kind == TraceEventKind.CodeCacheBytes).Select(e => e.Value).ToList();
            Assert.Equal(swaps.Count, counters.Count);         // one per swap (the cache was mapped by the first)
            Assert.True(counters.Zip(counters.Skip(1)).All(p => p.First < p.Second), "each swap adds code: " + string.Join(", ", counters));
            Assert.Equal(engine.Jit.Cache!.UsedBytes, counters[^1]);
        }

        using var ms = new MemoryStream();
        trace.WriteChromeTrace(ms, engine.ReadTrace(trace));
        using var doc = JsonDocument.Parse(ms.ToArray());
        var depth = ChromeTraceChecker.CheckStructure(doc);
        Assert.Equal(0, depth["step"]);
        Assert.Equal(1, depth["LSTM layer 0 5→8"]);
        Assert.Equal(1, depth["Dense head 8→3"]);
        Assert.Equal(2, depth["LstmStep 32x13"]);
        Assert.Equal(2, depth["Dense 3x8"]);
        var all = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        if (swaps.Count > 0)
        {
            var swap = all.First(e => e.GetProperty("ph").GetString() == "i");
            Assert.Equal("p", swap.GetProperty("s").GetString());
            Assert.StartsWith("JIT ", swap.GetProperty("name").GetString());
            Assert.True(swap.GetProperty("args").GetProperty("compileMicroseconds").GetDouble() > 0);
            Assert.Contains(all, e => e.GetProperty("ph").GetString() == "C" && e.GetProperty("args").GetProperty("bytes in use").GetInt64() > 0);
        }
    }

    [Fact]
    public void ASpanLappedByTheRingBufferIsDroppedNotWrittenOverANewerEvent()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        var trace = engine.StartTrace(64);
        var outer = engine.BeginSpan(engine.TraceLabel("outer"));
        Call(slot, 500);
        outer.Dispose();
        engine.StopTrace();
        var events = engine.TraceEvents(trace);
        Assert.DoesNotContain(events, e => e.Kind == TraceEventKind.Span);
        Assert.Equal(64, events.Count(e => e.Kind == TraceEventKind.Call));
    }

    [Fact]
    public void ExportStopsWhenCancelled()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        var trace = engine.StartTrace(1 << 14);
        Call(slot, 10_000);
        engine.StopTrace();
        using var cts = new CancellationTokenSource();
        long seen = 0;
        Assert.Throws<OperationCanceledException>(() => trace.WriteChromeTrace(Stream.Null, engine.ReadTrace(trace), "x", cancellation: cts.Token,
            progress: done => { seen = done; cts.Cancel(); }));
        Assert.Equal(4096, seen);
    }
}
