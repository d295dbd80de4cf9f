using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// The DNC's element-wise steps over slot vectors: DncUsage (retention ψ and usage), DncWriteWeighting and
/// DncReadWeighting. Each is one streaming pass with the reference's IEEE operations in its order (no FMA), so
/// the JIT matches the reference and the managed tier bit for bit. Unroll 4 on AVX-512, 2 on AVX2.
/// </summary>
public sealed class DncWeightingEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncUsage, OpKind.DncWriteWeighting, OpKind.DncReadWeighting };

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        switch (key.Op)
        {
            case OpKind.DncUsage: EmitUsage(k, s.M, s.N); break;
            case OpKind.DncWriteWeighting: EmitWriteWeighting(k, s.M); break;
            default: EmitReadWeighting(k, s.M, s.N); break;
        }
    }

    private static int Unroll(KernelAssembler k) => k.IsAvx512 ? 4 : 2;
    private static Vec MaskVec(KernelAssembler k) => new(k.VectorRegisters - 1);

    /// <summary>ψ = Π_i (1 − f_i·w^r_i), u = ((u + w^w) − u·w^w)·ψ, the heads multiplied in order.</summary>
    private static void EmitUsage(KernelAssembler k, int n, int heads)
    {
        if (n == 0) return;
        int nb = n * 4;
        Vec one = new(0);
        Vec Psi(int slot) => new(1 + 4 * slot);
        Vec T(int slot) => new(2 + 4 * slot);
        Vec U(int slot) => new(3 + 4 * slot);
        Vec F(int slot) => new(4 + 4 * slot);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // free gates (R)
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // previous read weightings (R×N)
        k.LoadPointer(r8, KernelArgs.Offsets.D);    // previous write weighting (N)
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // usage, updated in place
        k.LoadConst(one, 1f);
        k.ForEachVector(n, Unroll(k), r10, MaskVec(k), c =>
        {
            Vec psi = Psi(c.Slot), t = T(c.Slot), u = U(c.Slot), f = F(c.Slot);
            if (heads == 0) k.Move(psi, one);
            for (int i = 0; i < heads; i++)
            {
                k.Broadcast(f, __dword_ptr[rsi + i * 4]);
                var at = c.Index is { } x ? __[rdx + x + (i * nb + c.Displacement)] : __[rdx + (i * nb + c.Displacement)];
                k.LoadPart(t, at, c.Count, c.Tail);
                k.Mul(t, f, t);
                k.Sub(t, one, t);
                if (i == 0) k.Move(psi, t);                 // 1·t = t: the reference's ψ = 1 starting value
                else k.Mul(psi, psi, t);
            }
            k.LoadPart(u, c.At(rcx), c.Count, c.Tail);
            k.LoadPart(f, c.At(r8), c.Count, c.Tail);
            k.Add(t, u, f);
            k.Mul(u, u, f);
            k.Sub(t, t, u);
            k.Mul(t, t, psi);
            k.StorePart(c.At(rcx), t, c.Count, c.Tail);
        });
    }

    /// <summary>C = g^w·(g^a·a + (1 − g^a)·c).</summary>
    private static void EmitWriteWeighting(KernelAssembler k, int n)
    {
        if (n == 0) return;
        Vec ga = new(0), gc = new(1), gw = new(2);
        Vec T(int slot) => new(3 + 2 * slot);
        Vec U(int slot) => new(4 + 2 * slot);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(rdx, KernelArgs.Offsets.B);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        k.BroadcastField(ga, KernelArgs.Offsets.Alpha);
        k.BroadcastField(gw, KernelArgs.Offsets.Beta);
        k.LoadConst(gc, 1f);
        k.Sub(gc, gc, ga);
        k.ForEachVector(n, Unroll(k), r10, MaskVec(k), c =>
        {
            Vec t = T(c.Slot), u = U(c.Slot);
            k.LoadPart(t, c.At(rsi), c.Count, c.Tail);
            k.Mul(t, ga, t);
            k.LoadPart(u, c.At(rdx), c.Count, c.Tail);
            k.Mul(u, gc, u);
            k.Add(t, t, u);
            k.Mul(t, gw, t);
            k.StorePart(c.At(rcx), t, c.Count, c.Tail);
        });
    }

    /// <summary>w^r_h = π_h[0]·b_h + π_h[1]·c_h + π_h[2]·f_h, head after head (a loop over the heads).</summary>
    private static void EmitReadWeighting(KernelAssembler k, int n, int heads)
    {
        if (n == 0 || heads == 0) return;
        var a = k.Asm;
        int nb = n * 4;
        Vec pb = new(0), pc = new(1), pf = new(2);
        Vec T(int slot) => new(3 + 2 * slot);
        Vec U(int slot) => new(4 + 2 * slot);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // backward
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // content
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // forward
        k.LoadPointer(r8, KernelArgs.Offsets.D);    // read modes (R×3)
        k.LoadPointer(r9, KernelArgs.Offsets.E);    // output
        a.mov(r11d, heads);
        var head = a.CreateLabel();
        a.Label(ref head);
        k.Broadcast(pb, __dword_ptr[r8]);
        k.Broadcast(pc, __dword_ptr[r8 + 4]);
        k.Broadcast(pf, __dword_ptr[r8 + 8]);
        k.ForEachVector(n, Unroll(k), r10, MaskVec(k), c =>
        {
            Vec t = T(c.Slot), u = U(c.Slot);
            k.LoadPart(t, c.At(rsi), c.Count, c.Tail);
            k.Mul(t, pb, t);
            k.LoadPart(u, c.At(rdx), c.Count, c.Tail);
            k.Mul(u, pc, u);
            k.Add(t, t, u);
            k.LoadPart(u, c.At(rcx), c.Count, c.Tail);
            k.Mul(u, pf, u);
            k.Add(t, t, u);
            k.StorePart(c.At(r9), t, c.Count, c.Tail);
        });
        a.add(rsi, nb);
        a.add(rdx, nb);
        a.add(rcx, nb);
        a.add(r9, nb);
        a.add(r8, 12);
        a.dec(r11d);
        a.jnz(head);
    }
}
