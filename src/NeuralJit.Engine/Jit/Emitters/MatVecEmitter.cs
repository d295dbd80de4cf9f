using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// Matrix–vector kernels over row-major A: <c>Gemv</c> (y = αAx + βy), <c>Dense</c> (y = Wx + b), the LSTM
/// <c>LstmGates</c> (Dense over [x; h]), the fused <c>LstmStep</c> (gates and cell, see <see cref="OpKind.LstmStep"/>)
/// and the standalone <c>LstmCell</c>.
/// <para>
/// Rows are taken a group at a time, one row per lane of the output vector (8 with ymm, 16 with zmm): each
/// row accumulates in its own register over the columns (x is loaded once per chunk and reused by every row
/// of the group; the matrix comes in as the FMA's memory operand), then a transpose-by-hadd tree folds the
/// accumulators into one vector whose lane i is row i's dot product. That vector is then finished in
/// registers: bias, α/β, or — for the LSTM — the four gates of the same hidden units, their sigmoid/tanh,
/// c′ = f·c + i·g and h′ = o·tanh(c′), stored to c and h′ (the fused step runs the cell math per batch of 64
/// units, from gate pre-activations kept in a 1 KiB stack scratch). Column tails are masked (k-mask FMA with fault suppression; vmaskmovps on AVX2), row tails
/// run a shorter group with masked stores: nothing past a row or a vector is read or written.
/// </para>
/// <para>
/// AVX-512 with weights beyond L1 (the LSTM step always, Gemv/Dense above 48 KiB) and an input of at most 13
/// vectors: the input stays in registers for the whole kernel and each group's rows are read in address order
/// (<c>ResidentRows</c>), so the weights stream from L2 sequentially instead of as 16 interleaved row streams. An input
/// of up to 52 vectors is held in blocks of 13, each loaded in turn for every row group (the 512x448 LSTM step of the DNC
/// curve: 3 blocks).
/// </para>
/// </summary>
public sealed class MatVecEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = [OpKind.Gemv, OpKind.Dense, OpKind.LstmGates, OpKind.LstmStep, OpKind.LstmCell];

    public string? CannotEmit(OpKey key, JitIsa isa)
    {
        var s = key.Shape;
        long lda = s.StrideA(key.Op);
        if ((long)s.M * lda * 4 > int.MaxValue && key.Op is OpKind.LstmGates or OpKind.LstmStep) return "weights larger than 2 GiB";
        if (lda * 4 * 16 > int.MaxValue) return "leading dimension too large for 32-bit displacements";
        return null;
    }

    public void Emit(KernelAssembler k, OpKey key)
    {
        var b = new Body(k, key);
        switch (key.Op)
        {
            case OpKind.Gemv: b.Gemv(); break;
            case OpKind.Dense: b.Dense(); break;
            case OpKind.LstmGates: b.LstmGates(); break;
            case OpKind.LstmStep: b.LstmStep(); break;
            case OpKind.LstmCell: b.LstmCell(); break;
            default: throw new ArgumentOutOfRangeException(nameof(key), key, "Not a matrix–vector op.");
        }
    }

    /// <summary>A run of columns of A multiplied by a vector: W columns [col, col+count) times src[0..count).</summary>
    private readonly record struct Segment(AssemblerRegister64 Source, int Column, int Count);

    private sealed class Body
    {
        private readonly KernelAssembler _k;
        private readonly Assembler _a;
        private readonly OpShape _s;
        private readonly int _lanes, _vb, _lda4;
        // Vector registers, from the plan in this order: accumulators v0..v(L−1), x chunk vL, temporary vL+1, results
        // vL+2.. (taken per op); AVX2 column and row tail masks pinned at v15 and v14 (AVX-512 masks are k2/k3);
        // AVX-512 split-load temporaries pinned at v22–v29, or the resident input at vL and v20–v31.
        private readonly VectorRegisterPlan _regs;
        private readonly Vec[] _acc;
        private readonly Vec _x, _tmp, _colMask, _rowMask;
        private Vec[]? _splitTemps;

        // Pointers and counters by role (rbx and r12 are callee-saved: the ops that use them declare them).
        private static readonly AssemblerRegister64 Rows = r8, Out = r9, Bias = r10, WColumn = rax, XWalk = r11, X = rdx, H = rbx, HOut = r12;
        private static readonly AssemblerRegister32 GroupsLeft = esi, ChunkRunsLeft = ecx;

        /// <summary>
        /// AVX-512 with weights beyond L1: load each weight vector into one of v22–v29 and FMA from the register,
        /// instead of an FMA with a memory operand. Measured A/B on the 64→128 LSTM step (384 KiB from L2):
        /// 2.59 vs 2.78 µs; no gain for L1-resident weights or under AVX2 (which has no spare registers), so only here.
        /// The same condition selects the register-resident input (<see cref="ResidentRows"/>) for Gemv and Dense when
        /// x fits in 13 zmm (or, loaded per row group, in up to 4 blocks of 13 zmm): Dense 1024×192 (768 KiB) 5.8–6.5 → 3.8–4.4 µs, Gemv 1024×192 7.0–7.2 → 4.8–5.4 µs
        /// (A/B alternated); Dense 128×64 in L1 showed no difference (93 vs 93 ns), so L1-sized weights keep RowGroup.
        /// </summary>
        private readonly bool _splitLoads;

        public Body(KernelAssembler k, OpKey key)
        {
            _k = k; _a = k.Asm; _s = key.Shape;
            _lanes = k.Lanes; _vb = k.VectorBytes;
            _lda4 = key.Shape.StrideA(key.Op) * 4;
            _regs = k.Registers;
            _acc = _regs.TakeBlock(_lanes, "row accumulator");
            _x = _regs.Take("x chunk");
            _tmp = _regs.Take("temporary");
            if (!k.IsAvx512)
            {
                _colMask = _regs.TakeAt(15, "AVX2 column tail mask");
                _rowMask = _regs.TakeAt(14, "AVX2 row tail mask");
            }
            _splitLoads = k.IsAvx512 && (long)Math.Max(1, key.Shape.M) * _lda4 > 48 * 1024;
        }

        private Vec Acc(int i) => _acc[i];

        private AssemblerMemoryOperand VMem(AssemblerRegister64 r, int disp) => _k.Width.Ptr[r + disp];

        /// <summary>Lane i of <paramref name="result"/> = Σ_c W[rowDisp/lda + i, c]·x[c] over the segments, for i &lt; rows (other lanes 0).</summary>
        private void RowGroup(int rows, int rowDisp, Segment[] segs, Vec result)
        {
            for (int i = 0; i < _lanes; i++) _k.Zero(Acc(i));
            var map = ReductionTree.For(_k.IsAvx512).AccumulatorOfLane;
            foreach (var seg in segs)
            {
                if (seg.Count == 0) continue;
                int full = seg.Count / _lanes, tail = seg.Count % _lanes;
                if (seg.Column == 0) _a.mov(WColumn, Rows); else _a.lea(WColumn, __[Rows + seg.Column * 4]);
                _a.mov(XWalk, seg.Source);
                if (full > 0)
                {
                    // Several chunks per iteration cut the loop overhead; the chunks left over follow the loop.
                    int unroll = ChunksPerIteration(full), runs = full / unroll, left = full % unroll;
                    if (runs > 0)
                    {
                        var loop = _a.CreateLabel();
                        if (runs > 1) _a.mov(ChunkRunsLeft, runs);
                        _a.Label(ref loop);
                        for (int u = 0; u < unroll; u++) Chunk(rows, rowDisp, u * _vb, map);
                        if (runs > 1 || left != 0 || tail != 0)
                        {
                            _a.add(WColumn, unroll * _vb);
                            _a.add(XWalk, unroll * _vb);
                        }
                        if (runs > 1) { _a.dec(ChunkRunsLeft); _a.jnz(loop); }
                    }
                    for (int r = 0; r < left; r++) Chunk(rows, rowDisp, r * _vb, map);
                    if (left != 0 && tail != 0) { _a.add(WColumn, left * _vb); _a.add(XWalk, left * _vb); }
                }
                if (tail != 0)
                {
                    var m = _k.CreateTailMask(tail, _colMask, 2);
                    _k.LoadTail(_x, VMem(XWalk, 0), m);
                    for (int i = 0; i < rows; i++)
                    {
                        var w = VMem(WColumn, rowDisp + i * _lda4);
                        if (_k.IsAvx512) _a.vfmadd231ps(_k.Z(Acc(map[i])).k2, _k.Z(_x), w); // masked lanes: no load, no fault
                        else
                        {
                            _k.LoadTail(_tmp, w, m);
                            _k.FmaAcc(Acc(map[i]), _x, _tmp);
                        }
                    }
                }
            }
            ReduceRows(result);
        }

        /// <summary>
        /// Chunks per iteration of a segment's column loop: 4 from 20 chunks up under AVX2 (measured there only), else 2. A/B in one process (AVX2, median of
        /// paired per-round ratios): LstmStep 512x448 (x: 40 chunks) 0.956–0.963 of the pair loop, Dense 512x192 and 512x448 0.95, Gemv 512x192 0.965; every
        /// segment at 4 made LstmStep 256x128 (8-chunk segments) 1.02, and 5 or 8 chunks per iteration were no better.
        /// </summary>
        private int ChunksPerIteration(int chunks) => !_k.IsAvx512 && chunks >= 20 ? 4 : 2;

        private void Chunk(int rows, int rowDisp, int colDisp, int[] map)
        {
            _k.Load(_x, VMem(XWalk, colDisp));
            for (int i = 0; i < rows; i++)
            {
                if (_splitLoads)
                {
                    _splitTemps ??= Enumerable.Range(22, 8).Select(r => _regs.TakeAt(r, "weight load")).ToArray();
                    var t = _splitTemps[i % 8];
                    _k.Load(t, VMem(WColumn, rowDisp + i * _lda4 + colDisp));
                    _k.FmaAcc(Acc(map[i]), _x, t);
                }
                else _k.FmaAcc(Acc(map[i]), _x, VMem(WColumn, rowDisp + i * _lda4 + colDisp));
            }
        }

        /// <summary>Folds the accumulators into <paramref name="result"/> (<see cref="ReductionTree.Emit"/>); clobbers them and the temporary.</summary>
        private void ReduceRows(Vec result) => ReductionTree.For(_k.IsAvx512).Emit(_k, _acc, _tmp, result);

        /// <summary>
        /// Runs <paramref name="body"/> for every full group of L rows (a loop) and then the row tail, if any; with
        /// <paramref name="advancePastEnd"/>, the pointers also advance past the last group (more rows follow).
        /// </summary>
        private void Groups(int total, Action<int, TailMask?> body, Action advance, bool advancePastEnd = false)
        {
            int full = total / _lanes, tail = total % _lanes;
            if (full > 0)
            {
                var loop = _a.CreateLabel();
                if (full > 1) _a.mov(GroupsLeft, full);
                _a.Label(ref loop);
                body(_lanes, null);
                if (full > 1 || tail > 0 || advancePastEnd) advance();
                if (full > 1) { _a.dec(GroupsLeft); _a.jnz(loop); }
            }
            if (tail > 0)
            {
                // The row-tail mask lives in k3 (the column mask uses k2).
                var m = _k.CreateTailMask(tail, _rowMask, 3);
                body(tail, m);
                if (advancePastEnd) advance();
            }
        }

        private void LoadPart(Vec d, AssemblerMemoryOperand m, TailMask? t) { if (t is { } tm) _k.LoadTail(d, m, tm); else _k.Load(d, m); }
        private void StorePart(AssemblerMemoryOperand m, Vec s, TailMask? t) { if (t is { } tm) _k.StoreTail(m, s, tm); else _k.Store(m, s); }

        public void Gemv()
        {
            if (_s.M == 0) return;
            _k.LoadPointer(Rows, KernelArgs.Offsets.A);
            _k.LoadPointer(X, KernelArgs.Offsets.B);
            _k.LoadPointer(Out, KernelArgs.Offsets.C);
            var segs = new[] { new Segment(X, 0, _s.N) };
            Vec y = _regs.Take("y"), alpha = _regs.Take("α, then β"), beta = alpha; // α is dead once applied
            var resident = _splitLoads ? ResidentBlocks(segs) : null;
            if (resident != null) LoadResident(resident);
            Groups(_s.M, (rows, t) =>
            {
                if (resident != null) ResidentRows(Rows, rows, 0, resident, y); else RowGroup(rows, 0, segs, y);
                _k.BroadcastField(alpha, KernelArgs.Offsets.Alpha);
                _k.Mul(y, y, alpha);
                var store = _a.CreateLabel();
                _a.test(__dword_ptr[_k.Args + KernelArgs.Offsets.Beta], 0x7FFFFFFF); // β = ±0: y is not read
                _a.jz(store);
                _k.BroadcastField(beta, KernelArgs.Offsets.Beta);
                LoadPart(_tmp, VMem(Out, 0), t);
                _k.FmaAcc(y, beta, _tmp);
                _a.Label(ref store);
                StorePart(VMem(Out, 0), y, t);
            }, () => { _a.add(Rows, _lanes * _lda4); _a.add(Out, _vb); });
        }

        public void Dense()
        {
            if (_s.M == 0) return;
            _k.LoadPointer(Rows, KernelArgs.Offsets.A);
            _k.LoadPointer(X, KernelArgs.Offsets.B);
            _k.LoadPointer(Out, KernelArgs.Offsets.C);
            _k.LoadPointer(Bias, KernelArgs.Offsets.D);
            Affine([new Segment(X, 0, _s.N)]);
        }

        /// <summary>The gates alone: E = W·[x; h] + bias, the Dense kernel over two column segments.</summary>
        public void LstmGates()
        {
            if (_s.M == 0) return;
            _k.UseCalleeSaved(H);
            _k.LoadPointer(Rows, KernelArgs.Offsets.A);
            _k.LoadPointer(X, KernelArgs.Offsets.B);  // x
            _k.LoadPointer(H, KernelArgs.Offsets.C);  // h
            _k.LoadPointer(Bias, KernelArgs.Offsets.D);  // bias
            _k.LoadPointer(Out, KernelArgs.Offsets.E);   // gates
            Affine([new Segment(X, 0, _s.N), new Segment(H, _s.N, _s.K)]);
        }

        /// <summary>y (Out) = W (Rows) · segments + bias (Bias), a row group at a time.</summary>
        private void Affine(Segment[] segs)
        {
            Vec y = _regs.Take("y");
            var resident = _splitLoads ? ResidentBlocks(segs) : null;
            if (resident != null) LoadResident(resident);
            Groups(_s.M, (rows, t) =>
            {
                if (resident != null) ResidentRows(Rows, rows, 0, resident, y); else RowGroup(rows, 0, segs, y);
                LoadPart(_tmp, VMem(Bias, 0), t);
                _k.Add(y, y, _tmp);
                StorePart(VMem(Out, 0), y, t);
            }, () => { _a.add(Rows, _lanes * _lda4); _a.add(Out, _vb); _a.add(Bias, _vb); });
        }

        /// <summary>Hidden units whose gate pre-activations are computed before their cell math runs (scratch: 4 gates × 64 floats, 1 KiB).</summary>
        private const int StepBatchUnits = 64;

        private static readonly AssemblerRegister64 GateScratch = r13, BatchesLeft = r14;
        // The resident path's gate loop reuses the row-group kernel's column walk registers (it has no column loop).
        private static readonly AssemblerRegister64 GateRows = WColumn, GateBias = XWalk;
        private static readonly AssemblerRegister32 GatesLeft = ChunkRunsLeft;

        /// <summary>
        /// The fused step, a batch of up to 64 hidden units j at a time: first, per group of L units, the four gate rows
        /// q·H + j (i, f, g, o) over [x; h] plus the bias, stored to a stack scratch; then the cell for the batch's groups,
        /// c ← σ(f)·c + σ(i)·tanh(g) and h′ ← σ(o)·tanh(c), read from the scratch. The cell math is long dependency chains
        /// (the tanh of c′ waits for the tanh of g): issued right after each group's rows it filled the reorder window and the
        /// next rows' loads waited behind it. Batched, with every gate activated (in place in the scratch) before any cell
        /// update, the short chains of different gates and groups overlap each other instead.
        /// </summary>
        public void LstmStep()
        {
            int hidden = _s.K, input = _s.N;
            if (hidden == 0) return;
            _k.UseCalleeSaved(H);
            _k.UseCalleeSaved(HOut);
            _k.UseCalleeSaved(GateScratch);
            _k.LoadPointer(Rows, KernelArgs.Offsets.A);
            _k.LoadPointer(X, KernelArgs.Offsets.B);  // x
            _k.LoadPointer(H, KernelArgs.Offsets.C);  // h
            _k.LoadPointer(Bias, KernelArgs.Offsets.D);  // bias
            _k.LoadPointer(Out, KernelArgs.Offsets.F);   // c, in place
            _k.LoadPointer(HOut, KernelArgs.Offsets.G);  // h′
            var segs = new[] { new Segment(X, 0, input), new Segment(H, input, hidden) };
            // AVX-512: [x; h] in registers (in blocks when longer than 13 zmm), each gate block's rows read in address order (ResidentRows).
            var resident = _k.IsAvx512 ? ResidentBlocks(segs) : null;
            if (resident != null) LoadResident(resident);
            Vec gate = _regs.Take("gate");
            int scratch = _k.AllocateStack(4 * StepBatchUnits * 4);
            int fullBatches = hidden / StepBatchUnits, rest = hidden % StepBatchUnits;
            // Whole batches only: the order's sign rides on the batch counter (every GPR is taken), and a row tail's
            // batch would have to run first backwards.
            bool zigzag = fullBatches > 1 && rest == 0;
            // mirrored: backwards, the batch's row groups run last to first too (the weights are read in the mirror order).
            void Batch(int units, bool more, bool mirrored)
            {
                int groups = units / _lanes; // mirrored batches are full: a whole number of groups
                _a.lea(GateScratch, __[rsp + scratch]);
                if (mirrored) IfBackward(() => MoveGroups(groups - 1));
                Groups(units, (rows, t) =>
                {
                    if (resident != null)
                    {
                        // The four gates in a loop over one body: a quarter of the code of the unrolled gates (LstmStep 512x192:
                        // 465 instead of 1,160 instructions, assembled in less than half the time), no slower in A/B runs.
                        var gates = _a.CreateLabel();
                        _a.mov(GateRows, Rows);
                        _a.mov(GateBias, Bias);
                        _a.mov(GatesLeft, 4);
                        _a.Label(ref gates);
                        ResidentRows(GateRows, rows, 0, resident, gate);
                        LoadPart(_tmp, VMem(GateBias, 0), t);
                        _k.Add(gate, gate, _tmp);
                        _k.Store(VMem(GateScratch, 0), gate);
                        _a.add(GateRows, hidden * _lda4);
                        _a.add(GateBias, hidden * 4);
                        _a.add(GateScratch, _vb);
                        _a.dec(GatesLeft);
                        _a.jnz(gates);
                        _a.sub(GateScratch, 4 * _vb);
                    }
                    else
                        for (int q = 0; q < 4; q++)
                        {
                            RowGroup(rows, q * hidden * _lda4, segs, gate);
                            LoadPart(_tmp, VMem(Bias, q * hidden * 4), t);
                            _k.Add(gate, gate, _tmp);
                            _k.Store(VMem(GateScratch, q * _vb), gate);
                        }
                }, () =>
                {
                    if (mirrored) IfBackward(() => MoveGroups(-2));
                    MoveGroups(1);
                }, more);
                if (mirrored) IfBackward(() => MoveGroups(groups + 1)); // from group −1 to the next batch
                // The accumulators are free here: Acc(0..4) are the math's temporaries, Acc(5..7) and gate hold i, f, g, o.
                _a.lea(GateScratch, __[rsp + scratch]);
                Groups(units, (rows, t) =>
                {
                    for (int q = 0; q < 4; q++)
                    {
                        Vec v = Acc(5 + q % 3);
                        _k.Load(v, VMem(GateScratch, q * _vb));
                        ActivateGate(q, v);
                        _k.Store(VMem(GateScratch, q * _vb), v);
                    }
                }, () => _a.add(GateScratch, 4 * _vb));
                _a.lea(GateScratch, __[rsp + scratch]);
                Vec gi = Acc(5), gf = Acc(6), gg = Acc(7), go = gate;
                Groups(units, (rows, t) =>
                {
                    _k.Load(gi, VMem(GateScratch, 0));
                    _k.Load(gf, VMem(GateScratch, _vb));
                    _k.Load(gg, VMem(GateScratch, 2 * _vb));
                    _k.Load(go, VMem(GateScratch, 3 * _vb));
                    UpdateCell(gi, gf, gg, go, VMem(Out, 0), VMem(HOut, 0), t);
                }, () => { _a.add(Out, _vb); _a.add(HOut, _vb); _a.add(GateScratch, 4 * _vb); }, more);
            }
            // Zigzag: with h′ below h the batches run last to first. The LSTM layer swaps h and h′ every step, so the
            // order alternates from step to step with no state. Where the step's data exceed L2 (the DNC step: these
            // weights, the interface's, the memory), a fixed order finds none of the weights left in L2 (LRU-like
            // replacement evicts the oldest, which is what is read first); the reverse order starts on the rows read
            // last, still in L2 (so each batch's row groups run backwards too: whatever is read first and misses evicts
            // the oldest lines, and the oldest are the rows read last before the step's other data). Same groups, same
            // arithmetic, same bytes read: only their order differs, so no cache or prefetcher (Intel or AMD) is given
            // more traffic than before. The DNC step (W 64, R 4) against the fixed order, in one process (Xeon, AVX-512 /
            // AVX2): N = 64 1.21 / 1.15, 128 1.17 / 1.08, 256 1.06 / 1.14, 512 1.02 / 1.00. Backwards, the batch counter
            // runs from −batches up to 0.
            if (zigzag)
            {
                _k.UseCalleeSaved(BatchesLeft);
                var loop = _a.CreateLabel();
                _a.mov(BatchesLeft, fullBatches);
                _a.cmp(HOut, H);
                _a.jae(loop);
                _a.neg(BatchesLeft);
                AdvanceBatches(fullBatches - 1);
                _a.Label(ref loop);
                Batch(StepBatchUnits, more: true, mirrored: true);
                IfBackward(() => AdvanceBatches(-2));
                var up = _a.CreateLabel();
                var counted = _a.CreateLabel();
                _a.test(BatchesLeft, BatchesLeft);
                _a.js(up);
                _a.dec(BatchesLeft);
                _a.jmp(counted);
                _a.Label(ref up);
                _a.inc(BatchesLeft);
                _a.Label(ref counted);
                _a.jnz(loop);
            }
            else
            {
                if (fullBatches > 0)
                {
                    var loop = _a.CreateLabel();
                    if (fullBatches > 1) { _k.UseCalleeSaved(BatchesLeft); _a.mov(BatchesLeft, fullBatches); }
                    _a.Label(ref loop);
                    Batch(StepBatchUnits, more: fullBatches > 1 || rest > 0, mirrored: false);
                    if (fullBatches > 1) { _a.dec(BatchesLeft); _a.jnz(loop); }
                }
                if (rest > 0) Batch(rest, more: false, mirrored: false);
            }

            void IfBackward(Action body)
            {
                var skip = _a.CreateLabel();
                _a.test(BatchesLeft, BatchesLeft);
                _a.jns(skip);
                body();
                _a.Label(ref skip);
            }

            // Moves the gate phase's pointers by n row groups.
            void MoveGroups(int n)
            {
                _a.add(Rows, n * _lanes * _lda4);
                _a.add(Bias, n * _vb);
                _a.add(GateScratch, n * 4 * _vb);
            }

            // Moves every pointer a batch walks by n batches of units.
            void AdvanceBatches(int n)
            {
                _a.add(Rows, n * StepBatchUnits * _lda4);
                _a.add(Bias, n * StepBatchUnits * 4);
                _a.add(Out, n * StepBatchUnits * 4);
                _a.add(HOut, n * StepBatchUnits * 4);
            }
        }

        /// <summary>A column chunk of [x; h] held in a register: its source, column in W, lanes, and tail-mask k (0 = full).</summary>
        private readonly record struct XChunk(Vec Reg, AssemblerRegister64 Source, int SourceOffset, int Column, int Count, int K);

        /// <summary>Registers for the input's chunks (AVX-512): v16 (the x chunk's) and v20–v31. v0–v15 are the row accumulators, v17 the reduction temporary, v18–v19 the results.</summary>
        private static readonly int[] ResidentRegisters = [16, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31];

        /// <summary>
        /// Up to 4 blocks (832 floats): a group's rows are unrolled over every chunk, so a longer input would grow the code
        /// past the caches for it (a wider input takes the row-group kernel's loop over column pairs instead).
        /// </summary>
        private const int MaxResidentBlocks = 4;

        /// <summary>
        /// The input [x; h] in blocks of at most 13 zmm chunks (AVX-512), as even as possible. One block (at most 208 floats)
        /// stays in registers for the whole kernel; more blocks are loaded in turn for every row group (one load per
        /// chunk and group, as the row-group kernel loads x), so that the rows are still read in address order, a block's
        /// run of each row at a time.
        /// </summary>
        private XChunk[][]? ResidentBlocks(Segment[] segs)
        {
            var chunks = new List<(AssemblerRegister64 Source, int Offset, int Column, int Count, int K)>();
            int k = 2;
            foreach (var seg in segs)
            {
                for (int c = 0; c < seg.Count; c += 16)
                {
                    int n = Math.Min(16, seg.Count - c);
                    chunks.Add((seg.Source, c * 4, seg.Column + c, n, n == 16 ? 0 : k));
                }
                if (seg.Count % 16 != 0) k = 4;
            }
            int blocks = (chunks.Count + ResidentRegisters.Length - 1) / ResidentRegisters.Length;
            if (blocks is 0 or > MaxResidentBlocks) return null;
            int per = (chunks.Count + blocks - 1) / blocks;
            return chunks.Chunk(per)
                .Select(b => b.Select((c, i) => new XChunk(new Vec(ResidentRegisters[i]), c.Source, c.Offset, c.Column, c.Count, c.K)).ToArray())
                .ToArray();
        }

        /// <summary>Takes the input's registers and creates its tail masks (alive for the whole kernel); a single block is loaded here, once.</summary>
        private void LoadResident(XChunk[][] blocks)
        {
            foreach (var reg in blocks.SelectMany(b => b).Select(c => c.Reg).Distinct())
                if (reg != _x) _regs.TakeAt(reg.Index, "resident input chunk");
            foreach (var tail in blocks.SelectMany(b => b).Where(c => c.K != 0).GroupBy(c => c.K))
                _k.CreateTailMask(tail.First().Count, default, tail.Key);
            if (blocks.Length == 1) LoadBlock(blocks[0]);
        }

        private void LoadBlock(XChunk[] block)
        {
            foreach (var c in block)
            {
                if (c.K == 0) _k.Load(c.Reg, __zmmword_ptr[c.Source + c.SourceOffset]);
                else _a.vmovups(_k.ZK(c.Reg, c.K).z, __zmmword_ptr[c.Source + c.SourceOffset]);
            }
        }

        /// <summary>
        /// Lane i of <paramref name="result"/> = row (rowDisp/lda + i) of W at Rows times the resident input, for
        /// i &lt; rows (AVX-512). Per block, the rows are read in order, four interleaved chunk by chunk: four independent FMA
        /// chains over a short sequential run (A/B on the LSTM step against one row at a time: 2.27–2.28 vs 2.31 µs).
        /// Each row's first chunk is a multiply, so only the accumulators of absent tail rows need zeroing.
        /// </summary>
        private void ResidentRows(AssemblerRegister64 rowsAt, int rows, int rowDisp, XChunk[][] blocks, Vec result)
        {
            var map = ReductionTree.For(true).AccumulatorOfLane;
            for (int i = rows; i < _lanes; i++) _k.Zero(Acc(map[i]));
            for (int b = 0; b < blocks.Length; b++)
            {
                var chunks = blocks[b];
                if (blocks.Length > 1) LoadBlock(chunks);
                for (int i0 = 0; i0 < rows; i0 += 4)
                    for (int j = 0; j < chunks.Length; j++)
                        for (int i = i0; i < Math.Min(rows, i0 + 4); i++)
                        {
                            var c = chunks[j];
                            var w = __zmmword_ptr[rowsAt + (rowDisp + i * _lda4 + c.Column * 4)];
                            var acc = c.K == 0 ? _k.Z(Acc(map[i])) : _k.ZK(Acc(map[i]), c.K);
                            if (b == 0 && j == 0) _a.vmulps(c.K == 0 ? acc : acc.z, _k.Z(c.Reg), w);
                            else _a.vfmadd231ps(acc, _k.Z(c.Reg), w); // masked lanes: no load, no fault
                        }
            }
            ReduceRows(result);
        }

        /// <summary>From pre-activations in registers: c ← σ(f)·c + σ(i)·tanh(g); h′ ← σ(o)·tanh(c). The accumulators are free here and serve as temporaries.</summary>
        private void Cell(Vec i, Vec f, Vec g, Vec o, AssemblerMemoryOperand c, AssemblerMemoryOperand hOut, TailMask? t)
        {
            ActivateGate(0, i);
            ActivateGate(1, f);
            ActivateGate(2, g);
            ActivateGate(3, o);
            UpdateCell(i, f, g, o, c, hOut, t);
        }

        /// <summary>Gate q (i, f, g, o) activated in place: tanh for g, σ for the others. Clobbers Acc(0..3).</summary>
        private void ActivateGate(int q, Vec v)
        {
            if (q == 2) MathEmitter.Tanh(_k, v, Acc(0), Acc(1), Acc(2), Acc(3));
            else MathEmitter.Sigmoid(_k, v, Acc(0), Acc(1));
        }

        /// <summary>From activated gates: c ← f·c + i·g; h′ ← o·tanh(c). Clobbers Acc(0..4).</summary>
        private void UpdateCell(Vec i, Vec f, Vec g, Vec o, AssemblerMemoryOperand c, AssemblerMemoryOperand hOut, TailMask? t)
        {
            Vec cv = Acc(4);
            LoadPart(cv, c, t);
            _k.Mul(cv, cv, f);
            _k.FmaAcc(cv, i, g);               // c′ = f·c + i·g
            StorePart(c, cv, t);
            MathEmitter.Tanh(_k, cv, Acc(0), Acc(1), Acc(2), Acc(3));
            _k.Mul(cv, cv, o);                 // h′ = o·tanh(c′)
            StorePart(hOut, cv, t);
        }

        /// <summary>LstmCell: A = gates [i; f; g; o] (4 blocks of M), B = c in place, C = h′.</summary>
        public void LstmCell()
        {
            int hidden = _s.M;
            if (hidden == 0) return;
            _k.LoadPointer(Rows, KernelArgs.Offsets.A);
            _k.LoadPointer(Out, KernelArgs.Offsets.B);
            _k.LoadPointer(HOut, KernelArgs.Offsets.C);
            _k.UseCalleeSaved(HOut);
            var gate = _regs.TakeBlock(4, "gate i, f, g, o");
            Groups(hidden, (rows, t) =>
            {
                for (int q = 0; q < 4; q++) LoadPart(gate[q], VMem(Rows, q * hidden * 4), t);
                Cell(gate[0], gate[1], gate[2], gate[3], VMem(Out, 0), VMem(HOut, 0), t);
            }, () => { _a.add(Rows, _vb); _a.add(Out, _vb); _a.add(HOut, _vb); });
        }
    }
}

