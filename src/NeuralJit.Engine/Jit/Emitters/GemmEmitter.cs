using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// C[M×N] (ldc) = α·A[M×K] (lda) · B[K×N] (ldb) + β·C, row-major, for one exact shape and ISA.
/// <para>
/// The microkernel is an outer product held in registers (LIBXSMM's and oneDNN's sgemm shape): a tile
/// of mr rows × nr vectors of C lives in mr·nr accumulators; each step k loads nr vectors of row k of B
/// and, per row i, broadcasts A[i,k] and issues nr FMAs. So a step costs mr·nr FMAs for mr + nr loads.
/// The blocking comes from the register budget — accumulators + nr B vectors + 1 broadcast ≤ 16 ymm
/// (AVX2) or 32 zmm (AVX-512; with nr = 1 the broadcast is folded into the FMA as {1toN}), minus the
/// AVX2 tail mask, keeping 3 registers free for the α/β epilogue — and among the blockings that fit,
/// <see cref="GemmPlan.Choose"/> takes the one with the fewest modelled cycles for this shape:
/// per step max(FMAs / 2 ports, loads / 2 ports) summed over every tile including the row and column
/// remainders, where a masked tail vector costs a full one (oneDNN's tail-waste score). mr·nr ≥ 8 keeps
/// 8 FMA chains in flight, what 2 ports × 4-cycle latency need. Column tails use k-masks (AVX-512) or
/// vmaskmovps (AVX2): nothing past row N of B or C is read or written.
/// </para>
/// <para>
/// No packing: B row panels are read with the ldb stride (regular strides the hardware prefetcher
/// follows), and A and B up to 256×256 stay in L2; the benchmark against LIBXSMM says whether that holds.
/// β = 0 (or −0) never reads C (BLAS: NaN in C does not leak), tested at run time once per tile.
/// </para>
/// </summary>
public sealed class GemmEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = [OpKind.Gemm];

    public string? CannotEmit(OpKey key, JitIsa isa)
    {
        var s = key.Shape;
        long lda = s.StrideA(OpKind.Gemm), ldb = s.StrideB, ldc = s.StrideC;
        // Displacements are 32-bit: row offsets inside one tile and one k-unroll must fit.
        if (Math.Max(lda, Math.Max(ldb, ldc)) * 4 * 64 > int.MaxValue) return "leading dimension too large for 32-bit displacements";
        return null;
    }

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        if (s.M == 0 || s.N == 0) return;
        var plan = GemmPlan.Choose(s.M, s.N, s.K, k.IsAvx512);
        new Body(k, s, plan).Emit();
    }

    private sealed class Body
    {
        private readonly KernelAssembler _k;
        private readonly Assembler _a;
        private readonly GemmPlan _p;
        private readonly int _m, _n, _kk, _lda4, _ldb4, _ldc4, _vb;
        private TailMask? _tail;
        /// <summary>The current tile's accumulators, row-major (row i, vector v at i·width + v).</summary>
        private Vec[] _acc = [];

        // Pointer and counter registers by role (rbx and r12–r14 are callee-saved: Emit declares them).
        private static readonly AssemblerRegister64 BBlock = r9, CBlock = rbx, APanel = r12, BPanel = r13, PanelCounter = r14;
        private static readonly AssemblerRegister64 ATile = r8, CTile = r10, AStep = rax, BStep = rdx;
        private static readonly AssemblerRegister32 PanelsLeft = r14d, RowTilesLeft = r11d, ColumnBlocksLeft = ecx, StepsLeft = esi;
        public Body(KernelAssembler k, OpShape s, GemmPlan plan)
        {
            _k = k; _a = k.Asm; _p = plan;
            _m = s.M; _n = s.N; _kk = s.K;
            _lda4 = s.StrideA(OpKind.Gemm) * 4; _ldb4 = s.StrideB * 4; _ldc4 = s.StrideC * 4;
            _vb = k.VectorBytes;
        }

        public void Emit()
        {
            _k.UseCalleeSaved(CBlock);
            _k.UseCalleeSaved(APanel);
            _k.UseCalleeSaved(BPanel);
            _k.UseCalleeSaved(PanelCounter);
            int tailLanes = _n % _k.Lanes;
            // The AVX2 mask takes the top register (GemmPlan.MaxRows leaves it out); AVX-512 masks live in k1.
            if (tailLanes != 0) _tail = _k.CreateTailMask(tailLanes, _k.IsAvx512 ? default : _k.Registers.TakeHighest("AVX2 tail mask"));

            _k.LoadPointer(BBlock, KernelArgs.Offsets.B);
            _k.LoadPointer(CBlock, KernelArgs.Offsets.C);
            int nvec = (_n + _k.Lanes - 1) / _k.Lanes;
            int fullBlocks = nvec / _p.Nr;
            int lastWidth = nvec % _p.Nr;
            bool lastHasTail = tailLanes != 0;
            // Blocks of nr full vectors run in a loop; the block holding the tail (or the remainder width) is emitted after it.
            int loopBlocks = lastHasTail && lastWidth == 0 ? fullBlocks - 1 : fullBlocks;
            int lastBlockWidth = lastWidth != 0 ? lastWidth : lastHasTail ? _p.Nr : 0;

            if (loopBlocks > 0)
            {
                var colLoop = _a.CreateLabel();
                if (loopBlocks > 1) _a.mov(ColumnBlocksLeft, loopBlocks);
                _a.Label(ref colLoop);
                KBlocks(_p.Nr, tail: false);
                if (loopBlocks > 1 || lastBlockWidth > 0)
                {
                    _a.add(BBlock, _p.Nr * _vb);
                    _a.add(CBlock, _p.Nr * _vb);
                }
                if (loopBlocks > 1)
                {
                    _a.dec(ColumnBlocksLeft);
                    _a.jnz(colLoop);
                }
            }
            if (lastBlockWidth > 0) KBlocks(lastBlockWidth, lastHasTail);
        }

        /// <summary>
        /// One column block over K. When the block's B panel (K rows × width vectors) would not stay in L1 while
        /// every row tile re-reads it, K is cut into panels of <see cref="GemmPlan.KBlock"/> rows (LIBXSMM and
        /// BLIS do the same): the first panel applies α and β, later ones add α·AB to C. APanel/BPanel hold the A
        /// column and the B row where the current panel starts; PanelsLeft counts panels.
        /// </summary>
        private void KBlocks(int width, bool tail)
        {
            int kc = _p.KBlockFor(width, _m, _kk);
            _k.LoadPointer(APanel, KernelArgs.Offsets.A);
            _a.mov(BPanel, BBlock);
            if (kc >= _kk)
            {
                RowBlocks(width, tail, _kk, first: true);
                return;
            }
            int panels = _kk / kc, rest = _kk % kc;
            RowBlocks(width, tail, kc, first: true);
            if (panels > 1)
            {
                var loop = _a.CreateLabel();
                if (panels > 2) _a.mov(PanelsLeft, panels - 1);
                _a.Label(ref loop);
                _a.add(APanel, kc * 4);
                _a.add(BPanel, kc * _ldb4);
                RowBlocks(width, tail, kc, first: false);
                if (panels > 2) { _a.dec(PanelsLeft); _a.jnz(loop); }
            }
            if (rest > 0)
            {
                _a.add(APanel, kc * 4);
                _a.add(BPanel, kc * _ldb4);
                RowBlocks(width, tail, rest, first: false);
            }
        }

        private void RowBlocks(int width, bool tail, int kLen, bool first)
        {
            int mr = _p.RowsFor(width);
            int blocks = _m / mr, rem = _m % mr;
            _a.mov(ATile, APanel);
            _a.mov(CTile, CBlock);
            if (blocks > 0)
            {
                var rowLoop = _a.CreateLabel();
                if (blocks > 1) _a.mov(RowTilesLeft, blocks);
                _a.Label(ref rowLoop);
                Tile(mr, width, tail, kLen, first);
                if (blocks > 1 || rem > 0)
                {
                    _a.add(ATile, mr * _lda4);
                    _a.add(CTile, mr * _ldc4);
                }
                if (blocks > 1)
                {
                    _a.dec(RowTilesLeft);
                    _a.jnz(rowLoop);
                }
            }
            if (rem > 0) Tile(rem, width, tail, kLen, first);
        }

        private Vec Acc(int i, int v, int width) => _acc[i * width + v];

        private void Tile(int mr, int w, bool tail, int kLen, bool first)
        {
            var regs = _k.Registers;
            using var tile = regs.Phase();
            _acc = regs.TakeBlock(mr * w, "accumulator");
            var bv = regs.TakeBlock(w, "B vector");
            var bc = regs.Take("A broadcast");
            bool folded = _k.IsAvx512 && w == 1;

            for (int i = 0; i < mr; i++) for (int v = 0; v < w; v++) _k.Zero(Acc(i, v, w));
            _a.mov(AStep, ATile);
            _a.mov(BStep, BPanel);
            int unroll = Math.Min(kLen, 4);
            if (unroll > 0)
            {
                int loops = kLen / unroll;
                var kLoop = _a.CreateLabel();
                if (loops > 1) _a.mov(StepsLeft, loops);
                _a.Label(ref kLoop);
                for (int u = 0; u < unroll; u++) Step(mr, w, tail, bv, bc, folded, u);
                if (loops > 1 || kLen % unroll != 0)
                {
                    _a.add(AStep, unroll * 4);
                    _a.add(BStep, unroll * _ldb4);
                }
                if (loops > 1)
                {
                    _a.dec(StepsLeft);
                    _a.jnz(kLoop);
                }
                for (int u = 0; u < kLen % unroll; u++) Step(mr, w, tail, bv, bc, folded, u);
            }
            Epilogue(mr, w, tail, bv, bc, first);
        }

        private void Step(int mr, int w, bool tail, Vec[] bv, Vec bc, bool folded, int u)
        {
            for (int v = 0; v < w; v++)
            {
                var src = _k.Width.Ptr[BStep + (u * _ldb4 + v * _vb)];
                if (tail && v == w - 1) _k.LoadTail(bv[v], src, _tail!.Value);
                else _k.Load(bv[v], src);
            }
            for (int i = 0; i < mr; i++)
            {
                int disp = i * _lda4 + u * 4;
                if (folded)
                {
                    _k.FmaAcc(Acc(i, 0, w), bv[0], __dword_bcst[AStep + disp]);
                    continue;
                }
                _k.Broadcast(bc, __dword_ptr[AStep + disp]);
                for (int v = 0; v < w; v++) _k.FmaAcc(Acc(i, v, w), bc, bv[v]);
            }
        }

        private void Epilogue(int mr, int w, bool tail, Vec[] bv, Vec bc, bool first)
        {
            // After the k loop the B vectors and the broadcast register are free: α, β and one temporary.
            var free = new List<Vec>(bv) { bc };
            while (free.Count < 3) free.Add(_k.Registers.Take("epilogue temporary"));
            Vec alpha = free[0], beta = free[1], tmp = free[2];
            _k.BroadcastField(alpha, KernelArgs.Offsets.Alpha);
            for (int i = 0; i < mr; i++) for (int v = 0; v < w; v++) _k.Mul(Acc(i, v, w), Acc(i, v, w), alpha);

            var store = _a.CreateLabel();
            if (first)
            {
                _a.test(__dword_ptr[_k.Args + KernelArgs.Offsets.Beta], 0x7FFFFFFF); // β = ±0: C is not read
                _a.jz(store);
                _k.BroadcastField(beta, KernelArgs.Offsets.Beta);
            }
            else _k.LoadConst(beta, 1f); // later K panels accumulate into the C the first one wrote
            for (int i = 0; i < mr; i++)
                for (int v = 0; v < w; v++)
                {
                    var c = CMem(i, v);
                    if (tail && v == w - 1)
                    {
                        _k.LoadTail(tmp, c, _tail!.Value);
                        _k.FmaAcc(Acc(i, v, w), beta, tmp);
                    }
                    else _k.FmaAcc(Acc(i, v, w), beta, c);
                }
            _a.Label(ref store);
            for (int i = 0; i < mr; i++)
                for (int v = 0; v < w; v++)
                {
                    if (tail && v == w - 1) _k.StoreTail(CMem(i, v), Acc(i, v, w), _tail!.Value);
                    else _k.Store(CMem(i, v), Acc(i, v, w));
                }
        }

        private AssemblerMemoryOperand CMem(int i, int v) => _k.Width.Ptr[CTile + (i * _ldc4 + v * _vb)];
    }
}

