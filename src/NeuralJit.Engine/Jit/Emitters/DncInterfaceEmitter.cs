using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// DncInterface: squashes ξ section by section (<see cref="DncInterfaceLayout"/>), each a vector pass at its
/// offset: keys and the write vector copied, strengths 1 + softplus (<see cref="MathEmitter.Softplus"/>), erase and
/// gates the logistic sigmoid, and each head's three read modes a softmax in one masked 3-lane vector (a loop over
/// the heads). In place (A = C) works: the sections read a stack copy of ξ (<see cref="CopyToStack"/>), or, past
/// its size limit, every vector is loaded before it is stored.
/// Registers: each pass takes its value and temporaries from the bottom (v0..v4) and the AVX2 tail mask from the top,
/// and gives them back when it ends. Pointers: ξ <c>Raw</c> (rsi) and the output <c>Out</c> (rcx); a section's read and
/// write cursors <c>From</c>/<c>To</c> (r8/r9).
/// </summary>
public sealed class DncInterfaceEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncInterface };

    private enum Squash { Copy, OnePlus, Sigmoid }

    private static readonly AssemblerRegister64 Raw = rsi, Out = rcx, From = r8, To = r9, Offset = r10;
    private static readonly AssemblerRegister32 HeadsLeft = r11d;

    public void Emit(KernelAssembler k, OpKey key)
    {
        int heads = key.Shape.M, width = key.Shape.N;
        var l = new DncInterfaceLayout(heads, width);
        k.LoadPointer(Raw, KernelArgs.Offsets.A);
        k.LoadPointer(Out, KernelArgs.Offsets.C);
        CopyToStack(k, DncInterfaceLayout.SizeOf(heads, width));
        Pass(k, l.ReadKeys, heads * width, Squash.Copy);
        Pass(k, l.ReadStrengths, heads, Squash.OnePlus);
        Pass(k, l.WriteKey, width, Squash.Copy);
        Pass(k, l.WriteStrength, 1, Squash.OnePlus);
        Pass(k, l.Erase, width, Squash.Sigmoid);
        Pass(k, l.WriteVector, width, Squash.Copy);
        Pass(k, l.FreeGates, heads + 2, Squash.Sigmoid);    // free gates, allocation gate, write gate
        ReadModes(k, l.ReadModes, heads);
    }

    /// <summary>
    /// ξ above this many floats is read in place: its copy would need a frame past one page (a stack probe).
    /// </summary>
    private const int CopyMaxFloats = 768;

    /// <summary>
    /// ξ copied to the stack first, whole vectors, and every section read from the copy (Raw repointed): the model squashes
    /// ξ in place, and a section's load overlapping the vector an earlier section just stored (masked) cannot be
    /// forwarded, so it would wait for that section's whole exp/divide chain and serialise the sections.
    /// </summary>
    private static void CopyToStack(KernelAssembler k, int floats)
    {
        if (floats > CopyMaxFloats) return;
        var regs = k.Registers;
        using var copy = regs.Phase();
        Vec x = regs.Take("ξ vector");
        int at = k.AllocateStack((floats + k.Lanes - 1) / k.Lanes * k.VectorBytes);
        k.Asm.lea(From, __[rsp + at]);
        k.ForEachVector(floats, 4, Offset, regs.TakeHighest("AVX2 tail mask"), c =>
        {
            k.LoadPart(x, c.At(Raw), c.Count, c.Tail);
            k.StorePart(c.At(From), x, c.Count, c.Tail);
        });
        k.Asm.mov(Raw, From);
    }

    private static void Pass(KernelAssembler k, int offset, int count, Squash squash)
    {
        if (count == 0) return;
        var a = k.Asm;
        a.lea(From, __[Raw + offset * 4]);
        a.lea(To, __[Out + offset * 4]);
        var regs = k.Registers;
        using var pass = regs.Phase();
        Vec x = regs.Take("x"), t1 = regs.Take("t1"), t2 = regs.Take("t2"), t3 = regs.Take("t3"), t4 = regs.Take("t4");
        k.ForEachVector(count, 1, Offset, regs.TakeHighest("AVX2 tail mask"), c =>
        {
            k.LoadPart(x, c.At(From), c.Count, c.Tail);
            if (squash == Squash.OnePlus)
            {
                MathEmitter.Softplus(k, x, t1, t2, t3, t4);
                k.Add(x, x, k.Const(1f));
            }
            else if (squash == Squash.Sigmoid) MathEmitter.Sigmoid(k, x, t1, t2);
            k.StorePart(c.At(To), x, c.Count, c.Tail);
        });
    }

    /// <summary>
    /// softmax over each head's (backward, content, forward) triple: max-subtracted, in lanes 0..2 (the rest −∞ → 0).
    /// The max and the sum take two xmm steps instead of a whole-vector reduction (five steps on AVX-512): the same sums in
    /// the same order, each head's chain shorter. Against the whole-vector reductions (old ÷ new, one process, alternated,
    /// median of 31 rounds [10th–90th percentile], Xeon; the same bits): 2×16 AVX-512 1.095 [1.085–1.18], AVX2 1.036
    /// [1.009–1.14]; 4×64 1.13 / 1.05.
    /// </summary>
    private static void ReadModes(KernelAssembler k, int offset, int heads)
    {
        if (heads == 0) return;
        var a = k.Asm;
        var regs = k.Registers;
        using var modes = regs.Phase();
        Vec x = regs.Take("x"), m = regs.Take("max"), t1 = regs.Take("t1"), t2 = regs.Take("t2"), s = regs.Take("sum");
        var three = k.CreateTailMask(3, regs.TakeHighest("AVX2 3-lane mask"));
        a.lea(From, __[Raw + offset * 4]);
        a.lea(To, __[Out + offset * 4]);
        a.mov(HeadsLeft, heads);
        var head = a.CreateLabel();
        a.Label(ref head);
        k.LoadTail(x, __[From], three, float.NegativeInfinity);
        // The three lanes' max and sum in xmm (lanes 3.. are −∞, then 0): the last two steps of a full reduction, which
        // is all it adds that is not −∞ or 0, so the same values in fewer dependent steps.
        a.vmovshdup(k.X(t1), k.X(x));
        a.vmaxps(k.X(m), k.X(x), k.X(t1));                  // lane 0: max(x0, x1)
        a.vmovhlps(k.X(t1), k.X(t1), k.X(x));
        a.vmaxss(k.X(m), k.X(m), k.X(t1));                  // lane 0: max(x0, x1, x2)
        k.BroadcastLane0(m, m);
        k.Sub(x, x, m);
        // AVX-512: the 13 unused lanes go through exp as 0 and are cleared after it. exp(−∞) would underflow in
        // vscalefps, and every underflowing result costs a floating-point microcode assist.
        if (k.IsAvx512) a.vmovaps(k.ZK(x, three.Mask.K).z, k.Z(x));
        MathEmitter.Exp(k, x, t1, t2);
        if (k.IsAvx512) a.vmovaps(k.ZK(x, three.Mask.K).z, k.Z(x));
        a.vmovhlps(k.X(t1), k.X(t1), k.X(x));
        a.vaddps(k.X(s), k.X(x), k.X(t1));                  // [x0 + x2, x1 + 0]
        a.vmovshdup(k.X(t1), k.X(s));
        a.vaddss(k.X(s), k.X(s), k.X(t1));                  // (x0 + x2) + x1, as the full reduction adds them
        k.BroadcastLane0(s, s);
        k.Div(x, x, s);
        k.StoreTail(__[To], x, three);
        a.add(From, 12);
        a.add(To, 12);
        a.dec(HeadsLeft);
        a.jnz(head);
    }
}
