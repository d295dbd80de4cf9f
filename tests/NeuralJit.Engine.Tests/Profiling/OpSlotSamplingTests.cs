using Assembler = Iced.Intel.Assembler;
using StreamCodeWriter = Iced.Intel.StreamCodeWriter;
using NeuralJit.Jit;
using NeuralJit.Ops;
using NeuralJit.Profiling;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Engine.Tests.Profiling;

public unsafe class OpSlotSamplingTests
{
    private static EngineOptions NoJit() => new() { JitEnabled = false };

    private static void Call(OpSlot slot, int times)
    {
        float* x = stackalloc float[64];
        KernelArgs a = default;
        a.A = x; a.B = x; a.C = x; a.D = x; a.E = x;
        for (int i = 0; i < times; i++) slot.Invoke(&a);
    }

    [Fact]
    public void WarmupCallsAreAllMeasured()
    {
        using var engine = new NeuralEngine(NoJit());
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        Call(slot, OpSlot.WarmupCalls + 1);
        var s = slot.Snapshot();
        Assert.Equal(OpSlot.WarmupCalls + 1, s.Calls);
        Assert.Equal(1, s.OutlierCalls);                      // the very first call compiles the kernel: set aside
        Assert.Equal(OpSlot.WarmupCalls, s.MeasuredCalls);    // the rest of the warm-up is timed call by call
        Assert.True(s.CyclesEstimated);
        Assert.Equal((long)Math.Round((double)s.MeasuredCycles * s.Calls / s.MeasuredCalls), s.TotalCycles);
        Assert.True(s.MinCycles <= s.MaxCycles);
        Assert.InRange(s.AvgCycles, s.MinCycles, s.MaxCycles);
    }

    [Fact]
    public void ShortKernelsAreCountedExactlyButTimedOnASampleAndTheTotalIsScaled()
    {
        using var engine = new NeuralEngine(NoJit());
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        const int calls = 100_000;
        Call(slot, calls);
        var s = slot.Snapshot();
        Assert.Equal(calls, s.Calls);
        Assert.InRange(s.MeasuredCalls, OpSlot.WarmupCalls, calls / 8); // a 4-element Relu is far below the clock's cost
        Assert.True(s.CyclesEstimated);
        Assert.Equal((long)Math.Round((double)s.MeasuredCycles * s.Calls / s.MeasuredCalls), s.TotalCycles);
        Assert.Equal((double)s.TotalCycles / s.Calls, s.AvgCycles, 9);
    }

    [Fact]
    public void LongKernelsAreTimedOnEveryCall()
    {
        using var engine = new NeuralEngine(NoJit());
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(3));
        using var spin = SpinKernel(slot.Key, iterations: 400_000); // ≥ 100k cycles: far above 400 × the sample cost
        slot.Install(spin.Kernel);
        Call(slot, OpSlot.WarmupCalls + 40);
        var s = slot.Snapshot();
        // Every call timed (a call preempted for > 256× the fastest is timed too, but counted as interrupted).
        Assert.Equal(s.Calls, s.MeasuredCalls + s.OutlierCalls);
        Assert.True(s.OutlierCalls >= 1); // at least the cold first call
        Assert.Equal(KernelTier.Jit, s.Tier);
    }

    [Fact]
    public void WithProfilingOffCallsRunButAreNotCounted()
    {
        var options = NoJit();
        using var engine = new NeuralEngine(options);
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(2));
        options.ProfilingEnabled = false;
        Call(slot, 10);
        Assert.Equal(0, slot.Snapshot().Calls);
        options.ProfilingEnabled = true;
        Call(slot, 10);
        Assert.Equal(10, slot.Snapshot().Calls);
    }

    [Fact]
    public void ResetZeroesCountersAndRestartsTheMeasuredWarmup()
    {
        using var engine = new NeuralEngine(NoJit());
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        Call(slot, 10_000);
        slot.Reset();
        var z = slot.Snapshot();
        Assert.Equal((0L, 0L, 0L, 0L, 0L), (z.Calls, z.MeasuredCalls, z.TotalCycles, z.MinCycles, z.MaxCycles));
        Call(slot, 5);
        var s = slot.Snapshot();
        Assert.Equal(5, s.Calls);
        Assert.Equal(5, s.MeasuredCalls); // sampling starts over after a reset (and the kernel is no longer cold)
        Assert.False(s.CyclesEstimated);
    }

    [Fact]
    public void AnInstalledKernelStartsTheTierCountersWhileTheTotalsGoOn()
    {
        using var engine = new NeuralEngine(NoJit());
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(3));
        Call(slot, 10);                                   // managed, all in the warm-up: the cold call set aside, 9 timed
        var managed = slot.Snapshot();
        Assert.Equal((10L, 9L, managed.MeasuredCycles), (managed.TierCalls, managed.TierMeasuredCalls, managed.TierMeasuredCycles));
        using var spin = SpinKernel(slot.Key, iterations: 20_000);
        slot.Install(spin.Kernel);
        var installed = slot.Snapshot();
        Assert.Equal((10L, 0L, 0L, 0L), (installed.Calls, installed.TierCalls, installed.TierMeasuredCalls, installed.TierMeasuredCycles));
        Assert.Null(installed.TierAvgCycles);
        Call(slot, 7);                                    // still in the warm-up: every call timed
        var s = slot.Snapshot();
        Assert.Equal((17L, 7L, 7L), (s.Calls, s.TierCalls, s.TierMeasuredCalls));
        Assert.Equal(s.MeasuredCycles - managed.MeasuredCycles, s.TierMeasuredCycles);
        Assert.Equal((double)s.TierMeasuredCycles / 7, s.TierAvgCycles);
        slot.Install(spin.Kernel);                        // the same kernel again starts nothing
        Assert.Equal(7L, slot.Snapshot().TierCalls);
        slot.Reset();                                     // the kernel stays: its tier's counters are the totals again
        Call(slot, 3);
        var r = slot.Snapshot();
        Assert.Equal((3L, 3L, r.MeasuredCycles), (r.TierCalls, r.TierMeasuredCalls, r.TierMeasuredCycles));
        slot.Install(null);                               // back to the managed tier
        Call(slot, 2);
        var back = slot.Snapshot();
        Assert.Equal((5L, 2L, 2L), (back.Calls, back.TierCalls, back.TierMeasuredCalls));
        Assert.Equal(KernelTier.ManagedSimd, back.Tier);
    }

    [Fact]
    public void AnInstalledKernelsFirstCallsAreTimedWhateverTheSamplingPeriodWas()
    {
        using var engine = new NeuralEngine(NoJit());
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        Call(slot, 100_000);                              // a 4-element Relu: sampled far less than 1 in 32
        using var spin = SpinKernel(slot.Key, iterations: 1_000);
        slot.Install(spin.Kernel);
        var before = slot.Snapshot();
        Call(slot, OpSlot.WarmupCalls);
        var s = slot.Snapshot();
        Assert.Equal(OpSlot.WarmupCalls, s.TierCalls);
        // Every one timed: measured, or set aside as preempted.
        Assert.Equal(OpSlot.WarmupCalls, s.TierMeasuredCalls + (s.OutlierCalls - before.OutlierCalls));
        Assert.True(s.MeasuredCalls < s.Calls / 8);       // the totals still come from the managed tier's sample
    }

    internal sealed class NativeKernel(ExecutableMemory memory, JitKernel kernel) : IDisposable
    {
        public JitKernel Kernel { get; } = kernel;
        public void Dispose() => memory.Dispose();
    }

    /// <summary>A native kernel that only spins <paramref name="iterations"/> times: a stand-in for a long JIT kernel.</summary>
    internal static NativeKernel SpinKernel(OpKey key, int iterations)
    {
        var asm = new Assembler(64);
        var loop = asm.CreateLabel();
        asm.mov(ecx, iterations);
        asm.Label(ref loop);
        asm.dec(ecx);
        asm.jnz(loop);
        asm.ret();
        var mem = ExecutableMemory.Allocate(ExecutableMemory.PageSize);
        using var ms = new MemoryStream();
        asm.Assemble(new StreamCodeWriter(ms), (ulong)mem.Address);
        var code = ms.ToArray();
        code.CopyTo(mem.WritableSpan);
        mem.Seal();
        return new NativeKernel(mem, new JitKernel(key, JitIsa.Avx2, mem.Address, code, 0));
    }
}

