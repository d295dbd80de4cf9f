using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
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

    private static void EmitTemporal(KernelAssembler k, int n, int heads, bool fused)
    {
        if (n == 0 || heads == 0) return;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4;
        int full = n / L, tail = n % L;
        var maskVec = new Vec(k.VectorRegisters - 1);
        int budget = k.VectorRegisters - (!k.IsAvx512 && tail > 0 ? 1 : 0);
        var (rb, hb) = Blocking(budget, heads);
        var sum = fused ? SumOnStack(k) : default;

        if (fused)
        {
            k.LoadPointer(rsi, KernelArgs.Offsets.A);   // L, updated in place
            k.LoadPointer(WriteWeights, KernelArgs.Offsets.B);
            k.LoadPointer(Precedence, KernelArgs.Offsets.C);
            k.LoadPointer(rdx, KernelArgs.Offsets.D);   // read weightings (R×N)
            k.LoadPointer(rcx, KernelArgs.Offsets.E);   // forward
            k.LoadPointer(r8, KernelArgs.Offsets.F);    // backward
            foreach (var r in new[] { WriteWeights, Precedence, LinkRowPtr }) k.UseCalleeSaved(r);
        }
        else
        {
            k.LoadPointer(rsi, KernelArgs.Offsets.A);   // L
            k.LoadPointer(rdx, KernelArgs.Offsets.B);   // read weightings (R×N)
            k.LoadPointer(rcx, KernelArgs.Offsets.C);   // forward
            k.LoadPointer(r8, KernelArgs.Offsets.D);    // backward
        }

        // b = 0, then accumulated row by row.
        var zero = new Vec(0);
        k.Zero(zero);
        k.ForEachVector(heads * n, 4, rax, maskVec, c => k.StorePart(c.At(r8), zero, c.Count, c.Tail));
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;

        int chunkVecs = heads * nb <= WholeBackwardBytes ? full : Math.Max(1, ChunkBytes / (heads * vb));
        int col0 = 0;
        do
        {
            int cols = Math.Min(chunkVecs, full - col0);
            bool last = col0 + cols >= full;
            TemporalPass(k, n, heads, hb, rb, col0, cols, last ? mask : null, accumulateForward: col0 > 0, updateLinks: fused && col0 == 0 ? sum : null);
            col0 += cols;
        }
        while (col0 < full);
        if (fused) UpdatePrecedence(k, n, WriteWeights, Precedence, sum);
    }

    /// <summary>
    /// One pass over the rows for column vectors col0..col0+cols−1 (plus the tail): each row group serves all heads,
    /// <paramref name="hb"/> at a time, its rows read again from L1 for each block of heads. With
    /// <paramref name="updateLinks"/> (the Σw cell), each row group is first link-updated in place.
    /// </summary>
    private static void TemporalPass(KernelAssembler k, int n, int heads, int hb, int rb, int col0, int cols, TailMask? tail, bool accumulateForward, AssemblerMemoryOperand? updateLinks)
    {
        var a = k.Asm;
        int vb = k.VectorBytes, nb = n * 4;

        void Group(int rows)
        {
            if (updateLinks is { } sum)
                for (int r = 0; r < rows; r++)
                {
                    a.lea(LinkRowPtr, __[rax + r * nb]);
                    LinkRow(k, n, LinkRowPtr, __dword_ptr[WriteWeights + r9 + r * 4], __dword_ptr[LinkRowPtr + r9 + r * 4], WriteWeights, Precedence, sum);
                }
            for (int h0 = 0; h0 < heads; h0 += hb) HeadBlock(rows, h0, Math.Min(hb, heads - h0));
        }

        void HeadBlock(int rows, int h0, int hc)
        {
            Vec Fwd(int r, int h) => new(r * hc + h);
            Vec Bc(int r, int h) => new(rb * hc + r * hc + h);
            Vec Row(int r) => new(2 * rb * hc + r);
            var wv = new Vec(2 * rb * hc + rb);
            var bv = new Vec(2 * rb * hc + rb + 1);
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++)
                {
                    k.Zero(Fwd(r, h));
                    k.Broadcast(Bc(r, h), __dword_ptr[rdx + r9 + ((h0 + h) * nb + r * 4)]);
                }
            void Column(AssemblerRegister64? index, int disp, TailMask? t)
            {
                AssemblerMemoryOperand At(AssemblerRegister64 b, int off) => index is { } i ? __[b + i + (off + disp)] : __[b + (off + disp)];
                int count = t is { } m ? m.Count : k.Lanes;
                for (int r = 0; r < rows; r++) k.LoadPart(Row(r), At(rax, r * nb), count, t);
                for (int h = 0; h < hc; h++)
                {
                    k.LoadPart(wv, At(rdx, (h0 + h) * nb), count, t);
                    for (int r = 0; r < rows; r++) k.FmaAcc(Fwd(r, h), Row(r), wv);
                    k.LoadPart(bv, At(r8, (h0 + h) * nb), count, t);
                    for (int r = 0; r < rows; r++) k.FmaAcc(bv, Bc(r, h), Row(r));
                    k.StorePart(At(r8, (h0 + h) * nb), bv, count, t);
                }
            }
            if (cols >= 2)
            {
                var loop = a.CreateLabel();
                a.mov(r10, col0 * vb);
                a.Label(ref loop);
                Column(r10, 0, null);
                a.add(r10, vb);
                a.cmp(r10, (col0 + cols) * vb);
                a.jb(loop);
            }
            else if (cols == 1) Column(null, col0 * vb, null);
            if (tail is { } tm) Column(null, (col0 + cols) * vb, tm);
            var tmp = new Vec(rows * hc);
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hc; h++)
                {
                    k.ReduceAdd(Fwd(r, h), tmp);
                    var at = __dword_ptr[rcx + r9 + ((h0 + h) * nb + r * 4)];
                    if (accumulateForward) a.vaddss(k.X(Fwd(r, h)), k.X(Fwd(r, h)), at);
                    a.vmovss(at, k.X(Fwd(r, h)));
                }
        }

        // rax = row pointer into L, r9 = byte offset of the group's first row in w and f.
        a.mov(rax, rsi);
        a.xor(r9d, r9d);
        int groups = n / rb, rest = n % rb;
        if (groups > 0)
        {
            var rows = a.CreateLabel();
            a.mov(r11d, groups);
            a.Label(ref rows);
            Group(rb);
            a.add(rax, rb * nb);
            a.add(r9, rb * 4);
            a.dec(r11d);
            a.jnz(rows);
        }
        if (rest > 0) Group(rest);
    }

    // ---- DncLinkUpdate ---------------------------------------------------------------------------------

    private static void EmitLinkUpdate(KernelAssembler k, int n)
    {
        if (n == 0) return;
        var a = k.Asm;
        var sum = SumOnStack(k);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // L, updated in place
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // p, read here, updated after L
        a.mov(r9, rsi);
        a.xor(eax, eax);
        var row = a.CreateLabel();
        a.Label(ref row);
        LinkRow(k, n, r9, __dword_ptr[rdx + rax * 4], __dword_ptr[r9 + rax * 4], rdx, rcx, sum);
        a.add(r9, n * 4);
        a.inc(rax);
        a.cmp(rax, n);
        a.jb(row);
        UpdatePrecedence(k, n, rdx, rcx, sum);
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
    /// v3 and v4.. (two per unrolled slot), the index r10, and the tail mask register.
    /// </summary>
    private static void LinkRow(KernelAssembler k, int n, AssemblerRegister64 row, AssemblerMemoryOperand wi, AssemblerMemoryOperand diagonal,
        AssemblerRegister64 w, AssemblerRegister64 p, AssemblerMemoryOperand sum)
    {
        var a = k.Asm;
        Vec keep = new(0), wiv = new(1), scalar = new(3);
        Vec T(int slot) => new(4 + 2 * slot);
        Vec U(int slot) => new(5 + 2 * slot);
        a.vmovss(k.X(scalar), wi);
        k.BroadcastLane0(wiv, scalar);
        a.vcvtss2sd(k.X(keep), k.X(keep), k.X(scalar));
        a.vaddsd(k.X(keep), k.X(keep), sum);               // Σw in double, in row order like the reference
        a.vmovsd(sum, k.X(keep));
        k.LoadConst(keep, 1f);
        k.Sub(keep, keep, wiv);                            // 1 − w_i, then − w_j: the reference's left-to-right order
        k.ForEachVector(n, k.IsAvx512 ? 4 : 2, r10, new Vec(k.VectorRegisters - 1), c =>
        {
            var t = T(c.Slot);
            var u = U(c.Slot);
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
    private static void UpdatePrecedence(KernelAssembler k, int n, AssemblerRegister64 w, AssemblerRegister64 p, AssemblerMemoryOperand sum)
    {
        var a = k.Asm;
        Vec keep = new(0), scalar = new(3);
        a.vmovsd(k.X(scalar), k.ConstDouble(1.0));
        a.vsubsd(k.X(scalar), k.X(scalar), sum);
        a.vcvtsd2ss(k.X(scalar), k.X(scalar), k.X(scalar));
        k.BroadcastLane0(keep, scalar);
        k.ForEachVector(n, k.IsAvx512 ? 4 : 2, r10, new Vec(k.VectorRegisters - 1), c =>
        {
            var t = new Vec(4 + 2 * c.Slot);
            var u = new Vec(5 + 2 * c.Slot);
            k.LoadPart(t, c.At(p), c.Count, c.Tail);
            k.Mul(t, keep, t);
            k.LoadPart(u, c.At(w), c.Count, c.Tail);
            k.Add(t, t, u);
            k.StorePart(c.At(p), t, c.Count, c.Tail);
        });
    }
}
