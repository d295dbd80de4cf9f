using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>
/// Warm kernel compile + install time and code size: what a promotion costs once Iced is warm.
/// Each compile is a new key (no kernel-cache hit) into the same code cache (no new mapping).
/// </summary>
internal static class CompileTime
{
    public static void Print(JitIsa isa)
    {
        using var engine = new NeuralEngine(new EngineOptions { CodeCacheBytes = 8 << 20, JitEnabled = false, SynchronousCompilation = true });
        JitCompiler.WarmUpInBackground().Wait();
        var kinds = new[] { OpKind.Sigmoid, OpKind.Tanh, OpKind.Softmax, OpKind.Dot, OpKind.Add };
        var heavy = new (string Name, OpKey Key)[]
        {
            ("DncContent 256x64", new OpKey(OpKind.DncContent, OpShape.Matrix(256, 64))),
            ("LstmGates 512x192 (fused)", new OpKey(OpKind.LstmGates, new OpShape(512, 64, 128))),
            ("Gemm 64x64x64", new OpKey(OpKind.Gemm, OpShape.ForGemm(64, 64, 64))),
        };
        // Let tiered compilation finish with Iced and every emitter measured, as a long-running session would
        // (a leading dimension no measured key uses makes each warm-up compile a new key).
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 60; i++)
            {
                engine.Jit.Compile(new OpKey(kinds[i % kinds.Length], OpShape.Vector(5000 + round * 100 + i)), isa);
                var (_, key) = heavy[i % heavy.Length];
                engine.Jit.Compile(new OpKey(key.Op, key.Shape with { Lda = key.Shape.StrideA(key.Op) + 1000 + round * 100 + i }), isa);
            }
            Thread.Sleep(200);
        }
        var compile = new List<double>();
        var install = new List<double>();
        var bytes = new List<double>();
        for (int i = 0; i < 200; i++)
        {
            var k = engine.Jit.Compile(new OpKey(kinds[i % kinds.Length], OpShape.Vector(64 + i)), isa);
            compile.Add(k.CompileMicroseconds);
            install.Add(k.InstallMicroseconds);
            bytes.Add(k.Code.Length);
        }
        Console.WriteLine();
        Console.WriteLine($"Compile + install, warm, {isa} (200 new element-wise/softmax/dot keys): median {Median(compile):F1} µs " +
                          $"(min {compile.Min():F1}, max {compile.Max():F1}); install alone median {Median(install):F2} µs; code bytes median {Median(bytes):F0} (min {bytes.Min()}, max {bytes.Max()})");
        foreach (var (name, key) in heavy)
        {
            var times = new List<double>();
            for (int i = 1; i <= 25; i++)
            {
                var s = key.Shape;
                // A new leading dimension makes each compile a new key of the same size.
                var k = engine.Jit.Compile(new OpKey(key.Op, s with { Lda = s.StrideA(key.Op) + i }), isa);
                times.Add(k.CompileMicroseconds);
            }
            Console.WriteLine($"  {name,-28} median {Median(times),7:F1} µs over 25 new keys");
        }
        Console.WriteLine($"  code cache: {engine.Jit.Cache}");
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