/// <summary>
/// The shuffle tree that folds L row accumulators into one vector of L row sums, and which accumulator
/// ends up in which lane (found by running the tree on lane labels, so the emitter and this map cannot
/// disagree). AVX-512: 128-bit chunk shuffles 0x44/0xEE (halves), 0x88/0xDD (quarters), then vshufps
/// 0x44/0xEE and 0x88/0xDD inside each 128-bit lane; AVX2: vperm2f128 0x20/0x31, then the two vshufps levels.
/// </summary>
internal sealed class ReductionTree
{
    public enum Kind { Chunks128, InLane }

    public required (Kind Kind, byte Lo, byte Hi)[] Levels { get; init; }
    /// <summary>AccumulatorOfLane[i] = the accumulator whose sum lands in lane i.</summary>
    public required int[] AccumulatorOfLane { get; init; }

    private static readonly ReductionTree s_avx2 = Build(false), s_avx512 = Build(true);
    public static ReductionTree For(bool avx512) => avx512 ? s_avx512 : s_avx2;

    /// <summary>The 128-bit-chunk shuffle of the tree at each width (vperm2f128 has no zmm form).</summary>
    private static readonly VectorForm ChunkShuffle = new(Code.VEX_Vperm2f128_ymm_ymm_ymmm256_imm8, Code.EVEX_Vshuff32x4_zmm_k1z_zmm_zmmm512b32_imm8);
    private static readonly VectorForm InLaneShuffle = new(Code.VEX_Vshufps_ymm_ymm_ymmm256_imm8, Code.EVEX_Vshufps_zmm_k1z_zmm_zmmm512b32_imm8);

