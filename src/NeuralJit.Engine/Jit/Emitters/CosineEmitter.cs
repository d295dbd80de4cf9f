using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// CosineSimilarity (C[i] = A_i·B / (‖A_i‖·‖B‖ + 1e-6)) and DncContent (C = softmax(Alpha · cosine)).
/// <para>Rows of up to 8 vectors with M L1-resident go L at a time first (<see cref="TreeGroups"/>): one row per lane,
/// each row's sums in its own register, folded by <see cref="ReductionTree"/>, and the cosine finished on whole vectors.
/// Against the four-row groups below (old ÷ new time, both kernels in one process, alternated, median of 21 rounds
/// [10th–90th percentile], Xeon), DncContent AVX-512 / AVX2: 64×16 1.42 [1.37–1.44] / 1.21 [1.19–1.24], 256×16 1.52 / 1.28,
/// 512×16 1.67 / 1.24, 20×16 1.27 / 1.12, 64×8 1.38 / 1.24, 64×64 1.27 / 1.13, 32×100 1.16 / (not taken: 13 vectors) 0.99;
/// CosineSimilarity 64×16 1.57 [1.54–1.61] / 1.33 [1.30–1.37], 64×64 1.29 / 1.07. The four-row groups were bound by
/// their reductions' shuffles (22 port-5 µops a group on AVX-512: a loop of 64×16 ran at ~42 TSC ticks a group,
/// 64×64 took no longer than 64×16); the tree needs 2·(L−1) shuffles for L rows' dots and as many for their norms.
/// Rejected: at W = 16 on AVX-512, the rows transposed (<see cref="RowTranspose16"/>, as DncWriteContent sums) and both
/// sums taken down the columns, against the trees: DncContent 64×16 0.97 [0.96–1.02], 256×16 1.01, 16×16 1.00
/// (CosineSimilarity 64×16 1.09 [1.03–1.18]): 64 shuffles for two sums save too little.</para>
/// Four rows at a time (the rows after the tree groups, and wider or L2-streamed memories): each row's dot and squared
/// norm accumulate in their own register (8 independent FMA chains, two loads per row vector with the key as a memory
/// operand), then the eight sums are reduced
/// together — halves added down to 4 lanes, then three vhaddps transpose them into one xmm [r0 r1 r2 r3]
/// for dots and one for norms — so sqrt, multiply, add and divide run once per four rows. Rows left over
/// (M mod 4) take a scalar epilogue. The key's norm is computed once; its masked tail vector is loaded once.
/// DncContent scales by β as it stores (one rounding, like the reference), tracks the running max in the
/// same pass, and then runs the softmax's exp/sum and divide passes only (<see cref="ReductionEmitter"/>).
/// Registers (<see cref="Map"/>, taken in this order, so the same on both ISAs): dot r0..3 = v0..3, norm = v4..7,
/// row loads v8/v9, temp v10, running max v11, key tail v12, ‖key‖ v13, β v14, AVX2 tail mask v15; on AVX-512
/// the key itself in v16..v27 when it fits. Pointers: rows rsi, key rdx, C rcx (advancing) and r11 (kept).
/// </summary>
public sealed class CosineEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.CosineSimilarity, OpKind.DncContent };

    private static readonly AssemblerRegister64 Rows = rsi, Key = rdx, Out = rcx, Width = r10, OutStart = r11;
    private static readonly AssemblerRegister32 GroupsLeft = r8d;

    /// <summary>The kernel's vector registers by role (see the class summary for where they land).</summary>
    private sealed class Map
    {
        public readonly Vec[] Dots, Norms, RowLoads, KeyVectors;
        public readonly Vec Tmp, RunMax, KeyTail, KeyNorm, Beta, Avx2Mask;

        public Map(VectorRegisterPlan regs, int keyVectors)
        {
            Dots = regs.TakeBlock(4, "dot");
            Norms = regs.TakeBlock(4, "norm");
            RowLoads = regs.TakeBlock(2, "row load");
            Tmp = regs.Take("temporary");
            RunMax = regs.Take("running max");
            KeyTail = regs.Take("key tail");
            KeyNorm = regs.Take("‖key‖");
            Beta = regs.Take("β");
            Avx2Mask = regs.Take("AVX2 tail mask");
            KeyVectors = regs.TakeBlock(keyVectors, "key");
        }

        public Vec Dot(int r) => Dots[r];
        public Vec Norm(int r) => Norms[r];
        public Vec Row(int r) => RowLoads[r & 1];

        /// <summary>Gives back every register but the running max, which the softmax passes consume.</summary>
        public void ReleaseAllButRunMax(VectorRegisterPlan regs)
        {
            foreach (var v in Dots.Concat(Norms).Concat(RowLoads).Concat(KeyVectors).Concat(new[] { Tmp, KeyTail, KeyNorm, Beta, Avx2Mask }))
                regs.Release(v);
        }
    }
    /// <summary>
    /// Memories larger than L1 stream from L2: prefetching each line 12 rows (3 groups) ahead took DncContent
    /// 256×64 from ~670 to ~610 ns here (bench/JitCoreBench, interleaved runs); an L1-resident 128×64 got ~5%
    /// slower from the extra instructions, hence the size threshold.
    /// </summary>
    private const int PrefetchRowsAhead = 12, PrefetchAboveBytes = 32 * 1024;
    /// <summary>Key vectors kept in registers (v16.., up to 12) on AVX-512; AVX2 reads the key from memory (L1).</summary>
    private const int KeyRegsMax = 12;
    private static bool KeyInRegisters(KernelAssembler k, int full) => k.IsAvx512 && full <= KeyRegsMax;

    public void Emit(KernelAssembler k, OpKey key)
    {
        var s = key.Shape;
        int m = s.M, n = s.N, ldaBytes = s.StrideA(key.Op) * 4;
        bool dnc = key.Op == OpKind.DncContent;
        if (m == 0) return;
        var a = k.Asm;
        int L = k.Lanes, vb = k.VectorBytes, full = n / L, tail = n % L;
        bool keyRegs = KeyInRegisters(k, full);
        var map = new Map(k.Registers, keyRegs ? full : 0);
        k.LoadPointer(Rows, KernelArgs.Offsets.A);
        k.LoadPointer(Key, KernelArgs.Offsets.B);
        k.LoadPointer(Out, KernelArgs.Offsets.C);
        if (dnc) { k.BroadcastField(map.Beta, KernelArgs.Offsets.Alpha); k.LoadConst(map.RunMax, float.NegativeInfinity); }
        a.mov(OutStart, Out);

        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, map.Avx2Mask) : null;
        if (mask is { } t) k.LoadTail(map.KeyTail, __[Key + full * vb], t);

        // ‖key‖ in every lane.
        k.Zero(map.Dot(0));
        for (int v = 0; v < full; v++)
        {
            var kv = keyRegs ? map.KeyVectors[v] : map.Row(0);
            k.Load(kv, __[Key + v * vb]);
            k.FmaAcc(map.Dot(0), kv, kv);
        }
        if (mask is not null) k.FmaAcc(map.Dot(0), map.KeyTail, map.KeyTail);
        k.ReduceAdd(map.Dot(0), map.Tmp);
        a.vsqrtss(k.X(map.Dot(0)), k.X(map.Dot(0)), k.X(map.Dot(0)));
        k.BroadcastLane0(map.KeyNorm, map.Dot(0));

        bool prefetch = (long)m * ldaBytes > PrefetchAboveBytes;
        int treeGroups = UseTree(k, m, n, full, prefetch) ? m / L : 0;
        if (treeGroups > 0)
        {
            TreeGroups(k, map, treeGroups, full, vb, ldaBytes, mask, keyRegs, dnc);
            // The 4-row path below works on xmm (VEX zeroes the upper lanes): lane 0 holds the max so far.
            if (dnc) k.ReduceMax(map.RunMax, map.Tmp);
        }
        int left = m - treeGroups * L, groups = left / 4, rest = left % 4;
        if (groups > 0)
        {
            var loop = a.CreateLabel();
            if (groups > 1) { a.mov(GroupsLeft, groups); a.Label(ref loop); }
            Accumulate(k, map, 4, full, vb, ldaBytes, mask, keyRegs, prefetch);
            ReduceFour(k, map);
            // v0 (xmm) = [dot0..3], v4 (xmm) = [norm0..3]
            a.vsqrtps(k.X(map.Norm(0)), k.X(map.Norm(0)));
            a.vmulps(k.X(map.Norm(0)), k.X(map.Norm(0)), k.X(map.KeyNorm));
            k.LoadConst(map.Tmp, ReferenceOps.CosineEpsilon);
            a.vaddps(k.X(map.Norm(0)), k.X(map.Norm(0)), k.X(map.Tmp));
            a.vdivps(k.X(map.Dot(0)), k.X(map.Dot(0)), k.X(map.Norm(0)));
            if (dnc)
            {
                a.vmulps(k.X(map.Dot(0)), k.X(map.Dot(0)), k.X(map.Beta));
                a.vmaxps(k.X(map.RunMax), k.X(map.RunMax), k.X(map.Dot(0)));
            }
            a.vmovups(__xmmword_ptr[Out], k.X(map.Dot(0)));
            a.add(Rows, 4 * ldaBytes);
            a.add(Out, 16);
            if (groups > 1) { a.dec(GroupsLeft); a.jnz(loop); }
        }
        if (rest > 0)
        {
            Accumulate(k, map, rest, full, vb, ldaBytes, mask, keyRegs, prefetch: false);
            for (int r = 0; r < rest; r++)
            {
                k.ReduceAdd(map.Dot(r), map.Tmp);
                k.ReduceAdd(map.Norm(r), map.Tmp);
                a.vsqrtss(k.X(map.Norm(r)), k.X(map.Norm(r)), k.X(map.Norm(r)));
                a.vmulss(k.X(map.Norm(r)), k.X(map.Norm(r)), k.X(map.KeyNorm));
                k.LoadConst(map.Tmp, ReferenceOps.CosineEpsilon);
                a.vaddss(k.X(map.Norm(r)), k.X(map.Norm(r)), k.X(map.Tmp));
                a.vdivss(k.X(map.Dot(r)), k.X(map.Dot(r)), k.X(map.Norm(r)));
                if (dnc)
                {
                    a.vmulss(k.X(map.Dot(r)), k.X(map.Dot(r)), k.X(map.Beta));
                    a.vmaxss(k.X(map.RunMax), k.X(map.RunMax), k.X(map.Dot(r)));
                }
                a.vmovss(__dword_ptr[Out + r * 4], k.X(map.Dot(r)));
            }
        }
        if (!dnc) return;

        // Max of the four running lanes (VEX xmm ops zeroed the upper lanes: reduce the xmm only).
        a.vmovhlps(k.X(map.Tmp), k.X(map.Tmp), k.X(map.RunMax));
        a.vmaxps(k.X(map.RunMax), k.X(map.RunMax), k.X(map.Tmp));
        a.vmovshdup(k.X(map.Tmp), k.X(map.RunMax));
        a.vmaxss(k.X(map.RunMax), k.X(map.RunMax), k.X(map.Tmp));
        map.ReleaseAllButRunMax(k.Registers);
        ReductionEmitter.EmitSoftmax(k, OutStart, OutStart, m, scale: null, knownMaxLane0: map.RunMax);
    }

    /// <summary>Whole groups of L rows go through <see cref="TreeGroups"/> when M is L1-resident (no prefetch) and a row is at most <see cref="TreeMaxVectors"/> vectors.</summary>
    private static bool UseTree(KernelAssembler k, int m, int n, int full, bool prefetch) =>
        n > 0 && m >= k.Lanes && !prefetch && full <= TreeMaxVectors;

    /// <summary>
    /// Row vectors a tree group takes straight-line (2·L·vectors FMAs); on AVX-512 also the key vectors that fit in
    /// registers beside the 16 accumulators.
    /// </summary>
    private const int TreeMaxVectors = 8;

    /// <summary>
    /// <paramref name="groups"/> groups of L rows (one row per lane): each row's squared norm, then its dot with the
    /// key, accumulates in the row's own register, and <see cref="ReductionTree"/> folds the L registers into one vector
    /// of L sums, so sqrt, multiply, add, divide, β and the running max run on whole vectors. Accumulators: the map's
    /// dot and norm registers (and 8 more on AVX-512); the row loads are the tree's temporary and the row (or AVX2 key)
    /// vector; the map's temporary holds the norms while the dots accumulate. Rows and Out advance past the groups.
    /// </summary>
    private static void TreeGroups(KernelAssembler k, Map map, int groups, int full, int vb, int ldaBytes, TailMask? mask, bool keyRegs, bool dnc)
    {
        var a = k.Asm;
        int L = k.Lanes;
        var regs = k.Registers;
        using var phase = regs.Phase();
        var acc = map.Dots.Concat(map.Norms).Concat(k.IsAvx512 ? regs.TakeBlock(8, "row sum") : Array.Empty<Vec>()).ToArray();
        Vec tmp = map.RowLoads[0], t = map.RowLoads[1], norms = map.Tmp;
        var tree = ReductionTree.For(k.IsAvx512);
        var laneOf = tree.AccumulatorOfLane;
        AssemblerMemoryOperand RowAt(int i, int v) => __[Rows + (i * ldaBytes + v * vb)];

        var loop = a.CreateLabel();
        if (groups > 1) { a.mov(GroupsLeft, groups); a.Label(ref loop); }
        // Σ row_i² (the first vector multiplies: the same rounding as adding to 0).
        for (int i = 0; i < L; i++)
        {
            Vec sum = acc[laneOf[i]];
            for (int v = 0; v < full; v++)
            {
                if (v == 0) { k.Load(sum, RowAt(i, 0)); k.Mul(sum, sum, sum); }
                else { k.Load(t, RowAt(i, v)); k.FmaAcc(sum, t, t); }
            }
            if (mask is { } tm)
            {
                k.LoadTail(t, RowAt(i, full), tm);
                if (full == 0) k.Mul(sum, t, t); else k.FmaAcc(sum, t, t);
            }
        }
        tree.Emit(k, acc, tmp, norms);
        // Σ row_i·key: the key vector in a register, the row's as the memory operand.
        for (int v = 0; v < full; v++)
        {
            Vec kv = keyRegs ? map.KeyVectors[v] : t;
            if (!keyRegs) k.Load(t, __[Key + v * vb]);
            for (int i = 0; i < L; i++)
                if (v == 0) k.Mul(acc[laneOf[i]], kv, RowAt(i, 0)); else k.FmaAcc(acc[laneOf[i]], kv, RowAt(i, v));
        }
        if (mask is { } km)
            for (int i = 0; i < L; i++)
            {
                k.LoadTail(t, RowAt(i, full), km);
                if (full == 0) k.Mul(acc[laneOf[i]], t, map.KeyTail); else k.FmaAcc(acc[laneOf[i]], t, map.KeyTail);
            }
        Vec dots = tree.Emit(k, acc.Select(x => (Vec?)x).ToArray(), tmp);
        // c = dot / (‖row‖·‖key‖ + ε) (·β), the reference's operations in its order.
        k.Sqrt(norms, norms);
        k.Mul(norms, norms, map.KeyNorm);
        k.Add(norms, norms, k.Const(ReferenceOps.CosineEpsilon));
        k.Div(dots, dots, norms);
        if (dnc)
        {
            k.Mul(dots, dots, map.Beta);
            k.Max(map.RunMax, map.RunMax, dots);
        }
        k.Store(__[Out], dots);
        a.add(Rows, L * ldaBytes);
        a.add(Out, vb);
        if (groups > 1) { a.dec(GroupsLeft); a.jnz(loop); }
    }

    /// <summary>dot_r = Σ row_r·key, norm_r = Σ row_r², for <paramref name="rows"/> rows from Rows.</summary>
    private static void Accumulate(KernelAssembler k, Map map, int rows, int full, int vb, int ldaBytes, TailMask? mask, bool keyRegs, bool prefetch)
    {
        var a = k.Asm;
        for (int r = 0; r < rows; r++) { k.Zero(map.Dot(r)); k.Zero(map.Norm(r)); }
        void Step(AssemblerRegister64? index, int disp)
        {
            for (int r = 0; r < rows; r++)
            {
                var at = index is { } i ? __[Rows + i + (r * ldaBytes + disp)] : __[Rows + (r * ldaBytes + disp)];
                k.Load(map.Row(r), at);
                if (prefetch && disp % 64 == 0)
                {
                    int ahead = r * ldaBytes + disp + PrefetchRowsAhead * ldaBytes;
                    k.Asm.prefetcht0(index is { } p ? __[Rows + p + ahead] : __[Rows + ahead]);
                }
                if (keyRegs) k.FmaAcc(map.Dot(r), map.Row(r), map.KeyVectors[disp / vb]);
                else k.FmaAcc(map.Dot(r), map.Row(r), index is { } j ? __[Key + j + disp] : __[Key + disp]);
                k.FmaAcc(map.Norm(r), map.Row(r), map.Row(r));
            }
        }
        if (full > 8 && !keyRegs)
        {
            // Long rows: a loop over the width (Width = byte offset) keeps the code small.
            var loop = a.CreateLabel();
            a.xor(Width, Width);
            a.Label(ref loop);
            Step(Width, 0);
            a.add(Width, vb);
            a.cmp(Width, full * vb);
            a.jb(loop);
        }
        else for (int v = 0; v < full; v++) Step(null, v * vb);
        if (mask is { } t)
            for (int r = 0; r < rows; r++)
            {
                k.LoadTail(map.Row(r), __[Rows + (r * ldaBytes + full * vb)], t);
                k.FmaAcc(map.Dot(r), map.Row(r), map.KeyTail);
                k.FmaAcc(map.Norm(r), map.Row(r), map.Row(r));
            }
    }

    /// <summary>
    /// Eight accumulators → xmm v0 = [dot0 dot1 dot2 dot3], xmm v4 = [norm0 … norm3]: zmm halves added down to
    /// ymm (AVX-512), then per set of four vhaddps(vhaddps(a,b), vhaddps(c,d)) leaves [r0 r1 r2 r3] in each
    /// 128-bit lane, and one extract+add sums the two lanes. 26 instructions on AVX-512, 10 on AVX2.
    /// </summary>
    private static void ReduceFour(KernelAssembler k, Map map)
    {
        var a = k.Asm;
        var sums = map.Dots.Concat(map.Norms).ToArray();
        if (k.IsAvx512)
            for (int i = 0; i < 8; i++)
            {
                var v = sums[i];
                var t = map.RowLoads[i & 1];
                a.vextractf32x8(k.Y(t), k.Z(v), 1);
                a.vaddps(k.Y(v), k.Y(v), k.Y(t));
            }
        foreach (var (set, t) in new[] { (map.Dots, map.RowLoads[0]), (map.Norms, map.RowLoads[1]) })
        {
            Vec v0 = set[0], v1 = set[1], v2 = set[2], v3 = set[3];
            a.vhaddps(k.Y(v0), k.Y(v0), k.Y(v1));
            a.vhaddps(k.Y(v2), k.Y(v2), k.Y(v3));
            a.vhaddps(k.Y(v0), k.Y(v0), k.Y(v2));
            a.vextractf128(k.X(t), k.Y(v0), 1);
            a.vaddps(k.X(v0), k.X(v0), k.X(t));
        }
    }
}
