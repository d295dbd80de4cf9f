using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// DncInterface: squashes ξ section by section (<see cref="DncInterfaceLayout"/>), each a vector pass at its
/// offset: keys and the write vector copied, strengths 1 + softplus (<see cref="MathEmitter.Softplus"/>), erase and
/// gates the logistic sigmoid, and each head's three read modes a softmax in one masked 3-lane vector (a loop over
/// the heads). In place (A = C) works: every vector is loaded before it is stored.
/// </summary>
public sealed class DncInterfaceEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncInterface };

    private enum Squash { Copy, OnePlus, Sigmoid }

    public void Emit(KernelAssembler k, OpKey key)
    {
        int heads = key.Shape.M, width = key.Shape.N;
        var l = new DncInterfaceLayout(heads, width);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        Pass(k, l.ReadKeys, heads * width, Squash.Copy);
        Pass(k, l.ReadStrengths, heads, Squash.OnePlus);
        Pass(k, l.WriteKey, width, Squash.Copy);
        Pass(k, l.WriteStrength, 1, Squash.OnePlus);
        Pass(k, l.Erase, width, Squash.Sigmoid);
        Pass(k, l.WriteVector, width, Squash.Copy);
        Pass(k, l.FreeGates, heads + 2, Squash.Sigmoid);    // free gates, allocation gate, write gate
        ReadModes(k, l.ReadModes, heads);
    }

    private static void Pass(KernelAssembler k, int offset, int count, Squash squash)
    {
        if (count == 0) return;
        var a = k.Asm;
        a.lea(r8, __[rsi + offset * 4]);
        a.lea(r9, __[rcx + offset * 4]);
        Vec x = new(0), t1 = new(1), t2 = new(2), t3 = new(3), t4 = new(4);
        k.ForEachVector(count, 1, r10, new Vec(k.VectorRegisters - 1), c =>
        {
            k.LoadPart(x, c.At(r8), c.Count, c.Tail);
            if (squash == Squash.OnePlus)
            {
                MathEmitter.Softplus(k, x, t1, t2, t3, t4);
                k.Add(x, x, k.Const(1f));
            }
            else if (squash == Squash.Sigmoid) MathEmitter.Sigmoid(k, x, t1, t2);
            k.StorePart(c.At(r9), x, c.Count, c.Tail);
        });
    }

    /// <summary>softmax over each head's (backward, content, forward) triple: max-subtracted, in lanes 0..2 (the rest −∞ → 0).</summary>
    private static void ReadModes(KernelAssembler k, int offset, int heads)
    {
        if (heads == 0) return;
        var a = k.Asm;
        Vec x = new(0), m = new(1), t1 = new(2), t2 = new(3), s = new(4);
        var three = k.CreateTailMask(3, new Vec(k.VectorRegisters - 1));
        a.lea(r8, __[rsi + offset * 4]);
        a.lea(r9, __[rcx + offset * 4]);
        a.mov(r11d, heads);
        var head = a.CreateLabel();
        a.Label(ref head);
        k.LoadTail(x, __[r8], three, float.NegativeInfinity);
        k.Move(m, x);
        k.ReduceMax(m, t1);
        k.BroadcastLane0(m, m);
        k.Sub(x, x, m);
        MathEmitter.Exp(k, x, t1, t2);
        k.Move(s, x);
        k.ReduceAdd(s, t1);
        k.BroadcastLane0(s, s);
        k.Div(x, x, s);
        k.StoreTail(__[r9], x, three);
        a.add(r8, 12);
        a.add(r9, 12);
        a.dec(r11d);
        a.jnz(head);
    }
}
