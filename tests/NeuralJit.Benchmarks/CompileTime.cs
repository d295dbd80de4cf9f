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
            ("LstmStep 512x192", new OpKey(OpKind.LstmStep, new OpShape(512, 64, 128))),
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
        PrintPhases(isa, kinds.Select(op => new OpKey(op, OpShape.Vector(200))).Concat(heavy.Select(h => h.Key)));
    }

    /// <summary>
    /// Where a compile's time goes, per key: emitting into Iced's Assembler vs <see cref="KernelAssembler.Finish"/> (prologue,
    /// pool, encoding), and the floor under Finish: Iced's Encoder alone over the same instructions into a reused buffer.
    /// </summary>
    private static void PrintPhases(JitIsa isa, IEnumerable<OpKey> keys)
    {
        Console.WriteLine("  phases (median of 25 assemblies on this thread, no install):");
        foreach (var key in keys)
        {
            var emitter = KernelEmitters.For(key.Op)!;
            var emit = new List<double>();
            var finish = new List<double>();
            var encodeOnly = new List<double>();
            int instructions = 0;
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 25; i++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                var k = new KernelAssembler(isa);
                emitter.Emit(k, key);
                long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
                instructions = k.Asm.Instructions.Count;
                k.Finish();
                long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
                emit.Add((t1 - t0) * 1e6 / System.Diagnostics.Stopwatch.Frequency);
                finish.Add((t2 - t1) * 1e6 / System.Diagnostics.Stopwatch.Frequency);
            }
            allocated = (GC.GetAllocatedBytesForCurrentThread() - allocated) / 25;
            var last = new KernelAssembler(isa);
            emitter.Emit(last, key);
            var body = last.Asm.Instructions.Where(x => !x.IsJccShortOrNear && !x.IsJmpShortOrNear).ToArray(); // branches need their labels
            last.Finish();
            var sink = new SinkWriter();
            var encoder = Iced.Intel.Encoder.Create(64, sink);
            for (int i = 0; i < 50; i++) // the first 25 warm this loop up
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                sink.Length = 0;
                foreach (var instr in body) encoder.TryEncode(instr, (ulong)sink.Length, out _, out _);
                if (i >= 25) encodeOnly.Add((System.Diagnostics.Stopwatch.GetTimestamp() - t0) * 1e6 / System.Diagnostics.Stopwatch.Frequency);
            }
            Console.WriteLine($"    {key,-34} {instructions,5} instructions: emit {Median(emit),6:F1} µs, finish {Median(finish),6:F1} µs " +
                              $"(Iced encoder alone {Median(encodeOnly),6:F1} µs), {allocated,7:N0} bytes allocated per kernel");
        }
    }

    private sealed class SinkWriter : Iced.Intel.CodeWriter
    {
        private readonly byte[] _bytes = new byte[1 << 20];
        public int Length;
        public override void WriteByte(byte value) => _bytes[Length++] = value;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
