using Iced.Intel;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Engine.Tests;

/// <summary>The JIT's machinery: code cache (W^X, accounting, full policy), compiler (kernel cache, promotion, ISA), calling convention, decoding.</summary>
public class JitInfrastructureTests(ITestOutputHelper output)
{
    public static TheoryData<JitIsa> Isas => JitTestEngine.Isas;

    [Theory, MemberData(nameof(Isas))]
    public void EmittedCodeDecodesIntoValidInstructionsEndingWithRet(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        foreach (var op in OpSpecs.All.Where(s => s.Elementwise && s.HasEmitter).Select(s => s.Kind))
            foreach (int n in new[] { 0, 1, 13, 64, 300 })
            {
                var kernel = engine.Jit.Compile(new OpKey(op, OpShape.Vector(n)), isa);
                JitTestEngine.AssertDecodes(kernel);
            }
    }

    [Fact]
    public void EveryOpSpecSaysWhetherTheJitHasAnEmitterForIt()
    {
        foreach (var spec in OpSpecs.All)
        {
            var emitter = KernelEmitters.For(spec.Kind);
            Assert.True(spec.HasEmitter == (emitter is not null),
                $"{spec.Kind}: OpSpec.HasEmitter is {spec.HasEmitter}, the emitter is {emitter?.GetType().Name ?? "none"}");
            if (emitter is not null) Assert.Contains(spec.Kind, emitter.Ops);
        }
    }

