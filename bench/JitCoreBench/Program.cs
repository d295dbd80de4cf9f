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
            var key = Environment.GetEnvironmentVariable("NJ_SAMEKEY") == "1" ? new OpKey(OpKind.Tanh, OpShape.Vector(100)) : new OpKey(kinds[i % kinds.Length], OpShape.Vector(64 + i));
            long t0 = Stopwatch.GetTimestamp();
            var ka = new KernelAssembler(isa);
            KernelEmitters.For(key.Op)!.Emit(ka, key);
            long t1 = Stopwatch.GetTimestamp();
            instrs.Add(ka.Asm.Instructions.Count);
            ka.Finish();
            long t2 = Stopwatch.GetTimestamp();
            emitT.Add((t1 - t0) * 1e6 / Stopwatch.Frequency); finishT.Add((t2 - t1) * 1e6 / Stopwatch.Frequency);
        }
        Console.WriteLine($"breakdown (same 200 keys, not installed): emit median {Median(emitT):F1} µs (min {emitT.Min():F1}), encode+layout median {Median(finishT):F1} µs (min {finishT.Min():F1}), instructions median {Median(instrs):F0}");
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
    Console.WriteLine($"{"op",-24} {"JIT ns",10} {"(min)",9} {"Managed ns",11} {"(min)",9} {"Scalar ns",11} {"xManaged",9} {"xScalar",9} {"JIT rel.err",12} {"code B",7}");
    var benches = new List<Bench>();
    foreach (var (name, key) in cases) benches.Add(new Bench(name, key, engine.Jit.Compile(key, name.EndsWith("(AVX2)") ? JitIsa.Avx2 : isa)));
    // Warm every tier of every case together, long enough for tiered compilation to finish on a loaded machine.
    var warm = Stopwatch.StartNew();
    while (warm.ElapsedMilliseconds < 1500) foreach (var b in benches) { b.Jit(); b.Managed(); b.Scalar(); }
    Thread.Sleep(1000);
    warm.Restart();
    while (warm.ElapsedMilliseconds < 500) foreach (var b in benches) { b.Jit(); b.Managed(); b.Scalar(); }
    foreach (var b in benches)
    {
        double probe = Bench.Time(b.Jit, 20) * 1e9 / Stopwatch.Frequency / 20;
        int iters = Math.Clamp((int)(50_000 / Math.Max(probe, 1)), 3, 20000);
        int scalarIters = Math.Max(1, iters / 10);
        var tj = new List<double>(); var tm = new List<double>(); var ts = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            tj.Add(Bench.Time(b.Jit, iters) * 1e9 / Stopwatch.Frequency / iters);
            tm.Add(Bench.Time(b.Managed, iters) * 1e9 / Stopwatch.Frequency / iters);
            ts.Add(Bench.Time(b.Scalar, scalarIters) * 1e9 / Stopwatch.Frequency / scalarIters);
        }
        double mj = Median(tj), mm = Median(tm), ms = Median(ts);
        Console.WriteLine($"{b.Name,-24} {mj,10:F1} {tj.Min(),9:F1} {mm,11:F1} {tm.Min(),9:F1} {ms,11:F1} {mm / mj,8:F2}x {ms / mj,8:F2}x {b.RelativeError(),12:E1} {b.Kernel.Code.Length,7}");
    }
}

static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }

/// <summary>One benchmark case: operands in aligned buffers and the three tiers as callable actions.</summary>
sealed unsafe class Bench
{
    private readonly KernelArgs* _args;
    private readonly OpShape _shape;
    private readonly AlignedBuffer _a, _b, _c;
    private readonly delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void> _jit;
    private readonly delegate* unmanaged<KernelArgs*, void> _jitGc;
    private readonly delegate*<in OpShape, KernelArgs*, void> _managed, _scalar;

    public Bench(string name, OpKey key, JitKernel kernel)
    {
        Name = name; Key = key; Kernel = kernel; _shape = key.Shape;
        var s = key.Shape;
        int n = key.Op is OpKind.EwcPenalty or OpKind.DncContent or OpKind.CosineSimilarity ? s.M * s.N : s.M;
        var rng = new Random(1);
        _a = new AlignedBuffer(n); _b = new AlignedBuffer(Math.Max(n, 1)); _c = new AlignedBuffer(Math.Max(n, s.M));
        for (int i = 0; i < n; i++) { _a.Span[i] = (float)(rng.NextDouble() * 2 - 1); _b.Span[i] = (float)(rng.NextDouble() * 2 - 1); _c.Span[i] = (float)rng.NextDouble(); }
        _args = (KernelArgs*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)sizeof(KernelArgs), 64);
        *_args = default;
        _args->A = _a.Pointer; _args->B = _b.Pointer; _args->C = _c.Pointer; _args->Alpha = key.Op == OpKind.DncContent ? 5f : 0.7f;
        _jit = (delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)kernel.Entry;
        _jitGc = (delegate* unmanaged<KernelArgs*, void>)kernel.Entry;
        _managed = ManagedKernels.Get(key.Op, KernelTier.ManagedSimd);
        _scalar = ManagedKernels.Get(key.Op, KernelTier.Scalar);
    }

    public string Name { get; }
    public OpKey Key { get; }
    public JitKernel Kernel { get; }

    // As OpSlot.Run calls them.
    public void Jit() { if (Kernel.SuppressGcTransition) _jit(_args); else _jitGc(_args); }
    public void Managed() => _managed(in _shape, _args);
    public void Scalar() => _scalar(in _shape, _args);

    public static long Time(Action run, int iters) { var sw = Stopwatch.StartNew(); for (int i = 0; i < iters; i++) run(); return sw.ElapsedTicks; }

    /// <summary>Worst relative error of the JIT output against the Scalar tier on these operands.</summary>
    public double RelativeError()
    {
        double err = 0;
        if (Key.Op == OpKind.EwcPenalty) { Scalar(); double r = _args->Result; Jit(); return Math.Abs(_args->Result - r) / Math.Abs(r); }
        Scalar(); var expected = _c.Span[.._shape.M].ToArray(); Jit();
        for (int i = 0; i < _shape.M; i++) err = Math.Max(err, Math.Abs(_c.Span[i] - expected[i]) / Math.Max(1e-30, Math.Abs(expected[i])));
        return err;
    }
}