/// <summary>
/// The register blocking of one GEMM: nr vectors of columns per tile and, per column-block width, the rows
/// per tile, chosen from the register budget by modelled cycles (see <see cref="GemmEmitter"/>).
/// </summary>
public sealed record GemmPlan(int Nr, int[] RowsByWidth, double ModelCycles, int Registers, int Lanes)
{
    /// <summary>Rows per tile for a column block <paramref name="width"/> vectors wide.</summary>
    public int RowsFor(int width) => RowsByWidth[width];

    /// <summary>
    /// Bytes of B panel kept L1-resident while the row tiles of a column block re-read it (two thirds of Zen 5's
    /// 48 KiB L1d; A's rows and C share the rest). Measured at 256³: 16 KiB, 32 KiB and no split are within
    /// the run-to-run noise of each other here (L2 feeds a whole-K panel fast enough); the split is for larger K.
    /// </summary>
    public const int PanelBytes = 32 * 1024;

    /// <summary>
    /// K rows per panel for a column block <paramref name="width"/> vectors wide: all of K when the panel fits
    /// <see cref="PanelBytes"/> or when only one row tile would read it; else the most rows that fit, a multiple of 4 (the k unroll).
    /// </summary>
    public int KBlockFor(int width, int m, int k)
    {
        int rowBytes = width * Lanes * 4;
        if ((long)k * rowBytes <= PanelBytes || m <= RowsFor(width)) return Math.Max(k, 1);
        return Math.Max(4, PanelBytes / rowBytes / 4 * 4);
    }

