using System.Runtime.InteropServices;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>
/// The operands of one (op, shape) for a benchmark, laid out as the op's <see cref="OpSpec"/> says: read-only inputs
/// shared by every side (so an L2-resident weight matrix is the same bytes for baseline and candidate), and per side
/// its own copy of what the op writes, reset to the same start before the outputs are compared. Inputs are uniform
/// in [−1, 1) from a fixed seed (|x| where the spec says non-negative; weightings scaled to sum to 1); Alpha and Beta
/// are the spec's sample values unless given (the LIBXSMM comparison runs C = A·B + C with α = β = 1, what LIBXSMM's kernels do).
/// </summary>
public sealed unsafe class OpWorkload : IDisposable
{
    private readonly Dictionary<OperandField, AlignedBuffer> _shared = new();
    private readonly Dictionary<OperandField, float[]> _initialMutable = new();
    private readonly List<OperandField> _outputs = new();
    private readonly List<Side> _sides = new();

    /// <exception cref="MemoryBudgetException">The operands would exceed <see cref="MemoryBudget.MaxBytes"/> or the free memory.</exception>
    public OpWorkload(OpKey key, int seed = 12345, float? alpha = null, float? beta = null)
    {
        NeuralEngine.ValidateShape(key.Op, key.Shape);
        MemoryBudget.Check(key);
        Key = key;
        var spec = key.Spec;
        var rng = new Random(seed);
        Alpha = alpha ?? spec.SampleAlpha;
        Beta = beta ?? spec.SampleBeta;

        foreach (var o in spec.Operands)
        {
            var data = new float[Math.Max(1, o.Extent(key.Shape).Floats)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            if (o.NonNegative || o.WeightingLength is not null) for (int i = 0; i < data.Length; i++) data[i] = Math.Abs(data[i]);
            if (o.WeightingLength?.Invoke(key.Shape) is > 0 and var length) NormalizeWeightings(data, length);
            if (o.Role == OperandRole.Input) _shared[o.Field] = new AlignedBuffer(data);
            else _initialMutable[o.Field] = data;
            if (o.IsWritten) _outputs.Add(o.Field);
        }
    }

    public OpKey Key { get; }

    /// <summary>Scales each run of <paramref name="length"/> non-negative floats to sum to 1 (a weighting).</summary>
    private static void NormalizeWeightings(float[] data, int length)
    {
        for (int start = 0; start < data.Length; start += length)
        {
            var run = data.AsSpan(start, Math.Min(length, data.Length - start));
            float sum = 0;
            foreach (float x in run) sum += x;
            if (sum > 0) foreach (ref float x in run) x /= sum;
        }
    }

    /// <summary>
    /// Stops the sides' calls: a managed side checks it between calls and, for a call longer than a few milliseconds,
    /// between panels of rows (scalar GEMM 1536³ is seconds per call); a native side between calls.
    /// </summary>
    public CancellationToken Cancellation { get; set; }
    public float Alpha { get; }
    public float Beta { get; }

    /// <summary>
    /// Floats a workload of <paramref name="key"/> allocates: the inputs once, what the op writes three times (the
    /// start values and one copy per side of a comparison). 64-bit from the descriptor's extents, so sizes past 2³¹
    /// floats are counted, not wrapped (an extent that does not fit an int is an <see cref="OverflowException"/>).
    /// </summary>
    public static long OperandFloats(OpKey key)
    {
        long floats = 0;
        foreach (var o in key.Spec.Operands)
        {
            var e = o.Extent(key.Shape);
            long n = Math.Max(1, e.Rows <= 0 || e.Cols <= 0 ? 0 : checked((long)(e.Rows - 1) * e.Stride + e.Cols));
            floats = checked(floats + n * (o.Role == OperandRole.Input ? 1 : 3));
        }
        return floats;
    }

    /// <summary>Fields the op writes (compared between sides; scratch is not), plus <see cref="KernelArgs.Result"/> for scalar ops.</summary>
    public IReadOnlyCollection<OperandField> Outputs => _outputs;
    public bool HasScalarResult => Key.Spec.WritesResult;

    /// <summary>Bytes of operands one call touches at least once (read-only inputs + outputs).</summary>
    public long WorkingSetBytes => 4L * (_shared.Values.Sum(b => (long)b.Length) + _initialMutable.Values.Sum(a => (long)a.Length));

    /// <summary>A side that runs a managed tier (Scalar or ManagedSimd).</summary>
    public Side CreateManaged(KernelTier tier) => Add(new ManagedSide(this, tier));

    /// <summary>A side that calls native code taking one KernelArgs* (a JIT kernel).</summary>
    public Side CreateNative(nint entry, bool suppressGcTransition) => Add(new NativeSide(this, entry, suppressGcTransition));

    /// <summary>A side whose calls are made by <paramref name="run"/> over this side's operands (e.g. a foreign library).</summary>
    public Side CreateCustom(Action<Side, long> run) => Add(new CustomSide(this, run));

    private Side Add(Side s) { _sides.Add(s); return s; }

    /// <summary>
    /// Largest |a − b| over every output element of two sides after one call each from the same start
    /// (0 where both are the same NaN or infinity; +∞ where only one is NaN).
    /// </summary>
    public double MaxAbsDifference(Side a, Side b)
    {
        a.ResetOutputs(); b.ResetOutputs();
        a.Run(1); b.Run(1);
        double worst = 0;
        foreach (var f in Outputs)
        {
            var x = a.Span(f); var y = b.Span(f);
            for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, Diff(x[i], y[i]));
        }
        if (HasScalarResult) worst = Math.Max(worst, Diff(a.Args->Result, b.Args->Result));
        return worst;
    }