    /// <summary>
    /// Folds the L accumulators into <paramref name="result"/>: lane i = the sum of the lanes of accumulator
    /// <see cref="AccumulatorOfLane"/>[i] (callers assign rows to accumulators by that map, so the lanes come out in row
    /// order with no final permute). log2(L) levels of shuffle-low/shuffle-high/add on pairs: 3·(L−1) instructions, all
    /// full-width — fewer µops than extract-and-hadd trees (vhaddps is 3 µops). Clobbers the accumulators and the temporary.
    /// </summary>
    public void Emit(KernelAssembler k, IReadOnlyList<Vec> accumulators, Vec tmp, Vec result) => Emit(k, accumulators.Select(a => (Vec?)a).ToArray(), tmp, result);

    /// <summary>
    /// <see cref="Emit(KernelAssembler, IReadOnlyList{Vec}, Vec, Vec)"/> with absent accumulators (null): their lanes of
    /// the result are left undefined, and a pair with one absent costs less. The first level, or a 128-bit-chunk level whose
    /// present one holds its sums in the low half only (it was narrowed before), adds that one's halves (extract and add,
    /// two instructions); otherwise the present one is paired with itself. Returns the register holding the sums (one of the
    /// accumulators, or <paramref name="result"/> when given); each lane adds the same terms in the same order as with every
    /// accumulator present.
    /// </summary>
    public Vec Emit(KernelAssembler k, IReadOnlyList<Vec?> accumulators, Vec tmp, Vec? result = null)
    {
        if (accumulators.Count != AccumulatorOfLane.Length) throw new ArgumentException($"The tree folds {AccumulatorOfLane.Length} accumulators.", nameof(accumulators));
        int chunks = AccumulatorOfLane.Length / 4;
        // Per node: its register and how many 128-bit chunks from the bottom hold its sums.
        var cur = accumulators.Select(a => a is { } v ? (V: v, Live: chunks) : ((Vec V, int Live)?)null).ToList();
        int chunkLevel = 0;
        foreach (var (kind, lo, hi) in Levels)
        {
            var next = new List<(Vec V, int Live)?>();
            int width = chunks >> chunkLevel;     // chunks a node spans at this level, while narrowing
            for (int p = 0; p < cur.Count; p += 2)
            {
                bool last = cur.Count == 2;
                if (cur[p] is null && cur[p + 1] is null) { next.Add(null); continue; }
                if (kind == Kind.Chunks128 && cur[p] is { } a && cur[p + 1] is null && a.Live == width)
                {
                    Vec d = last && result is { } r ? r : a.V;
                    Narrow(k, a.V, tmp, d, width);
                    next.Add((d, width / 2));
                    continue;
                }
                Vec u = (cur[p] ?? cur[p + 1])!.Value.V, w = (cur[p + 1] ?? cur[p])!.Value.V;
                var form = kind == Kind.Chunks128 ? ChunkShuffle : InLaneShuffle;
                k.Emit(form, tmp, u, w, lo);
                k.Emit(form, w, u, w, hi);
                Vec dst = last && result is { } res ? res : u;
                k.Add(dst, tmp, w);
                next.Add((dst, chunks));
            }
            cur = next;
            if (kind == Kind.Chunks128) chunkLevel++;
        }
        return cur.Single()!.Value.V;
    }

