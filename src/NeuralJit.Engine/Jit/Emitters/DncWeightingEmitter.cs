using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// The DNC's element-wise steps over slot vectors: DncUsage (retention ψ and usage), DncWriteWeighting and
/// DncReadWeighting. Each is one streaming pass with the reference's IEEE operations in its order (no FMA), so
/// the JIT matches the reference and the managed tier bit for bit. Unroll 4 on AVX-512, 2 on AVX2.
/// Registers: the broadcast constants first (from v0), then one block per unrolled slot, the AVX2 tail mask at the
/// top. Pointers by role in each op; the vector offset <c>Offset</c> (r10).
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

    private static readonly AssemblerRegister64 Offset = r10;

    private static int Unroll(KernelAssembler k) => k.IsAvx512 ? 4 : 2;

    /// <summary>One block of <paramref name="perSlot"/> registers per unrolled slot.</summary>
    private static Vec[][] SlotBlocks(KernelAssembler k, int perSlot, string roles) =>
        Enumerable.Range(0, Unroll(k)).Select(u => k.Registers.TakeBlock(perSlot, $"slot {u} {roles}")).ToArray();

    /// <summary>ψ = Π_i (1 − f_i·w^r_i), u = ((u + w^w) − u·w^w)·ψ, the heads multiplied in order.</summary>
    private static void EmitUsage(KernelAssembler k, int n, int heads)
    {
        if (n == 0) return;
        int nb = n * 4;
        AssemblerRegister64 freeGates = rsi, reads = rdx, write = r8, usage = rcx;
        var one = k.Registers.Take("1");
        var slots = SlotBlocks(k, 4, "(ψ, t, u, f)");
        var mask = k.Registers.TakeHighest("AVX2 tail mask");
        k.LoadPointer(freeGates, KernelArgs.Offsets.A);   // R
        k.LoadPointer(reads, KernelArgs.Offsets.B);       // previous read weightings (R×N)
        k.LoadPointer(write, KernelArgs.Offsets.D);       // previous write weighting (N)
        k.LoadPointer(usage, KernelArgs.Offsets.C);       // updated in place
        k.LoadConst(one, 1f);
        k.ForEachVector(n, Unroll(k), Offset, mask, c =>
        {
            var slot = slots[c.Slot];
            Vec psi = slot[0], t = slot[1], u = slot[2], f = slot[3];
            if (heads == 0) k.Move(psi, one);
            for (int i = 0; i < heads; i++)
            {
                k.Broadcast(f, __dword_ptr[freeGates + i * 4]);
                var at = c.Index is { } x ? __[reads + x + (i * nb + c.Displacement)] : __[reads + (i * nb + c.Displacement)];
                k.LoadPart(t, at, c.Count, c.Tail);
                k.Mul(t, f, t);
                k.Sub(t, one, t);
                if (i == 0) k.Move(psi, t);                 // 1·t = t: the reference's ψ = 1 starting value
                else k.Mul(psi, psi, t);
            }
            k.LoadPart(u, c.At(usage), c.Count, c.Tail);
            k.LoadPart(f, c.At(write), c.Count, c.Tail);
            k.Add(t, u, f);
            k.Mul(u, u, f);
            k.Sub(t, t, u);
            k.Mul(t, t, psi);
            k.StorePart(c.At(usage), t, c.Count, c.Tail);
        });
    }

    /// <summary>C = g^w·(g^a·a + (1 − g^a)·c).</summary>
    private static void EmitWriteWeighting(KernelAssembler k, int n)
    {
        if (n == 0) return;
        AssemblerRegister64 allocation = rsi, content = rdx, output = rcx;
        var regs = k.Registers;
        Vec ga = regs.Take("g^a"), gc = regs.Take("1 − g^a"), gw = regs.Take("g^w");
        var slots = SlotBlocks(k, 2, "(t, u)");
        var mask = regs.TakeHighest("AVX2 tail mask");
        k.LoadPointer(allocation, KernelArgs.Offsets.A);
        k.LoadPointer(content, KernelArgs.Offsets.B);
        k.LoadPointer(output, KernelArgs.Offsets.C);
        k.BroadcastField(ga, KernelArgs.Offsets.Alpha);
        k.BroadcastField(gw, KernelArgs.Offsets.Beta);
        k.LoadConst(gc, 1f);
        k.Sub(gc, gc, ga);
        k.ForEachVector(n, Unroll(k), Offset, mask, c =>
        {
            Vec t = slots[c.Slot][0], u = slots[c.Slot][1];
            k.LoadPart(t, c.At(allocation), c.Count, c.Tail);
            k.Mul(t, ga, t);
            k.LoadPart(u, c.At(content), c.Count, c.Tail);
            k.Mul(u, gc, u);
            k.Add(t, t, u);
            k.Mul(t, gw, t);
            k.StorePart(c.At(output), t, c.Count, c.Tail);
        });
    }

    /// <summary>w^r_h = π_h[0]·b_h + π_h[1]·c_h + π_h[2]·f_h, head after head (a loop over the heads).</summary>
    private static void EmitReadWeighting(KernelAssembler k, int n, int heads)
    {
        if (n == 0 || heads == 0) return;
        var a = k.Asm;
        int nb = n * 4;
        AssemblerRegister64 backward = rsi, content = rdx, forward = rcx, modes = r8, output = r9;
        AssemblerRegister32 headsLeft = r11d;
        var regs = k.Registers;
        Vec pb = regs.Take("π backward"), pc = regs.Take("π content"), pf = regs.Take("π forward");
        var slots = SlotBlocks(k, 2, "(t, u)");
        var mask = regs.TakeHighest("AVX2 tail mask");
        k.LoadPointer(backward, KernelArgs.Offsets.A);
        k.LoadPointer(content, KernelArgs.Offsets.B);
        k.LoadPointer(forward, KernelArgs.Offsets.C);
        k.LoadPointer(modes, KernelArgs.Offsets.D);    // R×3
        k.LoadPointer(output, KernelArgs.Offsets.E);
        a.mov(headsLeft, heads);
        var head = a.CreateLabel();
        a.Label(ref head);
        k.Broadcast(pb, __dword_ptr[modes]);
        k.Broadcast(pc, __dword_ptr[modes + 4]);
        k.Broadcast(pf, __dword_ptr[modes + 8]);
        k.ForEachVector(n, Unroll(k), Offset, mask, c =>
        {
            Vec t = slots[c.Slot][0], u = slots[c.Slot][1];
            k.LoadPart(t, c.At(backward), c.Count, c.Tail);
            k.Mul(t, pb, t);
            k.LoadPart(u, c.At(content), c.Count, c.Tail);
            k.Mul(u, pc, u);
            k.Add(t, t, u);
            k.LoadPart(u, c.At(forward), c.Count, c.Tail);
            k.Mul(u, pf, u);
            k.Add(t, t, u);
            k.StorePart(c.At(output), t, c.Count, c.Tail);
        });
        a.add(backward, nb);
        a.add(content, nb);
        a.add(forward, nb);
        a.add(output, nb);
        a.add(modes, 12);
        a.dec(headsLeft);
        a.jnz(head);
    }
}
