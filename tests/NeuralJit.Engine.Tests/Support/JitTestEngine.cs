using Iced.Intel;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>Helpers shared by the JIT tests (jit-core and jit-gemm).</summary>
public static class JitTestEngine
{
    /// <summary>Both ISAs where this CPU runs them (xunit MemberData); AVX2 alone on an AVX2-only machine.</summary>
    public static TheoryData<JitIsa> Isas
    {
        get
        {
            var data = new TheoryData<JitIsa>();
            if (CpuFeatures.Best >= JitIsa.Avx2) data.Add(JitIsa.Avx2);
            if (CpuFeatures.Best >= JitIsa.Avx512) data.Add(JitIsa.Avx512);
            return data;
        }
    }

    /// <summary>
    /// Compiles and installs, for <paramref name="isa"/>, every slot of <paramref name="engine"/> that has an emitter (a
    /// network's whole step once the network exists), asserting each compiles for that ISA; returns the kernels.
    /// </summary>
    public static IReadOnlyList<JitKernel> InstallEverySlot(NeuralEngine engine, JitIsa isa)
    {
        var kernels = new List<JitKernel>();
        foreach (var slot in engine.Profile.Slots.ToList())
            if (KernelEmitters.For(slot.Key.Op) is not null)
            {
                var kernel = engine.Promotion.CompileAndInstall(slot);
                Assert.True(kernel is not null, $"{slot.Key} did not compile: {engine.Jit.WhyManaged(slot.Key)}");
                Assert.Equal(isa, kernel!.Isa);
                kernels.Add(kernel);
            }
        return kernels;
    }

    /// <summary>An engine whose cache holds a full sweep (1 MiB) and that compiles synchronously.</summary>
    public static NeuralEngine Create(int codeCacheBytes = 1 << 20) =>
        new(new EngineOptions { CodeCacheBytes = codeCacheBytes, SynchronousCompilation = true });

    /// <summary>
    /// Compiles every shape of a sweep for <paramref name="op"/> on <paramref name="isa"/> and checks each with
    /// <see cref="JitConformance.Check"/> across placements and input kinds, within <paramref name="tol"/> (by default the op's
    /// JIT tolerance from its descriptor). Returns the worst error seen.
    /// </summary>
    public static double Sweep(OpKind op, JitIsa isa, OpTolerance? tol, int shapes, int seed, InputKind inputs = InputKind.Random,
        float range = 1f, Func<string, Random, float>? fill = null, int max = 300)
    {
        using var engine = Create();
        double worst = 0;
        int i = 0;
        foreach (var shape in JitConformance.Shapes(op, shapes, seed, max))
        {
            var kernel = engine.Jit.Compile(new OpKey(op, shape), isa);
            var r = JitConformance.Check(kernel, tol ?? OpTestData.For(op, shape, KernelTier.Jit), seed * 1000 + i, JitConformance.PlacementFor(i), inputs, range, fill);
            worst = Math.Max(worst, r.MaxAbsError);
            i++;
        }
        return worst;
    }

    /// <summary>Every byte of kernel.Code decodes (no invalid opcodes, no bytes left over) and the last instruction is ret.</summary>
    public static void AssertDecodes(JitKernel kernel)
    {
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(kernel.Code), (ulong)kernel.Entry);
        ulong end = (ulong)kernel.Entry + (ulong)kernel.Code.Length;
        Instruction last = default;
        int count = 0;
        while (decoder.IP < end)
        {
            decoder.Decode(out last);
            Assert.False(last.IsInvalid, $"{kernel.Name}: invalid instruction at +{last.IP - (ulong)kernel.Entry}");
            count++;
        }
        Assert.Equal(end, decoder.IP);
        Assert.Equal(Mnemonic.Ret, last.Mnemonic);
        Assert.True(count > 1, $"{kernel.Name}: {count} instructions");
        Assert.Contains("vzeroupper", kernel.Disassemble());
    }
}
