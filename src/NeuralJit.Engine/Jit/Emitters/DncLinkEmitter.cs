using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// The DNC ops over the N×N temporal link matrix L.
/// <para><b>DncTemporal</b> (f_h = L·w_h, b_h = Lᵀ·w_h for every read head h) reads L once: a group of Rb rows is
/// loaded a vector at a time and serves both products, the forward dot products in Rb·R register accumulators
/// (reduced once per row group) and the backward sums as b_h[j] += Σ_r w_h[n+r]·L[n+r, j] against the L1-resident
/// b (R·N floats). Rb and the heads per block come from the register budget (forward accumulators + broadcast
/// weights + rows ≤ 16 ymm or 32 zmm); when all heads leave room for one row only, they are taken in even blocks
/// that fit groups of two rows or more, each block reading the group's rows again from L1. On AVX-512 a block's forward
/// sums of two heads or more fold together in one shuffle tree (<see cref="ReduceForwardSums"/>). When b and the read
/// weightings outgrow L1 (R·N·4 &gt; 12 KiB, N &gt; 768 at R = 4) the columns are cut in chunks (<see cref="ChunkBytes"/>),
/// and the forward sums add up over the chunks.</para>
/// <para><b>DncLinkUpdate</b> is one streaming pass over L with the reference's operations in its order (no FMA),
/// so it matches bit for bit: (1 − w_i − w_j)·L + w_i·p_j, the diagonal zeroed after its row, Σw summed in double
/// in row order inside the same loop (a stack cell; its latency hides under the row's vector work), then p updated.</para>
/// <para><b>DncLinkTemporal</b> is the two in one pass over L, so L is read once and written once; p is updated after
/// the last row. While L fits L2 (≤ 512 KiB) each row group is updated row by row (the LinkUpdate row, exact, 1 − w_i and
/// w_i in registers, straight-line code: <see cref="StraightLinkRowVectors"/>) and read back from L1 by the Temporal
/// group; above, the Temporal group's first head block updates the rows as it loads them (the same operations on w_j and p_j loaded once per column vector for the group, 1 − w_i and
/// w_i broadcast from memory), and the loop prefetches the next group's rows (in address order when it covers whole
/// rows, <see cref="SequentialPrefetch"/>), whose update then finds them in L1. The column loop runs in three stretches:
/// the vectors before the group's diagonals, the (one or two) vectors that hold them, where the update ANDs each row with
/// a window of a stack mask table (the address clamped, so a window off the diagonal is all ones), and the rest; only the
/// middle stretch pays for the mask. When b is chunked, each chunk updates its own columns (Σw summed in the first); past
/// <see cref="ChunkLinksUpToBytes"/> the fused kernel does not chunk.</para>
/// <para>Past L2, the read weightings and b stream beside L's rows for every row group. In the caller's R×N layout their
/// rows lie N·4 bytes apart (4 KiB at N = 1024), so a chunk's pieces of them all fall in the same L1 sets, with the pieces
/// of L's current and prefetched rows: they evict each other, and b and w_r came from L2 (b written back) for every
/// group, even in chunks narrow enough for L1. So when they pass 16 KiB (<see cref="SideScratchAboveBytes"/>), each
/// chunk's read weightings are copied to a stack scratch laid out [head][column of the chunk], b is summed there from
/// zero and copied out after the chunk's pass (O(R·N) copies against O(R·N²) work), and the columns are cut so that
/// this compact block is about 8 KiB, which then stays in L1 beside the rows (<see cref="SideChunks"/>).</para>
/// Registers: the Temporal blocking is computed from fixed register numbers (<see cref="Blocking"/>), so each row group
/// pins its accumulators, broadcasts, rows, w and b with <see cref="VectorRegisterPlan.TakeAt"/> (the update in the column
/// loop: w_j, p_j and a temporary after b, from a budget three smaller); the link row and the precedence update pin
/// theirs (v0, v1, v3, two per unrolled slot from v4) the same way; the AVX2 tail mask sits at the top.
/// </summary>
public sealed class DncLinkEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncLinkUpdate, OpKind.DncTemporal, OpKind.DncLinkTemporal };

    /// <summary>
    /// b (R·N floats) kept whole while it fits this many bytes: the read weightings (as many bytes) stream beside it for
    /// every row group, and both share L1 with the group's rows. Above, the columns are cut in the fewest even chunks of
    /// b up to <see cref="ChunkBytes"/>, and at least two (narrower strips of L stream worse).
    /// </summary>
    private const int WholeBackwardBytes = 12 * 1024, ChunkBytes = 16 * 1024;

    /// <summary>
    /// The fused kernel cuts b in chunks only while L is at most this large (with the side scratch, up to
    /// <see cref="SideScratchLinksUpToBytes"/>). Beyond, L streams from memory or the far part of L3, where reading and
    /// writing it in column strips (the rows cut in pieces) costs more than b and the read weightings coming from L2
    /// instead of L1.
    /// </summary>
    private const long ChunkLinksUpToBytes = 8L << 20;

    /// <summary>
    /// The fused kernel past L2 sums b through a stack scratch (<see cref="SideScratch"/>) when the read weightings and b
    /// (2·R·N·4 bytes) exceed <see cref="SideScratchAboveBytes"/> and L is at most <see cref="SideScratchLinksUpToBytes"/>;
    /// the columns are then cut so that a chunk's side data is about <see cref="SideScratchBytes"/>, with no row segment
    /// under <see cref="MinSegmentBytes"/> and a scratch of at most <see cref="MaxSideScratchBytes"/>. Against the kernel
    /// without it, in one process (median over 6 processes; ranges over 2–3 such runs; Xeon, busy neighbours),
    /// AVX-512 / AVX2, R = 4: N = 640 1.27 / 1.05, 768 1.34 / 1.11, 1000 1.11–1.13 / 1.07–1.09, 1024 1.00–1.07 /
    /// 1.04–1.07, 1200 1.17–1.25 / 1.11–1.18, 1449 1.13–1.19 / 1.18–1.24, 1600 0.98–1.10 / 1.07–1.11; R = 3, N = 1024
    /// 0.99 / 1.09; R = 9: N = 600 1.09 / 1.01, 1000 1.16 / 1.04; R = 2, N = 1100 1.12 / 1.09. Left out: 16 KiB of side
    /// data (N = 512 R = 4 0.99 / 0.92, N = 1024 R = 2 0.89 / 1.00), L past 10 MiB (N = 1800 0.89, 2048 0.50 on AVX-512:
    /// the cut rows come from memory), 512-byte segments (0.94 at N = 1200) and 2 KiB ones (0.99).
    /// </summary>
    private const int SideScratchAboveBytes = 16 * 1024, SideScratchBytes = 8 * 1024, MinSegmentBytes = 1024, MaxSideScratchBytes = 32 * 1024;
    private const long SideScratchLinksUpToBytes = 10L << 20;

    /// <summary>
    /// The fused kernel's column chunks with the side scratch (at least <paramref name="chunks"/>, the count without it), or
    /// null where it does not apply (see <see cref="SideScratchAboveBytes"/>).
    /// </summary>
    internal static int? SideChunks(int n, int heads, int full, int vectorBytes, int chunks)
    {
        long sideBytes = 2L * heads * n * 4;
        if (sideBytes <= SideScratchAboveBytes || (long)n * n * 4 > SideScratchLinksUpToBytes || full == 0) return null;
        int bySide = (int)((sideBytes + SideScratchBytes - 1) / SideScratchBytes);
        int bySegment = Math.Max(1, full * vectorBytes / MinSegmentBytes);
        int c = Math.Max(chunks, Math.Min(bySide, bySegment));
        int headBytes = ((full + c - 1) / c + 1) * vectorBytes;
        return 2L * heads * headBytes <= MaxSideScratchBytes ? c : null;
    }

    public void Emit(KernelAssembler k, OpKey key)
    {
        int n = key.Shape.M, heads = key.Shape.N;
        if (key.Op == OpKind.DncLinkUpdate || key.Op == OpKind.DncLinkTemporal && heads == 0) EmitLinkUpdate(k, n);
        else EmitTemporal(k, n, heads, fused: key.Op == OpKind.DncLinkTemporal);
    }

    // ---- DncTemporal -----------------------------------------------------------------------------------

    /// <summary>Rows per group and heads per block that fit the register budget (Rb·H forward + Rb·H broadcasts + Rb rows + w + b).</summary>
    internal static (int Rows, int Heads) Blocking(int registers, int heads)
    {
        int h = Math.Max(1, Math.Min(Math.Min(heads, 15), (registers - 3) / 2));
        int rows = RowsFor(registers, h);
        // A one-row group reads w and reads and writes b for every row: when all heads leave room for one row only,
        // even blocks of fewer heads (each reading the group's rows again from L1) let two rows share that traffic.
        int h2 = Math.Min(heads, (registers - 4) / 4);
        if (rows == 1 && heads > 1 && h2 >= 1)
        {
            int blocks = (heads + h2 - 1) / h2;
            h = (heads + blocks - 1) / blocks;
            rows = RowsFor(registers, h);
        }
        return (rows, h);
    }

    private static int RowsFor(int registers, int h)
    {
        int rows = 1;
        // rows·h ≤ 15 keeps a VEX-encodable register (< 16) free for the forward sums' reduction.
        while (rows < 4 && (rows + 1) * (2 * h + 1) + 2 <= registers && (rows + 1) * h <= 15) rows++;
        return rows;
    }

    /// <summary>
    /// Registers of the fused kernel: w and p. Updating rows first: the current row. Updating in the column loop: the
    /// bounds the diagonal mask's address is clamped to, that address (rdi: the KernelArgs pointer is not needed after
    /// the loads), and where the column loop's current stretch (unmasked or masked) stops.
    /// </summary>
    private static readonly AssemblerRegister64 WriteWeights = rbx, Precedence = r12, LinkRowPtr = r13, MaskLow = r13, MaskHigh = r14, DiagonalMask = rdi,
        ColumnStop = r11;

    /// <summary>
    /// The Temporal part's pointers: L, the read weightings, f and b; the current row of L and the group's byte offset in
    /// w and f; the column offset (also the index of the precedence pass).
    /// </summary>
    private static readonly AssemblerRegister64 Links = rsi, Reads = rdx, Forward = rcx, Backward = r8, RowPtr = rax, GroupOffset = r9, ColumnOffset = r10;
    /// <summary>GroupOffset's low half; the row groups left, counted down where r11 is not <see cref="ColumnStop"/> (L in L2).</summary>
    private static readonly AssemblerRegister32 GroupOffset32 = r9d, GroupsLeft = r11d, ColumnOffset32 = r10d;

    /// <summary>
    /// The fused kernel's stack cells: Σw; updating in the column loop (<see cref="Inline"/>), each group row's 1 − w_i
    /// (a float) and w_i (AVX2: a whole vector), and the diagonal mask table.
    /// </summary>
    private readonly record struct FusedCells(AssemblerMemoryOperand Sum, bool Inline, int Keep, int WriteWeight, int MaskTable);

    /// <summary>
    /// Above this many bytes of L the fused kernel updates each row group inside the Temporal column loop (L streams from
    /// L3 or memory, and the loop's loads overlap its arithmetic); at or below, where L sits in L2, it updates the group's
    /// rows first, with 1 − w_i and w_i in registers, and the column loop reads them back from L1.
    /// </summary>
    private const int InlineUpdateAboveBytes = 512 * 1024;

    private static void EmitTemporal(KernelAssembler k, int n, int heads, bool fused)
    {
        if (n == 0 || heads == 0) return;
        var a = k.Asm;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4;
        int full = n / L, tail = n % L;
        var regs = k.Registers;
        bool avx2Tail = !k.IsAvx512 && tail > 0;
        var maskVec = avx2Tail ? regs.TakeHighest("AVX2 tail mask") : default;
        int budget = k.VectorRegisters - (avx2Tail ? 1 : 0);
        bool inline = fused && (long)n * nb > InlineUpdateAboveBytes;
        // The head block that updates the rows also holds w_j, p_j and a temporary.
        var (rb, hb) = Blocking(inline ? budget - 3 : budget, heads);
        FusedCells? cells = null;

        if (fused)
        {
            var sum = SumOnStack(k);
            var fc = inline
                ? new FusedCells(sum, true, k.AllocateStack(4 * 4), k.IsAvx512 ? 0 : k.AllocateStack(4 * vb), k.AllocateStack(4 * vb))
                : new FusedCells(sum, false, 0, 0, 0);
            cells = fc;
            k.LoadPointer(Links, KernelArgs.Offsets.A);     // updated in place
            k.LoadPointer(WriteWeights, KernelArgs.Offsets.B);
            k.LoadPointer(Precedence, KernelArgs.Offsets.C);
            k.LoadPointer(Reads, KernelArgs.Offsets.D);     // R×N
            k.LoadPointer(Forward, KernelArgs.Offsets.E);
            k.LoadPointer(Backward, KernelArgs.Offsets.F);
            foreach (var r in inline ? new[] { WriteWeights, Precedence, MaskLow, MaskHigh } : new[] { WriteWeights, Precedence, LinkRowPtr }) k.UseCalleeSaved(r);
            if (inline)
            {
                // The diagonal mask table: 4L lanes of all-ones but a zero at lane 2L; the L lanes from 2L − d zero lane d.
                using (regs.Phase())
                {
                    var ones = regs.TakeAt(0, "all ones");
                    k.LoadConst(ones, BitConverter.UInt32BitsToSingle(0xFFFFFFFFu));
                    for (int v = 0; v < 4; v++) k.Store(__[rsp + (fc.MaskTable + v * vb)], ones);
                    a.mov(__dword_ptr[rsp + (fc.MaskTable + 2 * vb)], 0);
                }
                // The clamp bounds of row 0's window: rows r < rb read r lanes below it, and a clamped window stays all ones.
                a.lea(MaskLow, __[rsp + (fc.MaskTable + (rb - 1) * 4)]);
                a.lea(MaskHigh, __[rsp + (fc.MaskTable + 3 * vb)]);
            }
        }
        else
        {
            k.LoadPointer(Links, KernelArgs.Offsets.A);
            k.LoadPointer(Reads, KernelArgs.Offsets.B);     // R×N
            k.LoadPointer(Forward, KernelArgs.Offsets.C);
            k.LoadPointer(Backward, KernelArgs.Offsets.D);
        }

        // With b outgrowing L1, the columns are cut in chunks: each row group is updated and weighed chunk by chunk,
        // so L is still read once. The fused kernel over a large L keeps whole rows (see ChunkLinksUpToBytes).
        bool wholeRows = heads * nb <= WholeBackwardBytes || fused && (long)n * nb > ChunkLinksUpToBytes;
        int chunks = wholeRows ? 1 : Math.Max(2, (heads * nb + ChunkBytes - 1) / ChunkBytes);
        SideScratch? side = null;
        if (inline && SideChunks(n, heads, full, vb, chunks) is { } sideChunks)
        {
            chunks = sideChunks;
            int headBytes = ((full + chunks - 1) / chunks + 1) * vb, bytes = 2 * heads * headBytes;
            int at = k.AllocatePagedStack(bytes);
            side = new SideScratch(at, at + heads * headBytes, headBytes);
        }

        // b = 0, then accumulated row by row (with the side scratch, each chunk's sums are copied out whole).
        if (side is null)
            using (regs.Phase())
            {
                var zero = regs.Take("zero");
                k.Zero(zero);
                k.ForEachVector(heads * n, 4, RowPtr, maskVec, c => k.StorePart(c.At(Backward), zero, c.Count, c.Tail));
            }
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;

        int chunkVecs = (full + chunks - 1) / chunks;
        int col0 = 0;
        do
        {
            int cols = Math.Min(chunkVecs, full - col0);
            bool last = col0 + cols >= full;
            if (side is { } s) CopySide(k, n, heads, s, col0, cols, last ? mask : null, toScratch: true);
            TemporalPass(k, n, heads, hb, rb, col0, cols, last ? mask : null, accumulateForward: col0 > 0, cells, firstChunk: col0 == 0, side);
            if (side is { } s2) CopySide(k, n, heads, s2, col0, cols, last ? mask : null, toScratch: false);
            col0 += cols;
        }
        while (col0 < full);
        if (cells is { } c) UpdatePrecedence(k, n, WriteWeights, Precedence, c.Sum, maskVec);
    }

    /// <summary>
    /// One pass over the rows for column vectors col0..col0+cols−1 (plus the tail): each row group serves all heads,
    /// <paramref name="hb"/> at a time, its rows read again from L1 for each block of heads. With <paramref name="fused"/>
    /// cells, each row group is link-updated first: row by row before its blocks, or (<see cref="FusedCells.Inline"/>) by
    /// the first block as it reads the rows, the diagonal zeroed by a mask. With <paramref name="side"/>, the read
    /// weightings of the columns and their backward sums are the chunk's scratch (<see cref="CopySide"/> fills and empties it).
    /// </summary>
    private static void TemporalPass(KernelAssembler k, int n, int heads, int hb, int rb, int col0, int cols, TailMask? tail, bool accumulateForward,
        FusedCells? fused, bool firstChunk, SideScratch? side)
    {
        var a = k.Asm;
        var regs = k.Registers;
        int vb = k.VectorBytes, nb = n * 4;
        int end = (col0 + cols) * vb;
        bool inline = fused is { Inline: true };
        bool wholeRows = col0 == 0 && (col0 + cols) * k.Lanes == n - n % k.Lanes;
        // AVX2 with L in L2 (rows updated first): the read-only column loop takes two vectors per iteration, and the first
        // head block prefetches half the next group's lines (see L2Unroll).
        bool l2Avx2 = fused is { Inline: false } && !k.IsAvx512;

        void Group(int rows)
        {
            if (fused is { Inline: true } f) PrepareGroup(k, f, rows, firstChunk);
            else if (fused is { } g)
                for (int r = 0; r < rows; r++)
                {
                    a.lea(LinkRowPtr, __[RowPtr + r * nb]);
                    LinkRow(k, LinkRowPtr, __dword_ptr[WriteWeights + GroupOffset + r * 4], WriteWeights, Precedence, firstChunk ? g.Sum : null, col0, cols, tail);
                    // L[i, i] = 0 after every chunk's update: a chunk left of it zeroes it early, its own chunk updates and zeroes it.
                    // The Temporal loads read this vector back over two stores (no store forwarding), but leaving the store out
                    // altogether, a bound on zeroing in a register, was no faster: time with ÷ without 0.96–1.02 (N = 64–256, both ISAs, Xeon).
                    a.mov(__dword_ptr[LinkRowPtr + GroupOffset + r * 4], 0);
                }
            for (int h0 = 0; h0 < heads; h0 += hb) HeadBlock(rows, h0, Math.Min(hb, heads - h0), update: inline && h0 == 0);
        }

        void HeadBlock(int rows, int h0, int hc, bool update)
        {
            // Where Blocking's budget puts each role: accumulators, then broadcasts, rows, w and b (then w_j, p_j and a temporary).
            int Fwd(int r, int h) => r * hc + h;
            int Bc(int r, int h) => rb * hc + r * hc + h;
            int Row(int r) => 2 * rb * hc + r;
            int wAt = 2 * rb * hc + rb, bAt = 2 * rb * hc + rb + 1;
            using var group = regs.Phase();
            var fwd = new Vec[rows, hc];
            var bc = new Vec[rows, hc];
            var row = new Vec[rows];
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++) fwd[r, h] = regs.TakeAt(Fwd(r, h), $"forward sum row {r} head {h}");
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++) bc[r, h] = regs.TakeAt(Bc(r, h), $"w row {r} head {h}");
            for (int r = 0; r < rows; r++) row[r] = regs.TakeAt(Row(r), $"L row {r}");
            var wv = regs.TakeAt(wAt, "w");
            var bv = regs.TakeAt(bAt, "b");
            Vec wj = default, pj = default, tmp0 = default;
            if (update)
            {
                wj = regs.TakeAt(bAt + 1, "w_j");
                pj = regs.TakeAt(bAt + 2, "p_j");
                tmp0 = regs.TakeAt(bAt + 3, "link temporary");
            }
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++)
                {
                    k.Zero(fwd[r, h]);
                    k.Broadcast(bc[r, h], __dword_ptr[Reads + GroupOffset + ((h0 + h) * nb + r * 4)]);
                }

            // diagonal: the vector may hold a group row's diagonal, so the update zeroes it by a mask; the column loop
            // runs only the vectors at the group's diagonals that way (DiagonalSplitLoop).
            void Column(AssemblerRegister64? index, int disp, TailMask? t, bool diagonal)
            {
                AssemblerMemoryOperand At(AssemblerRegister64 b, int off) => index is { } i ? __[b + i + (off + disp)] : __[b + (off + disp)];
                int count = t is { } m ? m.Count : k.Lanes;
                // The next row group's lines in address order (SequentialPrefetch): per row's worth of the bytes this
                // iteration covers (vectors), one prefetch every lineStep bytes.
                void PrefetchNextGroup(AssemblerRegister64 i, int vectors, int lineStep)
                {
                    foreach (var (scale, start) in SequentialPrefetch(rb, nb))
                        for (int line = 0; line < scale * vb * vectors; line += lineStep) a.prefetcht0(__[RowPtr + i * scale + (rb * nb + start + line)]);
                }
                // In L2 on AVX2, one line of each 128-byte pair (L2Unroll), once per unrolled iteration.
                if (index is { } y && l2Avx2 && h0 == 0 && wholeRows && disp == 0) PrefetchNextGroup(y, L2Unroll, 128);
                // Past L2, every line, rb per vector of this one, so that the next group's update finds them in L1.
                if (index is { } x && update)
                {
                    if (wholeRows) PrefetchNextGroup(x, 1, 64);
                    else
                        for (int r = 0; r < rb; r++) a.prefetcht0(At(RowPtr, (rb + r) * nb));
                }
                if (update && fused is { } f)
                {
                    if (diagonal)
                    {
                        // Row r's mask zeroes lane i − v·L of this vector v: the table's window at 2L·4 + v·vb − i·4,
                        // clamped into the table; a window clamped to either end is all ones (the diagonal is elsewhere).
                        if (index is { } i) a.lea(DiagonalMask, __[rsp + i + (f.MaskTable + 2 * vb + disp)]);
                        else a.lea(DiagonalMask, __[rsp + (f.MaskTable + 2 * vb + disp)]);
                        a.sub(DiagonalMask, GroupOffset);
                        a.cmp(DiagonalMask, MaskLow);
                        a.cmovb(DiagonalMask, MaskLow);
                        a.cmp(DiagonalMask, MaskHigh);
                        a.cmova(DiagonalMask, MaskHigh);
                    }
                    k.LoadPart(wj, At(WriteWeights, 0), count, t);
                    k.LoadPart(pj, At(Precedence, 0), count, t);
                    for (int r = 0; r < rows; r++)
                    {
                        // (1 − w_i − w_j)·L + w_i·p_j in the reference's order, no FMA: bit-exact.
                        k.Broadcast(row[r], __dword_ptr[rsp + (f.Keep + r * 4)]);
                        k.Sub(row[r], row[r], wj);
                        if (t is null) k.Mul(row[r], row[r], At(RowPtr, r * nb));
                        else { k.LoadPart(tmp0, At(RowPtr, r * nb), count, t); k.Mul(row[r], row[r], tmp0); }
                        k.Mul(tmp0, pj, k.IsAvx512 ? __dword_bcst[WriteWeights + GroupOffset + r * 4] : __[rsp + (f.WriteWeight + r * vb)]);
                        k.Add(row[r], row[r], tmp0);
                        if (diagonal) k.And(row[r], row[r], k.Width.Ptr[DiagonalMask - r * 4]);
                        k.StorePart(At(RowPtr, r * nb), row[r], count, t);
                    }
                }
                else
                    for (int r = 0; r < rows; r++) k.LoadPart(row[r], At(RowPtr, r * nb), count, t);
                // Head h's read weighting and backward sum: in the chunk's side scratch, or in place (R×N).
                AssemblerMemoryOperand Side(bool reads, int h) => side is { } sc
                    ? ScratchAt(sc, reads, h0 + h, index, disp - col0 * vb)
                    : At(reads ? Reads : Backward, (h0 + h) * nb);
                for (int h = 0; h < hc; h++)
                {
                    k.LoadPart(wv, Side(true, h), count, t);
                    for (int r = 0; r < rows; r++) k.FmaAcc(fwd[r, h], row[r], wv);
                    k.LoadPart(bv, Side(false, h), count, t);
                    for (int r = 0; r < rows; r++) k.FmaAcc(bv, bc[r, h], row[r]);
                    k.StorePart(Side(false, h), bv, count, t);
                }
            }

            if (update)
            {
                if (cols >= 2)
                    DiagonalSplitLoop(rows, () => Column(ColumnOffset, 0, null, diagonal: false), () => Column(ColumnOffset, 0, null, diagonal: true));
                else if (cols == 1) Column(null, col0 * vb, null, diagonal: true);
                if (tail is { } tm) Column(null, end, tm, diagonal: true);
            }
            else ForEachVectorIn(k, col0, cols, tail, l2Avx2 ? L2Unroll : 1, ColumnOffset, c => Column(c.Index, c.Displacement, c.Tail, diagonal: false));
            // The broadcasts are dead after the columns; the reduction's temporary is the register after the group's
            // accumulators (the first broadcast when the group is whole), which keeps it VEX-encodable (Blocking).
            foreach (var v in bc) regs.Release(v);
            var tmp = regs.TakeAt(rows * hc, "reduction temporary");
            if (k.IsAvx512 && hc >= 2) { ReduceForwardSums(k, fwd, tmp, h0, nb, accumulateForward); return; }
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++)
                {
                    k.ReduceAdd(fwd[r, h], tmp);
                    var at = __dword_ptr[Forward + GroupOffset + ((h0 + h) * nb + r * 4)];
                    if (accumulateForward) a.vaddss(k.X(fwd[r, h]), k.X(fwd[r, h]), at);
                    a.vmovss(at, k.X(fwd[r, h]));
                }
        }

        // The column loop of the block that updates the rows: the vectors before the group's diagonals without a mask, the
        // diagonals' vectors (from the one holding the first, while a later one holds a diagonal) with it, then the rest
        // without. Vectors outside this chunk bound each stretch, so a stretch may be empty and one masked vector may lie
        // left of the diagonals (its window is all ones).
        void DiagonalSplitLoop(int rows, Action plain, Action masked)
        {
            Label plainTop = a.CreateLabel(), plainTest = a.CreateLabel(), maskedTop = a.CreateLabel(), done = a.CreateLabel();
            a.mov(ColumnOffset, col0 * vb);
            a.mov(ColumnStop, GroupOffset);
            a.and(ColumnStop, -vb);                      // the vector holding the first diagonal...
            a.cmp(ColumnStop, ColumnOffset);
            a.cmovb(ColumnStop, ColumnOffset);           // ...clamped into the chunk
            a.mov(DiagonalMask, end);
            a.cmp(ColumnStop, DiagonalMask);
            a.cmova(ColumnStop, DiagonalMask);
            a.jmp(plainTest);
            a.Label(ref plainTop);
            plain();
            a.add(ColumnOffset, vb);
            a.Label(ref plainTest);
            a.cmp(ColumnOffset, ColumnStop);
            a.jb(plainTop);
            a.cmp(ColumnOffset, end);
            a.jae(done);
            a.lea(ColumnStop, __[GroupOffset + (rows - 1) * 4]);     // the last diagonal's byte
            a.Label(ref maskedTop);
            masked();
            a.add(ColumnOffset, vb);
            a.cmp(ColumnOffset, end);
            a.jae(done);
            a.cmp(ColumnOffset, ColumnStop);
            a.jbe(maskedTop);
            a.mov(ColumnStop, end);
            a.jmp(plainTest);
            a.Label(ref done);
        }

        a.mov(RowPtr, Links);
        a.xor(GroupOffset32, GroupOffset32);
        int groups = n / rb, rest = n % rb;
        if (groups > 0)
        {
            var rows = a.CreateLabel();
            if (!inline) a.mov(GroupsLeft, groups);
            a.Label(ref rows);
            Group(rb);
            a.add(RowPtr, rb * nb);
            a.add(GroupOffset, rb * 4);
            if (inline)
            {
                a.cmp(GroupOffset, groups * rb * 4);      // r11 bounds the column loop's stretches
                a.jb(rows);
            }
            else
            {
                a.dec(GroupsLeft);
                a.jnz(rows);
            }
        }
        if (rest > 0) Group(rest);
    }

    /// <summary>
    /// AVX-512: the block's forward sums (rows·hc ≤ 15 vectors of 16 partial sums) folded together into the lanes of one
    /// vector by the <see cref="ReductionTree"/> (absent accumulators for the unused lanes), then stored a head at a time
    /// (its rows are consecutive in f) by a masked xmm store. The tree adds each sum's partial sums in the pairs
    /// <see cref="KernelAssembler.ReduceAdd"/> does (i + 8, i + 4, i + 2, i + 1, the low part first), so f is the same bit
    /// for bit; a reduction per sum costs 8 instructions, the tree 36 for 12 sums. Sum (r, h) goes to lane h·stride + r:
    /// a head per 128-bit lane while the block has ≤ 4 rows and ≤ 4 heads, else (Blocking: ≤ 2 rows) heads rows apart,
    /// so a head's lanes never straddle two 128-bit lanes.
    /// AVX2 keeps a reduction per sum: the same tree there (8 lanes, heads rows apart, each head stored by vmovss,
    /// vmovlps/vmovhps, vmovlps + vextractps or vmovups; 19 instructions for 2×2 sums against 36, f the same bit for bit)
    /// measured old ÷ new 0.99–1.02 (one outlier 0.96) in one process (Xeon, 4 processes of 21–41 rounds:
    /// DncLinkTemporal 64x64x2, 128x128x4, 256x256x4, 1024x1024x4, DncTemporal 256x256x4; also 16x16x4 to 128x128x3).
    /// Probably the per-sum reductions already overlap the next row group's loads and FMAs; not measured on a Zen 3.
    /// </summary>
    private static void ReduceForwardSums(KernelAssembler k, Vec[,] fwd, Vec tmp, int h0, int nb, bool accumulate)
    {
        var a = k.Asm;
        int rows = fwd.GetLength(0), hc = fwd.GetLength(1);
        int stride = rows <= 4 && hc <= 4 ? 4 : rows;
        var tree = ReductionTree.For(true);
        var accumulators = new Vec?[16];
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < hc; h++) accumulators[tree.AccumulatorOfLane[h * stride + r]] = fwd[r, h];
        var sums = tree.Emit(k, accumulators, tmp);
        // Head h's sums are lanes o… of the 128-bit lane q: a masked xmm store at o floats below f[h0 + h][group row 0],
        // the heads taken by o so that k2 is set once per o; with chunks, f's partial sums from the chunks before added first.
        var spare = fwd.Cast<Vec>().Where(v => v != sums).Select(v => (Vec?)v).FirstOrDefault() ?? tmp;
        for (int o = 0; o < 4; o++)
            for (int h = 0, set = 0; h < hc; h++)
            {
                int lane = h * stride, q = lane / 4;
                if (lane % 4 != o) continue;
                if (set++ == 0)
                {
                    a.mov(ColumnOffset32, ((1 << rows) - 1) << o);
                    a.kmovw(k2, ColumnOffset32);
                }
                var part = sums;
                if (q > 0) { a.vextractf32x4(k.X(tmp), k.Z(sums), (byte)q); part = tmp; }
                var at = __[Forward + GroupOffset + ((h0 + h) * nb - 4 * o)].ToMemoryOperand(64);
                if (accumulate)
                {
                    var load = Instruction.Create(Code.EVEX_Vmovups_xmm_k1z_xmmm128, k.X(spare), at);
                    load.OpMask = Register.K2;
                    load.ZeroingMasking = true;
                    a.AddInstruction(load);
                    a.vaddps(k.X(spare), k.X(part), k.X(spare));
                    part = spare;
                }
                var store = Instruction.Create(Code.EVEX_Vmovups_xmmm128_k1z_xmm, at, k.X(part));
                store.OpMask = Register.K2;
                a.AddInstruction(store);
            }
    }

    /// <summary>
    /// The chunk's read weightings and backward sums on the stack, each [head][column of the chunk]: <see cref="HeadBytes"/>
    /// apart (the chunk's vectors and room for the tail), so a chunk's side data is one compact block.
    /// </summary>
    private readonly record struct SideScratch(int Reads, int Backward, int HeadBytes);

    /// <summary>Head h's vector in the scratch, <paramref name="disp"/> (+ index) bytes from the chunk's first column.</summary>
    private static AssemblerMemoryOperand ScratchAt(SideScratch s, bool reads, int h, AssemblerRegister64? index, int disp)
    {
        int off = (reads ? s.Reads : s.Backward) + h * s.HeadBytes + disp;
        return index is { } i ? __[rsp + i + off] : __[rsp + off];
    }

    /// <summary>
    /// Before a chunk's pass, its read weightings into the scratch and its backward sums there zeroed; after it, the
    /// backward sums out to b.
    /// </summary>
    private static void CopySide(KernelAssembler k, int n, int heads, SideScratch s, int col0, int cols, TailMask? tail, bool toScratch)
    {
        int nb = n * 4, vb = k.VectorBytes;
        using var phase = k.Registers.Phase();
        Vec v = k.Registers.TakeAt(0, "side copy"), zero = k.Registers.TakeAt(1, "zero");
        if (toScratch) k.Zero(zero);
        for (int h = 0; h < heads; h++)
            ForEachVectorIn(k, col0, cols, tail, 1, ColumnOffset, c =>
            {
                var scratchReads = ScratchAt(s, true, h, c.Index, c.Displacement - col0 * vb);
                var scratchBackward = ScratchAt(s, false, h, c.Index, c.Displacement - col0 * vb);
                var row = c.Index is { } i ? __[Reads + i + (h * nb + c.Displacement)] : __[Reads + (h * nb + c.Displacement)];
                var b = c.Index is { } j ? __[Backward + j + (h * nb + c.Displacement)] : __[Backward + (h * nb + c.Displacement)];
                if (toScratch)
                {
                    k.LoadPart(v, row, c.Count, c.Tail);
                    k.StorePart(scratchReads, v, c.Count, c.Tail);
                    k.StorePart(scratchBackward, zero, c.Count, c.Tail);
                }
                else
                {
                    k.LoadPart(v, scratchBackward, c.Count, c.Tail);
                    k.StorePart(b, v, c.Count, c.Tail);
                }
            });
    }

    /// <summary>
    /// AVX2, L in L2: the read-only column loop's vectors per iteration. With it, the first head block prefetches one line
    /// of each 128-byte pair of the next row group (in address order, one prefetch per iteration for two-row groups), which
    /// its row-by-row update then reads. Measured at N = 256, R = 4 against one vector per iteration and no prefetch:
    /// 2% faster with the sibling hyperthread idle, 3–9% with it busy (R = 1 8%, R = 2 3–5%, R = 9 −1%; N = 64 to 362
    /// 2–9%); unrolling alone −1%/+2%, prefetching every line (two per iteration) 5% slower, and without unrolling (one
    /// per line per iteration) 3.5% slower. AVX-512 unchanged: unrolling or this prefetch measured 3% slower there.
    /// </summary>
    private const int L2Unroll = 2;

    /// <summary>
    /// The next row group's prefetch when the column loop covers whole rows: its rows are one contiguous block, taken in
    /// address order as segments of <c>scale</c> rows' worth of bytes per column vector (scale a power of two, the segments
    /// adding up to <paramref name="rows"/>), from byte <c>start</c> of the block, one prefetch per 64-byte line. Rows interleaved column by column (one line per row
    /// per vector) are as many concurrent streams, each starting in a new page (a row of N = 1024 is one 4 KiB page); one
    /// ascending stream serves the L2 streamer better: AVX-512 4–5% faster at N = 512, 2048 and 4096, AVX2 unchanged.
    /// </summary>
    internal static IEnumerable<(int Scale, int Start)> SequentialPrefetch(int rows, int rowBytes)
    {
        int start = 0;
        for (int scale = 8; scale >= 1; scale /= 2)
            for (; rows >= scale; rows -= scale, start += scale * rowBytes) yield return (scale, start);
    }

    /// <summary>
    /// The scalars of a row group updated in the column loop: per row, Σw += w_i in double (first chunk only, in row
    /// order like the reference) and 1 − w_i (and on AVX2 w_i broadcast) to the stack.
    /// </summary>
    private static void PrepareGroup(KernelAssembler k, FusedCells f, int rows, bool firstChunk)
    {
        var a = k.Asm;
        int vb = k.VectorBytes;
        using (k.Registers.Phase())
        {
            Vec wi = k.Registers.TakeAt(0, "w_i"), keep = k.Registers.TakeAt(1, "1 − w_i (Σw first)");
            for (int r = 0; r < rows; r++)
            {
                a.vmovss(k.X(wi), __dword_ptr[WriteWeights + GroupOffset + r * 4]);
                if (firstChunk)
                {
                    a.vcvtss2sd(k.X(keep), k.X(keep), k.X(wi));
                    a.vaddsd(k.X(keep), k.X(keep), f.Sum);
                    a.vmovsd(f.Sum, k.X(keep));
                }
                k.LoadConst(keep, 1f);
                a.vsubss(k.X(keep), k.X(keep), k.X(wi));   // 1 − w_i, then − w_j: the reference's left-to-right order
                a.vmovss(__dword_ptr[rsp + (f.Keep + r * 4)], k.X(keep));
                if (!k.IsAvx512)
                {
                    k.BroadcastLane0(wi, wi);
                    k.Store(__[rsp + (f.WriteWeight + r * vb)], wi);
                }
            }
        }
    }

    // ---- DncLinkUpdate ---------------------------------------------------------------------------------

    private static void EmitLinkUpdate(KernelAssembler k, int n)
    {
        if (n == 0) return;
        var a = k.Asm;
        AssemblerRegister64 links = rsi, weights = rdx, precedence = rcx, row = r9, i = rax;
        AssemblerRegister32 i32 = eax;
        var sum = SumOnStack(k);
        var maskVec = k.Registers.TakeHighest("AVX2 tail mask");
        k.LoadPointer(links, KernelArgs.Offsets.A);         // updated in place
        k.LoadPointer(weights, KernelArgs.Offsets.B);
        k.LoadPointer(precedence, KernelArgs.Offsets.C);    // read here, updated after L
        TailMask? tail = n % k.Lanes > 0 ? k.CreateTailMask(n % k.Lanes, maskVec) : null;
        a.mov(row, links);
        a.xor(i32, i32);
        var next = a.CreateLabel();
        a.Label(ref next);
        LinkRow(k, row, __dword_ptr[weights + i * 4], weights, precedence, sum, 0, n / k.Lanes, tail);
        a.mov(__dword_ptr[row + i * 4], 0);
        a.add(row, n * 4);
        a.inc(i);
        a.cmp(i, n);
        a.jb(next);
        UpdatePrecedence(k, n, weights, precedence, sum, maskVec);
    }

    /// <summary>Σw lives in a stack qword (0.0): the fused kernel's Temporal part may need every vector register.</summary>
    private static AssemblerMemoryOperand SumOnStack(KernelAssembler k)
    {
        var sum = __qword_ptr[rsp + k.AllocateStack(8)];
        k.Asm.mov(sum, 0);
        return sum;
    }

    /// <summary>
    /// A link row of at most this many column vectors is straight-line code (<see cref="LinkRow"/>): its operands are then
    /// addressed by displacement alone, and the loads of w_j, L[i, j] and p_j fold into the sub and the two muls as one
    /// fused-domain µop each (an indexed memory operand of a three-operand VEX/EVEX op is split in two again on Intel), so
    /// a vector costs 5 µops instead of 8 plus the loop's. It covers the fused kernel's rows while L is in L2 (N ≤ 362: 22
    /// zmm or 45 ymm vectors). In-process ratios old/new (median of 3–6 processes, N = 64…362, R = 1…9): DncLinkTemporal
    /// AVX-512 1.0–1.15 (256x256x4 1.0–1.05 from run to run, 128x128x4 1.07), AVX2 1.02–1.2; DncLinkUpdate N = 64–362
    /// 1.02–1.2, 700 (AVX-512, 44 vectors) 0.99. Folding the loads in the indexed loop instead: 0.99–1.0, and AVX2
    /// DncLinkUpdate N = 700 0.95, so the loop keeps separate loads.
    /// </summary>
    private const int StraightLinkRowVectors = 48;

    /// <summary>
    /// Column vectors col0..col0+cols−1 of one row i of the link update, in place at <paramref name="row"/>, then the
    /// <paramref name="tail"/> vector: L[i, j] = (1 − w_i − w_j)·L[i, j] + w_i·p_j with the reference's operations; with
    /// <paramref name="sum"/> (once per row), Σw += w_i in double. Uses v0–v1, v3 and v4.. (two per unrolled slot), the
    /// index <see cref="ColumnOffset"/>, and (AVX2) the tail mask register.
    /// </summary>
    private static void LinkRow(KernelAssembler k, AssemblerRegister64 row, AssemblerMemoryOperand wi,
        AssemblerRegister64 w, AssemblerRegister64 p, AssemblerMemoryOperand? sum, int col0, int cols, TailMask? tail)
    {
        var a = k.Asm;
        var regs = k.Registers;
        using var phase = regs.Phase();
        Vec keep = regs.TakeAt(0, "1 − w_i (Σw first)"), wiv = regs.TakeAt(1, "w_i"), scalar = regs.TakeAt(3, "w_i scalar");
        var slots = SlotPairs(k);
        a.vmovss(k.X(scalar), wi);
        k.BroadcastLane0(wiv, scalar);
        if (sum is { } s)
        {
            a.vcvtss2sd(k.X(keep), k.X(keep), k.X(scalar));
            a.vaddsd(k.X(keep), k.X(keep), s);               // Σw in double, in row order like the reference
            a.vmovsd(s, k.X(keep));
        }
        k.LoadConst(keep, 1f);
        k.Sub(keep, keep, wiv);                            // 1 − w_i, then − w_j: the reference's left-to-right order
        bool straight = cols <= StraightLinkRowVectors;
        ForEachVectorIn(k, col0, cols, tail, straight ? Math.Max(1, cols) : Unroll(k), ColumnOffset, c =>
        {
            var (t, u) = slots[c.Slot % slots.Length];
            if (straight && c.Tail is null)
            {
                // Displacement-only operands: each load is folded into its operation as one micro-fused µop.
                k.Sub(t, keep, c.At(w));
                k.Mul(t, t, c.At(row));
                k.Mul(u, wiv, c.At(p));
                k.Add(t, t, u);
                k.Store(c.At(row), t);
                return;
            }
            k.LoadPart(u, c.At(w), c.Count, c.Tail);
            k.Sub(t, keep, u);
            k.LoadPart(u, c.At(row), c.Count, c.Tail);
            k.Mul(t, t, u);
            k.LoadPart(u, c.At(p), c.Count, c.Tail);
            k.Mul(u, wiv, u);
            k.Add(t, t, u);
            k.StorePart(c.At(row), t, c.Count, c.Tail);
        });
    }

    /// <summary>
    /// Visits column vectors col0..col0+cols−1 (an <paramref name="unroll"/>-vector loop over byte offset
    /// <paramref name="index"/> while two or more unrolled blocks remain, then straight-line code), then the
    /// <paramref name="tail"/> vector after them; the body addresses memory with <see cref="Cursor.At"/>.
    /// </summary>
    private static void ForEachVectorIn(KernelAssembler k, int col0, int cols, TailMask? tail, int unroll, AssemblerRegister64 index, Action<Cursor> body)
    {
        var a = k.Asm;
        int vb = k.VectorBytes, blocks = cols / unroll, done = 0;
        if (blocks >= 2)
        {
            var loop = a.CreateLabel();
            if (col0 == 0) a.xor(index, index); else a.mov(index, col0 * vb);
            a.Label(ref loop);
            for (int u = 0; u < unroll; u++) body(new Cursor(index, u * vb, k.Lanes, null, u));
            a.add(index, unroll * vb);
            a.cmp(index, (col0 + blocks * unroll) * vb);
            a.jb(loop);
            done = blocks * unroll;
        }
        for (int v = done; v < cols; v++) body(new Cursor(null, (col0 + v) * vb, k.Lanes, null, (v - done) % unroll));
        if (tail is { } t) body(new Cursor(null, (col0 + cols) * vb, t.Count, t, 0));
    }

    /// <summary>p = (1 − Σw)·p + w, with 1 − Σw in double rounded to float once.</summary>
    private static void UpdatePrecedence(KernelAssembler k, int n, AssemblerRegister64 w, AssemblerRegister64 p, AssemblerMemoryOperand sum, Vec avx2Mask)
    {
        var a = k.Asm;
        var regs = k.Registers;
        using var phase = regs.Phase();
        Vec keep = regs.TakeAt(0, "1 − Σw"), scalar = regs.TakeAt(3, "1 − Σw scalar");
        var slots = SlotPairs(k);
        a.vmovsd(k.X(scalar), k.ConstDouble(1.0));
        a.vsubsd(k.X(scalar), k.X(scalar), sum);
        a.vcvtsd2ss(k.X(scalar), k.X(scalar), k.X(scalar));
        k.BroadcastLane0(keep, scalar);
        k.ForEachVector(n, Unroll(k), ColumnOffset, avx2Mask, c =>
        {
            var (t, u) = slots[c.Slot];
            k.LoadPart(t, c.At(p), c.Count, c.Tail);
            k.Mul(t, keep, t);
            k.LoadPart(u, c.At(w), c.Count, c.Tail);
            k.Add(t, t, u);
            k.StorePart(c.At(p), t, c.Count, c.Tail);
        });
    }

    private static int Unroll(KernelAssembler k) => k.IsAvx512 ? 4 : 2;

    /// <summary>The link row's and the precedence update's (t, u) per unrolled slot, from v4.</summary>
    private static (Vec T, Vec U)[] SlotPairs(KernelAssembler k) =>
        Enumerable.Range(0, Unroll(k)).Select(s => (k.Registers.TakeAt(4 + 2 * s, $"slot {s} t"), k.Registers.TakeAt(5 + 2 * s, $"slot {s} u"))).ToArray();
}
