using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// Element-wise ops over M floats: Sigmoid, Tanh, Relu, Softsign (C = f(A)), Add, Mul (C = A ∘ B) and
/// Axpy (C += Alpha·A). Loop count and tail are constants of the shape; each unrolled slot owns its own
/// registers (value + the math temporaries), so the out-of-order core overlaps the slots' dependency
/// chains. Unroll: 4 slots on AVX-512 (32 registers), 2 on AVX2 (16, one kept for the tail mask); 2 for the
/// transcendental bodies on both.
/// Output may alias input exactly: every vector is loaded before it is stored.
/// </summary>
public sealed class ElementwiseEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.Sigmoid, OpKind.Tanh, OpKind.Relu, OpKind.Softsign, OpKind.Add, OpKind.Mul, OpKind.Axpy };

    public void Emit(KernelAssembler k, OpKey key)
    {
        int n = key.Shape.M;
        if (n == 0) return;
        var op = key.Op;
        AssemblerRegister64 a = rsi, b = rdx, c = rcx, offset = rax;
        k.LoadPointer(a, KernelArgs.Offsets.A);
        if (key.Spec.Operand(OperandField.B) is not null) k.LoadPointer(b, KernelArgs.Offsets.B);
        k.LoadPointer(c, KernelArgs.Offsets.C);

        int perSlot = op switch { OpKind.Tanh => 1 + MathEmitter.TanhTemps, OpKind.Sigmoid => 1 + MathEmitter.SigmoidTemps, _ => 2 };
        var regs = k.Registers;
        var mask = regs.TakeHighest("AVX2 tail mask");
        var shared = regs.TakeHighest("zero (Relu) or Alpha (Axpy)");
        // Transcendental bodies are ~20–40 instructions: two slots already overlap well out of order, and a loop of
        // two keeps the code (and Iced's encode time, ~0.3 µs per instruction) small; cheap bodies unroll 4.
        int wanted = op is OpKind.Sigmoid or OpKind.Tanh ? 2 : k.IsAvx512 ? 4 : 2;
        int unroll = Math.Max(1, Math.Min(wanted, regs.Free / perSlot));
        // Each slot: its value, then the math temporaries.
        var slots = Enumerable.Range(0, unroll).Select(u => regs.TakeBlock(perSlot, $"slot {u}")).ToArray();
        if (op == OpKind.Relu) k.Zero(shared);
        if (op == OpKind.Axpy) k.BroadcastField(shared, KernelArgs.Offsets.Alpha);

        k.ForEachVector(n, unroll, offset, mask, at =>
        {
            var slot = slots[at.Slot];
            var v = slot[0];
            Vec T(int i) => slot[i];
            switch (op)
            {
                case OpKind.Sigmoid:
                    k.LoadPart(v, at.At(a), at.Count, at.Tail);
                    MathEmitter.Sigmoid(k, v, T(1), T(2));
                    break;
                case OpKind.Tanh:
                    k.LoadPart(v, at.At(a), at.Count, at.Tail);
                    MathEmitter.Tanh(k, v, T(1), T(2), T(3), T(4));
                    break;
                case OpKind.Relu:
                    k.LoadPart(v, at.At(a), at.Count, at.Tail);
                    k.Max(v, shared, v);                          // NaN → the second source: NaN stays NaN
                    break;
                case OpKind.Softsign:
                    k.LoadPart(v, at.At(a), at.Count, at.Tail);
                    k.And(T(1), v, k.ConstBits(MathEmitter.AbsMask));
                    k.Add(T(1), T(1), k.Const(1f));
                    k.Div(v, v, T(1));                             // x/(1+|x|), the reference's exact operations
                    break;
                case OpKind.Add or OpKind.Mul:
                    k.LoadPart(v, at.At(a), at.Count, at.Tail);
                    k.LoadPart(T(1), at.At(b), at.Count, at.Tail);
                    if (op == OpKind.Add) k.Add(v, v, T(1)); else k.Mul(v, v, T(1));
                    break;
                case OpKind.Axpy:
                    k.LoadPart(v, at.At(c), at.Count, at.Tail);
                    k.LoadPart(T(1), at.At(a), at.Count, at.Tail);
                    k.FmaAcc(v, T(1), shared);                     // fused: one rounding instead of two
                    break;
            }
            k.StorePart(at.At(c), v, at.Count, at.Tail);
        });
    }
}
