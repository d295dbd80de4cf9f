using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// The DNC ops over the N×W memory matrix.
/// <para><b>DncRead</b> (r_h = Mᵀ·w_h for every read head): one pass over M per column block, every head at once.
/// The block's R·J read vectors live in registers; each row broadcasts the R weights w_h[n] and loads its J
/// vectors once, R·J FMAs per row. J = (registers − R − 1)/R: W = 64 is one block on AVX-512 (R = 4: 16
/// accumulators), four on AVX2. Heads that do not fit (R &gt; 7 on AVX2) take several passes.</para>
/// <para><b>DncWrite</b> (erase then add) streams the rows once with the reference's operations in its order (no
/// FMA), so it matches bit for bit: M·(1 − w_i·e) + w_i·v.</para>
/// </summary>
public sealed class DncMemoryEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncRead, OpKind.DncWrite };

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        int ldBytes = s.StrideA(key.Op) * 4;
        if (key.Op == OpKind.DncRead) EmitRead(k, s.M, s.N, s.K, ldBytes);
        else EmitWrite(k, s.M, s.N, ldBytes);
    }

    /// <summary>Heads per pass and column vectors per block for a register budget (R·J accumulators + R broadcasts + one row vector).</summary>
    internal static (int Heads, int Vectors) ReadBlocking(int registers, int heads)
    {
        int h = Math.Max(1, Math.Min(heads, (registers - 1) / 2));
        return (h, Math.Max(1, (registers - 1 - h) / h));
    }

    private static void EmitRead(KernelAssembler k, int n, int w, int heads, int ldBytes)
    {
        if (w == 0 || heads == 0) return;
        var a = k.Asm;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4, wb = w * 4;
        int full = w / L, tail = w % L, vectors = full + (tail > 0 ? 1 : 0);
        var maskVec = new Vec(k.VectorRegisters - 1);
        int budget = k.VectorRegisters - (!k.IsAvx512 && tail > 0 ? 1 : 0);
        var (hb, jb) = ReadBlocking(budget, heads);

        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // memory
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w (R×N)
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // r (R×W)
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;

        for (int h0 = 0; h0 < heads; h0 += hb)
        {
            int hc = Math.Min(hb, heads - h0);
            for (int v0 = 0; v0 < vectors; v0 += jb)
            {
                int vc = Math.Min(jb, vectors - v0);
                Vec Acc(int h, int v) => new(h * vc + v);
                Vec Bc(int h) => new(hc * vc + h);
                var row = new Vec(hc * vc + hc);
                int Count(int v) => v0 + v < full ? L : tail;
                TailMask? Mask(int v) => v0 + v < full ? null : mask;
                for (int h = 0; h < hc; h++)
                    for (int v = 0; v < vc; v++) k.Zero(Acc(h, v));
                if (n > 0)
                {
                    // r9 = row pointer, rax = byte offset of the row's weight in each head.
                    a.mov(r9, rsi);
                    a.xor(eax, eax);
                    var rows = a.CreateLabel();
                    a.Label(ref rows);
                    for (int h = 0; h < hc; h++) k.Broadcast(Bc(h), __dword_ptr[rdx + rax + (h0 + h) * nb]);
                    for (int v = 0; v < vc; v++)
                    {
                        k.LoadPart(row, __[r9 + (v0 + v) * vb], Count(v), Mask(v));
                        for (int h = 0; h < hc; h++) k.FmaAcc(Acc(h, v), Bc(h), row);
                    }
                    a.add(r9, ldBytes);
                    a.add(rax, 4);
                    a.cmp(rax, nb);
                    a.jb(rows);
                }
                for (int h = 0; h < hc; h++)
                    for (int v = 0; v < vc; v++) k.StorePart(__[rcx + ((h0 + h) * wb + (v0 + v) * vb)], Acc(h, v), Count(v), Mask(v));
            }
        }
    }

    private static void EmitWrite(KernelAssembler k, int n, int w, int ldBytes)
    {
        if (n == 0 || w == 0) return;
        var a = k.Asm;
        var maskVec = new Vec(k.VectorRegisters - 1);
        Vec wi = new(0), one = new(1);
        Vec T(int slot) => new(2 + 2 * slot);
        Vec U(int slot) => new(3 + 2 * slot);
        int unroll = k.IsAvx512 ? 4 : 2;

        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // memory, updated in place
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w (N)
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // erase (W)
        k.LoadPointer(r8, KernelArgs.Offsets.D);    // write vector (W)
        k.LoadConst(one, 1f);
        a.mov(r9, rsi);
        a.xor(eax, eax);
        var row = a.CreateLabel();
        a.Label(ref row);
        k.Broadcast(wi, __dword_ptr[rdx + rax * 4]);
        k.ForEachVector(w, unroll, r10, maskVec, c =>
        {
            var t = T(c.Slot);
            var u = U(c.Slot);
            k.LoadPart(t, c.At(rcx), c.Count, c.Tail);
            k.Mul(t, wi, t);
            k.Sub(t, one, t);                               // 1 − w_i·e_j
            k.LoadPart(u, c.At(r9), c.Count, c.Tail);
            k.Mul(t, u, t);
            k.LoadPart(u, c.At(r8), c.Count, c.Tail);
            k.Mul(u, wi, u);
            k.Add(t, t, u);
            k.StorePart(c.At(r9), t, c.Count, c.Tail);
        });
        a.add(r9, ldBytes);
        a.inc(rax);
        a.cmp(rax, n);
        a.jb(row);
    }
}
