using System.Runtime.InteropServices;
using NeuralJit.Ops;

namespace NeuralJit.Benchmarking;

/// <summary>
/// The operands of one (op, shape) for a benchmark: read-only inputs shared by every side (so an
/// L2-resident weight matrix is the same bytes for baseline and candidate), and per side its own copy
/// of what the op writes, reset to the same start before the outputs are compared. Inputs are uniform
/// in [−1, 1) from a fixed seed. Gemm runs C = A·B + C (α = β = 1, what LIBXSMM's kernels do).
/// </summary>
public sealed unsafe class OpWorkload : IDisposable
{
    private readonly Dictionary<Field, AlignedBuffer> _shared = new();
    private readonly Dictionary<Field, float[]> _initialMutable = new();
    private readonly List<Side> _sides = new();

    /// <summary>The KernelArgs fields, in <see cref="KernelArgs"/> order.</summary>
    public enum Field { A, B, C, D, E, F, G }

    public OpWorkload(OpKey key, int seed = 12345)
    {
        NeuralEngine.ValidateShape(key.Op, key.Shape);
        Key = key;
        var s = key.Shape;
        var rng = new Random(seed);
        int lda = s.StrideA(key.Op);
        Alpha = key.Op switch { OpKind.DncContent => 5f, OpKind.EwcPenalty => 0.4f, OpKind.Axpy => 0.75f, OpKind.DncWriteWeighting => 0.5f, _ => 1f };
        Beta = key.Op switch { OpKind.Gemm => 1f, OpKind.DncWriteWeighting => 0.9f, _ => 0f };

        foreach (var (field, length, mutable) in Layout(key.Op, s, lda))
        {
            var data = new float[length];
            // DNC state lives in [0, 1) and its weightings sum to about 1 per head, so in-place updates stay bounded call after call.
            var (lo, scale) = DncKernels.Handles(key.Op) ? (0.0, DncWeighting(key.Op, field) ? 2.0 / Math.Max(1, s.M) : 1.0) : (-1.0, 1.0);
            for (int i = 0; i < length; i++) data[i] = (float)((lo + rng.NextDouble() * (1 - lo)) * scale);
            if (key.Op == OpKind.EwcPenalty && field == Field.C) for (int i = 0; i < length; i++) data[i] = Math.Abs(data[i]); // a Fisher diagonal is ≥ 0
            if (mutable) _initialMutable[field] = data;
            else _shared[field] = new AlignedBuffer(data);
        }
    }

    public OpKey Key { get; }
    public float Alpha { get; }
    public float Beta { get; }

    /// <summary>DNC operands that are weightings over the slots (scaled to sum to about 1).</summary>
    private static bool DncWeighting(OpKind op, Field f) => (op, f) switch
    {
        (OpKind.DncUsage, Field.B or Field.D) or (OpKind.DncLinkUpdate or OpKind.DncLinkTemporal, Field.B or Field.C) or (OpKind.DncWrite, Field.B)
            or (OpKind.DncLinkTemporal, Field.D)
            or (OpKind.DncTemporal, Field.B) or (OpKind.DncRead, Field.B) => true,
        _ => false,
    };

