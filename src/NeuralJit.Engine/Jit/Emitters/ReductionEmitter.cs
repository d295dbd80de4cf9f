using Iced.Intel;
using NeuralJit.Ops;
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
                AssemblerRegister64 x = rsi, y = rcx;
                k.LoadPointer(x, KernelArgs.Offsets.A);
                k.LoadPointer(y, KernelArgs.Offsets.C);
                EmitSoftmax(k, x, y, key.Shape.M, scale: null);
                break;
            case OpKind.EwcPenalty: EmitEwc(k, checked(key.Shape.M * Math.Max(1, key.Shape.N))); break;
        }
    }

    /// <summary>Float accumulation in 4 interleaved partial sums (the reference sums left to right: results differ by rounding only).</summary>
    private static void EmitDot(KernelAssembler k, int n)
    {
        AssemblerRegister64 x = rsi, y = rdx, offset = rax;
        k.LoadPointer(x, KernelArgs.Offsets.A);
        k.LoadPointer(y, KernelArgs.Offsets.B);
        var regs = k.Registers;
        var mask = regs.TakeHighest("AVX2 tail mask");
        var acc = regs.TakeBlock(4, "partial sum");
        var xv = regs.TakeBlock(4, "x vector");
        var yTail = regs.Take("y tail");
        foreach (var v in acc) k.Zero(v);
        k.ForEachVector(n, 4, offset, mask, c =>
        {
            k.LoadPart(xv[c.Slot], c.At(x), c.Count, c.Tail);
            if (c.IsTail) { k.LoadTail(yTail, c.At(y), c.Tail!.Value); k.FmaAcc(acc[c.Slot], xv[c.Slot], yTail); }
            else k.FmaAcc(acc[c.Slot], xv[c.Slot], c.At(y));
        });
        k.Add(acc[0], acc[0], acc[1]); k.Add(acc[2], acc[2], acc[3]); k.Add(acc[0], acc[0], acc[2]);
        k.ReduceAdd(acc[0], acc[1]);
        k.Asm.vcvtss2sd(k.X(acc[0]), k.X(acc[0]), k.X(acc[0]));
        k.Asm.vmovsd(__qword_ptr[k.Args + KernelArgs.Offsets.Result], k.X(acc[0]));
    }

    /// <summary>
    /// dst[0..n) = softmax(scale · src[0..n)), in three passes (max; exp and sum; divide). src may equal dst.
    /// <paramref name="scale"/> (optional) is applied as a separate multiply, rounding exactly like the reference's
    /// "output *= strength" before its softmax. Uses rax and, from the caller's register plan, the AVX2 mask at the
    /// top and the lowest 18 (AVX-512) / 10 (AVX2) free registers (v0..17 / v0..9 when the caller holds none there);
    /// <paramref name="knownMaxLane0"/> (a max the caller already has in lane 0) is consumed: released to the plan once
    /// broadcast. NaN anywhere makes the sum NaN and so every output NaN, as in the reference.
    /// <para>With <paramref name="rows"/> &gt; 1, that many softmaxes of rows <paramref name="rowBytes"/> apart run in
    /// lockstep (each pass visits a vector of every row before the next vector), so their latency chains (max and sum
    /// reductions, exp) overlap; each row's operations, accumulators and order are those of a softmax of its own, so the
    /// results are the same bits. Up to <see cref="SoftmaxRowsMax"/> rows (registers: the rows' partial sums, the slots,
    /// then per row its max and sum).</para>
    /// </summary>
    internal static void EmitSoftmax(KernelAssembler k, AssemblerRegister64 src, AssemblerRegister64 dst, int n, Vec? scale, Vec? knownMaxLane0 = null,
        int rows = 1, int rowBytes = 0)
    {
        if (rows < 1 || rows > SoftmaxRowsMax(k) || (rows > 1 && knownMaxLane0 is not null)) throw new ArgumentOutOfRangeException(nameof(rows));
        var offset = rax;
        int unroll = k.IsAvx512 ? 4 : 2;
        var regs = k.Registers;
        using var phase = regs.Phase();
        var mask = regs.TakeHighest("AVX2 tail mask");
        // Several rows: their partial sums first, so each row's first one is below v16 (the reductions are VEX on ymm).
        var acc = rows > 1 ? PartialSums() : null;
        var slots = Enumerable.Range(0, unroll).Select(u => regs.TakeBlock(3, $"slot {u}: x, exp temporaries")).ToArray();
        acc ??= PartialSums();
        Vec[][] PartialSums() => Enumerable.Range(0, rows).Select(r => regs.TakeBlock(unroll, "partial max or sum")).ToArray();
        // Taken after the slots and sums, so they sit above them, and while the caller's max is still held.
        var m = Enumerable.Range(0, rows).Select(r => regs.Take("max")).ToArray();
        var sum = Enumerable.Range(0, rows).Select(r => regs.Take("sum")).ToArray();
        if (knownMaxLane0 is { } known) { k.BroadcastLane0(m[0], known); regs.Release(known); }
        Cursor Row(Cursor c, int r) => r == 0 ? c : c with { Displacement = c.Displacement + r * rowBytes };

        if (knownMaxLane0 is null) EmitMax(k, src, n, scale, unroll, mask, slots, acc, m, Row);

        // Pass 2: e = exp(x − max), stored, and summed (tail lanes: exp(−∞) = 0).
        foreach (var v in acc.SelectMany(a => a)) k.Zero(v);
        k.ForEachVector(n, unroll, offset, mask, c0 =>
        {
            var (x, t1, t2) = (slots[c0.Slot][0], slots[c0.Slot][1], slots[c0.Slot][2]);
            for (int r = 0; r < rows; r++)
            {
                var c = Row(c0, r);
                if (c.IsTail) k.LoadTail(x, c.At(src), c.Tail!.Value, float.NegativeInfinity); else k.Load(x, c.At(src));
                if (scale is { } b) k.Mul(x, x, b);
                k.Sub(x, x, m[r]);
                // AVX-512: tail lanes go through exp as 0 and are cleared after it; exp(−∞) would underflow in vscalefps,
                // and each underflowing result costs a floating-point microcode assist.
                bool clearTail = c.IsTail && k.IsAvx512;
                if (clearTail) k.Asm.vmovaps(k.ZK(x, c.Tail!.Value.Mask.K).z, k.Z(x));
                MathEmitter.Exp(k, x, t1, t2);
                if (clearTail) k.Asm.vmovaps(k.ZK(x, c.Tail!.Value.Mask.K).z, k.Z(x));
                k.StorePart(c.At(dst), x, c.Count, c.Tail);
                k.Add(acc[r][c.Slot], acc[r][c.Slot], x);
            }
        });
        for (int r = 0; r < rows; r++)
        {
            for (int s = 1; s < unroll; s++) k.Add(acc[r][0], acc[r][0], acc[r][s]);
            k.ReduceAdd(acc[r][0], slots[0][0]);
            k.BroadcastLane0(sum[r], acc[r][0]);
        }

        // Pass 3: divide (as the reference does; a reciprocal multiply would be off by an ulp).
        k.ForEachVector(n, unroll, offset, mask, c0 =>
        {
            var x = slots[c0.Slot][0];
            for (int r = 0; r < rows; r++)
            {
                var c = Row(c0, r);
                k.LoadPart(x, c.At(dst), c.Count, c.Tail);
                k.Div(x, x, sum[r]);
                k.StorePart(c.At(dst), x, c.Count, c.Tail);
            }
        });
    }

    /// <summary>Softmaxes <see cref="EmitSoftmax"/> runs in lockstep: unroll·(3 + rows) + 2·rows + 1 registers (AVX-512 4·3 + 6·3 + 1 = 31; AVX2 2·3 + 4·2 + 1 = 15).</summary>
    internal static int SoftmaxRowsMax(KernelAssembler k) => k.IsAvx512 ? 3 : 2;

    /// <summary>Pass 1 of softmax: m[r] = max over row r of src (tail lanes filled with −∞), broadcast.</summary>
    private static void EmitMax(KernelAssembler k, AssemblerRegister64 src, int n, Vec? scale, int unroll, Vec mask, Vec[][] slots, Vec[][] acc, Vec[] m, Func<Cursor, int, Cursor> row)
    {
        int rows = m.Length;
        for (int r = 0; r < rows; r++)
        {
            k.LoadConst(acc[r][0], float.NegativeInfinity);
            for (int s = 1; s < unroll; s++) k.Move(acc[r][s], acc[r][0]);
        }
        k.ForEachVector(n, unroll, rax, mask, c0 =>
        {
            var x = slots[c0.Slot][0];
            for (int r = 0; r < rows; r++)
            {
                var c = row(c0, r);
                if (c.IsTail) k.LoadTail(x, c.At(src), c.Tail!.Value, float.NegativeInfinity); else k.Load(x, c.At(src));
                if (scale is { } b) k.Mul(x, x, b);
                k.Max(acc[r][c.Slot], acc[r][c.Slot], x);
            }
        });
        for (int r = 0; r < rows; r++)
        {
            for (int s = 1; s < unroll; s++) k.Max(acc[r][0], acc[r][0], acc[r][s]);
            k.ReduceMax(acc[r][0], slots[0][0]);
            k.BroadcastLane0(m[r], acc[r][0]);
        }
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
        AssemblerRegister64 theta = rsi, anchor = rdx, fisher = rcx, offset = rax;
        AssemblerRegister32 groupsLeft = r8d, innerLeft = r9d;
        k.LoadPointer(theta, KernelArgs.Offsets.A);
        k.LoadPointer(anchor, KernelArgs.Offsets.B);
        k.LoadPointer(fisher, KernelArgs.Offsets.C);
        var regs = k.Registers;
        var mask = regs.TakeHighest("AVX2 tail mask");
        var partial = regs.TakeBlock(4, "float partial sum");
        var diff = regs.TakeBlock(4, "θ − θ*");
        var tailOperand = regs.TakeBlock(4, "tail operand");
        Vec D0 = regs.Take("double sum, low lanes"), D1 = regs.Take("double sum, high lanes"), T = regs.Take("conversion temporary");
        Vec F(int s) => partial[s];
        Vec Dv(int s) => diff[s];
        Vec Tv(int s) => tailOperand[s];
        k.Zero(D0); k.Zero(D1);
        int L = k.Lanes, vb = k.VectorBytes;
        int full = n / L, tail = n % L;
        const int perGroup = 32;              // 4 accumulators × 8 vectors between flushes
        int groups = full / perGroup, rest = full % perGroup;
        a.xor(offset, offset);

        void Body(Cursor c)
        {
            int s = c.Slot;
            k.LoadPart(Dv(s), c.At(theta), c.Count, c.Tail);
            if (c.IsTail) { k.LoadTail(Tv(s), c.At(anchor), c.Tail!.Value); k.Sub(Dv(s), Dv(s), Tv(s)); }
            else k.Sub(Dv(s), Dv(s), c.At(anchor));
            k.Mul(Dv(s), Dv(s), Dv(s));
            if (c.IsTail) { k.LoadTail(Tv(s), c.At(fisher), c.Tail!.Value); k.FmaAcc(F(s), Dv(s), Tv(s)); }
            else k.FmaAcc(F(s), Dv(s), c.At(fisher));
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

        // A loop of `iterations` × 4 vectors from the current offset, counter in `counter`.
        void Inner(int iterations, AssemblerRegister32 counter)
        {
            if (iterations <= 0) return;
            if (iterations == 1) { for (int u = 0; u < 4; u++) Body(new Cursor(offset, u * vb, L, null, u)); a.add(offset, 4 * vb); return; }
            var loop = a.CreateLabel();
            a.mov(counter, iterations);
            a.Label(ref loop);
            for (int u = 0; u < 4; u++) Body(new Cursor(offset, u * vb, L, null, u));
            a.add(offset, 4 * vb);
            a.dec(counter);
            a.jnz(loop);
        }

        if (groups > 0)
        {
            var outer = a.CreateLabel();
            a.mov(groupsLeft, groups);
            a.Label(ref outer);
            ZeroAccumulators();
            Inner(perGroup / 4, innerLeft);
            Flush();
            a.dec(groupsLeft);
            a.jnz(outer);
        }
        if (rest > 0 || tail > 0)
        {
            ZeroAccumulators();
            Inner(rest / 4, innerLeft);
            for (int u = 0; u < rest % 4; u++) Body(new Cursor(offset, u * vb, L, null, u));
            if (tail > 0)
            {
                var tailMask = k.CreateTailMask(tail, mask);
                Body(new Cursor(offset, (rest % 4) * vb, tail, tailMask, 0));
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
