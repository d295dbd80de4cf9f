using System.Diagnostics;
using System.Runtime.InteropServices;
using Iced.Intel;
using NeuralJit.Jit;
using NeuralJit.Profiling;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Benchmarking;

/// <summary>
/// Measures the roofline of this core with loops emitted by Iced: the fp32 FMA peak (12 independent
/// accumulator chains — more than FMA latency × FMA ports on current cores — so the loop is bound by
/// FMA throughput alone) under AVX2 and AVX-512, and the read bandwidth of L1, L2, L3 and memory
/// (unrolled vector loads over a buffer sized for the level, repeated). Each figure is the best of
/// <see cref="Runs"/> timed runs: a ceiling is what the hardware can do, and interference (two cores
/// shared with other processes here) only ever lowers a run. <see cref="Cached"/> measures once per process.
/// </summary>
public static unsafe class Roofline
{
    public const int Runs = 7;
    private static readonly Lazy<RooflineResult> s_cached = new(() => Measure());

    /// <summary>The process-wide measurement (taken on first use, ~0.3 s).</summary>
    public static RooflineResult Cached => s_cached.Value;

    public static RooflineResult Measure(CancellationToken cancellation = default)
    {
        if (CpuFeatures.Best == JitIsa.None) throw new PlatformNotSupportedException("The roofline loops need x86-64 with AVX2 and FMA.");
        var sw = Stopwatch.StartNew();
        var caches = CacheTopology.Detect();
        using var code = new RooflineCode();
        // Alternate the two ISAs so a clock ramp or a noisy neighbour hits both alike; best of each.
        double? avx2 = null, avx512 = null;
        code.SpinUp(cancellation);
        for (int round = 0; round < 2; round++)
        {
            avx2 = Math.Max(avx2 ?? 0, code.FmaPeak(JitIsa.Avx2, cancellation));
            if (CpuFeatures.Best == JitIsa.Avx512) avx512 = Math.Max(avx512 ?? 0, code.FmaPeak(JitIsa.Avx512, cancellation));
        }

        long l1 = caches.L1DataBytes / 2;
        long l2 = Math.Max(caches.L2Bytes / 2, 4 * caches.L1DataBytes);
        long l3 = Math.Clamp(caches.L3Bytes / 4, 2 * caches.L2Bytes, Math.Max(2 * caches.L2Bytes, caches.L3Bytes / 2));
        long mem = Math.Min(Math.Max(4 * caches.L3Bytes, 64L << 20), 256L << 20);
        double bw1 = code.ReadBandwidth(l1, cancellation), bw2 = code.ReadBandwidth(l2, cancellation);
        double bw3 = code.ReadBandwidth(l3, cancellation), bwm = code.ReadBandwidth(mem, cancellation);
        double tsc = CycleClock.Frequency;
        return new RooflineResult
        {
            Avx2PeakGFlops = avx2,
            Avx512PeakGFlops = avx512,
            PeakFlopsPerTick = (avx512 ?? avx2 ?? 0) * 1e9 / tsc,
            L1ReadGBps = bw1, L2ReadGBps = bw2, L3ReadGBps = bw3, MemoryReadGBps = bwm,
            L1BytesPerTick = bw1 * 1e9 / tsc, L2BytesPerTick = bw2 * 1e9 / tsc, L3BytesPerTick = bw3 * 1e9 / tsc, MemoryBytesPerTick = bwm * 1e9 / tsc,
            L1DataBytes = caches.L1DataBytes, L2Bytes = caches.L2Bytes, L3Bytes = caches.L3Bytes, CacheSizeSource = caches.Source,
            TestBufferBytes = [l1, l2, l3, mem],
            BandwidthIsa = code.LoadIsa.ToString(),
            TscGHz = tsc / 1e9,
            MeasurementMilliseconds = sw.Elapsed.TotalMilliseconds,
        };
    }

    /// <summary>The emitted loops, in one read-execute mapping released on dispose.</summary>
    private sealed class RooflineCode : IDisposable
    {
        private const int Accumulators = 12, FmaUnroll = 2, LoadUnroll = 8;
        private readonly ExecutableMemory _mem;
        private readonly delegate* unmanaged<long, void> _fmaAvx2, _fmaAvx512;
        private readonly delegate* unmanaged<float*, long, long, void> _read;
        public JitIsa LoadIsa { get; } = CpuFeatures.Best;