    /// <summary>d's low half = a's low half + its high half (the low part first, as the pair's add), over <paramref name="width"/> chunks of a.</summary>
    private static void Narrow(KernelAssembler k, Vec a, Vec tmp, Vec d, int width)
    {
        var asm = k.Asm;
        if (width == 4)
        {
            asm.AddInstruction(Instruction.Create(Code.EVEX_Vextractf32x8_ymmm256_k1z_zmm_imm8, k.Y(tmp), k.Z(a), 1));
            asm.AddInstruction(Instruction.Create(Code.EVEX_Vaddps_ymm_k1z_ymm_ymmm256b32, k.Y(d), k.Y(a), k.Y(tmp)));
        }
        else if (k.IsAvx512)
        {
            asm.AddInstruction(Instruction.Create(Code.EVEX_Vextractf32x4_xmmm128_k1z_ymm_imm8, k.X(tmp), k.Y(a), 1));
            asm.AddInstruction(Instruction.Create(Code.EVEX_Vaddps_xmm_k1z_xmm_xmmm128b32, k.X(d), k.X(a), k.X(tmp)));
        }
        else
        {
            asm.vextractf128(k.X(tmp), k.Y(a), 1);
            asm.vaddps(k.X(d), k.X(a), k.X(tmp));
        }
    }

