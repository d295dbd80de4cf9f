using System.Text.Json;
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
        var events = engine.TraceEvents(trace);
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
        using var engine = new NeuralEngine();
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
        trace.WriteChromeTrace(ms, engine.TraceEvents(trace), "a \"quoted\" \\ name\n");
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
}