        public RooflineCode()
        {
            var loops = new List<Action<Assembler>>
            {
                a => EmitFma(a, JitIsa.Avx2),
                a => { if (CpuFeatures.Best == JitIsa.Avx512) EmitFma(a, JitIsa.Avx512); else a.ret(); },
                a => EmitRead(a, LoadIsa),
            };
            var blobs = new List<byte[]>();
            foreach (var emit in loops)
            {
                var a = new Assembler(64);
                emit(a);
                using var ms = new MemoryStream();
                a.Assemble(new StreamCodeWriter(ms), 0); // position-independent: only relative branches
                blobs.Add(ms.ToArray());
            }
            _mem = ExecutableMemory.Allocate(blobs.Sum(b => (b.Length + 63) / 64 * 64));
            var span = _mem.WritableSpan;
            var entries = new nint[blobs.Count];
            int off = 0;
            for (int i = 0; i < blobs.Count; i++)
            {
                blobs[i].CopyTo(span[off..]);
                entries[i] = _mem.Address + off;
                off += (blobs[i].Length + 63) / 64 * 64;
            }
            _mem.Seal();
            _fmaAvx2 = (delegate* unmanaged<long, void>)entries[0];
            _fmaAvx512 = (delegate* unmanaged<long, void>)entries[1];
            _read = (delegate* unmanaged<float*, long, long, void>)entries[2];
        }

        private static bool Win => OperatingSystem.IsWindows();
        // First three integer arguments.
        private static AssemblerRegister64 Arg0 => Win ? rcx : rdi;
        private static AssemblerRegister64 Arg1 => Win ? rdx : rsi;
        private static AssemblerRegister64 Arg2 => Win ? r8 : rdx;

        /// <summary>Win64 keeps xmm6–15 callee-saved; the AVX2 loop uses them, so it saves their low halves.</summary>
        private static void SaveXmm(Assembler a)
        {
            if (!Win) return;
            a.sub(rsp, 10 * 16 + 8);
            for (int i = 0; i < 10; i++) a.movdqu(__xmmword_ptr[rsp + i * 16], Xmm(6 + i));
        }

        private static void RestoreXmm(Assembler a)
        {
            if (!Win) return;
            for (int i = 0; i < 10; i++) a.movdqu(Xmm(6 + i), __xmmword_ptr[rsp + i * 16]);
            a.add(rsp, 10 * 16 + 8);
        }

        private static AssemblerRegisterXMM Xmm(int i) => i switch
        {
            6 => xmm6, 7 => xmm7, 8 => xmm8, 9 => xmm9, 10 => xmm10, 11 => xmm11, 12 => xmm12, 13 => xmm13, 14 => xmm14, _ => xmm15,
        };

        private static readonly AssemblerRegisterYMM[] Ymms = [ymm0, ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9, ymm10, ymm11, ymm12, ymm13, ymm14, ymm15];
        // zmm16–31 are volatile in both conventions and need no vzeroupper.
        private static readonly AssemblerRegisterZMM[] Zmms = [zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27, zmm28, zmm29, zmm30, zmm31];

        private static void EmitFma(Assembler a, JitIsa isa)
        {
            SaveXmm(a);
            a.mov(rax, Arg0);
            var loop = a.CreateLabel();
            if (isa == JitIsa.Avx512)
            {
                for (int i = 0; i < Accumulators + 2; i++) a.vpxord(Zmms[i], Zmms[i], Zmms[i]);
                a.Label(ref loop);
                for (int u = 0; u < FmaUnroll; u++)
                    for (int i = 0; i < Accumulators; i++) a.vfmadd231ps(Zmms[i], Zmms[Accumulators], Zmms[Accumulators + 1]);
            }
            else
            {
                for (int i = 0; i < Accumulators + 2; i++) a.vxorps(Ymms[i], Ymms[i], Ymms[i]);
                a.Label(ref loop);
                for (int u = 0; u < FmaUnroll; u++)
                    for (int i = 0; i < Accumulators; i++) a.vfmadd231ps(Ymms[i], Ymms[Accumulators], Ymms[Accumulators + 1]);
            }
            a.dec(rax);
            a.jnz(loop);
            a.vzeroupper();
            RestoreXmm(a);
            a.ret();
        }

