using System.Globalization;
using NeuralJit;
using NeuralJit.Benchmarking;
using NeuralJit.Jit;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarks;

/// <summary>
/// Prints issue 3's benchmark table: every figure is a median measured side by side, interleaved, in
/// this run (see <see cref="SideBySideRunner"/>), with the ratio and the target it is held to.
/// Usage: <c>dotnet run -c Release --project tests/NeuralJit.Benchmarks -- [filter] [--seconds S]</c>;
/// the filter is a case-insensitive substring of the row name (e.g. <c>gemm</c>, <c>avx2</c>, <c>lstm</c>; <c>session</c>: a call's network setup; <c>call cost</c>: a cmdlet call's fixed cost;
/// <c>dnc step</c>: the issue's three LSTM + DNC steps; <c>dnc curve</c>: the step's scaling curve over N; <c>subnormal weightings</c>:
/// the link kernel on subnormal weightings, IEEE against <see cref="EngineOptions.FlushDenormals"/>);
/// <c>--compare DIR</c> (a copy of another build's output) times that build's DNC steps beside this one's.
/// </summary>
internal static unsafe class Program
{
    private static string s_filter = "";
    private static BenchmarkBudget s_budget = new(TimeSpan.FromMilliseconds(300));
    private static readonly List<string[]> s_rows = new();
    private static readonly List<OpKey> s_extra = new();
    /// <summary>--compare DIR: the DNC step and curve rows also time that build's step beside this one's.</summary>
    private static ForeignBuild? s_compare;

    private static int Main(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--seconds" && i + 1 < args.Length) s_budget = new(TimeSpan.FromSeconds(double.Parse(args[++i], CultureInfo.InvariantCulture)));
            else if (args[i] == "--key" && i + 1 < args.Length)
            {
                // --key Op:Dims (e.g. LstmStep:128x48): measure only this key, against ManagedSimd, under both ISAs.
                var parts = args[++i].Split(':');
                var op = Enum.Parse<OpKind>(parts[0], ignoreCase: true);
                if (!OpKey.TryParse(op, parts[1], out var key, out string? why)) { Console.Error.WriteLine(why); return 2; }
                s_extra.Add(key);
            }
            else if (args[i] == "--compare" && i + 1 < args.Length) s_compare = new ForeignBuild(args[++i]);
            else s_filter = args[i];
        }
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Console.WriteLine($"NeuralJit benchmarks — {CpuFeatures.Describe()}; best ISA {CpuFeatures.Best}; TSC {Profiling.CycleClock.Frequency / 1e9:F3} GHz ({Profiling.CycleClock.TrustReason})");
        Console.WriteLine($"Managed SIMD tier: {Ops.ManagedSimdOps.VectorBits}-bit vectors; JIT ISA cap: {CpuFeatures.Effective()} (NEURALJIT_MAX_ISA=Avx2 narrows both, for a like-for-like AVX2 comparison).");
        Console.WriteLine($"Each row: both sides interleaved in one run, ~{s_budget.Time.TotalMilliseconds:N0} ms per row; times are medians of timed batches (ns per call).");

        var roof = Roofline.Measure();
        Console.WriteLine();
        Console.WriteLine($"Roofline (emitted loops, best of 7 runs; measured in {roof.MeasurementMilliseconds:N0} ms):");
        Console.WriteLine($"  FMA peak: AVX2 {roof.Avx2PeakGFlops:N1} GFLOP/s, AVX-512 {(roof.Avx512PeakGFlops is double z ? z.ToString("N1") : "n/a")} GFLOP/s ({roof.PeakFlopsPerTick:N1} flop/TSC tick)");
        Console.WriteLine($"  Read bandwidth: L1 {roof.L1ReadGBps:N0} GB/s ({roof.L1BytesPerTick:N0} B/tick), L2 {roof.L2ReadGBps:N0} ({roof.L2BytesPerTick:N0}), L3 {roof.L3ReadGBps:N0} ({roof.L3BytesPerTick:N0}), memory {roof.MemoryReadGBps:N0} ({roof.MemoryBytesPerTick:N1})");
        Console.WriteLine($"  In-place update (bytes read + written back): L1 {roof.L1UpdateGBps:N0} GB/s, L2 {roof.L2UpdateGBps:N0}, L3 {roof.L3UpdateGBps:N0}, memory {roof.MemoryUpdateGBps:N0}; write only: L1 {roof.L1WriteGBps:N0}, L2 {roof.L2WriteGBps:N0}, L3 {roof.L3WriteGBps:N0}, memory {roof.MemoryWriteGBps:N0}");
        Console.WriteLine($"  Half read, half written: L1 {roof.L1ReadWriteGBps:N0} GB/s, L2 {roof.L2ReadWriteGBps:N0}, L3 {roof.L3ReadWriteGBps:N0}, memory {roof.MemoryReadWriteGBps:N0} (reads and writes overlap: {string.Join(", ", new[] { roof.L1DataBytes / 2, roof.L2Bytes / 2, roof.L3Bytes / 2, roof.L3Bytes * 2 }.Select(b => $"{100 * (1 - roof.CeilingFor(b).Serial):N0}%"))})");
        Console.WriteLine($"  Caches: L1d {roof.L1DataBytes / 1024} KiB, L2 {roof.L2Bytes / 1024} KiB, L3 {roof.L3Bytes / 1024 / 1024} MiB ({roof.CacheSizeSource}); test buffers {string.Join(", ", roof.TestBufferBytes.Select(b => $"{b / 1024} KiB"))}");