    private static ReductionTree Build(bool avx512)
    {
        int lanes = avx512 ? 16 : 8;
        var levels = avx512
            ? new[] { (Kind.Chunks128, (byte)0x44, (byte)0xEE), (Kind.Chunks128, (byte)0x88, (byte)0xDD), (Kind.InLane, (byte)0x44, (byte)0xEE), (Kind.InLane, (byte)0x88, (byte)0xDD) }
            : new[] { (Kind.Chunks128, (byte)0x20, (byte)0x31), (Kind.InLane, (byte)0x44, (byte)0xEE), (Kind.InLane, (byte)0x88, (byte)0xDD) };
        // Lane labels: the set of (accumulator, lane) terms each lane holds.
        var cur = Enumerable.Range(0, lanes).Select(r => Enumerable.Range(0, lanes).Select(l => new List<int> { r }).ToArray()).ToList();
        foreach (var (kind, lo, hi) in levels)
        {
            var next = new List<List<int>[]>();
            for (int p = 0; p < cur.Count; p += 2)
            {
                var t = Apply(kind, cur[p], cur[p + 1], lo, avx512);
                var u = Apply(kind, cur[p], cur[p + 1], hi, avx512);
                next.Add(t.Zip(u, (x, y) => x.Concat(y).ToList()).ToArray());
            }
            cur = next;
        }
        var final = cur.Single();
        var map = new int[lanes];
        for (int l = 0; l < lanes; l++)
        {
            var ids = final[l].Distinct().ToArray();
            if (ids.Length != 1 || final[l].Count != lanes) throw new InvalidOperationException($"reduction tree lane {l} mixes accumulators {string.Join(",", ids)}");
            map[l] = ids[0];
        }
        return new ReductionTree { Levels = levels, AccumulatorOfLane = map };
    }

