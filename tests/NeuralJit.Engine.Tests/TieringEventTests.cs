using System.Collections.Concurrent;
using NeuralJit.Jit;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Engine.Tests;

/// <summary>NeuralEngine.Tiering: each step of a key's way to the JIT tier, in order, with what the cmdlets narrate.</summary>
public sealed class TieringEventTests
{
    private static unsafe void Call(OpSlot slot, int times)
    {
        var x = new float[slot.Key.Shape.M]; var y = new float[slot.Key.Shape.M];
        fixed (float* px = x, py = y)
        {
            KernelArgs a = default; a.A = px; a.C = py;
            for (int i = 0; i < times; i++) slot.Invoke(&a);
        }
    }

    private static List<TieringEvent> Recorded(NeuralEngine engine, Action run)
    {
        var events = new ConcurrentQueue<TieringEvent>();
        engine.Tiering += events.Enqueue;
        run();
        return events.ToList();
    }

    [Fact]
    public void APromotedKeyIsPromotedCompiledAndInstalledInThatOrder()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8));
        var events = Recorded(engine, () => Call(slot, 100)).Where(e => e.Key == slot.Key).ToList();
        Assert.Equal([TieringEventKind.Promoted, TieringEventKind.CompileStarted, TieringEventKind.Compiled, TieringEventKind.Installed],
            events.Select(e => e.Kind));
        Assert.Matches(@"^Sigmoid 8: promoted after \d+ calls with 100\.0% of the profiled cycles\.$", events[0].Message);
        Assert.Equal($"Sigmoid 8: compiling for {engine.Jit.Isa} on the calling thread.", events[1].Message);
        var kernel = slot.JitKernel!;
        Assert.Equal(kernel.Code.Length, events[2].CodeBytes);
        Assert.Equal(kernel.Isa, events[2].Isa);
        Assert.Equal(kernel.CompileMicroseconds, events[2].CompileMicroseconds);
        Assert.StartsWith($"Sigmoid 8: compiled for {kernel.Isa}: ", events[2].Message);
        Assert.Equal($"Sigmoid 8: installed; its calls now run the {kernel.Isa} kernel at 0x{(long)kernel.Entry:X}.", events[3].Message);
    }

    [Fact]
    public void AKeyCompiledBeforeItsPromotionIsReportedAsFoundInTheKernelCache()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8));
        engine.Jit.Compile(slot.Key);
        var compiled = Recorded(engine, () => Call(slot, 100)).Single(e => e.Kind == TieringEventKind.Compiled);
        Assert.StartsWith("Sigmoid 8: found in the kernel cache (", compiled.Message);
    }

    [Fact]
    public void WithoutExecutableMemoryTheKeyIsRefusedWithAWarningThatSaysWhy()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        engine.Jit.CacheFactory = _ => throw new ExecutableMemoryException("mprotect to read-execute failed (errno 13): test");
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8));
        var events = Recorded(engine, () => Call(slot, 100));
        Assert.Equal([TieringEventKind.Promoted, TieringEventKind.CompileStarted, TieringEventKind.Warning, TieringEventKind.Refused],
            events.Select(e => e.Kind));
        Assert.Contains("no executable memory", events[2].Message);
        Assert.StartsWith("Sigmoid 8: stays on the managed tier: no executable memory", events[3].Message);
        Assert.Null(slot.JitKernel);
    }

    [Fact]
    public void AHandlerThatThrowsDoesNotStopTheInstall()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        engine.Tiering += _ => throw new InvalidOperationException("a broken subscriber");
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8));
        Call(slot, 100);
        Assert.NotNull(slot.JitKernel);
    }

    [Fact]
    public void AWarningRaisedWhileNobodyListensGoesOnceToTheNextHandler()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        engine.Jit.CacheFactory = _ => throw new ExecutableMemoryException("mprotect to read-execute failed (errno 13): test");
        Call(engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8)), 100);
        var first = Recorded(engine, () => { });
        Assert.Equal([TieringEventKind.Warning], first.Select(e => e.Kind));
        Assert.Contains("no executable memory", first[0].Message);
        Assert.Empty(Recorded(engine, () => { }));
    }

    [Fact]
    public void OnlyWarningsAreKeptForTheNextHandlerAndAtMostUnheardWarningsKept()
    {
        using var engine = new NeuralEngine(new EngineOptions());
        var key = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8)).Key;
        for (int i = 0; i < NeuralEngine.UnheardWarningsKept + 10; i++)
        {
            engine.RaiseTiering(new TieringEvent(TieringEventKind.Warning, key, $"warning {i}"));
            engine.RaiseTiering(new TieringEvent(TieringEventKind.Promoted, key, $"promoted {i}"));
        }
        var heard = Recorded(engine, () => { });
        Assert.Equal(NeuralEngine.UnheardWarningsKept, heard.Count);
        Assert.All(heard, e => Assert.Equal(TieringEventKind.Warning, e.Kind));
        Assert.Equal("warning 10", heard[0].Message);
        Assert.Equal($"warning {NeuralEngine.UnheardWarningsKept + 9}", heard[^1].Message);
    }

    [Fact]
    public void WarningsAHandlerGivesBackReachTheNextHandler()
    {
        using var engine = new NeuralEngine(new EngineOptions());
        var key = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8)).Key;
        var shown = new List<TieringEvent>();
        Action<TieringEvent> stopped = shown.Add;
        engine.Tiering += stopped;
        engine.RaiseTiering(new TieringEvent(TieringEventKind.Warning, key, "cache full"));
        engine.RaiseTiering(new TieringEvent(TieringEventKind.Installed, key, "installed"));
        engine.Tiering -= stopped;
        engine.ReturnUnheard(shown);
        Assert.Equal(["cache full"], Recorded(engine, () => { }).Select(e => e.Message));
    }

    [Fact]
    public void SlotsDeclaredTogetherArePromotedTogetherAndADeclarationRepeatedChangesNothing()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        OpSlot Slot(int n) => engine.Resolve(OpKind.Sigmoid, OpShape.Vector(n));
        OpSlot a = Slot(8), b = Slot(16), c = Slot(24), d = Slot(32), lone = Slot(40);
        engine.PromoteTogether([a, b]);
        engine.PromoteTogether([a, b]);       // every network of a model declares its step again
        engine.PromoteTogether([b, c, d]);    // b runs in a second kind of step too
        Assert.Equal([b], a.Companions);
        Assert.Equal([a, c, d], b.Companions);

        var events = Recorded(engine, () => Call(a, 100));
        Assert.NotNull(a.JitKernel);
        Assert.NotNull(b.JitKernel);
        Assert.Null(c.JitKernel);
        Assert.Contains(events, e => e.Message == $"{b.Key}: promoted with {a.Key}, which runs beside it in every step.");

        Call(b, 100);   // compiled as a's companion: its own calls promote nothing more
        Assert.Null(c.JitKernel);
        Call(d, 100);   // d's promotion brings its group's c
        Assert.NotNull(c.JitKernel);
        Assert.Null(lone.JitKernel);
    }

    [Fact]
    public void ASlotOfAnotherEngineIsRefused()
    {
        using var one = new NeuralEngine(new EngineOptions());
        using var other = new NeuralEngine(new EngineOptions());
        var e = Assert.Throws<ArgumentException>(() =>
            one.PromoteTogether([one.Resolve(OpKind.Sigmoid, OpShape.Vector(8)), other.Resolve(OpKind.Sigmoid, OpShape.Vector(8))]));
        Assert.Equal("slots", e.ParamName);
    }
}