    [Fact]
    public void NoMappingIsEverWritableAndExecutableAtOnce()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var engine = JitTestEngine.Create();
        using var flip = new CodeCache(16384, CodeCacheMode.PageFlip);
        var kernel = engine.Jit.Compile(new OpKey(OpKind.Sigmoid, OpShape.Vector(100)), CpuFeatures.Best);
        Assert.True(flip.TryInstall(Assemble(JitIsa.Avx2, OpKind.Relu, 40), out _, out _));
        Assert.Equal(CodeCacheMode.DualMapping, engine.Jit.Cache!.Mode);
        var rwx = File.ReadAllLines("/proc/self/maps").Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1].StartsWith("rwx", StringComparison.Ordinal)).ToList();
        Assert.True(rwx.Count == 0, "rwx mappings: " + string.Join("\n", rwx));
        // The kernel runs from a read-execute view.
        long addr = kernel.Entry;
        var line = File.ReadAllLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .First(p => { var r = p[0].Split('-'); return Convert.ToInt64(r[0], 16) <= addr && addr < Convert.ToInt64(r[1], 16); });
        Assert.StartsWith("r-x", line[1]);
    }

    private static AssembledKernel Assemble(JitIsa isa, OpKind op, int n)
    {
        var k = new KernelAssembler(isa);
        KernelEmitters.For(op)!.Emit(k, new OpKey(op, OpShape.Vector(n)));
        return k.Finish();
    }

    [Theory]
    [InlineData(CodeCacheMode.DualMapping)]
    [InlineData(CodeCacheMode.PageFlip)]
    public unsafe void BothCacheModesRunKernelsAndAlignThem(CodeCacheMode mode)
    {
        if (mode == CodeCacheMode.DualMapping && !OperatingSystem.IsLinux()) return;
        using var cache = new CodeCache(64 * 1024, mode);
        var x = new float[] { -1, 2, float.NaN, -0.5f, 3 };
        var y = new float[5];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(cache.TryInstall(Assemble(JitIsa.Avx2, OpKind.Relu, 5), out nint entry, out var failure), failure?.Message);
            Assert.Equal(0, (long)entry % 64);
            Assert.True(cache.Contains(entry));
            fixed (float* px = x, py = y)
            {
                KernelArgs a = default; a.A = px; a.C = py;
                ((delegate* unmanaged<KernelArgs*, void>)entry)(&a);
            }
            Assert.Equal(new[] { 0f, 2f, float.NaN, 0f, 3f }, y);
        }
        Assert.Equal(3, cache.KernelCount);
        Assert.True(cache.UsedBytes > 0 && cache.UsedBytes + cache.FreeBytes == cache.CapacityBytes);
    }

    [Fact]
    public unsafe void AFullCacheStopsCompilingWithAWarningAndKeepsEveryInstalledKernel()
    {
        using var engine = new NeuralEngine(new EngineOptions { CodeCacheBytes = 4096, SynchronousCompilation = true, IsaCap = JitIsa.Avx2 });
        var compiled = new List<JitKernel>();
        JitFailure? reason = null;
        for (int n = 1; n < 200 && reason is null; n++)
        {
            if (engine.Jit.TryCompile(new OpKey(OpKind.Tanh, OpShape.Vector(n)), JitIsa.Avx2, out var k, out reason)) compiled.Add(k!);
        }
        Assert.NotNull(reason);
        Assert.Equal(JitFailureKind.CacheFull, reason.Kind);
        Assert.Contains("code cache full", reason.Message);
        Assert.True(compiled.Count >= 2, $"only {compiled.Count} kernels fit in 4 KiB");
        Assert.Contains(engine.Jit.Warnings, w => w.Contains("code cache full"));
        Assert.Equal(1, engine.Jit.Failures);
        Assert.True(engine.Jit.Cache!.UsedBytes <= engine.Jit.Cache.CapacityBytes);
        Assert.Equal(JitFailureKind.CacheFull, engine.Jit.WhyManaged(new OpKey(OpKind.Tanh, OpShape.Vector(compiled.Count + 1)))?.Kind);
        // A slot promoted now stays managed, and still computes the right answer.
        var slot = engine.Resolve(OpKind.Tanh, OpShape.Vector(compiled.Count + 1));
        Assert.Null(engine.Promotion.CompileAndInstall(slot));
        Assert.Null(slot.JitKernel);
        // Kernels compiled earlier still run.
        var first = compiled[0];
        float x = 0.5f, y = 0;
        KernelArgs a = default; a.A = &x; a.C = &y;
        ((delegate* unmanaged<KernelArgs*, void>)first.Entry)(&a);
        Assert.Equal(MathF.Tanh(0.5f), y, 6);
    }

    [Fact]
    public unsafe void WhenTheOsRefusesExecutableMemoryKeysStayManagedWithAWarning()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, SynchronousCompilation = true });
        engine.Jit.CacheFactory = _ => throw new ExecutableMemoryException("mprotect to read-execute failed (errno 13): test");
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(8));
        var x = new float[8]; var y = new float[8];
        x[3] = 2;
        fixed (float* px = x, py = y)
        {
            KernelArgs a = default; a.A = px; a.C = py;
            for (int i = 0; i < 100; i++) slot.Invoke(&a);
        }
        Assert.Null(slot.JitKernel);
        Assert.Equal(ReferenceOps.Logistic(2), y[3], 6);
        Assert.Contains(engine.Jit.Warnings, w => w.Contains("no executable memory"));
        Assert.Equal(JitFailureKind.NoExecutableMemory, engine.Jit.WhyManaged(slot.Key)?.Kind);
        Assert.Contains("no executable memory", engine.Jit.WhyManaged(slot.Key)!.Message);
        Assert.Null(engine.Jit.Cache);
        Assert.Single(engine.Jit.Warnings);   // said once, not once per promotion attempt
        Assert.False(engine.Jit.TryCompile(new OpKey(OpKind.Relu, OpShape.Vector(4)), JitIsa.Avx2, out _, out _));
    }

    [Fact]
    public void LongKernelsKeepTheGcTransition()
    {
        using var engine = JitTestEngine.Create();
        Assert.True(engine.Jit.Compile(new OpKey(OpKind.EwcPenalty, OpShape.Matrix(128, 128)), JitIsa.Avx2).SuppressGcTransition);
        Assert.False(engine.Jit.Compile(new OpKey(OpKind.EwcPenalty, OpShape.Matrix(1000, 1000)), JitIsa.Avx2).SuppressGcTransition);
    }

    [Fact]
    public void TheKernelCacheCountsHitsMissesAndBuilds()
    {
        using var engine = JitTestEngine.Create();
        var key = new OpKey(OpKind.Sigmoid, OpShape.Vector(33));
        var k1 = engine.Jit.Compile(key, JitIsa.Avx2);
        var k2 = engine.Jit.Compile(key, JitIsa.Avx2);
        var k3 = engine.Jit.Compile(new OpKey(OpKind.Sigmoid, OpShape.Vector(34)), JitIsa.Avx2);
        Assert.Same(k1, k2);
        Assert.NotSame(k1, k3);
        Assert.Equal((1, 2, 2), (engine.Jit.Hits, engine.Jit.Misses, engine.Jit.Builds));
        Assert.True(k1.CompileMicroseconds > 0);
        Assert.True(k1.ConstantPoolBytes % 64 == 0 && k1.ConstantPoolBytes > 0);

        // The ISA is part of the cache key: where AVX-512 runs it is a third build; where it does not, a failure that says why.
        if (CpuFeatures.CanRun(JitIsa.Avx512))
        {
            var k4 = engine.Jit.Compile(key, JitIsa.Avx512);
            Assert.NotSame(k1, k4);
            Assert.Equal((JitIsa.Avx512, 3L, 0L), (k4.Isa, engine.Jit.Builds, engine.Jit.Failures));
        }
        else
        {
            Assert.False(engine.Jit.TryCompile(key, JitIsa.Avx512, out _, out var reason));
            Assert.Equal(JitFailureKind.IsaUnavailable, reason!.Kind);
            Assert.Contains("does not support Avx512", reason.Message);
            Assert.Equal((2L, 1L), (engine.Jit.Builds, engine.Jit.Failures));
        }
        Assert.Equal(engine.Jit.Builds, engine.Jit.Kernels.Count);
    }

    [Fact]
    public void KeysWithoutAnEmitterOrIsaStayManagedAndSayWhy()
    {
        using var engine = new NeuralEngine(new EngineOptions { IsaCap = JitIsa.None, SynchronousCompilation = true });
        var key = new OpKey(OpKind.Relu, OpShape.Vector(8));
        Assert.False(engine.Jit.TryCompile(key, null, out _, out var reason));
        Assert.Equal(JitFailureKind.IsaUnavailable, reason!.Kind);
        Assert.Contains("None", reason.Message);
        Assert.Equal(reason, engine.Jit.WhyManaged(key));
        var ex = Assert.Throws<JitCompilationException>(() => engine.Jit.Compile(new OpKey((OpKind)999, OpShape.Vector(8)), JitIsa.Avx2));
        Assert.Equal(JitFailureKind.NoEmitter, ex.Failure.Kind);
        Assert.Contains("not an op", ex.Reason);
        foreach (var op in OpSpecs.All.Where(s => !s.HasEmitter).Select(s => s.Kind))
        {
            var none = Assert.Throws<JitCompilationException>(() => engine.Jit.Compile(new OpKey(op, OpShape.Vector(8)), JitIsa.Avx2));
            Assert.Equal(JitFailureKind.NoEmitter, none.Failure.Kind);
            Assert.Contains("no JIT emitter", none.Reason);
        }
        var bad = Assert.Throws<JitCompilationException>(() => engine.Jit.Compile(new OpKey(OpKind.LstmStep, new OpShape(12, 5, 4)), JitIsa.Avx2));
        Assert.Equal(JitFailureKind.InvalidDims, bad.Failure.Kind);
    }

    [Fact]
    public void TheIsaIsFixedByTheFirstCompile()
    {
        using var engine = new NeuralEngine(new EngineOptions { IsaCap = JitIsa.None, SynchronousCompilation = true });
        Assert.Equal(JitIsa.None, engine.Jit.Isa);
        Assert.True(engine.Jit.TrySetIsaCap(null, out _), "before the first compile the cap may change");
        Assert.Equal(CpuFeatures.Best, engine.Jit.Isa);
        engine.Jit.Compile(new OpKey(OpKind.Relu, OpShape.Vector(8)));
        Assert.True(engine.Jit.IsaFixed);

        Assert.False(engine.Jit.TrySetIsaCap(JitIsa.None, out var reason));
        Assert.Contains("fixed", reason);
        Assert.True(engine.Jit.TrySetIsaCap(CpuFeatures.Best, out _), "a cap that keeps the fixed ISA is accepted");
        if (CpuFeatures.Best == JitIsa.Avx512)
            Assert.False(engine.Jit.TrySetIsaCap(JitIsa.Avx2, out _), "narrowing a fixed AVX-512 engine is refused");
        else
            Assert.True(engine.Jit.TrySetIsaCap(JitIsa.Avx512, out _), "a cap above what the CPU has leaves the fixed AVX2 unchanged");
        Assert.Equal(CpuFeatures.Best, engine.Jit.Isa);
    }

    [Fact]
    public unsafe void AHotSlotIsCompiledInstalledAndKeepsCounting()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 100, ShareThreshold = 0.0, SynchronousCompilation = true });
        var slot = engine.Resolve(OpKind.Sigmoid, OpShape.Vector(64));
        var x = new float[64]; var y = new float[64];
        for (int i = 0; i < 64; i++) x[i] = (i - 32) / 4f;
        fixed (float* px = x, py = y)
        {
            KernelArgs a = default; a.A = px; a.C = py;
            for (int i = 0; i < 1000; i++) slot.Invoke(&a);
        }
        Assert.NotNull(slot.JitKernel);
        Assert.Equal(KernelTier.Jit, slot.Tier);
        var record = Assert.Single(engine.GetHotspots());
        Assert.Equal(HotspotStatus.Jit, record.Status);
        Assert.Equal(1000, record.Calls);
        Assert.Equal((HotspotTier)engine.Jit.Isa, record.Tier);
        for (int i = 0; i < 64; i++) Assert.Equal(ReferenceOps.Logistic(x[i]), y[i], 5);
    }

    [Fact]
    public async Task CallersOnManyThreadsKeepCorrectAnswersAndExactCountsWhileTheKernelIsSwappedIn()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 200, ShareThreshold = 0 });
        var slot = engine.Resolve(OpKind.Tanh, OpShape.Vector(100));
        const int threads = 4, calls = 3000;
        var x = Enumerable.Range(0, 100).Select(i => (i - 50) / 8f).ToArray();
        var expected = x.Select(MathF.Tanh).ToArray();
        int bad = 0;
        var workers = Enumerable.Range(0, threads).Select(_ => Task.Run(() =>
        {
            var y = new float[100];
            unsafe
            {
                fixed (float* px = x, py = y)
                {
                    KernelArgs a = default; a.A = px; a.C = py;
                    for (int c = 0; c < calls; c++)
                    {
                        slot.Invoke(&a);
                        for (int i = 0; i < 100; i++)
                            if (!(Math.Abs(y[i] - expected[i]) <= 1e-6 * Math.Abs(expected[i]) + 1e-7)) Interlocked.Increment(ref bad);
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        for (int i = 0; i < 500 && slot.JitKernel is null; i++) await Task.Delay(10);
        Assert.Equal(0, bad);
        Assert.NotNull(slot.JitKernel);
        Assert.Equal(threads * calls, slot.Snapshot().Calls);
    }

    [Fact]
    public unsafe void WithTheJitOffNothingIsPromoted()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0, JitEnabled = false, SynchronousCompilation = true });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(16));
        var x = new float[16];
        fixed (float* p = x)
        {
            KernelArgs a = default; a.A = p; a.C = p;
            for (int i = 0; i < 500; i++) slot.Invoke(&a);
        }
        Assert.Null(slot.JitKernel);
        Assert.Equal(0, engine.Jit.Builds);
    }

    [Fact]
    public async Task BackgroundCompilationInstallsTheKernel()
    {
        using var engine = new NeuralEngine(new EngineOptions { CallThreshold = 10, ShareThreshold = 0 });
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(16));
        CallMany(slot, new float[16], 200);
        for (int i = 0; i < 500 && slot.JitKernel is null; i++) await Task.Delay(10);
        Assert.NotNull(slot.JitKernel);
    }

    private static unsafe void CallMany(global::NeuralJit.Profiling.OpSlot slot, float[] x, int calls)
    {
        fixed (float* p = x)
        {
            KernelArgs a = default; a.A = p; a.C = p;
            for (int i = 0; i < calls; i++) slot.Invoke(&a);
        }
    }

    [Fact]
    public void DisposeUninstallsEveryKernelAndUnmapsTheCache()
    {
        var engine = JitTestEngine.Create();
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(16));
        Assert.NotNull(engine.Promotion.CompileAndInstall(slot));
        Assert.NotNull(slot.JitKernel);
        engine.Dispose();
        Assert.Null(slot.JitKernel);
        Assert.Throws<ObjectDisposedException>(() => engine.Jit.Cache!.TryInstall(Assemble(JitIsa.Avx2, OpKind.Relu, 4), out _, out _));
    }

    [Fact]
    public void Win64PrologueMovesTheArgumentAndSavesTheXmmRegistersTheBodyUses()
    {
        var k = new KernelAssembler(JitIsa.Avx2, new CallingConvention(win64: true));
        KernelEmitters.For(OpKind.Tanh)!.Emit(k, new OpKey(OpKind.Tanh, OpShape.Vector(100)));
        var bytes = k.Finish();
        var text = Disassemble(bytes);
        output.WriteLine(text);
        Assert.Contains("push rsi", text);
        Assert.Contains("push rdi", text);
        Assert.Contains("mov rdi,rcx", text.Replace(", ", ","));
        foreach (int x in new[] { 6, 7, 8, 9, 15 }) Assert.Contains($"xmm{x}", text);
        Assert.Contains("vzeroupper", text);

        var sysv = new KernelAssembler(JitIsa.Avx2, new CallingConvention(win64: false));
        KernelEmitters.For(OpKind.Tanh)!.Emit(sysv, new OpKey(OpKind.Tanh, OpShape.Vector(100)));
        var sysvText = Disassemble(sysv.Finish());
        Assert.DoesNotContain("push rsi", sysvText);
        Assert.DoesNotContain("push rdi", sysvText);
        Assert.Contains("push r15", sysvText);          // the constant pool's base register is callee-saved
        Assert.Contains("lea r15", sysvText);
        Assert.DoesNotContain("rcx,", sysvText.Split('\n')[0]);
    }

    private static string Disassemble(AssembledKernel a)
    {
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(a.Bytes[a.EntryOffset..]), 0);
        var f = new IntelFormatter();
        var o = new StringOutput();
        var sb = new System.Text.StringBuilder();
        while (decoder.IP < (ulong)a.CodeBytes) { decoder.Decode(out var i); f.Format(i, o); sb.AppendLine(o.ToStringAndReset()); }
        return sb.ToString();
    }

    [Fact]
    public void CompileTimeIsMeasuredAndDisassemblyIsIntelSyntax()
    {
        using var engine = JitTestEngine.Create();
        var kernel = engine.Jit.Compile(new OpKey(OpKind.Sigmoid, OpShape.Vector(64)), JitIsa.Avx2);
        Assert.True(kernel.CompileMicroseconds > 0 && kernel.InstallMicroseconds >= 0 && kernel.InstallMicroseconds <= kernel.CompileMicroseconds);
        string asm = kernel.Disassemble();
        Assert.Contains("vfmadd231ps ymm", asm);
        Assert.Contains("ret", asm);
        Assert.Contains("constant pool", asm);
    }
}
