using System.Runtime.Intrinsics;
using NeuralJit.Benchmarking;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>
/// The memory floor of the fused DncLinkTemporal kernel: one in-place read-modify-write pass (L = L·a + b) over the same
/// N×N floats, at the ISA's vector width (256 bits where .NET does not accelerate Vector512), interleaved with the kernel on its own workload. The kernel reads and writes L
/// once, so the pass is what it would cost with its arithmetic hidden entirely under the memory traffic.
/// </summary>
internal static unsafe class LinkFloor
{
    /// <summary>Medians (ns per call) of the pass and of the kernel, or null when the kernel does not compile.</summary>
    public static PairedMeasurement? Measure(int n, int heads, JitIsa isa, JitSource jit, BenchmarkBudget budget)
    {
        var key = new OpKey(OpKind.DncLinkTemporal, new OpShape(n, heads));
        var kernel = jit.Compile(key, isa);
        if (kernel is null) return null;
        using var w = new OpWorkload(key);
        long count = (long)n * n;
        // .NET leaves Vector512 unaccelerated on some AVX-512 parts (Cascade Lake: a software loop, 68 µs at 256² against
        // 7.6 µs at 256 bits); the memory floor is the same at either width.
        bool wide = isa == JitIsa.Avx512 && Vector512.IsHardwareAccelerated;
        var pass = w.CreateCustom((side, calls) =>
        {
            float* l = side.Pointer(OperandField.A);
            for (long c = 0; c < calls; c++)
                if (wide) ReadModifyWrite512(l, count); else ReadModifyWrite256(l, count);
        });
        var fused = w.CreateNative(kernel.Entry, kernel.SuppressGcTransition);
        return SideBySideRunner.Measure(pass, fused, budget);
    }

    private static void ReadModifyWrite512(float* p, long count)
    {
        Vector512<float> a = Vector512.Create(0.999f), b = Vector512.Create(1e-7f);
        long i = 0;
        for (; i + 64 <= count; i += 64)
        {
            Vector512.Store(Vector512.Load(p + i) * a + b, p + i);
            Vector512.Store(Vector512.Load(p + i + 16) * a + b, p + i + 16);
            Vector512.Store(Vector512.Load(p + i + 32) * a + b, p + i + 32);
            Vector512.Store(Vector512.Load(p + i + 48) * a + b, p + i + 48);
        }
        for (; i < count; i++) p[i] = p[i] * 0.999f + 1e-7f;
    }

    private static void ReadModifyWrite256(float* p, long count)
    {
        Vector256<float> a = Vector256.Create(0.999f), b = Vector256.Create(1e-7f);
        long i = 0;
        for (; i + 32 <= count; i += 32)
        {
            Vector256.Store(Vector256.Load(p + i) * a + b, p + i);
            Vector256.Store(Vector256.Load(p + i + 8) * a + b, p + i + 8);
            Vector256.Store(Vector256.Load(p + i + 16) * a + b, p + i + 16);
            Vector256.Store(Vector256.Load(p + i + 24) * a + b, p + i + 24);
        }
        for (; i < count; i++) p[i] = p[i] * 0.999f + 1e-7f;
    }
}