    private static List<int>[] Apply(Kind kind, List<int>[] a, List<int>[] b, byte imm, bool avx512)
    {
        int lanes = a.Length;
        var d = new List<int>[lanes];
        if (kind == Kind.Chunks128 && avx512)
        {
            // vshuff32x4: chunks 0,1 from a, chunks 2,3 from b, each picked by two bits of imm.
            for (int c = 0; c < 4; c++)
            {
                var src = c < 2 ? a : b;
                int sel = (imm >> (2 * c)) & 3;
                for (int e = 0; e < 4; e++) d[c * 4 + e] = src[sel * 4 + e];
            }
        }
        else if (kind == Kind.Chunks128)
        {
            // vperm2f128: each half picks one of a.lo, a.hi, b.lo, b.hi.
            for (int h = 0; h < 2; h++)
            {
                int sel = (imm >> (4 * h)) & 3;
                var src = sel < 2 ? a : b;
                for (int e = 0; e < 4; e++) d[h * 4 + e] = src[(sel & 1) * 4 + e];
            }
        }
        else
        {
            // vshufps, per 128-bit lane: two elements of a, then two of b.
            for (int c = 0; c < lanes / 4; c++)
                for (int e = 0; e < 4; e++)
                    d[c * 4 + e] = (e < 2 ? a : b)[c * 4 + ((imm >> (2 * e)) & 3)];
        }
        return d;
    }
}
