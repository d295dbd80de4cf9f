using System.Numerics;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Iced.Intel;
using NeuralJit.Jit;
using NeuralJit.Ops;
using NeuralJit.Profiling;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Benchmarking;

/// <summary>
/// Measures the roofline of this core with loops emitted through the JIT's KernelAssembler (Iced): the fp32 FMA peak (12 independent
/// accumulator chains — more than FMA latency × FMA ports on current cores — so the loop is bound by
/// FMA throughput alone) under AVX2 and AVX-512, and the bandwidth of L1, L2, L3 and memory for each kind of access an
/// operand makes: read, updated in place, written (unrolled vector loads and/or stores over a buffer sized for the level,
/// repeated). Each figure is the best of
/// <see cref="Runs"/> timed runs: a ceiling is what the hardware can do, and interference (two cores
/// shared with other processes here) only ever lowers a run. <see cref="Cached"/> measures once per process.
/// </summary>
public static unsafe class Roofline
{
    public const int Runs = 7;
    /// <summary>
    /// Length of one timed run of the FMA loop and of a stream loop (at least one pass over its buffer). Short stream runs
    /// let one of the Runs fall between a neighbour's bursts; a neighbour can still slow all of one size's runs, so the
    /// levels are measured in two rounds, a size apart, and keep the faster.
    /// </summary>
    private const double FmaRunSeconds = 0.003, StreamRunSeconds = 0.001;
    /// <summary>The smallest buffer of the bandwidth curve: below it the loop's own overhead, not the cache, sets the rate.</summary>
    public const long CurveStartBytes = 4096;
    private static readonly object s_gate = new();
    private static RooflineResult? s_cached;

    /// <summary>The process-wide measurement (taken on first use: seconds).</summary>
    public static RooflineResult Cached => GetCached();

    /// <summary>The process-wide measurement; a first measurement cancelled by <paramref name="cancellation"/> is not kept, the next call measures again.</summary>
    public static RooflineResult GetCached(CancellationToken cancellation = default)
    {
        if (Volatile.Read(ref s_cached) is { } cached) return cached;
        lock (s_gate) return s_cached ??= Measure(cancellation);
    }

