using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// Reductions over M floats: Dot (Result = Σ AᵢBᵢ), Softmax (C = softmax(A), max-subtracted) and
/// EwcPenalty (Result = Alpha/2 · Σ Cᵢ(Aᵢ − Bᵢ)² over M·max(1,N) parameters). Several accumulators hide
/// the add/FMA latency (4 slots: enough to cover 4-cycle FMA latency at 2 FMAs per cycle on Zen 5).
/// </summary>
public sealed class ReductionEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.Dot, OpKind.Softmax, OpKind.EwcPenalty };

    public void Emit(KernelAssembler k, OpKey key)
    {
        switch (key.Op)
        {
            case OpKind.Dot: EmitDot(k, key.Shape.M); break;
            case OpKind.Softmax:
                if (key.Shape.M == 0) return;
                k.LoadPointer(rsi, KernelArgs.Offsets.A);
                k.LoadPointer(rcx, KernelArgs.Offsets.C);
                EmitSoftmax(k, rsi, rcx, key.Shape.M, scale: null);
                break;
            case OpKind.EwcPenalty: EmitEwc(k, checked(key.Shape.M * Math.Max(1, key.Shape.N))); break;
        }
    }

    private static Vec MaskVec(KernelAssembler k) => new(k.VectorRegisters - 1);

    /// <summary>Float accumulation in 4 interleaved partial sums (the reference sums left to right: results differ by rounding only).</summary>
    private static void EmitDot(KernelAssembler k, int n)
    {
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(rdx, KernelArgs.Offsets.B);
        for (int s = 0; s < 4; s++) k.Zero(new Vec(s));
        k.ForEachVector(n, 4, rax, MaskVec(k), c =>
        {
            var acc = new Vec(c.Slot);
            var x = new Vec(4 + c.Slot);
            k.LoadPart(x, c.At(rsi), c.Count, c.Tail);
            if (c.IsTail) { var y = new Vec(8); k.LoadTail(y, c.At(rdx), c.Tail!.Value); k.FmaAcc(acc, x, y); }
            else k.FmaAcc(acc, x, c.At(rdx));
        });
        Vec v0 = new(0), v1 = new(1), v2 = new(2), v3 = new(3);
        k.Add(v0, v0, v1); k.Add(v2, v2, v3); k.Add(v0, v0, v2);
        k.ReduceAdd(v0, v1);
        k.Asm.vcvtss2sd(k.X(v0), k.X(v0), k.X(v0));
        k.Asm.vmovsd(__qword_ptr[k.Args + KernelArgs.Offsets.Result], k.X(v0));
    }

    /// <summary>
    /// dst[0..n) = softmax(scale · src[0..n)), in three passes (max; exp and sum; divide). src may equal dst.
    /// <paramref name="scale"/> (optional) is applied as a separate multiply, rounding exactly like the reference's
    /// "output *= strength" before its softmax. Uses rax, vector registers 0..17 (AVX-512) / 0..9 + the mask (AVX2).
    /// NaN anywhere makes the sum NaN and so every output NaN, as in the reference.
    /// </summary>
    internal static void EmitSoftmax(KernelAssembler k, AssemblerRegister64 src, AssemblerRegister64 dst, int n, Vec? scale, Vec? knownMaxLane0 = null)
    {
        int unroll = k.IsAvx512 ? 4 : 2;
        var mask = MaskVec(k);
        Vec m = new(unroll * 4), sum = new(unroll * 4 + 1);
        Vec Acc(int s) => new(unroll * 3 + s);

        if (knownMaxLane0 is { } known) k.BroadcastLane0(m, known);
        else EmitMax(k, src, n, scale, unroll, mask, m);


        // Pass 2: e = exp(x − max), stored, and summed (tail lanes: exp(−∞) = 0).
        for (int s = 0; s < unroll; s++) k.Zero(Acc(s));
        k.ForEachVector(n, unroll, rax, mask, c =>
        {
            var x = new Vec(c.Slot * 3);
            if (c.IsTail) k.LoadTail(x, c.At(src), c.Tail!.Value, float.NegativeInfinity); else k.Load(x, c.At(src));
            if (scale is { } b) k.Mul(x, x, b);
            k.Sub(x, x, m);
            MathEmitter.Exp(k, x, new Vec(c.Slot * 3 + 1), new Vec(c.Slot * 3 + 2));
            k.StorePart(c.At(dst), x, c.Count, c.Tail);
            k.Add(Acc(c.Slot), Acc(c.Slot), x);
        });
        for (int s = 1; s < unroll; s++) k.Add(Acc(0), Acc(0), Acc(s));
        k.ReduceAdd(Acc(0), new Vec(0));
        k.BroadcastLane0(sum, Acc(0));

        // Pass 3: divide (as the reference does; a reciprocal multiply would be off by an ulp).
        k.ForEachVector(n, unroll, rax, mask, c =>
        {
            var x = new Vec(c.Slot * 3);
            k.LoadPart(x, c.At(dst), c.Count, c.Tail);
            k.Div(x, x, sum);
            k.StorePart(c.At(dst), x, c.Count, c.Tail);
        });
    }

    /// <summary>Pass 1 of softmax: m = max over src (tail lanes filled with −∞), broadcast.</summary>
    private static void EmitMax(KernelAssembler k, AssemblerRegister64 src, int n, Vec? scale, int unroll, Vec mask, Vec m)
    {
        Vec Acc(int s) => new(unroll * 3 + s);
        k.LoadConst(Acc(0), float.NegativeInfinity);
        for (int s = 1; s < unroll; s++) k.Move(Acc(s), Acc(0));
        k.ForEachVector(n, unroll, rax, mask, c =>
        {
            var x = new Vec(c.Slot * 3);
            if (c.IsTail) k.LoadTail(x, c.At(src), c.Tail!.Value, float.NegativeInfinity); else k.Load(x, c.At(src));
            if (scale is { } b) k.Mul(x, x, b);
            k.Max(Acc(c.Slot), Acc(c.Slot), x);
        });
        for (int s = 1; s < unroll; s++) k.Max(Acc(0), Acc(0), Acc(s));
        k.ReduceMax(Acc(0), new Vec(0));
        k.BroadcastLane0(m, Acc(0));
    }

    /// <summary>
    /// EWC in float partial sums flushed to double: per 16-lane (8 on AVX2) vector the term Fᵢ·dᵢ² is formed
    /// in float (d = θ − θ* one rounding, d² one, the FMA into the partial sum one); each of 4 accumulators
    /// takes 8 vectors, then the 4 are added pairwise and flushed into two double accumulators (vcvtps2pd,
    /// exact). Error: at most ~13 float roundings per term, i.e. |error| ≤ 13·2^-24 ≈ 7.7e-7 · λ/2·Σ|Fᵢ|dᵢ²
    /// (relative to the result when Fisher values are non-negative, as they are); the double sum adds
    /// nothing measurable. Streaming three arrays, it runs at load bandwidth, not FMA throughput.
    /// </summary>
    private static void EmitEwc(KernelAssembler k, int n)
    {
        var a = k.Asm;
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(rdx, KernelArgs.Offsets.B);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        Vec D0 = new(12), D1 = new(13), T = new(14);
        Vec F(int s) => new(s);
        Vec Dv(int s) => new(4 + s);
        Vec Tv(int s) => new(8 + s);
        k.Zero(D0); k.Zero(D1);
        int L = k.Lanes, vb = k.VectorBytes;
        int full = n / L, tail = n % L;
        const int perGroup = 32;              // 4 accumulators × 8 vectors between flushes
        int groups = full / perGroup, rest = full % perGroup;
        a.xor(rax, rax);

        void Body(Cursor c)
        {
            int s = c.Slot;
            k.LoadPart(Dv(s), c.At(rsi), c.Count, c.Tail);
            if (c.IsTail) { k.LoadTail(Tv(s), c.At(rdx), c.Tail!.Value); k.Sub(Dv(s), Dv(s), Tv(s)); }
            else k.Sub(Dv(s), Dv(s), c.At(rdx));
            k.Mul(Dv(s), Dv(s), Dv(s));
            if (c.IsTail) { k.LoadTail(Tv(s), c.At(rcx), c.Tail!.Value); k.FmaAcc(F(s), Dv(s), Tv(s)); }
            else k.FmaAcc(F(s), Dv(s), c.At(rcx));
        }

        void ZeroAccumulators() { for (int s = 0; s < 4; s++) k.Zero(F(s)); }

        void Flush()
        {
            k.Add(F(0), F(0), F(1)); k.Add(F(2), F(2), F(3)); k.Add(F(0), F(0), F(2));
            if (k.IsAvx512)
            {
                a.vcvtps2pd(k.Z(T), k.Y(F(0))); a.vaddpd(k.Z(D0), k.Z(D0), k.Z(T));
                a.vextractf32x8(k.Y(T), k.Z(F(0)), 1);
                a.vcvtps2pd(k.Z(T), k.Y(T)); a.vaddpd(k.Z(D1), k.Z(D1), k.Z(T));
            }
            else
            {
                a.vcvtps2pd(k.Y(T), k.X(F(0))); a.vaddpd(k.Y(D0), k.Y(D0), k.Y(T));
                a.vextractf128(k.X(T), k.Y(F(0)), 1);
                a.vcvtps2pd(k.Y(T), k.X(T)); a.vaddpd(k.Y(D1), k.Y(D1), k.Y(T));
            }
        }

        // A loop of `iterations` × 4 vectors from the current rax, counter in `counter`.
        void Inner(int iterations, AssemblerRegister32 counter)
        {
            if (iterations <= 0) return;
            if (iterations == 1) { for (int u = 0; u < 4; u++) Body(new Cursor(rax, u * vb, L, null, u)); a.add(rax, 4 * vb); return; }
            var loop = a.CreateLabel();
            a.mov(counter, iterations);
            a.Label(ref loop);
            for (int u = 0; u < 4; u++) Body(new Cursor(rax, u * vb, L, null, u));
            a.add(rax, 4 * vb);
            a.dec(counter);
            a.jnz(loop);
        }

        if (groups > 0)
        {
            var outer = a.CreateLabel();
            a.mov(r8d, groups);
            a.Label(ref outer);
            ZeroAccumulators();
            Inner(perGroup / 4, r9d);
            Flush();
            a.dec(r8d);
            a.jnz(outer);
        }
        if (rest > 0 || tail > 0)
        {
            ZeroAccumulators();
            Inner(rest / 4, r9d);
            for (int u = 0; u < rest % 4; u++) Body(new Cursor(rax, u * vb, L, null, u));
            if (tail > 0)
            {
                var mask = k.CreateTailMask(tail, MaskVec(k));
                Body(new Cursor(rax, (rest % 4) * vb, tail, mask, 0));
            }
            Flush();
        }

        // Horizontal double sum, then λ/2 · sum exactly as the reference (double).
        if (k.IsAvx512)
        {
            a.vaddpd(k.Z(D0), k.Z(D0), k.Z(D1));
            a.vextractf64x4(k.Y(T), k.Z(D0), 1);
            a.vaddpd(k.Y(D0), k.Y(D0), k.Y(T));
            a.vextractf64x2(k.X(T), k.Y(D0), 1);
        }
        else
        {
            a.vaddpd(k.Y(D0), k.Y(D0), k.Y(D1));
            a.vextractf128(k.X(T), k.Y(D0), 1);
        }
        a.vaddpd(k.X(D0), k.X(D0), k.X(T));
        a.vunpckhpd(k.X(T), k.X(D0), k.X(D0));
        a.vaddsd(k.X(D0), k.X(D0), k.X(T));
        a.vcvtss2sd(k.X(T), k.X(T), __dword_ptr[k.Args + KernelArgs.Offsets.Alpha]);
        a.vmulsd(k.X(T), k.X(T), k.ConstDouble(0.5));
        a.vmulsd(k.X(D0), k.X(T), k.X(D0));
        a.vmovsd(__qword_ptr[k.Args + KernelArgs.Offsets.Result], k.X(D0));
    }
}