        /// <summary>read(p, bytes, reps): <paramref name="isa"/>-wide loads over [p, p+bytes), reps times; bytes is a multiple of LoadUnroll vectors.</summary>
        private static void EmitRead(Assembler a, JitIsa isa)
        {
            int vec = isa == JitIsa.Avx512 ? 64 : 32;
            a.mov(r10, Arg0);
            a.mov(r11, Arg1);
            a.mov(rax, Arg2);
            var outer = a.CreateLabel();
            var inner = a.CreateLabel();
            a.Label(ref outer);
            a.mov(r9, r10);
            a.lea(r8, __[r10 + r11]);
            a.Label(ref inner);
            for (int u = 0; u < LoadUnroll; u++)
            {
                if (isa == JitIsa.Avx512) a.vmovaps(Zmms[u], __zmmword_ptr[r9 + u * vec]);
                else a.vmovaps(Ymms[u], __ymmword_ptr[r9 + u * vec]); // ymm0–7: volatile in both conventions
            }
            a.add(r9, LoadUnroll * vec);
            a.cmp(r9, r8);
            a.jb(inner);
            a.dec(rax);
            a.jnz(outer);
            a.vzeroupper();
            a.ret();
        }

        /// <summary>~20 ms of FMAs so the core has reached its sustained clock before anything is timed.</summary>
        public void SpinUp(CancellationToken ct)
        {
            long t0 = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(t0).TotalMilliseconds < 20) { ct.ThrowIfCancellationRequested(); _fmaAvx2(100_000); }
        }

        /// <summary>GFLOP/s: the best of Runs timed runs of ~3 ms each.</summary>
        public double FmaPeak(JitIsa isa, CancellationToken ct)
        {
            var fn = isa == JitIsa.Avx512 ? _fmaAvx512 : _fmaAvx2;
            int lanes = isa == JitIsa.Avx512 ? 16 : 8;
            double flopsPerIter = 2.0 * lanes * Accumulators * FmaUnroll;
            fn(10_000); // warm up (and let the core reach its AVX frequency)
            long iters = Calibrate(n => fn(n), 10_000);
            var rates = new double[Runs];
            for (int r = 0; r < Runs; r++)
            {
                ct.ThrowIfCancellationRequested();
                long t0 = Stopwatch.GetTimestamp();
                fn(iters);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                rates[r] = flopsPerIter * iters / s / 1e9;
            }
            return rates.Max();
        }

        /// <summary>GB/s reading a buffer of <paramref name="bytes"/> repeatedly: best of Runs runs of ~3 ms.</summary>
        public double ReadBandwidth(long bytes, CancellationToken ct)
        {
            int step = (LoadIsa == JitIsa.Avx512 ? 64 : 32) * LoadUnroll;
            bytes = Math.Max(step, bytes / step * step);
            var p = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
            try
            {
                new Span<byte>(p, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
                if (bytes > int.MaxValue) NativeMemory.Fill((byte*)p + int.MaxValue, (nuint)(bytes - int.MaxValue), 1);
                var fn = _read;
                fn(p, bytes, 2);
                long reps = Calibrate(n => fn(p, bytes, n), 1);
                var rates = new double[Runs];
                for (int r = 0; r < Runs; r++)
                {
                    ct.ThrowIfCancellationRequested();
                    long t0 = Stopwatch.GetTimestamp();
                    fn(p, bytes, reps);
                    double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    rates[r] = (double)bytes * reps / s / 1e9;
                }
                return rates.Max();
            }
            finally
            {
                NativeMemory.AlignedFree(p);
            }
        }

        /// <summary>A count for <paramref name="run"/> that takes about 3 ms.</summary>
        private static long Calibrate(Action<long> run, long start)
        {
            long n = start;
            while (true)
            {
                long t0 = Stopwatch.GetTimestamp();
                run(n);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (s >= 0.0015 || n > 1L << 40) return Math.Max(1, (long)(n * 0.003 / Math.Max(s, 1e-9)));
                n *= 4;
            }
        }

        public void Dispose() => _mem.Dispose();
    }
}
