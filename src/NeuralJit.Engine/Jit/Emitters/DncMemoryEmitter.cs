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
/// <para><b>DncWriteContent</b> is DncWrite and the content weightings of all R read keys in one pass over M: each row
/// is written (the DncWrite row, exact) and, while its vectors are still in registers, its squared norm and its dot
/// products with every key accumulate; four heads' dots reduce together (vhaddps) into c^r, the norm onto the stack.
/// Per chunk of rows the cosines are then finished vectorised (sqrt, ×‖k_h‖, + ε, divide, ×β_h), which keeps sqrt and
/// divide off each row's dependency chain. Heads that do not fit the registers (R &gt; 8) re-read the row just
/// written from L1. The R softmaxes then run over the R·N scores, which are L1-resident, not over M.</para>
/// </summary>
public sealed class DncMemoryEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncRead, OpKind.DncWrite, OpKind.DncWriteContent };

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
        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // memory, updated in place
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w (N)
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // erase (W)
        k.LoadPointer(r8, KernelArgs.Offsets.D);    // write vector (W)
        k.LoadConst(One, 1f);
        a.mov(r9, rsi);
        a.xor(eax, eax);
        var row = a.CreateLabel();
        a.Label(ref row);
        k.Broadcast(WriteWeight, __dword_ptr[rdx + rax * 4]);
        k.ForEachVector(w, k.IsAvx512 ? 4 : 2, r10, new Vec(k.VectorRegisters - 1), c => WriteVector(k, c, WriteT(c.Slot), WriteU(c.Slot)));
        a.add(r9, ldBytes);
        a.inc(rax);
        a.cmp(rax, n);
        a.jb(row);
    }

    /// <summary>w_i (broadcast) and 1.0 during a write; the write's temporaries of unrolled slot s are v(2+2s), v(3+2s).</summary>
    private static readonly Vec WriteWeight = new(0), One = new(1);
    private static Vec WriteT(int slot) => new(2 + 2 * slot);
    private static Vec WriteU(int slot) => new(3 + 2 * slot);

    /// <summary>
    /// One vector of row r9 written in place with the reference's operations in its order (no FMA):
    /// M·(1 − w_i·e) + w_i·v (rcx = e, r8 = v); the written vector stays in <paramref name="t"/> (lanes past a tail are 0).
    /// </summary>
    private static void WriteVector(KernelAssembler k, Cursor c, Vec t, Vec u)
    {
        k.LoadPart(t, c.At(rcx), c.Count, c.Tail);
        k.Mul(t, WriteWeight, t);
        k.Sub(t, One, t);                               // 1 − w_i·e_j
        k.LoadPart(u, c.At(r9), c.Count, c.Tail);
        k.Mul(t, u, t);
        k.LoadPart(u, c.At(r8), c.Count, c.Tail);
        k.Mul(u, WriteWeight, u);
        k.Add(t, t, u);
        k.StorePart(c.At(r9), t, c.Count, c.Tail);
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
        var maskVec = new Vec(k.VectorRegisters - 1);
        Vec norm = new(2), tmp = new(3), denom = new(4), t = new(5), u = new(6);
        Vec Dot(int h) => new(7 + h);
        int padded = (heads + 3) / 4 * 4;
        // ‖k_h‖ and β_h on the stack, padded to a multiple of 4 heads (zeros) so each quad of heads loads one xmm.
        int keyNorms = k.AllocateStack(Math.Max(1, padded) * 4), strengths = k.AllocateStack(Math.Max(1, padded) * 4);
        int rowNorms = k.AllocateStack(Math.Min(n, ContentChunkRows) * 4);

        k.LoadPointer(rsi, KernelArgs.Offsets.A);   // memory, updated in place
        k.LoadPointer(rdx, KernelArgs.Offsets.B);   // w (N)
        k.LoadPointer(rcx, KernelArgs.Offsets.C);   // erase (W)
        k.LoadPointer(r8, KernelArgs.Offsets.D);    // write vector (W)
        k.LoadPointer(Keys, KernelArgs.Offsets.E);  // read keys (R×W)
        k.LoadPointer(r9, KernelArgs.Offsets.F);    // read strengths (R)
        foreach (var r in new[] { Content, ChunkRow, ChunkContent, Chunks }) k.UseCalleeSaved(r);
        k.LoadPointer(Content, KernelArgs.Offsets.G);

        for (int h = 0; h < padded; h++)
        {
            if (h >= heads)
            {
                a.mov(__dword_ptr[rsp + (keyNorms + h * 4)], 0);
                a.mov(__dword_ptr[rsp + (strengths + h * 4)], 0);
                continue;
            }
            a.vmovss(k.X(tmp), __dword_ptr[r9 + h * 4]);
            a.vmovss(__dword_ptr[rsp + (strengths + h * 4)], k.X(tmp));
            k.Zero(norm);
            int h1 = h;
            k.ForEachVector(w, 1, r10, maskVec, c =>
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
            k.LoadConst(One, 1f);
            a.xor(ChunkRow, ChunkRow);
            var row = a.CreateLabel();
            a.Label(ref row);
            k.Broadcast(WriteWeight, __dword_ptr[rdx + rax * 4]);
            int passes = Math.Max(1, (heads + ContentHeadsPerPass - 1) / ContentHeadsPerPass);
            for (int p = 0; p < passes; p++)
            {
                int h0 = p * ContentHeadsPerPass, hc = Math.Min(ContentHeadsPerPass, heads - h0);
                bool write = p == 0;
                if (write) k.Zero(norm);
                for (int h = 0; h < (hc + 3) / 4 * 4; h++) k.Zero(Dot(h)); // a quad's unused heads sum to 0
                // Unroll 1: the written vector feeds R + 1 accumulators, which already give the FMA chains their independence.
                k.ForEachVector(w, 1, r10, maskVec, c =>
                {
                    if (write)
                    {
                        WriteVector(k, c, t, u);
                        k.FmaAcc(norm, t, t);
                    }
                    else k.LoadPart(t, c.At(r9), c.Count, c.Tail);
                    for (int h = 0; h < hc; h++)
                    {
                        var key = Offset(c, Keys, (h0 + h) * wb);
                        if (c.Tail is null) k.FmaAcc(Dot(h), t, key);
                        else { k.LoadPart(u, key, c.Count, c.Tail); k.FmaAcc(Dot(h), t, u); }
                    }
                });
                if (write)
                {
                    k.ReduceAdd(norm, tmp);
                    a.vmovss(__dword_ptr[rsp + ChunkRow * 4 + rowNorms], k.X(norm));
                }
                for (int q = 0; q < hc; q += 4)
                {
                    var d = Dot(q);
                    SumFour(k, d, Dot(q + 1), Dot(q + 2), Dot(q + 3), tmp);
                    int hq = h0 + q;
                    a.vmovss(__dword_ptr[Content + rax * 4 + hq * nb], k.X(d));
                    for (int j = 1; j < Math.Min(4, hc - q); j++)
                        a.vextractps(__dword_ptr[Content + rax * 4 + (hq + j) * nb], k.X(d), (byte)j);
                }
            }
            a.add(r9, ldBytes);
            a.inc(rax);
            a.inc(ChunkRow);
            a.cmp(ChunkRow, rows);
            a.jb(row);
        }

        // Phase 2, vectorised over the chunk's rows: c[h][i] = β_h · dot / (‖M′_i‖·‖k_h‖ + ε), the reference's operations in its order.
        void FinishCosines(int rows)
        {
            k.ForEachVector(rows, 1, r10, maskVec, c =>
            {
                k.LoadPart(tmp, Offset(c, rsp, rowNorms), c.Count, c.Tail);
                k.Sqrt(tmp, tmp);
                k.StorePart(Offset(c, rsp, rowNorms), tmp, c.Count, c.Tail);
            });
            k.LoadConst(u, ReferenceOps.CosineEpsilon);
            for (int h = 0; h < heads; h++)
            {
                k.Broadcast(Dot(0), __dword_ptr[rsp + (keyNorms + h * 4)]);
                k.Broadcast(Dot(1), __dword_ptr[rsp + (strengths + h * 4)]);
                k.ForEachVector(rows, 1, r10, maskVec, c =>
                {
                    k.LoadPart(denom, Offset(c, rsp, rowNorms), c.Count, c.Tail);
                    k.Mul(denom, denom, Dot(0));
                    k.Add(denom, denom, u);
                    k.LoadPart(t, Offset(c, ChunkContent, h * nb), c.Count, c.Tail);
                    k.Div(t, t, denom);
                    k.Mul(t, t, Dot(1));
                    k.StorePart(Offset(c, ChunkContent, h * nb), t, c.Count, c.Tail);
                });
            }
        }

        a.mov(r9, rsi);
        a.xor(eax, eax);
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

        for (int h = 0; h < heads; h++)
        {
            a.lea(r9, __[Content + h * nb]);
            ReductionEmitter.EmitSoftmax(k, r9, r9, n, scale: null);
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
