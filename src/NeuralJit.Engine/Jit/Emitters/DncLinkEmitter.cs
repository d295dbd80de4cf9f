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
/// that fit groups of two rows or more, each block reading the group's rows again from L1. When b outgrows
/// L1 (R·N·4 &gt; 24 KiB, N &gt; 1536 at R = 4) the columns are cut in chunks whose b fits, and the forward sums add
/// up over the chunks.</para>
/// <para><b>DncLinkUpdate</b> is one streaming pass over L with the reference's operations in its order (no FMA),
/// so it matches bit for bit: (1 − w_i − w_j)·L + w_i·p_j, the diagonal zeroed after its row, Σw summed in double
/// in row order inside the same loop (a stack cell; its latency hides under the row's vector work), then p updated.</para>
/// <para><b>DncLinkTemporal</b> is the two in one pass over L: each row group is updated (the LinkUpdate row, exact)
/// and stored, then read back from L1 by the Temporal group, so L comes from L2/L3 once and is written once instead
/// of being streamed twice; p is updated after the last row.</para>
/// Registers: the Temporal blocking is computed from fixed register numbers (<see cref="Blocking"/>), so each row group
/// pins its accumulators, broadcasts, rows, w and b with <see cref="VectorRegisterPlan.TakeAt"/>; the link row and the
/// precedence update pin theirs (v0, v1, v3, two per unrolled slot from v4) the same way; the AVX2 tail mask sits at the top.
/// </summary>
public sealed class DncLinkEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncLinkUpdate, OpKind.DncTemporal, OpKind.DncLinkTemporal };

    /// <summary>b (R·N floats) kept whole while it fits this many bytes; above, the columns are chunked to <see cref="ChunkBytes"/>.</summary>
    private const int WholeBackwardBytes = 24 * 1024, ChunkBytes = 16 * 1024;

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

    /// <summary>Registers of the fused kernel: w, p and the current row (the Temporal part keeps rsi, rdx, rcx, r8–r11).</summary>
    private static readonly AssemblerRegister64 WriteWeights = rbx, Precedence = r12, LinkRowPtr = r13;

    /// <summary>
    /// The Temporal part's pointers: L, the read weightings, f and b; the current row of L and the group's byte offset in
    /// w and f; the column offset (also the index of the link row and precedence passes).
    /// </summary>
    private static readonly AssemblerRegister64 Links = rsi, Reads = rdx, Forward = rcx, Backward = r8, RowPtr = rax, GroupOffset = r9, ColumnOffset = r10;
    private static readonly AssemblerRegister32 GroupOffset32 = r9d, GroupsLeft = r11d;

    private static void EmitTemporal(KernelAssembler k, int n, int heads, bool fused)
    {
        if (n == 0 || heads == 0) return;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4;
        int full = n / L, tail = n % L;
        var regs = k.Registers;
        bool avx2Tail = !k.IsAvx512 && tail > 0;
        var maskVec = avx2Tail ? regs.TakeHighest("AVX2 tail mask") : default;
        int budget = k.VectorRegisters - (avx2Tail ? 1 : 0);
        var (rb, hb) = Blocking(budget, heads);
        var sum = fused ? SumOnStack(k) : default;

        if (fused)
        {
            k.LoadPointer(Links, KernelArgs.Offsets.A);     // updated in place
            k.LoadPointer(WriteWeights, KernelArgs.Offsets.B);
            k.LoadPointer(Precedence, KernelArgs.Offsets.C);
            k.LoadPointer(Reads, KernelArgs.Offsets.D);     // R×N
            k.LoadPointer(Forward, KernelArgs.Offsets.E);
            k.LoadPointer(Backward, KernelArgs.Offsets.F);
            foreach (var r in new[] { WriteWeights, Precedence, LinkRowPtr }) k.UseCalleeSaved(r);
        }
        else
        {
            k.LoadPointer(Links, KernelArgs.Offsets.A);
            k.LoadPointer(Reads, KernelArgs.Offsets.B);     // R×N
            k.LoadPointer(Forward, KernelArgs.Offsets.C);
            k.LoadPointer(Backward, KernelArgs.Offsets.D);
        }

        // b = 0, then accumulated row by row.
        using (regs.Phase())
        {
            var zero = regs.Take("zero");
            k.Zero(zero);
            k.ForEachVector(heads * n, 4, RowPtr, maskVec, c => k.StorePart(c.At(Backward), zero, c.Count, c.Tail));
        }
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;

        int chunkVecs = heads * nb <= WholeBackwardBytes ? full : Math.Max(1, ChunkBytes / (heads * vb));
        int col0 = 0;
        do
        {
            int cols = Math.Min(chunkVecs, full - col0);
            bool last = col0 + cols >= full;
            TemporalPass(k, n, heads, hb, rb, col0, cols, last ? mask : null, accumulateForward: col0 > 0, updateLinks: fused && col0 == 0 ? sum : null, maskVec);
            col0 += cols;
        }
        while (col0 < full);
        if (fused) UpdatePrecedence(k, n, WriteWeights, Precedence, sum, maskVec);
    }

    /// <summary>
    /// One pass over the rows for column vectors col0..col0+cols−1 (plus the tail): each row group serves all heads,
    /// <paramref name="hb"/> at a time, its rows read again from L1 for each block of heads. With
    /// <paramref name="updateLinks"/> (the Σw cell), each row group is first link-updated in place.
    /// </summary>
    private static void TemporalPass(KernelAssembler k, int n, int heads, int hb, int rb, int col0, int cols, TailMask? tail, bool accumulateForward,
        AssemblerMemoryOperand? updateLinks, Vec avx2Mask)
    {
        var a = k.Asm;
        var regs = k.Registers;
        int vb = k.VectorBytes, nb = n * 4;

        void Group(int rows)
        {
            if (updateLinks is { } sum)
                for (int r = 0; r < rows; r++)
                {
                    a.lea(LinkRowPtr, __[RowPtr + r * nb]);
                    LinkRow(k, n, LinkRowPtr, __dword_ptr[WriteWeights + GroupOffset + r * 4], __dword_ptr[LinkRowPtr + GroupOffset + r * 4], WriteWeights, Precedence, sum, avx2Mask);
                }
            for (int h0 = 0; h0 < heads; h0 += hb) HeadBlock(rows, h0, Math.Min(hb, heads - h0));
        }

        void HeadBlock(int rows, int h0, int hc)
        {
            // Where Blocking's budget puts each role: accumulators, then broadcasts, rows, w and b.
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
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++)
                {
                    k.Zero(fwd[r, h]);
                    k.Broadcast(bc[r, h], __dword_ptr[Reads + GroupOffset + ((h0 + h) * nb + r * 4)]);
                }
            void Column(AssemblerRegister64? index, int disp, TailMask? t)
            {
                AssemblerMemoryOperand At(AssemblerRegister64 b, int off) => index is { } i ? __[b + i + (off + disp)] : __[b + (off + disp)];
                int count = t is { } m ? m.Count : k.Lanes;
                for (int r = 0; r < rows; r++) k.LoadPart(row[r], At(RowPtr, r * nb), count, t);
                for (int h = 0; h < hc; h++)
                {
                    k.LoadPart(wv, At(Reads, (h0 + h) * nb), count, t);
                    for (int r = 0; r < rows; r++) k.FmaAcc(fwd[r, h], row[r], wv);
                    k.LoadPart(bv, At(Backward, (h0 + h) * nb), count, t);
                    for (int r = 0; r < rows; r++) k.FmaAcc(bv, bc[r, h], row[r]);
                    k.StorePart(At(Backward, (h0 + h) * nb), bv, count, t);
                }
            }
            if (cols >= 2)
            {
                var loop = a.CreateLabel();
                a.mov(ColumnOffset, col0 * vb);
                a.Label(ref loop);
                Column(ColumnOffset, 0, null);
                a.add(ColumnOffset, vb);
                a.cmp(ColumnOffset, (col0 + cols) * vb);
                a.jb(loop);
            }
            else if (cols == 1) Column(null, col0 * vb, null);
            if (tail is { } tm) Column(null, (col0 + cols) * vb, tm);
            // The broadcasts are dead after the columns; the reduction's temporary is the register after the group's
            // accumulators (the first broadcast when the group is whole), which keeps it VEX-encodable (Blocking).
            foreach (var v in bc) regs.Release(v);
            var tmp = regs.TakeAt(rows * hc, "reduction temporary");
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++)
                {
                    k.ReduceAdd(fwd[r, h], tmp);
                    var at = __dword_ptr[Forward + GroupOffset + ((h0 + h) * nb + r * 4)];
                    if (accumulateForward) a.vaddss(k.X(fwd[r, h]), k.X(fwd[r, h]), at);
                    a.vmovss(at, k.X(fwd[r, h]));
                }
        }

        a.mov(RowPtr, Links);
        a.xor(GroupOffset32, GroupOffset32);
        int groups = n / rb, rest = n % rb;
        if (groups > 0)
        {
            var rows = a.CreateLabel();
            a.mov(GroupsLeft, groups);
            a.Label(ref rows);
            Group(rb);
            a.add(RowPtr, rb * nb);
            a.add(GroupOffset, rb * 4);
            a.dec(GroupsLeft);
            a.jnz(rows);
        }
        if (rest > 0) Group(rest);
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
        a.mov(row, links);
        a.xor(i32, i32);
        var next = a.CreateLabel();
        a.Label(ref next);
        LinkRow(k, n, row, __dword_ptr[weights + i * 4], __dword_ptr[row + i * 4], weights, precedence, sum, maskVec);
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
    /// One row i of the link update, in place at <paramref name="row"/>: L[i, j] = (1 − w_i − w_j)·L[i, j] + w_i·p_j with
    /// the reference's operations, then L[i, i] = 0 (<paramref name="diagonal"/>), and Σw += w_i in double. Uses v0–v1,
    /// v3 and v4.. (two per unrolled slot), the index <see cref="ColumnOffset"/>, and the tail mask register.
    /// </summary>
    private static void LinkRow(KernelAssembler k, int n, AssemblerRegister64 row, AssemblerMemoryOperand wi, AssemblerMemoryOperand diagonal,
        AssemblerRegister64 w, AssemblerRegister64 p, AssemblerMemoryOperand sum, Vec avx2Mask)
    {
        var a = k.Asm;
        var regs = k.Registers;
        using var phase = regs.Phase();
        Vec keep = regs.TakeAt(0, "1 − w_i (Σw first)"), wiv = regs.TakeAt(1, "w_i"), scalar = regs.TakeAt(3, "w_i scalar");
        var slots = SlotPairs(k);
        a.vmovss(k.X(scalar), wi);
        k.BroadcastLane0(wiv, scalar);
        a.vcvtss2sd(k.X(keep), k.X(keep), k.X(scalar));
        a.vaddsd(k.X(keep), k.X(keep), sum);               // Σw in double, in row order like the reference
        a.vmovsd(sum, k.X(keep));
        k.LoadConst(keep, 1f);
        k.Sub(keep, keep, wiv);                            // 1 − w_i, then − w_j: the reference's left-to-right order
        k.ForEachVector(n, Unroll(k), ColumnOffset, avx2Mask, c =>
        {
            var (t, u) = slots[c.Slot];
            k.LoadPart(u, c.At(w), c.Count, c.Tail);
            k.Sub(t, keep, u);
            k.LoadPart(u, c.At(row), c.Count, c.Tail);
            k.Mul(t, t, u);
            k.LoadPart(u, c.At(p), c.Count, c.Tail);
            k.Mul(u, wiv, u);
            k.Add(t, t, u);
            k.StorePart(c.At(row), t, c.Count, c.Tail);
        });
        a.mov(diagonal, 0);
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