public unsafe class OpSlotCountingTests
{
    [Fact]
    public void TheOwnerThreadAndOtherThreadsTogetherAreCountedExactlyAcrossResets()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(2));
        void Calls(int n)
        {
            float* x = stackalloc float[2];
            KernelArgs a = default;
            a.A = x; a.C = x;
            for (int i = 0; i < n; i++) slot.Invoke(&a);
        }
        Calls(1000);                                   // this thread becomes the owner
        var others = Enumerable.Range(0, 3).Select(_ => new Thread(() => Calls(20_000))).ToList();
        others.ForEach(t => t.Start());
        Calls(20_000);
        others.ForEach(t => t.Join());
        Assert.Equal(1000 + 4 * 20_000, slot.Snapshot().Calls);
        slot.Reset();
        Assert.Equal(0, slot.Snapshot().Calls);
        Calls(7);
        var t2 = new Thread(() => Calls(5));
        t2.Start(); t2.Join();
        Assert.Equal(12, slot.Snapshot().Calls);
    }
}

public unsafe class OpSlotInterruptionTests
{
    [Fact]
    public void ATimedCallFarSlowerThanTheFastestIsCountedAsInterruptedNotScaledIntoTheTotal()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(3));
        float* x = stackalloc float[4];
        KernelArgs a = default;
        a.A = x; a.C = x;
        // A ~120–300 µs kernel is timed on every call (its period is 1), so the next call after the warm-up is timed.
        using var normal = OpSlotSamplingTests.SpinKernel(slot.Key, iterations: 600_000);
        using var interrupted = OpSlotSamplingTests.SpinKernel(slot.Key, iterations: 600_000 * 600); // ≫ 256× as long
        slot.Install(normal.Kernel);
        for (int i = 0; i < OpSlot.WarmupCalls + 2; i++) slot.Invoke(&a);
        var before = slot.Snapshot();
        Assert.Equal(before.Calls, before.MeasuredCalls + before.OutlierCalls);
        slot.Install(interrupted.Kernel);
        slot.Invoke(&a);
        slot.Install(normal.Kernel);
        slot.Invoke(&a);
        var s = slot.Snapshot();
        Assert.Equal(before.OutlierCalls + 1, s.OutlierCalls);
        Assert.Equal(before.Calls + 2, s.Calls);
        Assert.Equal(before.MeasuredCalls + 1, s.MeasuredCalls);       // the interrupted call is not in the measured sum…
        Assert.True(s.MaxCycles > 256 * s.MinCycles);                  // …but it is the maximum
        Assert.True(s.CyclesEstimated);
        Assert.Equal((long)Math.Round((double)s.MeasuredCycles * s.Calls / s.MeasuredCalls), s.TotalCycles);
    }
}