    private static IEnumerable<(Field, int, bool)> Layout(OpKind op, OpShape s, int lda)
    {
        int span(int rows, int cols, int ld) => Math.Max(1, ManagedKernels.MatrixSpan(rows, cols, ld));
        switch (op)
        {
            case OpKind.Gemm:
                yield return (Field.A, span(s.M, s.K, lda), false);
                yield return (Field.B, span(s.K, s.N, s.StrideB), false);
                yield return (Field.C, span(s.M, s.N, s.StrideC), true);
                break;
            case OpKind.Gemv:
                yield return (Field.A, span(s.M, s.N, lda), false);
                yield return (Field.B, s.N, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.Dense:
                yield return (Field.A, span(s.M, s.N, lda), false);
                yield return (Field.B, s.N, false);
                yield return (Field.D, s.M, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.LstmGates:
                yield return (Field.A, span(s.M, s.N + s.K, lda), false);
                yield return (Field.B, s.N, false);
                yield return (Field.C, s.K, false);
                yield return (Field.D, s.M, false);
                yield return (Field.E, s.M, true);
                yield return (Field.F, s.K, true);
                yield return (Field.G, s.K, true);
                break;
            case OpKind.LstmCell:
                yield return (Field.A, 4 * s.M, false);
                yield return (Field.B, s.M, true);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.CosineSimilarity or OpKind.DncContent:
                yield return (Field.A, span(s.M, s.N, lda), false);
                yield return (Field.B, s.N, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.EwcPenalty:
                int n = s.M * Math.Max(1, s.N);
                yield return (Field.A, n, false);
                yield return (Field.B, n, false);
                yield return (Field.C, n, false);
                break;
            case OpKind.Add or OpKind.Mul or OpKind.Dot:
                yield return (Field.A, s.M, false);
                yield return (Field.B, s.M, false);
                if (op != OpKind.Dot) yield return (Field.C, s.M, true);
                break;
            case OpKind.Axpy:
                yield return (Field.A, s.M, false);
                yield return (Field.C, s.M, true);
                break;
            // DNC: M = slots, N = heads (width for Write/Read; K = heads for Read); Interface M = heads, N = width.
            case OpKind.DncInterface:
                yield return (Field.A, DncInterfaceLayout.SizeOf(s.M, s.N), false);
                yield return (Field.C, DncInterfaceLayout.SizeOf(s.M, s.N), true);
                break;
            case OpKind.DncUsage:
                yield return (Field.A, s.N, false);
                yield return (Field.B, s.N * s.M, false);
                yield return (Field.D, s.M, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.DncAllocation:
                yield return (Field.A, s.M, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.DncWriteWeighting:
                yield return (Field.A, s.M, false);
                yield return (Field.B, s.M, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.DncWrite:
                yield return (Field.A, span(s.M, s.N, lda), true);
                yield return (Field.B, s.M, false);
                yield return (Field.C, s.N, false);
                yield return (Field.D, s.N, false);
                break;
            case OpKind.DncLinkUpdate:
                yield return (Field.A, s.M * s.M, true);
                yield return (Field.B, s.M, false);
                yield return (Field.C, s.M, true);
                break;
            case OpKind.DncTemporal:
                yield return (Field.A, s.M * s.M, false);
                yield return (Field.B, s.N * s.M, false);
                yield return (Field.C, s.N * s.M, true);
                yield return (Field.D, s.N * s.M, true);
                break;
            case OpKind.DncLinkTemporal:
                yield return (Field.A, s.M * s.M, true);
                yield return (Field.B, s.M, false);
                yield return (Field.C, s.M, true);
                yield return (Field.D, s.N * s.M, false);
                yield return (Field.E, s.N * s.M, true);
                yield return (Field.F, s.N * s.M, true);
                break;
            case OpKind.DncReadWeighting:
                yield return (Field.A, s.N * s.M, false);
                yield return (Field.B, s.N * s.M, false);
                yield return (Field.C, s.N * s.M, false);
                yield return (Field.D, 3 * s.N, false);
                yield return (Field.E, s.N * s.M, true);
                break;
            case OpKind.DncRead:
                yield return (Field.A, span(s.M, s.N, lda), false);
                yield return (Field.B, s.K * s.M, false);
                yield return (Field.C, s.K * s.N, true);
                break;
            default: // unary element-wise
                yield return (Field.A, s.M, false);
                yield return (Field.C, s.M, true);
                break;
        }
    }

    /// <summary>Fields the op writes (compared between sides), plus <see cref="KernelArgs.Result"/> for scalar ops.</summary>
    public IReadOnlyCollection<Field> Outputs => _initialMutable.Keys;
    public bool HasScalarResult => Key.Op is OpKind.EwcPenalty or OpKind.Dot;

    /// <summary>Bytes of operands one call touches at least once (read-only inputs + outputs).</summary>
    public long WorkingSetBytes => 4L * (_shared.Values.Sum(b => (long)b.Length) + _initialMutable.Values.Sum(a => (long)a.Length));

    /// <summary>A side that runs a managed tier (Scalar or ManagedSimd). For LstmGates it also runs the cell, so a step is compared with a step.</summary>
    public Side CreateManaged(KernelTier tier) => Add(new ManagedSide(this, tier, Key.Op == OpKind.LstmGates));

    /// <summary>A side that calls native code taking one KernelArgs* (a JIT kernel). When it does not fuse the LSTM cell, the managed SIMD cell runs after it.</summary>
    public Side CreateNative(nint entry, bool suppressGcTransition, bool fusesCell = false) =>
        Add(new NativeSide(this, entry, suppressGcTransition, Key.Op == OpKind.LstmGates && !fusesCell));

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
            // A fused LSTM kernel may leave the gate pre-activations unwritten (OpKind.LstmGates).
            if (f == Field.E && (a.SkipsGateOutput || b.SkipsGateOutput)) continue;
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

    /// <summary>One side of a comparison: its own KernelArgs block (native memory) and its own outputs.</summary>
    public abstract class Side : IBenchmarkSubject, IDisposable
    {
        private readonly Dictionary<Field, AlignedBuffer> _own = new();
        private readonly OpWorkload _w;
        private KernelArgs* _args;
        /// <summary>Further native blocks this side owns (freed with it).</summary>
        internal readonly List<nint> Extra = new();

        protected Side(OpWorkload w)
        {
            _w = w;
            _args = (KernelArgs*)NativeMemory.AlignedAlloc((nuint)sizeof(KernelArgs), 64);
            *_args = default;
            foreach (var (f, data) in w._initialMutable) _own[f] = new AlignedBuffer(data);
            foreach (var f in Enum.GetValues<Field>()) SetField(f, Pointer(f));
            _args->Alpha = w.Alpha;
            _args->Beta = w.Beta;
        }

        public OpWorkload Workload => _w;
        public OpShape Shape => _w.Key.Shape;
        public KernelArgs* Args => _args;
        /// <summary>True when this side does not write E (a fused LSTM kernel).</summary>
        public virtual bool SkipsGateOutput => false;

        public float* Pointer(Field f) => _own.TryGetValue(f, out var b) ? b.Pointer : _w._shared.TryGetValue(f, out var s) ? s.Pointer : null;
        public Span<float> Span(Field f) => _own.TryGetValue(f, out var b) ? b.Span : _w._shared.TryGetValue(f, out var s) ? s.Span : default;

        private void SetField(Field f, float* p)
        {
            switch (f)
            {
                case Field.A: _args->A = p; break;
                case Field.B: _args->B = p; break;
                case Field.C: _args->C = p; break;
                case Field.D: _args->D = p; break;
                case Field.E: _args->E = p; break;
                case Field.F: _args->F = p; break;
                case Field.G: _args->G = p; break;
            }
        }

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
            foreach (var p in Extra) NativeMemory.AlignedFree((void*)p);
            Extra.Clear();
        }
    }

    private sealed class ManagedSide : Side
    {
        private readonly delegate*<in OpShape, KernelArgs*, void> _fn;
        private readonly delegate*<in OpShape, KernelArgs*, void> _cell;
        private readonly OpShape _shape, _cellShape;
        private readonly KernelArgs* _cellArgs;

        public ManagedSide(OpWorkload w, KernelTier tier, bool withCell) : base(w)
        {
            _fn = ManagedKernels.Get(w.Key.Op, tier);
            _shape = w.Key.Shape;
            if (withCell)
            {
                _cell = ManagedKernels.Get(OpKind.LstmCell, tier);
                _cellShape = OpShape.Vector(_shape.K);
                _cellArgs = CellArgs(this);
            }
        }

        public override void Run(long calls)
        {
            var fn = _fn; var args = Args;
            if (_cell == null) { for (long i = 0; i < calls; i++) fn(in _shape, args); return; }
            for (long i = 0; i < calls; i++) { fn(in _shape, args); _cell(in _cellShape, _cellArgs); }
        }
    }

    private sealed class NativeSide : Side
    {
        private readonly nint _entry;
        private readonly bool _suppress;
        private readonly delegate*<in OpShape, KernelArgs*, void> _cell;
        private readonly OpShape _cellShape;
        private readonly KernelArgs* _cellArgs;

        public NativeSide(OpWorkload w, nint entry, bool suppress, bool withManagedCell) : base(w)
        {
            _entry = entry;
            _suppress = suppress;
            if (withManagedCell)
            {
                _cell = ManagedKernels.Get(OpKind.LstmCell, KernelTier.ManagedSimd);
                _cellShape = OpShape.Vector(w.Key.Shape.K);
                _cellArgs = CellArgs(this);
            }
        }

        public override bool SkipsGateOutput => Workload.Key.Op == OpKind.LstmGates && _cell == null;

        public override void Run(long calls)
        {
            var args = Args;
            if (_suppress)
            {
                var fn = (delegate* unmanaged[SuppressGCTransition]<KernelArgs*, void>)_entry;
                for (long i = 0; i < calls; i++) { fn(args); if (_cell != null) _cell(in _cellShape, _cellArgs); }
            }
            else
            {
                var fn = (delegate* unmanaged<KernelArgs*, void>)_entry;
                for (long i = 0; i < calls; i++) { fn(args); if (_cell != null) _cell(in _cellShape, _cellArgs); }
            }
        }
    }

    private sealed class CustomSide(OpWorkload w, Action<Side, long> run) : Side(w)
    {
        public override void Run(long calls) => run(this, calls);
    }

    /// <summary>The LstmCell arguments that follow a gates call on the same side: gates E → c (F) in place, h′ → G.</summary>
    private static KernelArgs* CellArgs(Side s)
    {
        var p = (KernelArgs*)NativeMemory.AlignedAlloc((nuint)sizeof(KernelArgs), 64);
        *p = default;
        p->A = s.Pointer(Field.E); p->B = s.Pointer(Field.F); p->C = s.Pointer(Field.G);
        s.Extra.Add((nint)p);
        return p;
    }
}
