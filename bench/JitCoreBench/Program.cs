// Side-by-side timing of jit-core's kernels: JIT vs ManagedSimd vs Scalar, interleaved rounds, medians.
// Also warm compile and install times and code sizes. Run: dotnet run -c Release --project bench/JitCoreBench [-- rounds]
using System.Diagnostics;
using NeuralJit;
using NeuralJit.Jit;
using NeuralJit.Ops;

unsafe
{
    int rounds = args.Length > 0 ? int.Parse(args[0]) : 31;
    using var engine = new NeuralEngine(new EngineOptions { CodeCacheBytes = 4 << 20, SynchronousCompilation = true });
    var isa = CpuFeatures.Best;
    Console.WriteLine($"CPU: {CpuFeatures.Describe()}; JIT ISA {isa}; {rounds} interleaved rounds, median ns per call (Stopwatch over a batch); load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} on {Environment.ProcessorCount} cores");

    // ---- compile and install, warm ----
    JitCompiler.WarmUpInBackground().Wait();
    // Let tiered compilation finish with Iced and our emitters (30 calls, then a quiet 100 ms), as a long-running session would.
    for (int w = 0; w < 4; w++)
    {
        for (int i = 1; i <= 60; i++) engine.Jit.Compile(new OpKey((OpKind)((int)OpKind.CosineSimilarity + i % 10), OpShape.Vector(5000 + w * 100 + i)), isa);
        Thread.Sleep(300);
    }
    var compile = new List<double>(); var install = new List<double>(); var bytes = new List<int>();
    var kinds = new[] { OpKind.Sigmoid, OpKind.Tanh, OpKind.Softmax, OpKind.Dot, OpKind.Add };
    for (int i = 0; i < 200; i++)
    {
        var op = kinds[i % kinds.Length];
        var k = engine.Jit.Compile(new OpKey(op, OpShape.Vector(64 + i)), isa);
        compile.Add(k.CompileMicroseconds); install.Add(k.InstallMicroseconds); bytes.Add(k.Code.Length);
    }
    {
        // Where compile time goes: emit (our emitter over Iced's Assembler) vs Finish (BlockEncoder + layout).
        var emitT = new List<double>(); var finishT = new List<double>(); var instrs = new List<double>();
        for (int i = 0; i < 200; i++)
        {
            var key = new OpKey(kinds[i % kinds.Length], OpShape.Vector(64 + i));
            long t0 = Stopwatch.GetTimestamp();
            var ka = new KernelAssembler(isa);
            KernelEmitters.For(key.Op)!.Emit(ka, key);
            long t1 = Stopwatch.GetTimestamp();
            instrs.Add(ka.Asm.Instructions.Count);
            ka.Finish();
            long t2 = Stopwatch.GetTimestamp();
            emitT.Add((t1 - t0) * 1e6 / Stopwatch.Frequency); finishT.Add((t2 - t1) * 1e6 / Stopwatch.Frequency);
        }
        Console.WriteLine($"breakdown (same 200 keys, not installed): emit median {Median(emitT):F1} µs, encode+layout median {Median(finishT):F1} µs, instructions median {Median(instrs):F0}");
    }
    var dncCompile = new List<double>();
    for (int i = 0; i < 50; i++) dncCompile.Add(engine.Jit.Compile(new OpKey(OpKind.DncContent, OpShape.Matrix(256, 64, 64 + i + 1)), isa).CompileMicroseconds);
    Console.WriteLine($"compile+install (200 element-wise/softmax/dot kernels, warm): median {Median(compile):F1} µs, min {compile.Min():F1}, max {compile.Max():F1}; install alone median {Median(install):F2} µs; code bytes median {Median(bytes.Select(b => (double)b).ToList()):F0} (min {bytes.Min()}, max {bytes.Max()})");
    Console.WriteLine($"compile+install DncContent 256x64 (50 kernels, warm): median {Median(dncCompile):F1} µs");
    Console.WriteLine($"code cache: {engine.Jit.Cache}");
    Console.WriteLine();

    var cases = new (string Name, OpKey Key)[]
    {
        ("DncContent 256x64", new OpKey(OpKind.DncContent, OpShape.Matrix(256, 64))),
        ("DncContent 256x64 (AVX2)", new OpKey(OpKind.DncContent, OpShape.Matrix(256, 64))),
        ("Cosine 256x64", new OpKey(OpKind.CosineSimilarity, OpShape.Matrix(256, 64))),
        ("Cosine 1024x16", new OpKey(OpKind.CosineSimilarity, OpShape.Matrix(1024, 16))),
        ("Cosine 64x256", new OpKey(OpKind.CosineSimilarity, OpShape.Matrix(64, 256))),
        ("Cosine 128x64 (L1)", new OpKey(OpKind.CosineSimilarity, OpShape.Matrix(128, 64))),
        ("EWC 128x128", new OpKey(OpKind.EwcPenalty, OpShape.Matrix(128, 128))),
        ("EWC 1e6", new OpKey(OpKind.EwcPenalty, OpShape.Matrix(1000, 1000))),
        ("Softmax 256", new OpKey(OpKind.Softmax, OpShape.Vector(256))),
        ("Sigmoid 512", new OpKey(OpKind.Sigmoid, OpShape.Vector(512))),
        ("Tanh 512", new OpKey(OpKind.Tanh, OpShape.Vector(512))),
    };
    Console.WriteLine($"{"op",-24} {"JIT ns",10} {"JIT min",9} {"Managed ns",11} {"Scalar ns",11} {"xManaged",9} {"xScalar",9} {"JIT Rel.err",12} {"code B",7}");
    foreach (var (name, key) in cases)
    {
        var s = key.Shape;
        int n = key.Op is OpKind.EwcPenalty ? s.M * s.N : key.Op is OpKind.DncContent or OpKind.CosineSimilarity ? s.M * s.N : s.M;
        var rng = new Random(1);
        using var a = new AlignedBuffer(n); using var b = new AlignedBuffer(Math.Max(n, 1)); using var c = new AlignedBuffer(Math.Max(n, s.M));
        for (int i = 0; i < n; i++) { a.Span[i] = (float)(rng.NextDouble() * 2 - 1); b.Span[i] = (float)(rng.NextDouble() * 2 - 1); c.Span[i] = (float)rng.NextDouble(); }
        KernelArgs ka = default;
        ka.A = a.Pointer; ka.B = b.Pointer; ka.C = c.Pointer; ka.Alpha = key.Op == OpKind.DncContent ? 5f : 0.7f;
        var kernel = engine.Jit.Compile(key, name.EndsWith("(AVX2)") ? JitIsa.Avx2 : isa);
        var jit = (delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)kernel.Entry;
        var managed = ManagedKernels.Get(key.Op, KernelTier.ManagedSimd);
        var scalar = ManagedKernels.Get(key.Op, KernelTier.Scalar);

        // Correctness of this very run: JIT vs Scalar outputs.
        double err = 0;
        if (key.Op == OpKind.EwcPenalty) { scalar(in s, &ka); double r = ka.Result; jit(&ka); err = Math.Abs(ka.Result - r) / Math.Abs(r); }
        else
        {
            scalar(in s, &ka); var r = c.Span[..s.M].ToArray(); jit(&ka);
            for (int i = 0; i < s.M; i++) err = Math.Max(err, Math.Abs(c.Span[i] - r[i]) / Math.Max(1e-30, Math.Abs(r[i])));
        }

        // Batch sizes so one timed batch is ~50 µs for the fastest tier.
        long Time(Action run, int iters) { var sw = Stopwatch.StartNew(); for (int i = 0; i < iters; i++) run(); return sw.ElapsedTicks; }
        KernelArgs* pa = &ka;
        OpShape shape = s;
        void J() => jit(pa);
        void M() => managed(in shape, pa);
        void S() => scalar(in shape, pa);
        // Warm-up (time-based, so the managed tiers reach tier-1 code) and calibration.
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 400) { J(); M(); S(); }
        Thread.Sleep(200);
        warm.Restart();
        while (warm.ElapsedMilliseconds < 200) { J(); M(); S(); }
        double probe = Time(J, 100) * 1e9 / Stopwatch.Frequency / 100;
        int iters = Math.Clamp((int)(50_000 / Math.Max(probe, 1)), 3, 20000);
        int scalarIters = Math.Max(1, iters / 10);
        var tj = new List<double>(); var tm = new List<double>(); var ts = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            tj.Add(Time(J, iters) * 1e9 / Stopwatch.Frequency / iters);
            tm.Add(Time(M, iters) * 1e9 / Stopwatch.Frequency / iters);
            ts.Add(Time(S, scalarIters) * 1e9 / Stopwatch.Frequency / scalarIters);
        }
        double mj = Median(tj), mm = Median(tm), ms = Median(ts);
        Console.WriteLine($"{name,-24} {mj,10:F1} {tj.Min(),9:F1} {mm,11:F1} {ms,11:F1} {mm / mj,8:F2}x {ms / mj,8:F2}x {err,12:E1} {kernel.Code.Length,7}");
    }
}

static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }
