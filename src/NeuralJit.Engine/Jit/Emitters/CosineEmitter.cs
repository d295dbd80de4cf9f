using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// CosineSimilarity (C[i] = A_i·B / (‖A_i‖·‖B‖ + 1e-6)) and DncContent (C = softmax(Alpha · cosine)).
/// Four rows at a time: each row's dot and squared norm accumulate in their own register (8 independent
/// FMA chains, two loads per row vector with the key as a memory operand), then the eight sums are reduced
/// together — halves added down to 4 lanes, then three vhaddps transpose them into one xmm [r0 r1 r2 r3]
/// for dots and one for norms — so sqrt, multiply, add and divide run once per four rows. Rows left over
/// (M mod 4) take a scalar epilogue. The key's norm is computed once; its masked tail vector is loaded once.
/// DncContent scales by β as it stores (one rounding, like the reference), tracks the running max in the
/// same pass, and then runs the softmax's exp/sum and divide passes only (<see cref="ReductionEmitter"/>).
/// Register map (both ISAs): dot r0..3 = v0..3, norm = v4..7, row loads v8/v9, temp v10, running max v11,
/// key tail v12, ‖key‖ v13, β v14, AVX2 tail mask v15; on AVX-512 the key itself in v16..v27 when it fits.
/// </summary>
public sealed class CosineEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.CosineSimilarity, OpKind.DncContent };

    private static readonly Vec Tmp = new(10), RunMax = new(11), KeyTail = new(12), KeyNorm = new(13), Beta = new(14), Avx2Mask = new(15);
    private static Vec Dot(int r) => new(r);
    private static Vec Norm(int r) => new(4 + r);
    private static Vec Row(int r) => new(8 + (r & 1));
    /// <summary>Key vectors kept in v16.. on AVX-512 (up to 12 of them); AVX2 reads the key from memory (L1).</summary>
    private const int KeyRegsFirst = 16, KeyRegsMax = 12;
    private static bool KeyInRegisters(KernelAssembler k, int full) => k.IsAvx512 && full <= KeyRegsMax;

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        int m = s.M, n = s.N, ldaBytes = s.StrideA(key.Op) * 4;
        bool dnc = key.Op == OpKind.DncContent;
        if (m == 0) return;
        var a = k.Asm;
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(rdx, KernelArgs.Offsets.B);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        if (dnc) { k.BroadcastField(Beta, KernelArgs.Offsets.Alpha); k.LoadConst(RunMax, float.NegativeInfinity); }
        a.mov(r11, rcx);   // C, kept for the softmax passes

        int L = k.Lanes, vb = k.VectorBytes, full = n / L, tail = n % L;
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, Avx2Mask) : null;
        if (mask is { } t) k.LoadTail(KeyTail, __[rdx + full * vb], t);

        // ‖key‖ in every lane.
        k.Zero(Dot(0));
        bool keyRegs = KeyInRegisters(k, full);
        for (int v = 0; v < full; v++)
        {
            var kv = keyRegs ? new Vec(KeyRegsFirst + v) : Row(0);
            k.Load(kv, __[rdx + v * vb]);
            k.FmaAcc(Dot(0), kv, kv);
        }
        if (mask is not null) k.FmaAcc(Dot(0), KeyTail, KeyTail);
        k.ReduceAdd(Dot(0), Tmp);
        a.vsqrtss(k.X(Dot(0)), k.X(Dot(0)), k.X(Dot(0)));
        k.BroadcastLane0(KeyNorm, Dot(0));

        int groups = m / 4, rest = m % 4;
        if (groups > 0)
        {
            var loop = a.CreateLabel();
            if (groups > 1) { a.mov(r8d, groups); a.Label(ref loop); }
            Accumulate(k, 4, full, vb, ldaBytes, mask, keyRegs);
            ReduceFour(k);
            // v0 (xmm) = [dot0..3], v4 (xmm) = [norm0..3]
            a.vsqrtps(k.X(Norm(0)), k.X(Norm(0)));
            a.vmulps(k.X(Norm(0)), k.X(Norm(0)), k.X(KeyNorm));
            k.LoadConst(Tmp, ReferenceOps.CosineEpsilon);
            a.vaddps(k.X(Norm(0)), k.X(Norm(0)), k.X(Tmp));
            a.vdivps(k.X(Dot(0)), k.X(Dot(0)), k.X(Norm(0)));
            if (dnc)
            {
                a.vmulps(k.X(Dot(0)), k.X(Dot(0)), k.X(Beta));
                a.vmaxps(k.X(RunMax), k.X(RunMax), k.X(Dot(0)));
            }
            a.vmovups(__xmmword_ptr[rcx], k.X(Dot(0)));
            a.add(rsi, 4 * ldaBytes);
            a.add(rcx, 16);
            if (groups > 1) { a.dec(r8d); a.jnz(loop); }
        }
        if (rest > 0)
        {
            Accumulate(k, rest, full, vb, ldaBytes, mask, keyRegs);
            for (int r = 0; r < rest; r++)
            {
                k.ReduceAdd(Dot(r), Tmp);
                k.ReduceAdd(Norm(r), Tmp);
                a.vsqrtss(k.X(Norm(r)), k.X(Norm(r)), k.X(Norm(r)));
                a.vmulss(k.X(Norm(r)), k.X(Norm(r)), k.X(KeyNorm));
                k.LoadConst(Tmp, ReferenceOps.CosineEpsilon);
                a.vaddss(k.X(Norm(r)), k.X(Norm(r)), k.X(Tmp));
                a.vdivss(k.X(Dot(r)), k.X(Dot(r)), k.X(Norm(r)));
                if (dnc)
                {
                    a.vmulss(k.X(Dot(r)), k.X(Dot(r)), k.X(Beta));
                    a.vmaxss(k.X(RunMax), k.X(RunMax), k.X(Dot(r)));
                }
                a.vmovss(__dword_ptr[rcx + r * 4], k.X(Dot(r)));
            }
        }
        if (!dnc) return;

        // Max of the four running lanes (VEX xmm ops zeroed the upper lanes: reduce the xmm only).
        a.vmovhlps(k.X(Tmp), k.X(Tmp), k.X(RunMax));
        a.vmaxps(k.X(RunMax), k.X(RunMax), k.X(Tmp));
        a.vmovshdup(k.X(Tmp), k.X(RunMax));
        a.vmaxss(k.X(RunMax), k.X(RunMax), k.X(Tmp));
        ReductionEmitter.EmitSoftmax(k, r11, r11, m, scale: null, knownMaxLane0: RunMax);
    }

    /// <summary>dot_r = Σ row_r·key, norm_r = Σ row_r², for <paramref name="rows"/> rows from rsi.</summary>
    private static void Accumulate(KernelAssembler k, int rows, int full, int vb, int ldaBytes, TailMask? mask, bool keyRegs)
    {
        var a = k.Asm;
        for (int r = 0; r < rows; r++) { k.Zero(Dot(r)); k.Zero(Norm(r)); }
        void Step(AssemblerRegister64? index, int disp)
        {
            for (int r = 0; r < rows; r++)
            {
                var at = index is { } i ? __[rsi + i + (r * ldaBytes + disp)] : __[rsi + (r * ldaBytes + disp)];
                k.Load(Row(r), at);
                if (keyRegs) k.FmaAcc(Dot(r), Row(r), new Vec(KeyRegsFirst + disp / vb));
                else k.FmaAcc(Dot(r), Row(r), index is { } j ? __[rdx + j + disp] : __[rdx + disp]);
                k.FmaAcc(Norm(r), Row(r), Row(r));
            }
        }
        if (full > 8 && !keyRegs)
        {
            // Long rows: a loop over the width (r10 = byte offset) keeps the code small.
            var loop = a.CreateLabel();
            a.xor(r10, r10);
            a.Label(ref loop);
            Step(r10, 0);
            a.add(r10, vb);
            a.cmp(r10, full * vb);
            a.jb(loop);
        }
        else for (int v = 0; v < full; v++) Step(null, v * vb);
        if (mask is { } t)
            for (int r = 0; r < rows; r++)
            {
                k.LoadTail(Row(r), __[rsi + (r * ldaBytes + full * vb)], t);
                k.FmaAcc(Dot(r), Row(r), KeyTail);
                k.FmaAcc(Norm(r), Row(r), Row(r));
            }
    }

    /// <summary>
    /// Eight accumulators → xmm v0 = [dot0 dot1 dot2 dot3], xmm v4 = [norm0 … norm3]: zmm halves added down to
    /// ymm (AVX-512), then per set of four vhaddps(vhaddps(a,b), vhaddps(c,d)) leaves [r0 r1 r2 r3] in each
    /// 128-bit lane, and one extract+add sums the two lanes. 26 instructions on AVX-512, 10 on AVX2.
    /// </summary>
    private static void ReduceFour(KernelAssembler k)
    {
        var a = k.Asm;
        if (k.IsAvx512)
            for (int i = 0; i < 8; i++)
            {
                var v = new Vec(i);
                var t = new Vec(8 + (i & 1));
                a.vextractf32x8(k.Y(t), k.Z(v), 1);
                a.vaddps(k.Y(v), k.Y(v), k.Y(t));
            }
        foreach (int b in new[] { 0, 4 })
        {
            Vec v0 = new(b), v1 = new(b + 1), v2 = new(b + 2), v3 = new(b + 3), t = new(8 + b / 4);
            a.vhaddps(k.Y(v0), k.Y(v0), k.Y(v1));
            a.vhaddps(k.Y(v2), k.Y(v2), k.Y(v3));
            a.vhaddps(k.Y(v0), k.Y(v0), k.Y(v2));
            a.vextractf128(k.X(t), k.Y(v0), 1);
            a.vaddps(k.X(v0), k.X(v0), k.X(t));
        }
    }
}
