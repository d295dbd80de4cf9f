using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// The two DNC ops over the N×N temporal link matrix L.
/// <para><b>DncTemporal</b> (f_h = L·w_h, b_h = Lᵀ·w_h for every read head h) reads L once: a group of Rb rows is
/// loaded a vector at a time and serves both products, the forward dot products in Rb·R register accumulators
/// (reduced once per row group) and the backward sums as b_h[j] += Σ_r w_h[n+r]·L[n+r, j] against the L1-resident
/// b (R·N floats). Rb and the heads per pass come from the register budget (forward accumulators + broadcast
/// weights + rows ≤ 16 ymm or 32 zmm); a head count that does not fit takes several passes. When b outgrows
/// L1 (R·N·4 &gt; 24 KiB, N &gt; 1536 at R = 4) the columns are cut in chunks whose b fits, and the forward sums add
/// up over the chunks.</para>
/// <para><b>DncLinkUpdate</b> is one streaming pass over L with the reference's operations in its order (no FMA),
/// so it matches bit for bit: (1 − w_i − w_j)·L + w_i·p_j, the diagonal zeroed after its row, Σw summed in double
/// in row order inside the same loop (its latency hides under the row's vector work), then p updated.</para>
/// </summary>
public sealed class DncLinkEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncLinkUpdate, OpKind.DncTemporal };

    /// <summary>b (R·N floats) kept whole while it fits this many bytes; above, the columns are chunked to <see cref="ChunkBytes"/>.</summary>
    private const int WholeBackwardBytes = 24 * 1024, ChunkBytes = 16 * 1024;

    public void Emit(KernelAssembler k, OpKey key)
    {
        if (key.Op == OpKind.DncLinkUpdate) EmitLinkUpdate(k, key.Shape.M);
        else EmitTemporal(k, key.Shape.M, key.Shape.N);
    }

    // ---- DncTemporal -----------------------------------------------------------------------------------

    /// <summary>Rows per group and heads per pass that fit the register budget (Rb·H forward + Rb·H broadcasts + Rb rows + w + b).</summary>
    internal static (int Rows, int Heads) Blocking(int registers, int heads)
    {
        int h = Math.Max(1, Math.Min(Math.Min(heads, 15), (registers - 3) / 2));
        int rows = 1;
        // rows·h ≤ 15 keeps a VEX-encodable register (< 16) free for the forward sums' reduction.
        while (rows < 4 && (rows + 1) * (2 * h + 1) + 2 <= registers && (rows + 1) * h <= 15) rows++;
        return (rows, h);
    }

    private static void EmitTemporal(KernelAssembler k, int n, int heads)
    {
        if (n == 0 || heads == 0) return;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4;
        int full = n / L, tail = n % L;
        var maskVec = new Vec(k.VectorRegisters - 1);
        int budget = k.VectorRegisters - (!k.IsAvx512 && tail > 0 ? 1 : 0);
        var (rb, hb) = Blocking(budget, heads);

        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // L
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w (R×N)
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // forward
        k.LoadPointer(r8, KernelArgs.Offsets.D);    // backward

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
            for (int h0 = 0; h0 < heads; h0 += hb)
                TemporalPass(k, n, Math.Min(hb, heads - h0), h0, rb, col0, cols, last ? mask : null, accumulateForward: col0 > 0);
            col0 += cols;
        }
        while (col0 < full);
    }

    /// <summary>One pass over the rows for heads h0..h0+hc−1 and column vectors col0..col0+cols−1 (plus the tail).</summary>
    private static void TemporalPass(KernelAssembler k, int n, int hc, int h0, int rb, int col0, int cols, TailMask? tail, bool accumulateForward)
    {
        var a = k.Asm;
        int vb = k.VectorBytes, nb = n * 4;
        Vec Fwd(int r, int h) => new(r * hc + h);
        Vec Bc(int r, int h) => new(rb * hc + r * hc + h);
        Vec Row(int r) => new(2 * rb * hc + r);
        var wv = new Vec(2 * rb * hc + rb);
        var bv = new Vec(2 * rb * hc + rb + 1);

        void Group(int rows)
        {
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
        int nb = n * 4;
        var maskVec = new Vec(k.VectorRegisters - 1);
        Vec keep = new(0), wi = new(1), sum = new(2), scalar = new(3);
        Vec T(int slot) => new(4 + 2 * slot);
        Vec U(int slot) => new(5 + 2 * slot);
        int unroll = k.IsAvx512 ? 4 : 2;

        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // L, updated in place
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // p, read here, updated after L
        a.vxorpd(k.X(sum), k.X(sum), k.X(sum));
        a.mov(r9, rsi);
        a.xor(eax, eax);
        var row = a.CreateLabel();
        a.Label(ref row);
        a.vmovss(k.X(scalar), __dword_ptr[rdx + rax * 4]);
        k.BroadcastLane0(wi, scalar);
        a.vcvtss2sd(k.X(keep), k.X(keep), k.X(scalar));
        a.vaddsd(k.X(sum), k.X(sum), k.X(keep));          // Σw in double, in row order like the reference
        k.LoadConst(keep, 1f);
        k.Sub(keep, keep, wi);                             // 1 − w_i, then − w_j: the reference's left-to-right order
        k.ForEachVector(n, unroll, r10, maskVec, c =>
        {
            var t = T(c.Slot);
            var u = U(c.Slot);
            k.LoadPart(u, c.At(rdx), c.Count, c.Tail);
            k.Sub(t, keep, u);
            k.LoadPart(u, c.At(r9), c.Count, c.Tail);
            k.Mul(t, t, u);
            k.LoadPart(u, c.At(rcx), c.Count, c.Tail);
            k.Mul(u, wi, u);
            k.Add(t, t, u);
            k.StorePart(c.At(r9), t, c.Count, c.Tail);
        });
        a.mov(__dword_ptr[r9 + rax * 4], 0);               // L[i, i] = 0
        a.add(r9, nb);
        a.inc(rax);
        a.cmp(rax, n);
        a.jb(row);

        // p = (1 − Σw)·p + w, with 1 − Σw in double rounded to float once.
        a.vmovsd(k.X(scalar), k.ConstDouble(1.0));
        a.vsubsd(k.X(scalar), k.X(scalar), k.X(sum));
        a.vcvtsd2ss(k.X(scalar), k.X(scalar), k.X(scalar));
        k.BroadcastLane0(keep, scalar);
        k.ForEachVector(n, unroll, r10, maskVec, c =>
        {
            var t = T(c.Slot);
            var u = U(c.Slot);
            k.LoadPart(t, c.At(rcx), c.Count, c.Tail);
            k.Mul(t, keep, t);
            k.LoadPart(u, c.At(rdx), c.Count, c.Tail);
            k.Add(t, t, u);
            k.StorePart(c.At(rcx), t, c.Count, c.Tail);
        });
    }
}
