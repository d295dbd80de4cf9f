using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// The DNC ops over the N×W memory matrix.
/// <para><b>DncRead</b> (r_h = Mᵀ·w_h for every read head): one pass over M per column block, every head at once.
/// The block's R·J read vectors live in registers; each row broadcasts the R weights w_h[n] and loads its J
/// vectors once, R·J FMAs per row. J = (registers − R − 1)/R: W = 64 is one block on AVX-512 (R = 4: 16
/// accumulators), four on AVX2. Heads that do not fit (R &gt; 7 on AVX2) take several passes. When the block has few
/// accumulators (small W and R), up to four rows go into separate sets of them, added at the end, so that N rows are
/// not one FMA latency chain. With several passes, they all run over a chunk of rows (16 KiB of M) before the next
/// (<see cref="ReadChunkBytes"/>).</para>
/// <para><b>DncWrite</b> (erase then add) streams the rows once, four at a time column by column, with the reference's
/// operations in its order (no FMA), so it matches bit for bit: M·(1 − w_i·e) + w_i·v.</para>
/// <para><b>DncWriteContent</b> is DncWrite and the content weightings of all R read keys, a chunk of rows (~8 KiB of
/// M) at a time: the chunk's rows are written (the DncWrite loop, exact), then read back from L1 a group of L rows (one
/// per lane) at a time: each row's squared norm, then its dot with each key (the key vector in a register, the row's
/// as the FMA's memory operand), accumulates in the row's own register and a shuffle tree
/// (<see cref="ReductionTree"/>) folds the L registers into one vector of L sums, stored to the stack (norms) or c^r.
/// That keeps horizontal sums off each row (3·(L−1) shuffles and adds per L rows and key instead of a reduction per
/// row). The cosines are then finished vectorised per chunk (sqrt, ×‖k_h‖, + ε, divide, ×β_h), and the R softmaxes run
/// over the R·N scores, which are L1-resident, not over M.</para>
/// <para>Where its time goes, N = 256 W = 64 R = 4 on the Xeon (parts left out of the kernel, all builds in one
/// process, AVX-512 / AVX2): the write ~25–30 / 30–35%, the sums ~45 / 45% (the FMAs ~25 / 33%, the trees ~20 / 12%),
/// the cosines ~5%, the softmaxes ~17%; N = 1024 alike. With each product a multiply instead of an FMA on its chain,
/// the time did not move: the sums are not latency-bound. The trees cost more on AVX-512 because its shuffles and its
/// FMAs share port 5 (two FMAs and a vshufps, independent: 1.6 TSC cycles on zmm, 1.26 on ymm). Tried without gain
/// (old ÷ new time, in-process A/B, ≥ 20 rounds, 256 and 1024, both ISAs): two keys per pass with each row vector loaded
/// once (0.92–1.02); two keys per accumulator (halves, the row's half-vector broadcast) and a tree without its first
/// level, half the shuffles (0.90–0.99; 1.05–1.07 only at AVX-512 W = 16); the tree's first level through the stack, no
/// shuffle (AVX-512, 0.93–0.94); prefetching the next chunk during the sums (0.86–0.92); chunks of 4 or 16 KiB
/// (0.99–1.01); one head's exps with the previous head's divisions (1.00–1.03), plus the max taken in the cosine pass
/// (1.00–1.05).</para>
/// <para>AVX-512 at W = 16 (a row is one vector) sums whole groups of 16 rows over their transpose (<see cref="RowTranspose16"/>) instead: 64 shuffles
/// (unpack ps, unpack pd, two 128-bit-chunk levels) turn the rows into columns, then each sum (the norms, each key's dots)
/// is 16 FMAs down the columns, the key element a broadcast memory operand, where the trees take 2·15 shuffles and 15 adds
/// per sum. Against the trees (old ÷ new, one process, alternated, 21 rounds): N = 64 R = 2 1.094 [1.073–1.105], R = 4
/// 1.175 [1.164–1.185]; with the lockstep softmaxes below, against the kernel before both: 64×16×2 1.145 [1.11–1.17],
/// 64×16×4 1.225, 71×16×3 1.28, 256×16×4 1.21 (AVX2, softmaxes only: 1.02–1.045). At W = 32–64 the transpose (64 shuffles per 16 columns) costs more than the trees (which sum the
/// row's vectors by FMA first); AVX2 at W = 8 or 16 would need 24 or 48 shuffles per 8 rows against 14 a tree (not tried).</para>
/// <para>The softmaxes run up to 3 (AVX-512) / 2 (AVX2) heads in lockstep (<see cref="ReductionEmitter.EmitSoftmax"/>), so
/// their reductions' latency chains overlap; each head's arithmetic is unchanged (the same bits). Against one head at a
/// time (old ÷ new, one process, alternated, median of 31 rounds [10th–90th percentile], Xeon), AVX-512 / AVX2:
/// N = 64 W = 16 R = 2 1.046 [1.036–1.053] / 1.026 [1.008–1.039], R = 4 1.047 / 1.026, 128×32×3 1.028 / 1.012, 256×64×4
/// 1.006 / 1.012. Where the time goes at N = 64 W = 16 R = 2 (AVX-512, parts left out, before this): the softmaxes ~40%
/// (~245 of ~610 ns), the sums ~35%, the write and the cosines ~5% each.</para>
/// Registers come from the register plan, in the order that gives each role its place (the AVX2 tail mask at the top);
/// pointers by operand: <c>Memory</c> (rsi), the current row <c>Row</c> (r9), the row's index <c>Slot</c> (rax).
/// </summary>
public sealed class DncMemoryEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncRead, OpKind.DncWrite, OpKind.DncWriteContent };

    /// <summary>M, the write weights w (N), the erase vector e and the write vector v (W); the row being written and its index; the vector offset.</summary>
    private static readonly AssemblerRegister64 Memory = rsi, Weights = rdx, Erase = rcx, WriteVec = r8, Row = r9, Slot = rax, VectorOffset = r10;
    private static readonly AssemblerRegister32 Slot32 = eax;

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        int ldBytes = s.StrideA(key.Op) * 4;
        if (key.Op == OpKind.DncRead) EmitRead(k, s.M, s.N, s.K, ldBytes);
        else if (key.Op == OpKind.DncWriteContent) EmitWriteContent(k, s.M, s.N, s.K, ldBytes);
        else EmitWrite(k, s.M, s.N, ldBytes);
    }

    /// <summary>Heads per pass and column vectors per block for a register budget (R·J accumulators + R broadcasts + one row vector).</summary>
    internal static (int Heads, int Vectors) ReadBlocking(int registers, int heads)
    {
        int h = Math.Max(1, Math.Min(heads, (registers - 1) / 2));
        return (h, Math.Max(1, (registers - 1 - h) / h));
    }

    /// <summary>
    /// When the heads or the columns take several passes, the rows go a chunk of about this many bytes of M at a time:
    /// every pass runs over the chunk (its accumulators loaded from and stored back to r) before the next chunk, so the
    /// passes read lines that the chunk's first pass (and the hardware prefetcher behind it) has just brought in, instead
    /// of each pass streaming all of M. A small gain: AVX2 W = 64 R = 4 (four column passes) at N = 256 ~2.05 → ~1.95 µs
    /// with M in L2, ~4.1 → ~3.95 µs with M in L3 (minimum of 3,000 calls, runs alternated). Software prefetch of the
    /// next chunk or of rows 4–32 ahead (prefetcht0 or prefetcht1, chunks of 8 or 16 KiB) did not help (~3.9–4.7 µs).
    /// </summary>
    internal const int ReadChunkBytes = 16 * 1024;

    /// <summary>Rows per chunk of the read (all of them when one pass covers every head and column, or M is one chunk).</summary>
    internal static int ReadChunkRows(int n, int w, int heads, int lanes, int budget)
    {
        int vectors = (w + lanes - 1) / lanes;
        var (hb, jb) = ReadBlocking(budget, heads);
        bool onePass = hb >= heads && jb >= vectors;
        return onePass ? n : Math.Min(n, Math.Max(4, ReadChunkBytes / (w * 4)));
    }

    private static void EmitRead(KernelAssembler k, int n, int w, int heads, int ldBytes)
    {
        if (w == 0 || heads == 0) return;
        var a = k.Asm;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4, wb = w * 4;
        int full = w / L, tail = w % L, vectors = full + (tail > 0 ? 1 : 0);
        var regs = k.Registers;
        bool avx2Tail = !k.IsAvx512 && tail > 0;
        var maskVec = avx2Tail ? regs.TakeHighest("AVX2 tail mask") : default;
        int budget = k.VectorRegisters - (avx2Tail ? 1 : 0);
        var (hb, jb) = ReadBlocking(budget, heads);
        AssemblerRegister64 readWeights = rdx, reads = rcx, offset = rax, chunkRow = r11, chunkOffset = r8, groupsEnd = r10;
        AssemblerRegister32 chunkOffset32 = r8d;

        k.LoadPointer(Memory, KernelArgs.Offsets.A);
        k.LoadPointer(readWeights, KernelArgs.Offsets.B);   // R×N
        k.LoadPointer(reads, KernelArgs.Offsets.C);         // R×W
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;
        int chunkRows = ReadChunkRows(n, w, heads, L, budget);
        bool chunked = chunkRows < n;

        // Every pass over the `rows` rows at chunkRow (their weights at chunkOffset); with `accumulate`, each block's
        // accumulators start from r (the chunks before), else from 0.
        void Passes(int rows, bool accumulate)
        {
            for (int h0 = 0; h0 < heads; h0 += hb)
            {
                int hc = Math.Min(hb, heads - h0);
                for (int v0 = 0; v0 < vectors; v0 += jb)
                {
                    int vc = Math.Min(jb, vectors - v0);
                    using var block = regs.Phase();
                    // Few accumulators (small W and R) would each be one long FMA chain over N rows: interleave up to
                    // four rows, each into its own set, so the latency is shared; the sets are added at the end.
                    int sets = Math.Clamp((budget - hc - 1) / (hc * vc), 1, 4);
                    var acc = regs.TakeBlock(sets * hc * vc, "r");
                    var bc = regs.TakeBlock(hc, "w broadcast");
                    var row = regs.Take("row vector");
                    Vec Acc(int set, int h, int v) => acc[(set * hc + h) * vc + v];
                    Vec Bc(int h) => bc[h];
                    int Count(int v) => v0 + v < full ? L : tail;
                    TailMask? Mask(int v) => v0 + v < full ? null : mask;
                    AssemblerMemoryOperand Out(int h, int v) => __[reads + ((h0 + h) * wb + (v0 + v) * vb)];
                    for (int set = 0; set < sets; set++)
                        for (int h = 0; h < hc; h++)
                            for (int v = 0; v < vc; v++)
                                if (set == 0 && accumulate) k.LoadPart(Acc(0, h, v), Out(h, v), Count(v), Mask(v));
                                else k.Zero(Acc(set, h, v));
                    // Row `u` past Row into set `set`.
                    void Rows(int u, int set)
                    {
                        for (int h = 0; h < hc; h++) k.Broadcast(Bc(h), __dword_ptr[readWeights + offset + ((h0 + h) * nb + u * 4)]);
                        for (int v = 0; v < vc; v++)
                        {
                            k.LoadPart(row, __[Row + (u * ldBytes + (v0 + v) * vb)], Count(v), Mask(v));
                            for (int h = 0; h < hc; h++) k.FmaAcc(Acc(set, h, v), Bc(h), row);
                        }
                    }
                    int groups = rows / sets, rest = rows % sets;
                    // offset = byte offset of the row's weight in each head.
                    a.mov(Row, chunkRow);
                    a.mov(offset, chunkOffset);
                    if (groups > 0)
                    {
                        var loop = a.CreateLabel();
                        a.lea(groupsEnd, __[chunkOffset + groups * sets * 4]);
                        a.Label(ref loop);
                        for (int u = 0; u < sets; u++) Rows(u, u);
                        a.add(Row, sets * ldBytes);
                        a.add(offset, sets * 4);
                        a.cmp(offset, groupsEnd);
                        a.jb(loop);
                    }
                    for (int u = 0; u < rest; u++) Rows(u, u);
                    for (int set = 1; set < sets; set++)
                        for (int h = 0; h < hc; h++)
                            for (int v = 0; v < vc; v++) k.Add(Acc(0, h, v), Acc(0, h, v), Acc(set, h, v));
                    for (int h = 0; h < hc; h++)
                        for (int v = 0; v < vc; v++) k.StorePart(Out(h, v), Acc(0, h, v), Count(v), Mask(v));
                }
            }
        }

        a.mov(chunkRow, Memory);
        a.xor(chunkOffset32, chunkOffset32);
        if (!chunked) { Passes(n, accumulate: false); return; }
        // The first chunk starts the sums; the others add to them.
        Passes(chunkRows, accumulate: false);
        int chunks = n / chunkRows, restRows = n % chunkRows;
        if (chunks > 1)
        {
            var chunk = a.CreateLabel();
            a.Label(ref chunk);
            a.add(chunkRow, chunkRows * ldBytes);
            a.add(chunkOffset, chunkRows * 4);
            Passes(chunkRows, accumulate: true);
            a.cmp(chunkOffset, (chunks - 1) * chunkRows * 4);
            a.jb(chunk);
        }
        if (restRows > 0)
        {
            a.add(chunkRow, chunkRows * ldBytes);
            a.add(chunkOffset, chunkRows * 4);
            Passes(restRows, accumulate: true);
        }
    }

    private static void EmitWrite(KernelAssembler k, int n, int w, int ldBytes)
    {
        if (n == 0 || w == 0) return;
        var a = k.Asm;
        k.LoadPointer(Memory, KernelArgs.Offsets.A);   // updated in place
        k.LoadPointer(Weights, KernelArgs.Offsets.B);
        k.LoadPointer(Erase, KernelArgs.Offsets.C);
        k.LoadPointer(WriteVec, KernelArgs.Offsets.D);
        a.mov(Row, Memory);
        a.xor(Slot32, Slot32);
        WriteRows(k, w, ldBytes, Slot, n);
    }

    /// <summary>
    /// Writes rows from <see cref="Row"/> (slot <see cref="Slot"/>) until <paramref name="counter"/>, which starts at 0
    /// and counts the rows, reaches <paramref name="end"/>; Row and Slot are left one past the last row written.
    /// <see cref="WriteGroupRows"/> rows at a time, column by column: each vector of e and v is loaded once for the group
    /// (loads per written vector 1 + 2/4 instead of 3). The write of DncWriteContent AVX2 N = 1024 W = 64 with M in L2:
    /// ~11 µs row by row (3.4 cycles a vector, against ~6 µs on AVX-512), ~8 µs so.
    /// </summary>
    private static void WriteRows(KernelAssembler k, int w, int ldBytes, AssemblerRegister64 counter, int end)
    {
        var a = k.Asm;
        var regs = k.Registers;
        using var phase = regs.Phase();
        var weights = regs.TakeBlock(WriteGroupRows, "w_i");
        Vec one = regs.Take("1"), erase = regs.Take("e"), writeVec = regs.Take("v"), t = regs.Take("t"), u = regs.Take("u");
        var maskVec = regs.TakeHighest("AVX2 tail mask");
        k.LoadConst(one, 1f);

        // `rows` rows from Row: M·(1 − w_i·e) + w_i·v with the reference's operations in its order (no FMA).
        void Rows(int rows)
        {
            for (int r = 0; r < rows; r++) k.Broadcast(weights[r], __dword_ptr[Weights + Slot * 4 + r * 4]);
            k.ForEachVector(w, 1, VectorOffset, maskVec, c =>
            {
                k.LoadPart(erase, c.At(Erase), c.Count, c.Tail);
                k.LoadPart(writeVec, c.At(WriteVec), c.Count, c.Tail);
                for (int r = 0; r < rows; r++)
                {
                    var m = Offset(c, Row, r * ldBytes);
                    k.Mul(t, weights[r], erase);
                    k.Sub(t, one, t);                   // 1 − w_i·e_j
                    k.LoadPart(u, m, c.Count, c.Tail);
                    k.Mul(t, u, t);
                    k.Mul(u, weights[r], writeVec);
                    k.Add(t, t, u);
                    k.StorePart(m, t, c.Count, c.Tail);
                }
            });
            a.add(Row, rows * ldBytes);
            if (counter != Slot) a.add(Slot, rows);
            a.add(counter, rows);
        }

        int groups = end / WriteGroupRows, rest = end % WriteGroupRows;
        if (groups > 0)
        {
            var group = a.CreateLabel();
            a.Label(ref group);
            Rows(WriteGroupRows);
            a.cmp(counter, groups * WriteGroupRows);
            a.jb(group);
        }
        if (rest > 0) Rows(rest);
    }

    private const int WriteGroupRows = 4;

    /// <summary>
    /// Pointers of the fused write + content kernel beyond the write's (r12–r14 and rbx callee-saved). While a chunk's
    /// sums are taken, the write's pointers are free (reloaded per chunk): Row walks the chunk's groups back to its end;
    /// the group's column of c, the key and c row of the head being summed, the heads and groups left.
    /// </summary>
    private static readonly AssemblerRegister64 Keys = r11, Content = r12, ChunkRow = r13, ChunkContent = rbx, Chunks = r14,
        GroupRow = Row, GroupContent = rdx, HeadKey = rcx, HeadContent = r8;
    private static readonly AssemblerRegister32 HeadsLeft = esi, GroupsLeft = r13d;

    /// <summary>
    /// Rows written, then summed, then finished together: whole groups of lanes filling about
    /// <see cref="ContentChunkBytes"/> of M, so the sums read the rows just written from L1 (chunks of 512 rows, 128 KiB
    /// at W = 64, read them back from L2: N = 1024 took ~30.5 µs with M from L3, ~26 µs in chunks of 16 or 32 rows),
    /// and at most 512, so their squared norms, which wait on the stack until the chunk's cosines are finished, take
    /// 2 KiB and the frame stays under a page (no stack probe).
    /// </summary>
    internal static int ContentChunkRows(int w, int lanes) => Math.Clamp(ContentChunkBytes / Math.Max(4, w * 4) / lanes * lanes, lanes, MaxContentChunkRows);

    internal const int ContentChunkBytes = 8 * 1024, MaxContentChunkRows = 512;

    /// <summary>
    /// Row vectors summed straight-line per row; wider rows loop over their vectors (code size). 8 rather than 4: AVX2
    /// W = 64 (8 vectors) in the loop took N = 1024 ~28.5 µs, straight-line ~26.4 µs (M in L2).
    /// </summary>
    private const int UnrolledRowVectors = 8;

    private static void EmitWriteContent(KernelAssembler k, int n, int w, int heads, int ldBytes)
    {
        if (n == 0) return;
        var a = k.Asm;
        int L = k.Lanes, nb = n * 4, wb = w * 4;
        var regs = k.Registers;
        AssemblerRegister64 strengths = r9;   // until the rows start; then Row
        int padded = Math.Max(1, heads);
        int keyNorms = k.AllocateStack(padded * 4), strengthsAt = k.AllocateStack(padded * 4);
        int chunkRowsMax = ContentChunkRows(w, L), chunkRows = Math.Min(n, chunkRowsMax);
        int rowNorms = k.AllocateStack((chunkRows + L - 1) / L * L * 4);

        k.LoadPointer(Memory, KernelArgs.Offsets.A);   // updated in place
        k.LoadPointer(Keys, KernelArgs.Offsets.E);      // R×W
        k.LoadPointer(strengths, KernelArgs.Offsets.F); // R
        foreach (var r in new[] { Content, ChunkRow, ChunkContent, Chunks }) k.UseCalleeSaved(r);
        k.LoadPointer(Content, KernelArgs.Offsets.G);

        // ‖k_h‖ and β_h on the stack.
        using (var setup = regs.Phase())
        {
            Vec norm = regs.Take("‖key‖²"), tmp = regs.Take("temporary");
            var maskVec = regs.TakeHighest("AVX2 tail mask");
            for (int h = 0; h < heads; h++)
            {
                a.vmovss(k.X(tmp), __dword_ptr[strengths + h * 4]);
                a.vmovss(__dword_ptr[rsp + (strengthsAt + h * 4)], k.X(tmp));
                k.Zero(norm);
                int h1 = h;
                k.ForEachVector(w, 1, VectorOffset, maskVec, c =>
                {
                    k.LoadPart(tmp, Offset(c, Keys, h1 * wb), c.Count, c.Tail);
                    k.FmaAcc(norm, tmp, tmp);
                });
                k.ReduceAdd(norm, tmp);
                a.vsqrtss(k.X(norm), k.X(norm), k.X(norm));
                a.vmovss(__dword_ptr[rsp + (keyNorms + h * 4)], k.X(norm));
            }
        }

        // Phase 1 of a chunk: its rows written (exactly as DncWrite), Row and Slot left past them.
        void Write(int rows)
        {
            k.LoadPointer(Weights, KernelArgs.Offsets.B);
            k.LoadPointer(Erase, KernelArgs.Offsets.C);
            k.LoadPointer(WriteVec, KernelArgs.Offsets.D);
            a.xor(ChunkRow, ChunkRow);
            WriteRows(k, w, ldBytes, ChunkRow, rows);
        }

        // Phase 2: per group of L written rows (read back from L1), each row's squared norm and its dot with every key
        // accumulate in the row's own register; a shuffle tree folds the L registers into one vector of L sums.
        void Sums(int rows)
        {
            using var phase = regs.Phase();
            var acc = regs.TakeBlock(L, "row sum");
            Vec tmp = regs.Take("tree temporary"), t = regs.Take("row vector"), keyVec = regs.Take("key vector"), sums = regs.Take("L sums");
            Vec colMask = regs.TakeHighest("AVX2 column tail mask"), rowMask = regs.TakeHighest("AVX2 row tail mask");
            var laneOf = ReductionTree.For(k.IsAvx512).AccumulatorOfLane;
            int full = w / L, tail = w % L;
            TailMask? colTail = tail > 0 ? k.CreateTailMask(tail, colMask, 2) : null;

            // Σ over the row's vectors of row_i·key (key = null: row_i·row_i) into acc[laneOf[i]] for i < count. A key
            // vector is loaded once into a register and each row's vector is the FMA's memory operand (one load per row
            // vector, not two); the first vector multiplies instead of adding to a zeroed accumulator (the same rounding).
            void Accumulate(int count, AssemblerRegister64? key)
            {
                for (int i = count; i < L; i++) k.Zero(acc[laneOf[i]]);
                if (full == 0 && colTail is null) for (int i = 0; i < count; i++) k.Zero(acc[laneOf[i]]);   // W = 0
                void Vector(AssemblerRegister64? index, int disp, TailMask? m, bool first)
                {
                    AssemblerMemoryOperand At(AssemblerRegister64 b, int extra) => index is { } x ? __[b + x + (disp + extra)] : __[b + (disp + extra)];
                    if (key is { } kt)
                    {
                        if (m is { } km) k.LoadTail(keyVec, At(kt, 0), km); else k.Load(keyVec, At(kt, 0));
                    }
                    for (int i = 0; i < count; i++)
                    {
                        var row = At(GroupRow, i * ldBytes);
                        Vec sum = acc[laneOf[i]];
                        if (key is not null && m is null)
                        {
                            if (first) k.Mul(sum, keyVec, row); else k.FmaAcc(sum, keyVec, row);
                            continue;
                        }
                        if (m is { } tm) k.LoadTail(t, row, tm); else k.Load(t, row);
                        Vec other = key is null ? t : keyVec;
                        if (first) k.Mul(sum, t, other); else k.FmaAcc(sum, t, other);
                    }
                }
                if (full > UnrolledRowVectors)
                {
                    Vector(null, 0, null, first: true);
                    var loop = a.CreateLabel();
                    a.mov(VectorOffset, k.VectorBytes);
                    a.Label(ref loop);
                    Vector(VectorOffset, 0, null, first: false);
                    a.add(VectorOffset, k.VectorBytes);
                    a.cmp(VectorOffset, full * k.VectorBytes);
                    a.jb(loop);
                    if (colTail is { } ct) Vector(VectorOffset, 0, ct, first: false);
                }
                else
                {
                    for (int v = 0; v < full; v++) Vector(null, v * k.VectorBytes, null, first: v == 0);
                    if (colTail is { } ct) Vector(null, full * k.VectorBytes, ct, first: full == 0);
                }
                ReductionTree.For(k.IsAvx512).Emit(k, acc, tmp, sums);
            }

            // AVX-512, W = 16, a whole group: the 16 rows transposed in registers (col[j] lane i = row i's element j), then
            // each sum is 16 FMAs down the columns (two chains), the key element a broadcast memory operand: 64 shuffles
            // for the group instead of 2·15 a tree.
            bool transpose = k.IsAvx512 && w == 16;
            // Σ over the 16 column registers of col[i]·factor(i) into `sums` (two chains, added at the end).
            void ColumnSums(Vec[] col, Func<int, VOp> factor)
            {
                for (int i = 0; i < 16; i++)
                {
                    Vec into = (i & 1) == 0 ? sums : t;
                    if (i < 2) k.Mul(into, col[i], factor(i)); else k.FmaAcc(into, col[i], factor(i));
                }
                k.Add(sums, sums, t);
            }

            // One group of `count` rows at GroupRow, its c column at GroupContent (its norms at the same offset in the chunk's).
            void Group(int count)
            {
                // The sums: by the rows' transpose for a whole group at W = 16 on AVX-512, else by the trees.
                Action<AssemblerRegister64?> sumInto;
                if (transpose && count == L)
                {
                    var (col, _) = RowTranspose16.Emit(k, acc, tmp, i => __[GroupRow + i * ldBytes]);
                    sumInto = key => ColumnSums(col, i => key is { } kp ? __dword_bcst[kp + RowTranspose16.Column[i] * 4] : col[i]);
                }
                else sumInto = key => Accumulate(count, key);
                TailMask? rowTail = count < L ? k.CreateTailMask(count, rowMask, 3) : null;
                sumInto(null);
                a.mov(VectorOffset, GroupContent);
                a.sub(VectorOffset, ChunkContent);
                k.Store(__[rsp + VectorOffset + rowNorms], sums);   // the stack area is whole vectors
                if (heads == 0) return;
                a.mov(HeadKey, Keys);
                a.mov(HeadContent, GroupContent);
                a.mov(HeadsLeft, heads);
                var head = a.CreateLabel();
                a.Label(ref head);
                sumInto(HeadKey);
                k.StorePart(__[HeadContent], sums, count, rowTail);
                a.add(HeadKey, wb);
                a.add(HeadContent, nb);
                a.dec(HeadsLeft);
                a.jnz(head);
            }

            int groups = rows / L, rest = rows % L;
            a.sub(GroupRow, rows * ldBytes);
            a.mov(GroupContent, ChunkContent);
            if (groups > 0)
            {
                var group = a.CreateLabel();
                a.mov(GroupsLeft, groups);
                a.Label(ref group);
                Group(L);
                a.add(GroupRow, L * ldBytes);
                a.add(GroupContent, k.VectorBytes);
                a.dec(GroupsLeft);
                a.jnz(group);
            }
            if (rest > 0)
            {
                Group(rest);
                a.add(GroupRow, rest * ldBytes);   // Row is past the chunk again
            }
        }

        // Phase 3, vectorised over the chunk's rows: c[h][i] = β_h · dot / (‖M′_i‖·‖k_h‖ + ε), the reference's operations in its order.
        void FinishCosines(int rows)
        {
            using var phase = regs.Phase();
            Vec tmp = regs.Take("temporary"), eps = regs.Take("ε"), keyNorm = regs.Take("‖k_h‖"), beta = regs.Take("β_h"), denom = regs.Take("denominator"), t = regs.Take("c");
            var maskVec = regs.TakeHighest("AVX2 tail mask");
            k.ForEachVector(rows, 1, VectorOffset, maskVec, c =>
            {
                k.LoadPart(tmp, Offset(c, rsp, rowNorms), c.Count, c.Tail);
                k.Sqrt(tmp, tmp);
                k.StorePart(Offset(c, rsp, rowNorms), tmp, c.Count, c.Tail);
            });
            k.LoadConst(eps, ReferenceOps.CosineEpsilon);
            for (int h = 0; h < heads; h++)
            {
                k.Broadcast(keyNorm, __dword_ptr[rsp + (keyNorms + h * 4)]);
                k.Broadcast(beta, __dword_ptr[rsp + (strengthsAt + h * 4)]);
                k.ForEachVector(rows, 1, VectorOffset, maskVec, c =>
                {
                    k.LoadPart(denom, Offset(c, rsp, rowNorms), c.Count, c.Tail);
                    k.Mul(denom, denom, keyNorm);
                    k.Add(denom, denom, eps);
                    k.LoadPart(t, Offset(c, ChunkContent, h * nb), c.Count, c.Tail);
                    k.Div(t, t, denom);
                    k.Mul(t, t, beta);
                    k.StorePart(Offset(c, ChunkContent, h * nb), t, c.Count, c.Tail);
                });
            }
        }

        void Chunk(int rows)
        {
            Write(rows);
            Sums(rows);
            FinishCosines(rows);
        }

        a.mov(Row, Memory);
        a.xor(Slot32, Slot32);
        a.mov(ChunkContent, Content);
        int fullChunks = n / chunkRowsMax, restRows = n % chunkRowsMax;
        if (fullChunks > 0)
        {
            var chunk = a.CreateLabel();
            a.mov(Chunks, fullChunks);
            a.Label(ref chunk);
            Chunk(chunkRowsMax);
            a.add(ChunkContent, chunkRowsMax * 4);
            a.dec(Chunks);
            a.jnz(chunk);
        }
        if (restRows > 0) Chunk(restRows);

        AssemblerRegister64 scores = r9;
        // Heads in lockstep (the same bits as one at a time): see the class summary.
        int batch = ReductionEmitter.SoftmaxRowsMax(k);
        for (int h = 0; h < heads; h += batch)
        {
            a.lea(scores, __[Content + h * nb]);
            ReductionEmitter.EmitSoftmax(k, scores, scores, n, scale: null, rows: Math.Min(batch, heads - h), rowBytes: nb);
        }
    }

    /// <summary>The cursor's operand in <paramref name="basePtr"/>, <paramref name="bytes"/> further (the row of head h in R×W keys).</summary>
    private static AssemblerMemoryOperand Offset(Cursor c, AssemblerRegister64 basePtr, int bytes) =>
        c.Index is { } i ? __[basePtr + i + (c.Displacement + bytes)] : __[basePtr + (c.Displacement + bytes)];
}
