using Iced.Intel;
using NeuralJit.Ops;
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
/// <para><b>DncWriteContent</b> is DncWrite and the content weightings of all R read keys in one pass over M: each row
/// is written (the DncWrite row, exact) and, while its vectors are still in registers, its squared norm and its dot
/// products with every key accumulate; four heads' dots reduce together (vhaddps) into c^r, the norm onto the stack.
/// Per chunk of rows the cosines are then finished vectorised (sqrt, ×‖k_h‖, + ε, divide, ×β_h), which keeps sqrt and
/// divide off each row's dependency chain. Heads that do not fit the registers (R &gt; 8) re-read the row just
/// written from L1. The R softmaxes then run over the R·N scores, which are L1-resident, not over M.</para>
/// Registers come from the register plan, in the order that gives each role its place (the AVX2 tail mask at the top);
/// pointers by operand: <c>Memory</c> (rsi), the current row <c>Row</c> (r9), the row's index <c>Slot</c> (rax).
/// </summary>
public sealed class DncMemoryEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncRead, OpKind.DncWrite, OpKind.DncWriteContent };

    /// <summary>M, the write weights w (N), the erase vector e and the write vector v (W); the row being written and its index; the vector offset.</summary>
    private static readonly AssemblerRegister64 Memory = rsi, Weights = rdx, Erase = rcx, WriteVec = r8, Row = r9, Slot = rax, VectorOffset = r10;
    private static readonly AssemblerRegister32 Slot32 = eax;

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        int ldBytes = s.StrideA(key.Op) * 4;
        if (key.Op == OpKind.DncRead) EmitRead(k, s.M, s.N, s.K, ldBytes);
        else if (key.Op == OpKind.DncWriteContent) EmitWriteContent(k, s.M, s.N, s.K, ldBytes);
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
        var regs = k.Registers;
        bool avx2Tail = !k.IsAvx512 && tail > 0;
        var maskVec = avx2Tail ? regs.TakeHighest("AVX2 tail mask") : default;
        int budget = k.VectorRegisters - (avx2Tail ? 1 : 0);
        var (hb, jb) = ReadBlocking(budget, heads);
        AssemblerRegister64 readWeights = rdx, reads = rcx, offset = rax;
        AssemblerRegister32 offset32 = eax;

        k.LoadPointer(Memory, KernelArgs.Offsets.A);
        k.LoadPointer(readWeights, KernelArgs.Offsets.B);   // R×N
        k.LoadPointer(reads, KernelArgs.Offsets.C);         // R×W
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;

        for (int h0 = 0; h0 < heads; h0 += hb)
        {
            int hc = Math.Min(hb, heads - h0);
            for (int v0 = 0; v0 < vectors; v0 += jb)
            {
                int vc = Math.Min(jb, vectors - v0);
                using var block = regs.Phase();
                var acc = regs.TakeBlock(hc * vc, "r");
                var bc = regs.TakeBlock(hc, "w broadcast");
                var row = regs.Take("row vector");
                Vec Acc(int h, int v) => acc[h * vc + v];
                Vec Bc(int h) => bc[h];
                int Count(int v) => v0 + v < full ? L : tail;
                TailMask? Mask(int v) => v0 + v < full ? null : mask;
                for (int h = 0; h < hc; h++)
                    for (int v = 0; v < vc; v++) k.Zero(Acc(h, v));
                if (n > 0)
                {
                    // offset = byte offset of the row's weight in each head.
                    a.mov(Row, Memory);
                    a.xor(offset32, offset32);
                    var rows = a.CreateLabel();
                    a.Label(ref rows);
                    for (int h = 0; h < hc; h++) k.Broadcast(Bc(h), __dword_ptr[readWeights + offset + (h0 + h) * nb]);
                    for (int v = 0; v < vc; v++)
                    {
                        k.LoadPart(row, __[Row + (v0 + v) * vb], Count(v), Mask(v));
                        for (int h = 0; h < hc; h++) k.FmaAcc(Acc(h, v), Bc(h), row);
                    }
                    a.add(Row, ldBytes);
                    a.add(offset, 4);
                    a.cmp(offset, nb);
                    a.jb(rows);
                }
                for (int h = 0; h < hc; h++)
                    for (int v = 0; v < vc; v++) k.StorePart(__[reads + ((h0 + h) * wb + (v0 + v) * vb)], Acc(h, v), Count(v), Mask(v));
            }
        }
    }

    private static void EmitWrite(KernelAssembler k, int n, int w, int ldBytes)
    {
        if (n == 0 || w == 0) return;
        var a = k.Asm;
        k.LoadPointer(Memory, KernelArgs.Offsets.A);   // updated in place
        k.LoadPointer(Weights, KernelArgs.Offsets.B);
        k.LoadPointer(Erase, KernelArgs.Offsets.C);
        k.LoadPointer(WriteVec, KernelArgs.Offsets.D);
        var regs = k.Registers;
        var write = new WriteScalars(regs.Take("w_i"), regs.Take("1"));
        var slots = Enumerable.Range(0, k.IsAvx512 ? 4 : 2).Select(s => regs.TakeBlock(2, $"slot {s} (t, u)")).ToArray();
        var maskVec = regs.TakeHighest("AVX2 tail mask");
        k.LoadConst(write.One, 1f);
        a.mov(Row, Memory);
        a.xor(Slot32, Slot32);
        var row = a.CreateLabel();
        a.Label(ref row);
        k.Broadcast(write.Weight, __dword_ptr[Weights + Slot * 4]);
        k.ForEachVector(w, k.IsAvx512 ? 4 : 2, VectorOffset, maskVec, c => WriteVector(k, c, write, slots[c.Slot][0], slots[c.Slot][1]));
        a.add(Row, ldBytes);
        a.inc(Slot);
        a.cmp(Slot, n);
        a.jb(row);
    }

    /// <summary>w_i (broadcast) and 1.0 during a write.</summary>
    private readonly record struct WriteScalars(Vec Weight, Vec One);

    /// <summary>
    /// One vector of <see cref="Row"/> written in place with the reference's operations in its order (no FMA):
    /// M·(1 − w_i·e) + w_i·v; the written vector stays in <paramref name="t"/> (lanes past a tail are 0).
    /// </summary>
    private static void WriteVector(KernelAssembler k, Cursor c, WriteScalars s, Vec t, Vec u)
    {
        k.LoadPart(t, c.At(Erase), c.Count, c.Tail);
        k.Mul(t, s.Weight, t);
        k.Sub(t, s.One, t);                             // 1 − w_i·e_j
        k.LoadPart(u, c.At(Row), c.Count, c.Tail);
        k.Mul(t, u, t);
        k.LoadPart(u, c.At(WriteVec), c.Count, c.Tail);
        k.Mul(u, s.Weight, u);
        k.Add(t, t, u);
        k.StorePart(c.At(Row), t, c.Count, c.Tail);
    }

    /// <summary>Registers of the fused write + content kernel beyond the write's (r12–r14 and rbx callee-saved).</summary>
    private static readonly AssemblerRegister64 Keys = r11, Content = r12, ChunkRow = r13, ChunkContent = rbx, Chunks = r14;

    /// <summary>
    /// Read keys handled per pass over a row: their dot accumulators v7..v14 stay VEX-encodable (the reductions are VEX
    /// ymm/xmm ops) and below the AVX2 tail mask (v15).
    /// </summary>
    internal const int ContentHeadsPerPass = 8;

    /// <summary>
    /// Rows whose squared norms wait on the stack before their cosines are finished together: 2 KiB, so the frame stays
    /// under a page (no stack probe) while the sqrt and divide leave the per-row dependency chain.
    /// </summary>
    internal const int ContentChunkRows = 512;

    private static void EmitWriteContent(KernelAssembler k, int n, int w, int heads, int ldBytes)
    {
        if (n == 0) return;
        var a = k.Asm;
        int nb = n * 4, wb = w * 4;
        var regs = k.Registers;
        var body = regs.Phase();   // everything until the softmaxes, which take their own
        var write = new WriteScalars(regs.Take("w_i"), regs.Take("1"));
        Vec norm = regs.Take("‖row‖² / ‖key‖"), tmp = regs.Take("temporary"), denom = regs.Take("denominator"), t = regs.Take("written vector"), u = regs.Take("u");
        var dots = regs.TakeBlock(ContentHeadsPerPass, "dot");
        var maskVec = regs.TakeHighest("AVX2 tail mask");
        Vec Dot(int h) => dots[h];
        AssemblerRegister64 strengths = r9;   // until the rows start; then Row
        int padded = (heads + 3) / 4 * 4;
        // ‖k_h‖ and β_h on the stack, padded to a multiple of 4 heads (zeros) so each quad of heads loads one xmm.
        int keyNorms = k.AllocateStack(Math.Max(1, padded) * 4), strengthsAt = k.AllocateStack(Math.Max(1, padded) * 4);
        int rowNorms = k.AllocateStack(Math.Min(n, ContentChunkRows) * 4);

        k.LoadPointer(Memory, KernelArgs.Offsets.A);   // updated in place
        k.LoadPointer(Weights, KernelArgs.Offsets.B);
        k.LoadPointer(Erase, KernelArgs.Offsets.C);
        k.LoadPointer(WriteVec, KernelArgs.Offsets.D);
        k.LoadPointer(Keys, KernelArgs.Offsets.E);      // R×W
        k.LoadPointer(strengths, KernelArgs.Offsets.F); // R
        foreach (var r in new[] { Content, ChunkRow, ChunkContent, Chunks }) k.UseCalleeSaved(r);
        k.LoadPointer(Content, KernelArgs.Offsets.G);

        for (int h = 0; h < padded; h++)
        {
            if (h >= heads)
            {
                a.mov(__dword_ptr[rsp + (keyNorms + h * 4)], 0);
                a.mov(__dword_ptr[rsp + (strengthsAt + h * 4)], 0);
                continue;
            }
            a.vmovss(k.X(tmp), __dword_ptr[strengths + h * 4]);
            a.vmovss(__dword_ptr[rsp + (strengthsAt + h * 4)], k.X(tmp));
            k.Zero(norm);
            int h1 = h;
            k.ForEachVector(w, 1, VectorOffset, maskVec, c =>
            {
                k.LoadPart(tmp, Offset(c, Keys, h1 * wb), c.Count, c.Tail);
                k.FmaAcc(norm, tmp, tmp);
            });
            k.ReduceAdd(norm, tmp);
            a.vsqrtss(k.X(norm), k.X(norm), k.X(norm));
            a.vmovss(__dword_ptr[rsp + (keyNorms + h * 4)], k.X(norm));
        }

        // Phase 1 of a chunk: each row written, its R dot products (raw) into c^r and its squared norm onto the stack.
        void WriteAndSum(int rows)
        {
            k.LoadConst(write.One, 1f);
            a.xor(ChunkRow, ChunkRow);
            var row = a.CreateLabel();
            a.Label(ref row);
            k.Broadcast(write.Weight, __dword_ptr[Weights + Slot * 4]);
            int passes = Math.Max(1, (heads + ContentHeadsPerPass - 1) / ContentHeadsPerPass);
            for (int p = 0; p < passes; p++)
            {
                int h0 = p * ContentHeadsPerPass, hc = Math.Min(ContentHeadsPerPass, heads - h0);
                bool writes = p == 0;
                if (writes) k.Zero(norm);
                for (int h = 0; h < (hc + 3) / 4 * 4; h++) k.Zero(Dot(h)); // a quad's unused heads sum to 0
                // Unroll 1: the written vector feeds R + 1 accumulators, which already give the FMA chains their independence.
                k.ForEachVector(w, 1, VectorOffset, maskVec, c =>
                {
                    if (writes)
                    {
                        WriteVector(k, c, write, t, u);
                        k.FmaAcc(norm, t, t);
                    }
                    else k.LoadPart(t, c.At(Row), c.Count, c.Tail);
                    for (int h = 0; h < hc; h++)
                    {
                        var key = Offset(c, Keys, (h0 + h) * wb);
                        if (c.Tail is null) k.FmaAcc(Dot(h), t, key);
                        else { k.LoadPart(u, key, c.Count, c.Tail); k.FmaAcc(Dot(h), t, u); }
                    }
                });
                if (writes)
                {
                    k.ReduceAdd(norm, tmp);
                    a.vmovss(__dword_ptr[rsp + ChunkRow * 4 + rowNorms], k.X(norm));
                }
                for (int q = 0; q < hc; q += 4)
                {
                    var d = Dot(q);
                    SumFour(k, d, Dot(q + 1), Dot(q + 2), Dot(q + 3), tmp);
                    int hq = h0 + q;
                    a.vmovss(__dword_ptr[Content + Slot * 4 + hq * nb], k.X(d));
                    for (int j = 1; j < Math.Min(4, hc - q); j++)
                        a.vextractps(__dword_ptr[Content + Slot * 4 + (hq + j) * nb], k.X(d), (byte)j);
                }
            }
            a.add(Row, ldBytes);
            a.inc(Slot);
            a.inc(ChunkRow);
            a.cmp(ChunkRow, rows);
            a.jb(row);
        }

        // Phase 2, vectorised over the chunk's rows: c[h][i] = β_h · dot / (‖M′_i‖·‖k_h‖ + ε), the reference's operations in its order.
        void FinishCosines(int rows)
        {
            k.ForEachVector(rows, 1, VectorOffset, maskVec, c =>
            {
                k.LoadPart(tmp, Offset(c, rsp, rowNorms), c.Count, c.Tail);
                k.Sqrt(tmp, tmp);
                k.StorePart(Offset(c, rsp, rowNorms), tmp, c.Count, c.Tail);
            });
            k.LoadConst(u, ReferenceOps.CosineEpsilon);
            Vec keyNorm = Dot(0), beta = Dot(1);   // the dots are done with until the next chunk
            for (int h = 0; h < heads; h++)
            {
                k.Broadcast(keyNorm, __dword_ptr[rsp + (keyNorms + h * 4)]);
                k.Broadcast(beta, __dword_ptr[rsp + (strengthsAt + h * 4)]);
                k.ForEachVector(rows, 1, VectorOffset, maskVec, c =>
                {
                    k.LoadPart(denom, Offset(c, rsp, rowNorms), c.Count, c.Tail);
                    k.Mul(denom, denom, keyNorm);
                    k.Add(denom, denom, u);
                    k.LoadPart(t, Offset(c, ChunkContent, h * nb), c.Count, c.Tail);
                    k.Div(t, t, denom);
                    k.Mul(t, t, beta);
                    k.StorePart(Offset(c, ChunkContent, h * nb), t, c.Count, c.Tail);
                });
            }
        }

        a.mov(Row, Memory);
        a.xor(Slot32, Slot32);
        a.mov(ChunkContent, Content);
        int full = n / ContentChunkRows, rest = n % ContentChunkRows;
        if (full > 0)
        {
            var chunk = a.CreateLabel();
            a.mov(Chunks, full);
            a.Label(ref chunk);
            WriteAndSum(ContentChunkRows);
            FinishCosines(ContentChunkRows);
            a.add(ChunkContent, ContentChunkRows * 4);
            a.dec(Chunks);
            a.jnz(chunk);
        }
        if (rest > 0)
        {
            WriteAndSum(rest);
            FinishCosines(rest);
        }

        body.Dispose();
        AssemblerRegister64 scores = r9;
        for (int h = 0; h < heads; h++)
        {
            a.lea(scores, __[Content + h * nb]);
            ReductionEmitter.EmitSoftmax(k, scores, scores, n, scale: null);
        }
    }

    /// <summary>
    /// The lane sums of four accumulators (v0..v15) into xmm <paramref name="d0"/> = [Σd0 Σd1 Σd2 Σd3]: zmm halves added
    /// down to ymm (AVX-512), three vhaddps leave [s0 s1 s2 s3] in each 128-bit lane, one extract + add sums the lanes.
    /// </summary>
    private static void SumFour(KernelAssembler k, Vec d0, Vec d1, Vec d2, Vec d3, Vec tmp)
    {
        var a = k.Asm;
        if (k.IsAvx512)
            foreach (var v in new[] { d0, d1, d2, d3 })
            {
                a.vextractf32x8(k.Y(tmp), k.Z(v), 1);
                a.vaddps(k.Y(v), k.Y(v), k.Y(tmp));
            }
        a.vhaddps(k.Y(d0), k.Y(d0), k.Y(d1));
        a.vhaddps(k.Y(d2), k.Y(d2), k.Y(d3));
        a.vhaddps(k.Y(d0), k.Y(d0), k.Y(d2));
        a.vextractf128(k.X(tmp), k.Y(d0), 1);
        a.vaddps(k.X(d0), k.X(d0), k.X(tmp));
    }

    /// <summary>The cursor's operand in <paramref name="basePtr"/>, <paramref name="bytes"/> further (the row of head h in R×W keys).</summary>
    private static AssemblerMemoryOperand Offset(Cursor c, AssemblerRegister64 basePtr, int bytes) =>
        c.Index is { } i ? __[basePtr + i + (c.Displacement + bytes)] : __[basePtr + (c.Displacement + bytes)];
}