    public static RooflineResult Measure(CancellationToken cancellation = default)
    {
        if (CpuFeatures.Best == JitIsa.None) throw new PlatformNotSupportedException("The roofline loops need x86-64 with AVX2 and FMA.");
        var sw = Stopwatch.StartNew();
        var caches = CacheTopology.Detect();
        using var code = new RooflineCode();
        // Alternate the two ISAs so a clock ramp or a noisy neighbour hits both alike; best of each. The peaks are measured
        // again between the bandwidth levels below: a pause of the virtual CPU longer than one round (tens of ms) would
        // otherwise lower a peak for the whole run, and a kernel would then beat its "bound".
        double? avx2 = null, avx512 = null;
        void MeasurePeaks()
        {
            avx2 = Math.Max(avx2 ?? 0, code.FmaPeak(JitIsa.Avx2, cancellation));
            if (CpuFeatures.Best == JitIsa.Avx512) avx512 = Math.Max(avx512 ?? 0, code.FmaPeak(JitIsa.Avx512, cancellation));
        }
        code.SpinUp(cancellation);
        MeasurePeaks();
        MeasurePeaks();

        long l1 = caches.L1DataBytes / 2;
        long l2 = Math.Max(caches.L2Bytes / 2, 4 * caches.L1DataBytes);
        long l3 = Math.Clamp(caches.L3Bytes / 4, 2 * caches.L2Bytes, Math.Max(2 * caches.L2Bytes, caches.L3Bytes / 2));
        long mem = Math.Min(Math.Max(4 * caches.L3Bytes, 64L << 20), 256L << 20);
        long[] levels = [l1, l2, l3, mem];
        // [size][kind].
        var allKinds = Enum.GetValues<StreamKind>();
        double[][] atLevels = levels.Select(b => new double[allKinds.Length]).ToArray();
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < levels.Length; i++)
            {
                double[] rates = code.Bandwidths(levels[i], allKinds, cancellation);
                for (int k = 0; k < rates.Length; k++) atLevels[i][k] = Math.Max(atLevels[i][k], rates[k]);
                MeasurePeaks();
            }
        var curveBytes = CurveBytes(caches);
        StreamKind[] curveKinds = [StreamKind.Read, StreamKind.Update, StreamKind.Write];
        double[][] alongCurve = curveBytes.Select(b => code.Bandwidths(b, curveKinds, cancellation)).ToArray();
        double[] read = Kind(atLevels, StreamKind.Read), update = Kind(atLevels, StreamKind.Update), write = Kind(atLevels, StreamKind.Write);
        double[] readWrite = Kind(atLevels, StreamKind.ReadWrite);
        double[] readCurve = Kind(alongCurve, StreamKind.Read), updateCurve = Kind(alongCurve, StreamKind.Update), writeCurve = Kind(alongCurve, StreamKind.Write);
        double tsc = CycleClock.Frequency;
        return new RooflineResult
        {
            Avx2PeakGFlops = avx2,
            Avx512PeakGFlops = avx512,
            PeakFlopsPerTick = (avx512 ?? avx2 ?? 0) * 1e9 / tsc,
            L1ReadGBps = read[0], L2ReadGBps = read[1], L3ReadGBps = read[2], MemoryReadGBps = read[3],
            L1BytesPerTick = read[0] * 1e9 / tsc, L2BytesPerTick = read[1] * 1e9 / tsc, L3BytesPerTick = read[2] * 1e9 / tsc, MemoryBytesPerTick = read[3] * 1e9 / tsc,
            L1UpdateGBps = update[0], L2UpdateGBps = update[1], L3UpdateGBps = update[2], MemoryUpdateGBps = update[3],
            L1WriteGBps = write[0], L2WriteGBps = write[1], L3WriteGBps = write[2], MemoryWriteGBps = write[3],
            L1ReadWriteGBps = readWrite[0], L2ReadWriteGBps = readWrite[1], L3ReadWriteGBps = readWrite[2], MemoryReadWriteGBps = readWrite[3],
            L1DataBytes = caches.L1DataBytes, L2Bytes = caches.L2Bytes, L3Bytes = caches.L3Bytes, CacheSizeSource = caches.Source,
            TestBufferBytes = levels,
            ReadCurveBytes = curveBytes,
            ReadCurveGBps = readCurve,
            UpdateCurveGBps = updateCurve,
            WriteCurveGBps = writeCurve,
            BandwidthIsa = code.LoadIsa,
            TscGHz = tsc / 1e9,
            MeasurementMilliseconds = sw.Elapsed.TotalMilliseconds,
        };
    }

    private static double[] Kind(double[][] rates, StreamKind kind) => rates.Select(r => r[(int)kind]).ToArray();

    /// <summary>
    /// The buffer sizes of the curves, where the levels blur (a working set a little over a level still hits it in part):
    /// every √2 from 4 KiB to L2/2, then every 2^⅛ to 2×L2, then every √2 to twice the L3 CPUID reports. A size between two
    /// points is charged the rate of the lower one, and past L2 the rates fall by half within one doubling, so √2 apart
    /// would credit a working set of 1.2×L2 with most of L2's rate; 2^⅛ apart the credit is within a few percent. Past L2
    /// the points find where the last level really ends for one core: a virtual machine's or a shared part's L3 serves a
    /// core far less than CPUID's size (on a 35 MiB Xeon guest, streams past ~10 MiB ran at memory speed), and a working
    /// set between the L3 loop's buffer and memory would otherwise be credited with the L3 rate. The last point lies past
    /// the L3 on any machine, so no working set in memory is charged a rate measured in L3.
    /// </summary>
    private static long[] CurveBytes(CacheTopology caches)
    {
        var sizes = new List<long>();
        for (double size = CurveStartBytes; size <= 2.0 * caches.L2Bytes * 1.0001; size *= size < caches.L2Bytes / 2 ? Math.Sqrt(2) : Math.Pow(2, 0.125))
            sizes.Add((long)size / 512 * 512);
        for (double size = 2.0 * caches.L2Bytes * Math.Sqrt(2); size <= 2.0 * caches.L3Bytes * 1.0001; size *= Math.Sqrt(2))
            sizes.Add((long)size / 4096 * 4096);
        return sizes.Distinct().ToArray();
    }

    /// <summary>What a stream loop does with each vector of its buffer.</summary>
    private enum StreamKind { Read, Update, Write, ReadWrite }

    /// <summary>
    /// The emitted loops, built with the JIT's own <see cref="KernelAssembler"/> (one body for ymm and zmm, the
    /// calling convention and Win64 register saves from <see cref="CallingConvention"/>) and installed in a
    /// private <see cref="CodeCache"/> released on dispose. Each loop is a kernel taking one KernelArgs*; its
    /// counts travel in pointer-sized fields (documented per loop) because KernelArgs has no integer fields.
    /// </summary>
    private sealed class RooflineCode : IDisposable
    {
        private const int Accumulators = 12, FmaUnroll = 2, LoadUnroll = 8;
        private readonly CodeCache _cache = new(64 * 1024);
        /// <summary>Each stream loop with 1 stream and with 4 (the buffer's quarters walked side by side), so prefetchers that follow several streams are credited too.</summary>
        private static readonly int[] Streams = [1, 4];
        private readonly nint _fmaAvx2, _fmaAvx512;
        private readonly nint[][] _stream;
        public JitIsa LoadIsa { get; } = CpuFeatures.Best;

        public RooflineCode()
        {
            _fmaAvx2 = Install(EmitFma(JitIsa.Avx2));
            _fmaAvx512 = CpuFeatures.Best == JitIsa.Avx512 ? Install(EmitFma(JitIsa.Avx512)) : 0;
            // The read-write loop needs two parts at least: half of them read, the other half written.
            _stream = Enum.GetValues<StreamKind>()
                .Select(kind => Streams.Where(s => kind != StreamKind.ReadWrite || s > 1).Select(s => Install(EmitStream(LoadIsa, kind, s))).ToArray()).ToArray();
        }

        private nint Install(KernelAssembler k)
        {
            if (!_cache.TryInstall(k.Finish(), out nint entry, out JitFailure? why)) throw new ExecutableMemoryException($"roofline loops: {why}");
            return entry;
        }

        /// <summary>FMA loop: KernelArgs.B holds the iteration count; 12 independent accumulators, 24 FMAs per iteration.</summary>
        private static KernelAssembler EmitFma(JitIsa isa)
        {
            var k = new KernelAssembler(isa);
            var a = k.Asm;
            a.mov(rax, __qword_ptr[k.Args + KernelArgs.Offsets.B]);
            for (int i = 0; i < Accumulators + 2; i++) k.Zero(new Vec(i));
            var loop = a.CreateLabel();
            a.Label(ref loop);
            for (int u = 0; u < FmaUnroll; u++)
                for (int i = 0; i < Accumulators; i++) k.FmaAcc(new Vec(i), new Vec(Accumulators), new Vec(Accumulators + 1));
            a.dec(rax);
            a.jnz(loop);
            return k;
        }

        /// <summary>
        /// Stream loop over a buffer: A = buffer, B = bytes (a multiple of LoadUnroll vectors), C = repetitions; full-width
        /// accesses only. <see cref="StreamKind.Read"/> loads each vector; <see cref="StreamKind.Update"/> loads it, flips its
        /// signs and stores it back (an in-place read-modify-write, like an InOut operand); <see cref="StreamKind.Write"/> only
        /// stores (a write-only Out operand); <see cref="StreamKind.ReadWrite"/> loads the first half of the parts and stores to
        /// the other half (how far the level overlaps reads with writes). Every store changes its bytes (the sign flips each pass), so no core can skip a
        /// store that rewrites what is there, and none stores zeros, which some cores store for less. With
        /// <paramref name="streams"/> &gt; 1 the buffer is walked as that many equal parts side by side (rdx holds the part size).
        /// </summary>
        private static KernelAssembler EmitStream(JitIsa isa, StreamKind kind, int streams)
        {
            var k = new KernelAssembler(isa);
            var a = k.Asm;
            int perStream = LoadUnroll / streams;
            Vec sign = new(LoadUnroll), stored = new(LoadUnroll + 1);
            k.LoadPointer(r10, KernelArgs.Offsets.A);
            a.mov(r11, __qword_ptr[k.Args + KernelArgs.Offsets.B]);
            a.mov(rax, __qword_ptr[k.Args + KernelArgs.Offsets.C]);
            a.mov(rdx, r11);
            if (streams > 1) a.shr(rdx, (byte)BitOperations.Log2((uint)streams)); // one part's bytes
            k.LoadConst(sign, -0f);
            k.Load(stored, __[r10]);
            var outer = a.CreateLabel();
            var inner = a.CreateLabel();
            a.Label(ref outer);
            if (kind is StreamKind.Write or StreamKind.ReadWrite) k.Xor(stored, stored, sign);
            a.mov(r9, r10);
            a.lea(r8, __[r10 + rdx]);
            a.Label(ref inner);
            a.mov(rcx, r9);
            for (int s = 0; s < streams; s++)
            {
                for (int u = 0; u < perStream; u++)
                {
                    var at = __[rcx + u * k.VectorBytes];
                    var v = new Vec(s * perStream + u);
                    switch (kind)
                    {
                        case StreamKind.Read: k.Load(v, at); break;
                        case StreamKind.Update: k.Load(v, at); k.Xor(v, v, sign); k.Store(at, v); break;
                        case StreamKind.ReadWrite when s < streams / 2: k.Load(v, at); break;
                        default: k.Store(at, stored); break;
                    }
                }
                if (s + 1 < streams) a.add(rcx, rdx);
            }
            a.add(r9, perStream * k.VectorBytes);
            a.cmp(r9, r8);
            a.jb(inner);
            a.dec(rax);
            a.jnz(outer);
            return k;
        }

        private static void Call(nint entry, float* a, long b, long c)
        {
            KernelArgs args = default;
            args.A = a; args.B = (float*)b; args.C = (float*)c;
            ((delegate* unmanaged<KernelArgs*, void>)entry)(&args);
        }

        /// <summary>~20 ms of FMAs so the core has reached its sustained clock before anything is timed.</summary>
        public void SpinUp(CancellationToken ct)
        {
            long t0 = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(t0).TotalMilliseconds < 20) { ct.ThrowIfCancellationRequested(); Call(_fmaAvx2, null, 100_000, 0); }
        }

        /// <summary>GFLOP/s: the best of Runs timed runs of ~3 ms each.</summary>
        public double FmaPeak(JitIsa isa, CancellationToken ct)
        {
            nint entry = isa == JitIsa.Avx512 ? _fmaAvx512 : _fmaAvx2;
            int lanes = isa == JitIsa.Avx512 ? 16 : 8;
            double flopsPerIter = 2.0 * lanes * Accumulators * FmaUnroll;
            Call(entry, null, 10_000, 0);
            long iters = Calibrate(n => Call(entry, null, n, 0), 10_000);
            var rates = new double[Runs];
            for (int r = 0; r < Runs; r++)
            {
                ct.ThrowIfCancellationRequested();
                long t0 = Stopwatch.GetTimestamp();
                Call(entry, null, iters, 0);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                rates[r] = flopsPerIter * iters / s / 1e9;
            }
            return rates.Max();
        }

        /// <summary>
        /// GB/s of each of <paramref name="kinds"/> (indexed by <see cref="StreamKind"/>, 0 where not measured) over one buffer of
        /// <paramref name="bytes"/>, repeated: the best of Runs runs of about StreamRunSeconds, over 1 and 4 streams.
        /// An update moves each byte twice (read, then written back) and counts both.
        /// </summary>
        public double[] Bandwidths(long bytes, IReadOnlyCollection<StreamKind> kinds, CancellationToken ct)
        {
            int step = (LoadIsa == JitIsa.Avx512 ? 64 : 32) * LoadUnroll;
            bytes = Math.Max(step, bytes / step * step);
            var p = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
            try
            {
                new Span<byte>(p, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
                if (bytes > int.MaxValue) NativeMemory.Fill((byte*)p + int.MaxValue, (nuint)(bytes - int.MaxValue), 1);
                return Enum.GetValues<StreamKind>().Select(kind =>
                {
                    if (!kinds.Contains(kind)) return 0;
                    double movedPerPass = kind == StreamKind.Update ? 2.0 * bytes : bytes;
                    return _stream[(int)kind].Max(entry => Best(entry, p, bytes, ct) * movedPerPass / 1e9);
                }).ToArray();
            }
            finally
            {
                NativeMemory.AlignedFree(p);
            }
        }

        /// <summary>The most passes per second of <paramref name="entry"/> over the buffer in Runs runs.</summary>
        private static double Best(nint entry, float* p, long bytes, CancellationToken ct)
        {
            Call(entry, p, bytes, 2);
            long reps = Calibrate(n => Call(entry, p, bytes, n), 1, StreamRunSeconds);
            double best = 0;
            for (int r = 0; r < Runs; r++)
            {
                ct.ThrowIfCancellationRequested();
                long t0 = Stopwatch.GetTimestamp();
                Call(entry, p, bytes, reps);
                best = Math.Max(best, reps / Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return best;
        }

        /// <summary>A count for <paramref name="run"/> that takes about <paramref name="seconds"/>.</summary>
        private static long Calibrate(Action<long> run, long start, double seconds = FmaRunSeconds)
        {
            long n = start;
            while (true)
            {
                long t0 = Stopwatch.GetTimestamp();
                run(n);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (s >= seconds / 2 || n > 1L << 40) return Math.Max(1, (long)(n * seconds / Math.Max(s, 1e-9)));
                n *= 4;
            }
        }

        public void Dispose() => _cache.Dispose();
    }
}