        if (Selected("roofline curve"))
            for (int i = 0; i < roof.ReadCurveBytes.Length; i++)
                Console.WriteLine($"  curve {roof.ReadCurveBytes[i] / 1024.0,8:N1} KiB: read {roof.ReadCurveGBps[i],6:N1}, update {roof.UpdateCurveGBps[i],6:N1}, write {roof.WriteCurveGBps[i],6:N1} GB/s");

        bool xsmm = Libxsmm.TryLoad();
        Console.WriteLine();
        Console.WriteLine(xsmm ? $"LIBXSMM: loaded from {Libxsmm.Origin}" : $"LIBXSMM: NOT AVAILABLE — {Libxsmm.Unavailable}. GEMM rows compare against ManagedSimd only.");

        using var jit = new JitSource();
        Console.WriteLine(jit.Description);
        var isas = new[] { JitIsa.Avx512, JitIsa.Avx2 }.Where(i => i <= CpuFeatures.Effective()).ToArray();

        if (s_extra.Count > 0)
        {
            foreach (var key in s_extra)
                foreach (var isa in isas)
                    Versus(key, isa, KernelTier.ManagedSimd, jit, roof, "—", _ => true, "ad hoc");
            Print();
            return 0;
        }

        if (Selected("compile")) CompileTime.Print(isas[0]);
        if (Selected("session")) NetworkSetup.Print();
        if (Selected("call cost")) CallCost.Print();

        // GEMM against LIBXSMM, under both ISAs (AVX2 against the AVX2 peak and LIBXSMM capped at AVX2).
        foreach (var isa in isas)
        {
            if (xsmm) Libxsmm.Retarget(isa == JitIsa.Avx2 ? Libxsmm.ArchAvx2 : null);
            foreach (int d in new[] { 64, 128, 256 })
                GemmVsLibxsmm(new OpKey(OpKind.Gemm, OpShape.ForGemm(d, d, d)), isa, jit, roof, xsmm);
        }

        // The issue's latency targets (ns) on the best ISA, against the managed tier.
        var best = isas[0];
        var targets = new (OpKey Key, double TargetNs, string Note)[]
        {
            (new OpKey(OpKind.LstmStep, new OpShape(512, 64, 128)), 2400, "LSTM step 64→128, batch 1 (gates+cell)"),
            (new OpKey(OpKind.Dense, OpShape.Matrix(128, 64)), 100, "Dense 64→128, batch 1"),
            (new OpKey(OpKind.DncContent, OpShape.Matrix(256, 64)), 600, "DNC content 256×64"),
            (new OpKey(OpKind.EwcPenalty, OpShape.Matrix(128, 128)), 1100, "EWC 128×128"),
            (new OpKey(OpKind.EwcPenalty, OpShape.Vector(1_000_000)), 140_000, "EWC 1e6 parameters"),
        };
        foreach (var (key, target, note) in targets)
            foreach (var isa in isas)
                Versus(key, isa, KernelTier.ManagedSimd, jit, roof, $"≤ {target:N0} ns", r => r.JitNanoseconds <= target, note);

        // The reference shapes: every op ≥ 6× Scalar and never slower than ManagedSimd.
        foreach (var key in SpeedupBenchmark.SeedTable)
            foreach (var isa in isas)
            {
                Versus(key, isa, KernelTier.Scalar, jit, roof, "≥ 6x", r => r.Speedup >= 6, "reference shapes");
                Versus(key, isa, KernelTier.ManagedSimd, jit, roof, "≥ 1x", r => r.Speedup >= 1, "reference shapes");
            }