    /// <summary>Most rows a tile of <paramref name="width"/> vectors can hold in the register budget.</summary>
    public static int MaxRows(int width, bool avx512, bool avx2Mask)
    {
        int regs = avx512 ? 32 : 16;
        int mask = !avx512 && avx2Mask ? 1 : 0;
        int broadcast = avx512 && width == 1 ? 0 : 1;        // {1to16} folds the broadcast into the FMA
        int byLoop = (regs - mask - width - broadcast) / width;   // accumulators + B vectors + broadcast
        int byEpilogue = (regs - mask - 3) / width;              // α, β and a temporary after the loop
        return Math.Max(1, Math.Min(byLoop, byEpilogue));
    }

    public static GemmPlan Choose(int m, int n, int k, bool avx512)
    {
        int lanes = avx512 ? 16 : 8;
        int nvec = Math.Max(1, (n + lanes - 1) / lanes);
        bool mask = n % lanes != 0;
        GemmPlan? best = null;
        for (int nr = 1; nr <= Math.Min(nvec, avx512 ? 8 : 4); nr++)
        {
            var rows = new int[nr + 1];
            for (int w = 1; w <= nr; w++) rows[w] = Math.Max(1, Math.Min(m, MaxRows(w, avx512, mask)));
            double cycles = 0;
            int full = nvec / nr, lastW = nvec % nr;
            cycles += full * BlockCycles(m, k, rows[nr], nr, avx512);
            if (lastW > 0) cycles += BlockCycles(m, k, rows[lastW], lastW, avx512);
            if (best is null || cycles < best.ModelCycles - 1e-9) best = new GemmPlan(nr, rows, cycles, avx512 ? 32 : 16, lanes);
        }
        return best!;
    }

    /// <summary>Modelled cycles of one column block: its row tiles, each k steps plus a fixed epilogue.</summary>
    private static double BlockCycles(int m, int k, int mr, int w, bool avx512)
    {
        double Tile(int rows)
        {
            int loads = rows + w; // B vectors + one broadcast (or one {1toN} operand) per row
            // Each accumulator takes one FMA per step and an FMA has ~4 cycles of latency: a step never beats 4 cycles.
            double perStep = Math.Max(Math.Max(rows * w / 2.0, loads / 2.0), 4.0);
            return k * perStep + 1.5 * rows * w + 12;
        }
        return (m / mr) * Tile(mr) + (m % mr > 0 ? Tile(m % mr) : 0);
    }
}