    private static double Diff(double x, double y)
    {
        if (x.Equals(y)) return 0; // also NaN == NaN and ∞ == ∞
        if (double.IsNaN(x) || double.IsNaN(y)) return double.PositiveInfinity;
        return Math.Abs(x - y);
    }

    public void Dispose()
    {
        foreach (var s in _sides) s.Dispose();
        foreach (var b in _shared.Values) b.Dispose();
        _sides.Clear();
        _shared.Clear();
    }

    /// <summary>One side of a comparison: its own KernelArgs block (native memory) and its own outputs and scratch.</summary>
    public abstract class Side : IBenchmarkSubject, IDisposable
    {
        private readonly Dictionary<OperandField, AlignedBuffer> _own = new();
        private readonly OpWorkload _w;
        private KernelArgs* _args;

        protected Side(OpWorkload w)
        {
            _w = w;
            _args = (KernelArgs*)NativeMemory.AlignedAlloc((nuint)sizeof(KernelArgs), 64);
            *_args = default;
            foreach (var (f, data) in w._initialMutable) _own[f] = new AlignedBuffer(data);
            foreach (var f in Enum.GetValues<OperandField>()) *KernelArgs.Field(_args, f) = Pointer(f);
            _args->Alpha = w.Alpha;
            _args->Beta = w.Beta;
        }

        public OpWorkload Workload => _w;
        public OpShape Shape => _w.Key.Shape;
        public KernelArgs* Args => _args;
        public float* Pointer(OperandField f) => _own.TryGetValue(f, out var b) ? b.Pointer : _w._shared.TryGetValue(f, out var s) ? s.Pointer : null;
        public Span<float> Span(OperandField f) => _own.TryGetValue(f, out var b) ? b.Span : _w._shared.TryGetValue(f, out var s) ? s.Span : default;

        public void ResetOutputs()
        {
            foreach (var (f, data) in _w._initialMutable) data.CopyTo(_own[f].Span);
            _args->Result = 0;
        }

        public abstract void Run(long calls);

        public void Dispose()
        {
            foreach (var b in _own.Values) b.Dispose();
            _own.Clear();
            if (_args != null) { NativeMemory.AlignedFree(_args); _args = null; }
            GC.SuppressFinalize(this);
        }
    }

    private sealed class ManagedSide(OpWorkload w, KernelTier tier) : Side(w)
    {
        /// <summary>
        /// Multiply-adds above which one call runs as panels of rows with a stop check between them: ~50–200 ms of the
        /// scalar loops on a loaded core; the SIMD tier's panels are larger so its row blocking is kept.
        /// </summary>
        private static long PanelMultiplyAdds(KernelTier tier) => tier == KernelTier.Scalar ? 1 << 23 : 1 << 26;

        private readonly delegate*<in OpShape, KernelArgs*, void> _fn = ManagedKernels.Get(w.Key.Op, tier);
        private readonly OpShape _shape = w.Key.Shape;
        private readonly int _panelRows = PanelRows(w.Key, tier);

        /// <summary>Rows of one panel, or 0 to run whole calls (rows not independent, or a call short enough).</summary>
        private static int PanelRows(OpKey key, KernelTier tier)
        {
            long perRow = key.Spec.RowMultiplyAdds?.Invoke(key.Shape) ?? 0, panel = PanelMultiplyAdds(tier);
            return perRow > 0 && perRow * key.Shape.M > panel ? (int)Math.Max(1, panel / perRow) : 0;
        }

        public override void Run(long calls)
        {
            var fn = _fn; var args = Args;
            var stop = Workload.Cancellation;
            for (long i = 0; i < calls; i++)
            {
                if (_panelRows == 0) fn(in _shape, args);
                else RunInPanels(stop);
            }
        }

        private void RunInPanels(CancellationToken stop)
        {
            var s = _shape;
            var spec = Workload.Key.Spec;
            for (int r0 = 0; r0 < s.M; r0 += _panelRows)
            {
                stop.ThrowIfCancellationRequested();
                KernelArgs a = *Args;
                var panel = spec.RowPanel(s, &a, r0, Math.Min(_panelRows, s.M - r0));
                _fn(in panel, &a);
            }
        }
    }

    private sealed class NativeSide(OpWorkload w, nint entry, bool suppress) : Side(w)
    {
        public override void Run(long calls)
        {
            var args = Args;
            Workload.Cancellation.ThrowIfCancellationRequested();
            if (suppress)
            {
                var fn = (delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)entry;
                for (long i = 0; i < calls; i++) fn(args);
            }
            else
            {
                var fn = (delegate* unmanaged<KernelArgs*, void>)entry;
                for (long i = 0; i < calls; i++) fn(args);
            }
        }
    }

    private sealed class CustomSide(OpWorkload w, Action<Side, long> run) : Side(w)
    {
        public override void Run(long calls) => run(this, calls);
    }
}