        DncRows(isas, jit, roof);

        Print();
        Console.WriteLine();
        Console.WriteLine("Legend: Base/JIT ns = medians (ns per call) of interleaved batches; Ratio = Base/JIT (for GEMM vs LIBXSMM: JIT GFLOP/s ÷ LIBXSMM GFLOP/s);");
        Console.WriteLine("  ±99.9% = half the 99.9% CI of the JIT mean; %bound = roofline bound ÷ JIT time (compute: FMA peak of the ISA; else the bytes read, updated in place and written, each at the rate measured at the nearest buffer not above the working set (a level's loop or a curve point; a larger buffer's where it ran faster; or a smaller buffer's worth kept at its rate and the rest at the rate beyond, where faster), the times added as far as the level does not overlap reads with writes);");
        Console.WriteLine("  MaxAbsErr = largest |baseline − JIT| over all outputs after one call from the same inputs (DNC step rows: over the outputs of 200 steps from a fresh state);");
        Console.WriteLine("  DNC step and curve rows time batches of back-to-back steps (≥ 10 ms a side, as a user runs them), so the other side's step does not evict each step's weights;");
        Console.WriteLine("  DNC step bound = Σ over the step's ops of the same bound, at the rates of the whole step's working set (each op's operands once), from the step's profile;");
        Console.WriteLine("  DNC curve rows: the same step for N = 64 … 4096 (W = 64, R = 4, H = 128, I = 64), target 1.5 × its bound; MaxAbsErr over 200·256/N steps (10 to 200).");
        return 0;
    }

    /// <summary>The issue's three LSTM + DNC networks (output 10): sizes and the steady-step targets (ns) on Zen 3 AVX2.</summary>
    private static readonly (string Name, NetworkSizes Sizes, double TargetNs)[] DncNetworks =
    {
        ("N=64 W=16 R=2 H=64 I=32", new NetworkSizes(32, 64, 10) { MemorySlots = 64, MemoryWidth = 16, ReadHeads = 2 }, 4_000),
        ("N=256 W=64 R=4 H=128 I=64", new NetworkSizes(64, 128, 10) { MemorySlots = 256, MemoryWidth = 64, ReadHeads = 4 }, 40_000),
        ("N=1024 W=64 R=4 H=128 I=64", new NetworkSizes(64, 128, 10) { MemorySlots = 1024, MemoryWidth = 64, ReadHeads = 4 }, 300_000),
    };

    /// <summary>Each DNC op of the N=256 and N=1024 networks, JIT vs managed, then the whole step of each network.</summary>
    private static void DncRows(JitIsa[] isas, JitSource jit, RooflineResult roof)
    {
        foreach (var (n, w, r) in new[] { (256, 64, 4), (1024, 64, 4) })
        {
            var keys = new[]
            {
                new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), new OpKey(OpKind.DncWriteContent, new OpShape(n, w, r)),
                new OpKey(OpKind.DncTemporal, new OpShape(n, r)), new OpKey(OpKind.DncRead, new OpShape(n, w, r)),
                new OpKey(OpKind.DncLinkUpdate, OpShape.Vector(n)), new OpKey(OpKind.DncWrite, new OpShape(n, w)),
                new OpKey(OpKind.DncAllocation, OpShape.Vector(n)), new OpKey(OpKind.DncReadWeighting, new OpShape(n, r)),
                new OpKey(OpKind.DncWriteWeighting, OpShape.Vector(n)), new OpKey(OpKind.DncUsage, new OpShape(n, r)),
                new OpKey(OpKind.DncInterface, new OpShape(r, w)),
            };
            foreach (var key in keys)
                foreach (var isa in isas)
                    Versus(key, isa, KernelTier.ManagedSimd, jit, roof, "≥ 1x", res => res.Speedup >= 1, "dnc op");
        }
        foreach (int n in new[] { 64, 256, 1024 })
            foreach (var isa in isas)
                LinkFusion(n, 4, isa, jit, roof);
        foreach (var (n, r) in new[] { (64, 2), (256, 4), (1024, 4), (4096, 4) })
            foreach (var isa in isas)
                LinkVersusFloor(n, r, isa, jit);
        foreach (var (n, w, r) in new[] { (64, 16, 2), (256, 64, 4), (1024, 64, 4) })
            foreach (var isa in isas)
                WriteContentFusion(n, w, r, isa, jit, roof);
        var jitStepNs = new Dictionary<(string, JitIsa), double>();
        foreach (var (name, sizes, target) in DncNetworks)
            foreach (var isa in isas)
            {
                double goal = isa == JitIsa.Avx512 && sizes.MemorySlots == 256 ? 20_000 : target;
                if (DncStep($"DNC step {name} {isa} vs ManagedSimd", sizes, isa, roof, _ => goal) is double ns) jitStepNs[(name, isa)] = ns;
            }
        if (jitStepNs.Count > 0) TorchRows(jitStepNs);
        if (Selected("dnc profile"))
            foreach (var (name, sizes, _) in DncNetworks)
                foreach (var isa in isas)
                    DncProfile(name, sizes, isa, roof);
        // "dnc curve profile" [N=512]: where each (or that) curve point's step goes.
        const string curveProfile = "dnc curve profile";
        if (s_filter.StartsWith(curveProfile, StringComparison.OrdinalIgnoreCase))
        {
            string only = s_filter[curveProfile.Length..].Trim() + " ";
            foreach (var (name, sizes) in CurveSizes())
                if (only == " " || name.StartsWith(only, StringComparison.OrdinalIgnoreCase))
                    foreach (var isa in isas)
                        DncProfile(name, sizes, isa, roof);
        }
        DncCurve(isas, roof);
        foreach (int n in new[] { 256, 1024 })
            foreach (var isa in isas)
                LinkSubnormals(n, 4, isa, jit);
    }

    /// <summary>
    /// The fused link kernel with subnormal write, precedence and read weightings (1e-40; the links random), as a DNC with
    /// sharp addressing can feed it: IEEE arithmetic against the same kernel under <see cref="EngineOptions.FlushDenormals"/>'
    /// MXCSR, side by side. On Intel, each product that is or makes a subnormal takes a microcode assist.
    /// </summary>
    private static void LinkSubnormals(int n, int heads, JitIsa isa, JitSource jit)
    {
        var key = new OpKey(OpKind.DncLinkTemporal, new OpShape(n, heads));
        string row = $"{key} {isa} subnormal weightings: IEEE vs FlushDenormals";
        if (!Selected(row)) return;
        var kernel = jit.Compile(key, isa);
        if (kernel is null) return;
        using var w = new OpWorkload(key);
        var entry = (delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)kernel.Entry;
        IBenchmarkSubject Side(bool flush)
        {
            var side = w.CreateCustom((s, calls) =>
            {
                using var mode = Platform.FloatingPointControl.FlushDenormalsWhile(flush);
                for (long c = 0; c < calls; c++) entry(s.Args);
            });
            foreach (var f in new[] { OperandField.B, OperandField.C, OperandField.D }) side.Span(f).Fill(1e-40f);
            return side;
        }
        var m = SideBySideRunner.Measure(Side(false), Side(true), s_budget);
        Add(row, isa, "IEEE", m.Baseline.Median.ToString("N0"), m.Candidate.Median.ToString("N0"), m.Speedup.ToString("N2") + "x",
            $"±{m.Candidate.Error999:N0}", "—", "—", "—", "≥ 1x", m.Speedup >= 1 ? "PASS" : "SHORT");
    }

    /// <summary>
    /// Where a JIT step's time goes: each op's calls and time per step from the engine's own profile, and its share of the
    /// step's bound (its operands at the rates of the whole step's working set), so the op furthest above its share stands
    /// out. A share is not the op's own bound: an op reading what the op before it wrote finds it in L1 and may run below it.
    /// </summary>
    private static void DncProfile(string name, NetworkSizes sizes, JitIsa isa, RooflineResult roof)
    {
        using var step = new NetworkStep(sizes, isa);
        int steps = sizes.MemorySlots >= 1024 ? 300 : 3000;
        step.Run(steps);
        step.ResetProfile();
        const int rounds = 5;
        var roundNs = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            step.Run(steps);
            roundNs[r] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalNanoseconds / steps;
        }
        Array.Sort(roundNs);
        double stepNs = roundNs[rounds / 2];
        var ops = step.OpsPerStep(rounds * steps);
        var (bounds, workingSet) = step.OpBounds(isa, roof, rounds * steps);
        Console.WriteLine();
        Console.WriteLine($"DNC step profile {name} {isa}: median {stepNs:N0} ns per step ({rounds} rounds of {steps} steps); the ops' profiled time sums to {ops.Sum(o => o.NanosecondsPerStep):N0} ns; "
            + $"bound {bounds.Values.Sum():N0} ns ({workingSet / 1024.0:N0} KiB)");
        foreach (var (key, calls, ns) in ops)
        {
            double bound = bounds.GetValueOrDefault(key);
            Console.WriteLine($"  {key,-30} {calls,5:N1} calls {ns,12:N0} ns {100 * ns / stepNs,5:N1}%   share of the bound {bound,10:N0} ns, {(ns - bound) / 1000,6:N1} µs above it");
        }
    }

    /// <summary>
    /// The scaling curve: the whole step for N = 64, 128, …, 4096 (W = 64, R = 4, H = 128, I = 64, out 10), each ISA
    /// against the managed tier, with the step's bound at each N; the issue holds every N to 1.5× its bound.
    /// </summary>
    private static void DncCurve(JitIsa[] isas, RooflineResult roof)
    {
        foreach (var (name, sizes) in CurveSizes())
        {
            // The step grows with N² (N = 4096: a 64 MiB link matrix, tens of ms a step): fewer checked and profiled steps.
            int steps = Math.Clamp(200 * 256 / sizes.MemorySlots, 10, 200);
            foreach (var isa in isas)
                DncStep($"DNC curve {name} {isa} vs ManagedSimd", sizes, isa, roof, bound => 1.5 * bound, steps);
        }
    }

    /// <summary>The scaling curve's networks: N = 64, 128, …, 4096 with W = 64, R = 4, H = 128, I = 64, out 10.</summary>
    private static IEnumerable<(string Name, NetworkSizes Sizes)> CurveSizes()
    {
        for (int n = 64; n <= 4096; n *= 2)
            yield return ($"N={n} W=64 R=4 H=128 I=64", new NetworkSizes(64, 128, 10) { MemorySlots = n, MemoryWidth = 64, ReadHeads = 4 });
    }

    /// <summary>Each network's JIT step against the PyTorch peer's, both measured in this run (the peer after our rows, not interleaved).</summary>
    private static void TorchRows(Dictionary<(string Network, JitIsa Isa), double> jitStepNs)
    {
        var peer = TorchPeer.TryMeasure(out string why);
        if (peer is null) { Console.Error.WriteLine(); Console.Error.WriteLine($"PyTorch peer: NOT AVAILABLE — {why}."); return; }
        foreach (var ((network, isa), jitNs) in jitStepNs)
        {
            var p = peer.FirstOrDefault(s => s.Network == network);
            if (p is null) continue;
            double ratio = p.MedianMicroseconds * 1000 / jitNs;
            Add($"DNC step {network} {isa} vs PyTorch {p.Torch}", isa, "PyTorch", TorchPeer.Microseconds(p.MedianMicroseconds), jitNs.ToString("N0"),
                ratio.ToString("N2") + "x", "—", $"peer CPU {TorchPeer.Microseconds(p.ThreadCpuMicroseconds)} ns", "—", "—", "faster", ratio > 1 ? "PASS" : "SHORT");
        }
    }

    /// <summary>The fused DncLinkTemporal kernel against the JIT's DncLinkUpdate then DncTemporal kernels on the same operands.</summary>
    private static void LinkFusion(int n, int heads, JitIsa isa, JitSource jit, RooflineResult roof)
    {
        var key = new OpKey(OpKind.DncLinkTemporal, new OpShape(n, heads));
        string name = $"{key} {isa} vs JIT LinkUpdate+Temporal";
        if (!Selected(name) && !Selected("dnc op")) return;
        var fused = jit.Compile(key, isa);
        var link = jit.Compile(new OpKey(OpKind.DncLinkUpdate, OpShape.Vector(n)), isa);
        var temporal = jit.Compile(new OpKey(OpKind.DncTemporal, new OpShape(n, heads)), isa);
        if (fused is null || link is null || temporal is null) { Add(name, isa, "JIT", "—", "—", "—", "—", "—", "—", "—", "faster", "NO JIT KERNEL"); return; }
        using var w = new OpWorkload(key);
        var separate = w.CreateCustom((side, calls) =>
        {
            KernelArgs l = default, t = default;
            l.A = side.Pointer(OperandField.A); l.B = side.Pointer(OperandField.B); l.C = side.Pointer(OperandField.C);
            t.A = l.A; t.B = side.Pointer(OperandField.D); t.C = side.Pointer(OperandField.E); t.D = side.Pointer(OperandField.F);
            var fl = (delegate* unmanaged<KernelArgs*, void>)link.Entry;
            var ft = (delegate* unmanaged<KernelArgs*, void>)temporal.Entry;
            for (long i = 0; i < calls; i++) { fl(&l); ft(&t); }
        });
        var one = w.CreateNative(fused.Entry, fused.SuppressGcTransition);
        double err = w.MaxAbsDifference(separate, one);
        var m = SideBySideRunner.Measure(separate, one, s_budget);
        var r = SpeedupBenchmark.ToResult(key, isa, "JIT LinkUpdate+Temporal", m, err, w.WorkingSetBytes, roof);
        Add(name, isa, "JIT", m.Baseline.Median.ToString("N0"), m.Candidate.Median.ToString("N0"), m.Speedup.ToString("N2") + "x",
            $"±{m.Candidate.Error999:N0}", $"{r.GFlops:N1} GFLOP/s", $"{r.PercentOfBound:N0}% {r.Bound}", $"{err:G2}", "faster", m.Speedup > 1 ? "PASS" : "SHORT");
    }

    /// <summary>The fused DncLinkTemporal kernel against one in-place read-modify-write pass over L (<see cref="LinkFloor"/>): Ratio = floor ÷ kernel.</summary>
    private static void LinkVersusFloor(int n, int heads, JitIsa isa, JitSource jit)
    {
        var key = new OpKey(OpKind.DncLinkTemporal, new OpShape(n, heads));
        string name = $"{key} {isa} vs L read-modify-write floor";
        if (!Selected(name) && !Selected("dnc op")) return;
        if (LinkFloor.Measure(n, heads, isa, jit, s_budget) is not { } m) { Add(name, isa, "RMW", "—", "—", "—", "—", "—", "—", "—", "—", "NO JIT KERNEL"); return; }
        double gbps = 8.0 * n * n / m.Candidate.Median;
        Add(name, isa, "RMW", m.Baseline.Median.ToString("N0"), m.Candidate.Median.ToString("N0"), m.Speedup.ToString("N2") + "x",
            $"±{m.Candidate.Error999:N0}", $"{gbps:N1} GB/s", $"{100 * m.Speedup:N0}% floor", "—", "—", "INFO");
    }

    /// <summary>The fused DncWriteContent kernel against the JIT's DncWrite then R DncContent kernels on the same operands.</summary>
    private static void WriteContentFusion(int n, int w, int heads, JitIsa isa, JitSource jit, RooflineResult roof)
    {
        var key = new OpKey(OpKind.DncWriteContent, new OpShape(n, w, heads));
        string name = $"{key} {isa} vs JIT Write+Content×{heads}";
        if (!Selected(name) && !Selected("dnc op")) return;
        var fused = jit.Compile(key, isa);
        var write = jit.Compile(new OpKey(OpKind.DncWrite, new OpShape(n, w)), isa);
        var content = jit.Compile(new OpKey(OpKind.DncContent, OpShape.Matrix(n, w)), isa);
        if (fused is null || write is null || content is null) { Add(name, isa, "JIT", "—", "—", "—", "—", "—", "—", "—", "faster", "NO JIT KERNEL"); return; }
        using var wl = new OpWorkload(key);
        var separate = wl.CreateCustom((side, calls) =>
        {
            KernelArgs wa = default, ca = default;
            wa.A = side.Pointer(OperandField.A); wa.B = side.Pointer(OperandField.B); wa.C = side.Pointer(OperandField.C); wa.D = side.Pointer(OperandField.D);
            float* keys = side.Pointer(OperandField.E), strengths = side.Pointer(OperandField.F), output = side.Pointer(OperandField.G);
            var fw = (delegate* unmanaged<KernelArgs*, void>)write.Entry;
            var fc = (delegate* unmanaged<KernelArgs*, void>)content.Entry;
            for (long i = 0; i < calls; i++)
            {
                fw(&wa);
                for (int h = 0; h < heads; h++)
                {
                    ca.A = wa.A; ca.B = keys + h * w; ca.Alpha = strengths[h]; ca.C = output + h * n;
                    fc(&ca);
                }
            }
        });
        var one = wl.CreateNative(fused.Entry, fused.SuppressGcTransition);
        double err = wl.MaxAbsDifference(separate, one);
        var m = SideBySideRunner.Measure(separate, one, s_budget);
        var r = SpeedupBenchmark.ToResult(key, isa, $"JIT Write+Content×{heads}", m, err, wl.WorkingSetBytes, roof);
        Add(name, isa, "JIT", m.Baseline.Median.ToString("N0"), m.Candidate.Median.ToString("N0"), m.Speedup.ToString("N2") + "x",
            $"±{m.Candidate.Error999:N0}", $"{r.GFlops:N1} GFLOP/s", $"{r.PercentOfBound:N0}% {r.Bound}", $"{err:G2}", "faster", m.Speedup > 1 ? "PASS" : "SHORT");
    }

    /// <summary>
    /// The whole step, JIT against managed, held to <paramref name="target"/> (ns, from the step's bound in ns); returns the
    /// JIT step's median (ns), or null when not selected. <paramref name="traceSteps"/> steps are compared and profiled for the bound.
    /// </summary>
    private static double? DncStep(string name, NetworkSizes sizes, JitIsa isa, RooflineResult roof, Func<double, double> target, int traceSteps = 200)
    {
        if (!Selected(name)) return null;
        using var managed = new NetworkStep(sizes, null);
        using var jitted = new NetworkStep(sizes, isa);
        var a = managed.Trace(traceSteps);
        var b = jitted.Trace(traceSteps);
        double err = 0;
        for (int s = 0; s < traceSteps; s++)
            for (int i = 0; i < a[s].Length; i++) err = Math.Max(err, float.IsNaN(a[s][i]) != float.IsNaN(b[s][i]) ? double.PositiveInfinity : Math.Abs(a[s][i] - b[s][i]));
        int profiled = Math.Min(100, traceSteps);
        jitted.ResetProfile();
        jitted.Run(profiled);
        var (boundNs, workingSet) = jitted.Bound(isa, roof, profiled);
        double targetNs = target(boundNs);
        // Batches of back-to-back steps, as a user runs them: each side's ~1 MB of weights otherwise starts every step
        // evicted by the other side's step.
        var m = SideBySideRunner.Measure(managed, jitted, SteadyStepBudget);
        if (s_compare is not null) CompareBuilds(name, sizes, isa, jitted);
        Add(name, isa, "ManagedSimd", m.Baseline.Median.ToString("N0"), m.Candidate.Median.ToString("N0"), m.Speedup.ToString("N2") + "x",
            $"±{m.Candidate.Error999:N0}", $"bound {boundNs:N0} ns ({roof.CeilingFor(workingSet).Level} {workingSet / 1024.0:N0} KiB)", $"{100 * boundNs / m.Candidate.Median:N0}%", $"{err:G2}",
            $"≤ {targetNs:N0} ns", m.Candidate.Median <= targetNs ? "PASS" : "SHORT");
        return m.Candidate.Median;
    }

    /// <summary>
    /// The other build's JIT step against this one's, side by side (each ratio: its batch ÷ this build's batch, adjacent in
    /// time): printed under the row, not a row of its own. Above 1, this build is faster.
    /// </summary>
    private static void CompareBuilds(string name, NetworkSizes sizes, JitIsa isa, NetworkStep jitted)
    {
        var other = s_compare!.Step(sizes, isa);
        var m = SideBySideRunner.Measure(other, jitted, SteadyStepBudget);
        Console.WriteLine($"  {name}: {s_compare.Directory} {m.Baseline.Median:N0} ns, this build {m.Candidate.Median:N0} ns; median of per-round ratios {m.MedianPairRatio:F3} ({m.Candidate.Count} rounds)");
    }

    /// <summary>
    /// A whole step's batch: the first step after the other side's batch finds the caches as that side left them (at
    /// N = 1024 a managed step evicts all of L2 and most of L3), so a batch holds many steps (N = 64: ~300, N = 1024: ~15)
    /// and the first weighs little. With 1 ms batches (one or two steps at N = 1024) a JIT step timed 868 µs beside the
    /// managed step and 663 µs beside another build's JIT step.
    /// </summary>
    private const double SteadyStepBatchNanoseconds = 10_000_000;

    private static BenchmarkBudget SteadyStepBudget => s_budget with { BatchNanoseconds = SteadyStepBatchNanoseconds };

    private static bool Selected(string name) => s_filter.Length == 0 || name.Contains(s_filter, StringComparison.OrdinalIgnoreCase);

    private static void GemmVsLibxsmm(OpKey key, JitIsa isa, JitSource jit, RooflineResult roof, bool xsmm)
    {
        string name = $"{key} {isa} vs LIBXSMM";
        if (!Selected(name)) return;
        var kernel = jit.Compile(key, isa);
        if (kernel is null) { Add(name, isa, "LIBXSMM", "—", "—", "—", "—", "—", "—", "—", "≥ LIBXSMM", "NO JIT KERNEL"); return; }
        if (!xsmm) { Versus(key, isa, KernelTier.ManagedSimd, jit, roof, "≥ LIBXSMM", _ => false, "LIBXSMM missing"); return; }
        var s = key.Shape;
        nint lk = Libxsmm.DispatchRowMajor(s.M, s.N, s.K, s.StrideA(OpKind.Gemm), s.StrideB, s.StrideC);
        if (lk == 0) { Add(name, isa, "LIBXSMM", "—", "—", "—", "—", "—", "—", "—", "≥ LIBXSMM", "LIBXSMM declined"); return; }
        using var w = new OpWorkload(key, alpha: 1f, beta: 1f); // what LIBXSMM's kernels compute: C += A·B
        var b = w.CreateCustom((side, calls) =>
        {
            float* a = side.Pointer(OperandField.A), bb = side.Pointer(OperandField.B), c = side.Pointer(OperandField.C);
            for (long i = 0; i < calls; i++) Libxsmm.Call(lk, a, bb, c);
        });
        var c = w.CreateNative(kernel.Entry, kernel.SuppressGcTransition);
        double err = w.MaxAbsDifference(b, c);
        var m = SideBySideRunner.Measure(b, c, s_budget);
        var r = SpeedupBenchmark.ToResult(key, isa, "LIBXSMM", m, err, w.WorkingSetBytes, roof);
        double peak = roof.PeakGFlops(isa);
        double flops = 2.0 * s.M * s.N * s.K;
        double xsGf = flops / m.Baseline.Median, jitGf = flops / m.Candidate.Median;
        Add(name + $" [{Libxsmm.TargetArch}]", isa, "LIBXSMM", m.Baseline.Median.ToString("N0"), m.Candidate.Median.ToString("N0"), (jitGf / xsGf).ToString("N2") + "x",
            $"±{m.Candidate.Error999:N0}", $"{jitGf:N1} ({100 * jitGf / peak:N0}% pk; LIBXSMM {xsGf:N1} = {100 * xsGf / peak:N0}%)", $"{r.PercentOfBound:N0}%", $"{err:G2}",
            "≥ LIBXSMM", jitGf >= xsGf ? "PASS" : "SHORT");
    }

    private static void Versus(OpKey key, JitIsa isa, KernelTier tier, JitSource jit, RooflineResult roof, string target, Func<SpeedupResult, bool> met, string note)
    {
        string name = $"{key} {isa} vs {tier}";
        if (!Selected(name) && !Selected(note)) return;
        var kernel = jit.Compile(key, isa);
        if (kernel is null) { Add(name, isa, tier.ToString(), "—", "—", "—", "—", "—", "—", "—", target, "NO JIT KERNEL"); return; }
        var r = SpeedupBenchmark.Compare(kernel, tier, s_budget, roof);
        string perf = r.GFlops is double gf ? $"{gf:N1} GFLOP/s" : $"{r.GBps:N1} GB/s";
        Add(name, isa, tier.ToString(), r.BaselineNanoseconds.ToString("N0"), r.JitNanoseconds.ToString("N0"), r.Speedup.ToString("N2") + "x",
            $"±{r.JitErrorNanoseconds:N0}", perf, $"{r.PercentOfBound:N0}% {r.Bound}", $"{r.MaxAbsError:G2}", target, met(r) ? "PASS" : "SHORT");
    }

    private static void Add(string name, JitIsa isa, string baseline, params string[] cols)
    {
        s_rows.Add([name, .. cols]);
        Console.Error.Write('.'); // progress on stderr so the table stays clean
    }

    private static void Print()
    {
        Console.Error.WriteLine();
        string[] head = ["Row", "Base ns", "JIT ns", "Ratio", "±99.9%", "JIT rate", "%bound", "MaxAbsErr", "Target", "Verdict"];
        var all = new List<string[]> { head };
        all.AddRange(s_rows);
        int cols = head.Length;
        var width = Enumerable.Range(0, cols).Select(c => all.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
        Console.WriteLine();
        foreach (var r in all)
        {
            Console.WriteLine(string.Join("  ", Enumerable.Range(0, cols).Select(c => c == 0 ? (c < r.Length ? r[c] : "").PadRight(width[c]) : (c < r.Length ? r[c] : "").PadLeft(width[c]))));
            if (r == head) Console.WriteLine(new string('-', width.Sum() + 2 * (cols - 1)));
        }
    }
}
