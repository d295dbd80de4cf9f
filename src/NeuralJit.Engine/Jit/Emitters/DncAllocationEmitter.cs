using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// DncAllocation by a stable LSD radix sort of the usages, then the reference's product loop in sorted order.
/// Each usage becomes a 32-bit key with the float order (vector pass: −0 → +0, sign-flipped, NaN → all ones, so
/// NaN sorts last); four 8-bit counting passes, each stable, starting from slot order, give
/// "usage ascending, ties by the lower slot index" — the reference's order — in O(N) (a pass whose byte is the
/// same for every key is skipped). The sort moves 8-byte items (key, slot), which the vector pass writes beside the
/// keys, so a pass reads its key from the item instead of through the permutation. The products run in sorted order with the
/// reference's float roundings (its subnormal steps emulated in double, see <see cref="Products"/>), so the result
/// matches it bit for bit. The sort is scalar GPR code (the
/// histogram increments and scatters are dependent loads and stores that vectors do not speed up here).
/// The kernel's stack holds two item arrays (8 bytes a slot, rounded up to whole vectors of keys) and four 256-bin
/// histograms (~16·N + 4 KiB, <see cref="KernelAssembler.AllocatePagedStack"/>); up to <see cref="SmallSlots"/> slots (by ISA), keys, one
/// permutation and the ranks. Registers: the AVX2 tail mask at the top for the whole kernel; the key pass, the ranking and the
/// products each take theirs from v0 and give them back. Pointers: <c>Usage</c> (rsi), the stack scratch <c>Keys</c>
/// (rdx; the first items), <c>Histograms</c> (r8), the current order <c>Order</c> (r11) and the next one <c>NextOrder</c> (rcx).
/// <para>
/// Measured against the permutation sort it replaced (keys[N] | perm[N] | perm[N], each pass loading a slot, then its key
/// through it, with <c>inc</c> on memory), both compiled in one process and alternated, old ÷ new time, median of 31
/// rounds [10th–90th percentile], usages uniform in [0, 1), Xeon: AVX-512 1.16 [1.15–1.16] at N = 321, 1.20 at 362, 1.23 at
/// 500, 1.22 at 1000, 1.20 [1.17–1.26] at 1024 (13.2 → 11.0 µs), 1.24 at 2048, 1.11 [1.11–1.12] at 4096 (50.5 → 45.3 µs);
/// AVX2 1.31 at 209, 1.30 at 321, 1.23 at 362 and 500, 1.18–1.20 at 1000–2048, 1.14 at 4096. Usages with many ties (four
/// values): 1.02–1.07. With the zero run of <see cref="Products"/>, the vector prefix sums of <see cref="PrefixSums"/> and
/// the new <see cref="SmallSlots"/>, against the kernel before all of it (41 rounds; a copy of the old kernel beside
/// itself: 1.00): AVX-512 1.10–1.15 at N = 161–241 (counting ranks in both), 1.49–1.50 at 321, 1.59 at 362, 1.54 at
/// 500, 1.42 at 1000, 1.53–1.54 [1.51–1.55] at 1024 (13.2 → 8.6 µs), 1.41 at 2048, 1.25–1.33 at 4096 (52.5 → 42.0 µs);
/// AVX2 1.17 at 161, 1.67 at 209, 1.56 at 321, 1.41 at 362, 1.47 [1.46–1.48] at 1024, 1.25 at 4096 (1.34–1.95 in a run
/// on a busier host); usages mostly near 0 or 1 (DNC-like): 1.40–1.45 at 1024, 1.23 at 4096; four distinct usages: 1.14–1.46.
/// Where the code lands matters too: 8–56 bytes of nops before the sort moved the whole kernel by 0.87–1.06 (N = 362–4096,
/// both ISAs; loop heads and branches against 32-byte boundaries, presumably), so single figures within ~10% are layout as much as code.
/// Where the time goes (AVX-512, N = 1024, old kernel, parts removed in turn): the four scatters ~50%,
/// the histograms and prefix sums ~30%, the product loop ~18%, the key pass 1%; in the item sort at N = 4096, a scatter
/// pass of a spread byte takes ~3.5 TSC ticks a slot, the top byte's (half the usages in one bin) ~5. The gain comes from fewer uops (no key
/// load through the permutation, <c>add</c> for <c>inc</c>, byte reads through <c>ch</c>, two items a turn); it was larger
/// (1.2–1.5) in a run while the other vCPU was busy.
/// Rejected, measured the same way: padding the arrays so they differ mod 4 KiB (4K aliasing; at N = 1024 they were
/// exactly 4 KiB apart): 1.01 [0.99–1.02], and no gain on the item layout either; two histogram copies for even and
/// odd slots (to break same-bin chains): 1.00 at 1024, 0.98 at 4096; the histogram loop two keys a turn: 0.86–1.10,
/// mostly below 1 (within the layout effect above, so not kept).
/// </para>
/// </summary>
public sealed class DncAllocationEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncAllocation };

    private const int Bins = 256, Passes = 4;

    private static readonly AssemblerRegister64 Usage = rsi, Keys = rdx, Histograms = r8, Order = r11, NextOrder = rcx, Offset = r10;

    /// <summary>
    /// Up to this many slots the order comes from counting ranks with vector compares (O(N²/lanes), no histograms):
    /// the radix sort's fixed cost (4 × 256-bin prefix sums) made N = 64 take ~5,700 TSC ticks, 22% of a whole step.
    /// Where counting stops paying, measured in one process against the radix sort of items with vector prefix sums
    /// (counting ÷ radix time, median of 41–61 rounds, Xeon): AVX-512 0.80 at N = 192, 0.93 at 224, 1.00 at 240, 1.02–1.07 at
    /// 256, 1.08 at 288, 1.13 at 320; AVX2 0.73 at 128, 0.97–1.01 at 160, 1.07 at 168, 1.13–1.18 at 176–192, 1.16 at 208.
    /// (Against the older permutation sort with scalar prefix sums the crossings were 320 and 208.)
    /// </summary>
    private static int SmallSlots(KernelAssembler k) => k.IsAvx512 ? 240 : 160;

    /// <summary>
    /// φ by ranks: rank_i = #{j : key_j &lt; key_i} + #{j &lt; i : key_j = key_i} (usage ascending, ties by index), then
    /// φ[rank_i] = i, at scratch + 4N. Keys are signed ints here. The ranks of a batch of key vectors (one i per lane)
    /// accumulate in registers while j runs over the slots, key_j broadcast: a block of j below i's block counts key_j ≤
    /// key_i, above it key_j &lt; key_i, and i's own block adds key_j = key_i on the lanes past j. So every compare
    /// serves a whole vector of i and no rank needs a horizontal sum. The tail vector's lanes past N are filled with
    /// int.MaxValue; their ranks are never used. The ranks go to scratch + 8N, then a scalar pass writes φ.
    /// </summary>
    private static void RankByCounting(KernelAssembler k, int n, Vec maskVec)
    {
        var a = k.Asm;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4, vectors = (n + L - 1) / L, tail = n % L, ranksAt = 2 * nb;
        AssemblerRegister64 j = rax, rank = r9;
        AssemblerRegister32 j32 = eax, rank32 = r9d;
        var regs = k.Registers;
        using var ranking = regs.Phase();
        Vec kj = regs.Take("key_j (AVX2)"), t = regs.Take("compare (AVX2)"), above = regs.Take("lanes past j (AVX2)"), jLane = regs.Take("j − first (AVX2)"),
            iota = regs.Take("lane index (AVX2)"), one = regs.Take("1 (AVX-512)");
        // AVX2: 16 registers hold 4 key vectors and their counts beside the 6 above and the tail mask.
        int batch = k.IsAvx512 ? 8 : 4;
        var ki = regs.TakeBlock(batch, "key_i");
        var acc = regs.TakeBlock(batch, "rank_i");
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;
        if (k.IsAvx512) { a.mov(r9d, 1); a.vpbroadcastd(k.Z(one), r9d); }
        else
        {
            var lanes = new uint[L];
            for (int i = 0; i < L; i++) lanes[i] = (uint)i;
            k.Load(iota, k.ConstVector(lanes));
        }
        float fill = BitConverter.Int32BitsToSingle(int.MaxValue);
        const int kCount = 2, kEqual = 3, kPastJ = 5;

        // acc += 1 on the lanes where the compare holds: AVX-512 vpcmpd (predicate) into a k; AVX2 vpcmpgtd/vpcmpeqd (−1 lanes) subtracted.
        void CountWhere(Vec accumulator, Vec key, byte predicate, bool pastJOnly)
        {
            int km = pastJOnly ? kEqual : kCount;
            if (k.IsAvx512)
            {
                a.vpcmpd(KernelAssembler.K(km), k.Z(key), __dword_bcst[Keys + j * 4], predicate);
                if (pastJOnly) a.kandw(KernelAssembler.K(km), KernelAssembler.K(km), KernelAssembler.K(kPastJ));
                a.vpaddd(k.ZK(accumulator, km), k.Z(accumulator), k.Z(one));
                return;
            }
            switch (predicate)
            {
                case 6: a.vpcmpgtd(k.Y(t), k.Y(key), k.Y(kj)); break;   // key_i > key_j
                case 0: a.vpcmpeqd(k.Y(t), k.Y(key), k.Y(kj)); break;
                default: throw new ArgumentOutOfRangeException(nameof(predicate));
            }
            if (pastJOnly) a.vpand(k.Y(t), k.Y(t), k.Y(above));
            a.vpsubd(k.Y(accumulator), k.Y(accumulator), k.Y(t));
        }

        for (int b0 = 0; b0 < vectors; b0 += batch)
        {
            int bc = Math.Min(batch, vectors - b0);
            for (int b = 0; b < bc; b++)
            {
                int v = b0 + b;
                if (v == vectors - 1 && mask is { } m) k.LoadTail(ki[b], __[Keys + v * vb], m, fill);
                else k.Load(ki[b], __[Keys + v * vb]);
                // AVX2 counts j below i's block as L − #{key_j > key_i}: start at L per such block.
                if (k.IsAvx512 || v == 0) k.Zero(acc[b]);
                else { a.mov(r9d, v * L); a.vmovd(k.X(acc[b]), r9d); a.vpbroadcastd(k.Y(acc[b]), k.X(acc[b])); }
            }
            for (int c = 0; c < vectors; c++)
            {
                int first = c * L, end = Math.Min(n, first + L);
                bool diagonal = c >= b0 && c < b0 + bc;
                if (diagonal)
                {
                    if (k.IsAvx512) { a.mov(r9d, 0xFFFE); a.kmovw(KernelAssembler.K(kPastJ), r9d); }
                    else k.Zero(jLane);
                }
                var loop = a.CreateLabel();
                a.mov(j32, first);
                a.Label(ref loop);
                if (!k.IsAvx512) a.vpbroadcastd(k.Y(kj), __dword_ptr[Keys + j * 4]);
                if (diagonal && !k.IsAvx512) a.vpcmpgtd(k.Y(above), k.Y(iota), k.Y(jLane));
                for (int b = 0; b < bc; b++)
                {
                    int v = b0 + b;
                    if (c > v) CountWhere(acc[b], ki[b], 6, false);           // j past i's block: key_j < key_i
                    else if (c < v)
                    {
                        // j before i's block: key_j ≤ key_i
                        if (k.IsAvx512) CountWhere(acc[b], ki[b], 5 /* NLT */, false);
                        else { a.vpcmpgtd(k.Y(t), k.Y(kj), k.Y(ki[b])); a.vpaddd(k.Y(acc[b]), k.Y(acc[b]), k.Y(t)); }
                    }
                    else
                    {
                        CountWhere(acc[b], ki[b], 6, false);                  // key_j < key_i
                        CountWhere(acc[b], ki[b], 0, pastJOnly: true);        // key_j = key_i with j < i
                    }
                }
                if (diagonal)
                {
                    if (k.IsAvx512) a.kshiftlw(KernelAssembler.K(kPastJ), KernelAssembler.K(kPastJ), 1);
                    else a.vpaddd(k.Y(jLane), k.Y(jLane), k.ConstVector(Enumerable.Repeat(1u, L).ToArray()));
                }
                a.inc(j32);
                a.cmp(j32, end);
                a.jb(loop);
            }
            for (int b = 0; b < bc; b++) k.Store(__[Keys + (ranksAt + (b0 + b) * vb)], acc[b]);
        }

        // φ[rank_i] = i.
        var scatter = a.CreateLabel();
        a.xor(j32, j32);
        a.Label(ref scatter);
        a.mov(rank32, __dword_ptr[Keys + j * 4 + ranksAt]);
        a.mov(__dword_ptr[Keys + rank * 4 + nb], j32);
        a.inc(j32);
        a.cmp(j32, n);
        a.jb(scatter);
    }

    public void Emit(KernelAssembler k, OpKey key)
    {
        int n = key.Shape.M;
        if (n == 0) return;
        var a = k.Asm;
        int nb = n * 4;
        bool small = n <= SmallSlots(k);
        var regs = k.Registers;
        var maskVec = regs.TakeHighest("AVX2 tail mask");
        k.LoadPointer(Usage, KernelArgs.Offsets.A);
        // Radix: items[N] | items[N] | hist[4][256], the items' space rounded up to whole vectors of keys (two vectors of items each).
        int itemBytes = (n + k.Lanes - 1) / k.Lanes * k.VectorBytes * 2;
        int bytes = small ? 2 * nb + (n + k.Lanes - 1) / k.Lanes * k.VectorBytes : 2 * itemBytes + Passes * Bins * 4;
        int at = k.AllocatePagedStack(bytes);
        a.lea(Keys, __[rsp + at]);
        if (!small) a.lea(Histograms, __[Keys + 2 * itemBytes]);

        // Keys: the float's bits made monotonic as unsigned (negative: ~b, else b | 2^31); −0 → +0; NaN → 0xFFFFFFFF.
        var keyPass = regs.Phase();
        Vec x = regs.Take("usage → key"), s = regs.Take("sign bits"), ones = regs.Take("all ones"), zero = regs.Take("zero");
        var nan = new MaskReg(2, regs.Take("NaN lanes (AVX2)"));
        a.mov(eax, -1);
        if (k.IsAvx512) a.vpbroadcastd(k.Z(ones), eax); else { a.vmovd(k.X(ones), eax); a.vpbroadcastd(k.Y(ones), k.X(ones)); }
        k.Zero(zero);
        Vec slots = default, pairs = default, pairsHigh = default;
        if (!small)
        {
            slots = regs.Take("slot indices"); pairs = regs.Take("items"); pairsHigh = regs.Take("items, lanes 2, 3, 6, 7 (AVX2)");
            var lanes = new uint[k.Lanes];
            for (int i = 0; i < lanes.Length; i++) lanes[i] = (uint)i;
            k.Load(slots, k.ConstVector(lanes));
        }
        k.ForEachVector(n, 1, Offset, maskVec, c =>
        {
            k.LoadPart(x, c.At(Usage), c.Count, c.Tail);
            k.Add(x, x, zero);                              // −0 + 0 = +0: the two zeros tie, as in the reference
            if (k.IsAvx512) a.vpsrad(k.Z(s), k.Z(x), 31); else a.vpsrad(k.Y(s), k.Y(x), 31);
            k.Or(s, s, k.ConstBits(0x80000000));
            k.Compare(nan, x, x, 3 /* UNORD_Q */);
            k.Xor(x, x, s);
            k.Blend(x, x, ones, nan);
            if (small)
            {
                k.Xor(x, x, k.ConstBits(0x80000000));       // as signed ints: vpcmpgtd compares them in the same order
                k.StorePart(c.At(Keys), x, c.Count, c.Tail);
                return;
            }
            StoreItems(k, c, x, slots, pairs, pairsHigh, s);
        });
        if (small)
        {
            keyPass.Dispose();
            RankByCounting(k, n, maskVec);
            a.lea(Order, __[Keys + nb]);
            Products(k, n, 4);
            return;
        }
        k.ForEachVector(Passes * Bins, 4, Offset, maskVec, c => k.Store(c.At(Histograms), zero));
        keyPass.Dispose();
        RadixSort(k, n, itemBytes);
        Products(k, n, 8);
    }

    /// <summary>
    /// The 8-byte items (key, slot) of one vector of keys, stored whole (tail lanes too: the items' space has room);
    /// <paramref name="slots"/> holds the lanes' slot indices and steps on by a vector. Clobbers <paramref name="temporary"/>.
    /// </summary>
    private static void StoreItems(KernelAssembler k, Cursor c, Vec keys, Vec slots, Vec pairs, Vec pairsHigh, Vec temporary)
    {
        var a = k.Asm;
        int vb = k.VectorBytes;
        AssemblerMemoryOperand ItemsAt(int half) => c.Index is { } i ? __[Keys + i * 2 + (2 * c.Displacement + half * vb)] : __[Keys + (2 * c.Displacement + half * vb)];
        if (k.IsAvx512)
        {
            // vpermi2d: index < 16 takes the key lane, ≥ 16 the slot lane; lanes 0–7 then 8–15 interleaved.
            var index = new uint[16];
            for (int half = 0; half < 2; half++)
            {
                for (int l = 0; l < 8; l++) { index[2 * l] = (uint)(8 * half + l); index[2 * l + 1] = (uint)(16 + 8 * half + l); }
                k.Load(pairs, k.ConstVector(index));
                a.vpermi2d(k.Z(pairs), k.Z(keys), k.Z(slots));
                k.Store(ItemsAt(half), pairs);
            }
            a.vpaddd(k.Z(slots), k.Z(slots), k.ConstBits((uint)k.Lanes));
            return;
        }
        a.vpunpckldq(k.Y(pairs), k.Y(keys), k.Y(slots));          // lanes 0, 1 | 4, 5
        a.vpunpckhdq(k.Y(pairsHigh), k.Y(keys), k.Y(slots));      // lanes 2, 3 | 6, 7
        a.vperm2i128(k.Y(temporary), k.Y(pairs), k.Y(pairsHigh), 0x20);
        k.Store(ItemsAt(0), temporary);
        a.vperm2i128(k.Y(temporary), k.Y(pairs), k.Y(pairsHigh), 0x31);
        k.Store(ItemsAt(1), temporary);
        a.vpaddd(k.Y(slots), k.Y(slots), k.ConstBits((uint)k.Lanes));
    }

    /// <summary>
    /// Sorts the items (key, slot) at <see cref="Keys"/> by key, stably, four 8-bit passes, into the items that
    /// <see cref="Order"/> points at afterwards (either copy). Histograms are zero on entry.
    /// </summary>
    private static void RadixSort(KernelAssembler k, int n, int itemBytes)
    {
        var a = k.Asm;
        // The four byte histograms in one pass over the keys. The key sits in ecx so that ch reaches bytes 1 and 3.
        var loop = a.CreateLabel();
        a.xor(r9d, r9d);
        a.Label(ref loop);
        a.mov(ecx, __dword_ptr[Keys + r9 * 8]);
        a.movzx(eax, cl);
        a.add(__dword_ptr[Histograms + rax * 4], 1);              // add, not inc: one fused uop fewer
        a.movzx(esi, ch);
        a.add(__dword_ptr[Histograms + rsi * 4 + Bins * 4], 1);
        a.shr(ecx, 16);
        a.movzx(eax, cl);
        a.add(__dword_ptr[Histograms + rax * 4 + 2 * Bins * 4], 1);
        a.movzx(esi, ch);
        a.add(__dword_ptr[Histograms + rsi * 4 + 3 * Bins * 4], 1);
        a.inc(r9);
        a.cmp(r9, n);
        a.jb(loop);

        // Order = the current items, NextOrder = where the next pass writes; swapped after each pass that runs.
        a.mov(Order, Keys);
        a.lea(NextOrder, __[Keys + itemBytes]);
        for (int p = 0; p < Passes; p++)
        {
            int hist = p * Bins * 4;
            var skip = a.CreateLabel();
            a.movzx(eax, __byte_ptr[Keys + p]);
            a.cmp(__dword_ptr[Histograms + rax * 4 + hist], n);
            a.je(skip);                                      // every key has this byte: the pass would not move anything
            PrefixSums(k, hist);
            // Stable scatter in the current order, two items a turn: item (rax), its byte p (esi), its position (r10).
            void Move(int item)
            {
                a.mov(rax, __qword_ptr[Order + r9 * 8 + 8 * item]);
                a.movzx(esi, __byte_ptr[Order + r9 * 8 + (8 * item + p)]);
                a.mov(r10d, __dword_ptr[Histograms + rsi * 4 + hist]);
                a.mov(__qword_ptr[NextOrder + r10 * 8], rax);
                a.inc(r10d);
                a.mov(__dword_ptr[Histograms + rsi * 4 + hist], r10d);
            }
            loop = a.CreateLabel();
            a.xor(r9d, r9d);
            a.Label(ref loop);
            Move(0);
            Move(1);
            a.add(r9, 2);
            a.cmp(r9, n & ~1);
            a.jb(loop);
            if ((n & 1) != 0) Move(0);
            a.xchg(Order, NextOrder);
            a.Label(ref skip);
        }
    }

    /// <summary>
    /// Exclusive prefix sums of the histogram at <see cref="Histograms"/> + <paramref name="hist"/> (bin → first output
    /// position), a vector at a time: an inclusive scan inside the vector (shifted copies added), minus the counts, plus the
    /// running total of the vectors before (the last lane broadcast). Clobbers eax. Against the scalar loop (a load, a
    /// store and an add a bin, 1,024 bins for four passes), old ÷ new in one process, 31 rounds, Xeon: AVX-512 1.21 at
    /// N = 321, 1.31 at 362, 1.24 at 500, 1.02–1.06 at 1024–4096; AVX2 1.19 at 209, 1.16 at 321, 1.03–1.12 at 362–4096.
    /// </summary>
    private static void PrefixSums(KernelAssembler k, int hist)
    {
        var a = k.Asm;
        var regs = k.Registers;
        using var phase = regs.Phase();
        Vec counts = regs.Take("counts"), scan = regs.Take("inclusive scan"), t = regs.Take("shifted"), total = regs.Take("running total"),
            last = regs.Take("last lane index"), zero = regs.Take("zero (AVX-512)");
        int L = k.Lanes, vb = k.VectorBytes;
        k.Zero(total);
        k.Zero(zero);
        a.mov(eax, L - 1);
        if (k.IsAvx512) a.vpbroadcastd(k.Z(last), eax); else { a.vmovd(k.X(last), eax); a.vpbroadcastd(k.Y(last), k.X(last)); }
        var loop = a.CreateLabel();
        a.xor(eax, eax);
        a.Label(ref loop);
        var at = __[Histograms + rax + hist];
        k.Load(counts, at);
        if (k.IsAvx512)
        {
            // valignd (x : 0) >> (16 − s) lanes: lane i gets x[i − s], zeros below.
            a.valignd(k.Z(t), k.Z(counts), k.Z(zero), (byte)15);
            a.vpaddd(k.Z(scan), k.Z(counts), k.Z(t));
            foreach (int shift in new[] { 2, 4, 8 })
            {
                a.valignd(k.Z(t), k.Z(scan), k.Z(zero), (byte)(16 - shift));
                a.vpaddd(k.Z(scan), k.Z(scan), k.Z(t));
            }
            a.vpsubd(k.Z(counts), k.Z(scan), k.Z(counts));
            a.vpaddd(k.Z(counts), k.Z(counts), k.Z(total));
            a.vpermd(k.Z(t), k.Z(last), k.Z(scan));
            a.vpaddd(k.Z(total), k.Z(total), k.Z(t));
        }
        else
        {
            // Within each 128-bit lane by byte shifts, then the low lane's total added to the high lane.
            a.vpslldq(k.Y(t), k.Y(counts), (byte)4);
            a.vpaddd(k.Y(scan), k.Y(counts), k.Y(t));
            a.vpslldq(k.Y(t), k.Y(scan), (byte)8);
            a.vpaddd(k.Y(scan), k.Y(scan), k.Y(t));
            a.vpshufd(k.Y(t), k.Y(scan), (byte)0xFF);
            a.vperm2i128(k.Y(t), k.Y(t), k.Y(t), 0x08);             // low lane zero, high lane the low lane's total
            a.vpaddd(k.Y(scan), k.Y(scan), k.Y(t));
            a.vpsubd(k.Y(counts), k.Y(scan), k.Y(counts));
            a.vpaddd(k.Y(counts), k.Y(counts), k.Y(total));
            a.vpermd(k.Y(t), k.Y(last), k.Y(scan));
            a.vpaddd(k.Y(total), k.Y(total), k.Y(t));
        }
        k.Store(at, counts);
        a.add(eax, vb);
        a.cmp(eax, Bins * 4);
        a.jb(loop);
    }

    /// <summary>
    /// a[φ_j] = (1 − u[φ_j])·Π_{i&lt;j} u[φ_i], in float and in sorted order like the reference; φ at <see cref="Order"/>.
    /// While the running product is a nonzero subnormal float, every multiply would take a floating-point microcode assist
    /// (~150 cycles; with usages near 1, N = 4096 spends half its time there), so those steps leave the float loop: both
    /// products are formed exactly in double (24-bit by 24-bit mantissas) and rounded to the float subnormal grid in
    /// double, (x + 1.5·2^−97) − 1.5·2^−97, which rounds to a multiple of 2^−149 to nearest-even exactly as the float
    /// multiply does; the output's bits are then that multiple as an integer, with the sign. Bit for bit the reference's.
    /// Once the product is +0 (usages uniform in [0, 1) get there after ~100 slots), slots with a usage in [+0, 1] only
    /// store +0, with no multiply chain (4 cycles a slot): old ÷ new in one process, median of 31 rounds, Xeon: AVX-512 1.11
    /// at N = 209, 1.12 at 321, 1.04 at 500, 1.11 [1.10–1.11] at 1024, 1.07 at 4096; AVX2 1.07, 1.03, 1.10, 1.11, 1.04;
    /// four distinct usages, N = 1023: 1.19; N = 100 (the product reaches zero late): 0.99.
    /// Up to <see cref="UnguardedProductSlots"/> slots the float loop runs alone (see there).
    /// </summary>
    /// <summary>
    /// Up to this many slots the product loop has no subnormal check: the check's five instructions a slot cost about
    /// 15–20 ns at N = 64 (A/B, in the step too), while a product of so few usages, if it falls that low, crosses the
    /// subnormal range in a step or two. Beyond it the subnormal steps can run long (N = 128: ~2.2 → ~1.0 µs).
    /// </summary>
    private const int UnguardedProductSlots = 64;

    private static void Products(KernelAssembler k, int n, int stride)
    {
        var a = k.Asm;
        AssemblerRegister64 output = r10, slot = rax, j = r9;
        AssemblerRegister32 slot32 = eax, j32 = r9d, bits = ecx, sign = r8d;
        var regs = k.Registers;
        using var products = regs.Phase();
        Vec product = regs.Take("running product"), one = regs.Take("1"), u = regs.Take("u"), t = regs.Take("temporary"),
            productD = regs.Take("running product (double, subnormal steps)"), tmpD = regs.Take("double temporary");
        const double SubnormalRounder = 1.5 * 1.0 / (1L << 48) / (1L << 49);   // 1.5·2^−97: its ulp is 2^−149
        double floatMin = BitConverter.Int32BitsToSingle(0x00800000), subnormalUlpInverse = Math.ScaleB(1.0, 149);
        k.LoadPointer(Usage, KernelArgs.Offsets.A);
        k.LoadPointer(output, KernelArgs.Offsets.C);
        k.LoadConst(one, 1f);
        k.Move(product, one);
        Label fast = a.CreateLabel(), slow = a.CreateLabel(), toSlow = a.CreateLabel(), next = a.CreateLabel(), done = a.CreateLabel();
        a.xor(j32, j32);
        a.Label(ref fast);
        a.mov(slot32, __dword_ptr[Order + j * stride + (stride - 4)]);
        a.vmovss(k.X(u), __dword_ptr[Usage + slot * 4]);
        a.vsubss(k.X(t), k.X(one), k.X(u));
        a.vmulss(k.X(t), k.X(t), k.X(product));
        a.vmovss(__dword_ptr[output + slot * 4], k.X(t));
        a.vmulss(k.X(product), k.X(product), k.X(u));
        a.inc(j);
        if (n <= UnguardedProductSlots)
        {
            a.cmp(j, n);
            a.jb(fast);
            return;
        }
        // A zero or subnormal product: its bits without the sign, doubled, below 2^24.
        a.vmovd(bits, k.X(product));
        a.add(bits, bits);
        a.cmp(bits, 0x1000000);
        a.jb(toSlow);
        a.cmp(j, n);
        a.jb(fast);
        a.jmp(done);

        // A product of +0 stays +0 and every output is +0 while the usages are in [+0, 1] (1 − 1 = +0): those slots need
        // only a store. Any other usage (−0, negative, above 1, ±∞, NaN) goes to the float loop, which keeps the zero.
        a.Label(ref toSlow);
        var subnormal = a.CreateLabel();
        a.test(bits, bits);
        a.jnz(subnormal);
        a.vmovd(bits, k.X(product));
        a.test(bits, bits);
        a.jnz(next);                                       // −0: the float loop
        a.cmp(j, n);
        a.jae(done);
        var zeros = a.CreateLabel();
        a.Label(ref zeros);
        a.mov(slot32, __dword_ptr[Order + j * stride + (stride - 4)]);
        a.cmp(__dword_ptr[Usage + slot * 4], 0x3F800000);  // unsigned: −0, negatives and NaNs are above
        a.ja(fast);
        a.mov(__dword_ptr[output + slot * 4], 0);
        a.inc(j);
        a.cmp(j, n);
        a.jb(zeros);
        a.jmp(done);

        // The float product's exact value in double: its 23 mantissa bits · 2^−149, with its sign.
        a.Label(ref subnormal);
        a.shr(bits, 1);
        a.vcvtsi2sd(k.X(productD), k.X(productD), bits);
        a.vmulsd(k.X(productD), k.X(productD), k.ConstDouble(1 / subnormalUlpInverse));
        a.vmovd(sign, k.X(product));
        a.and(sign, unchecked((int)0x80000000));
        var positive = a.CreateLabel();
        a.jz(positive);
        a.vxorpd(k.X(productD), k.X(productD), k.ConstDouble(-0.0));
        a.Label(ref positive);
        a.cmp(j, n);
        a.jae(done);

        // The value of the double in tmpD rounded to a float: normal (|x| ≥ 2^−126, ±∞, NaN) by vcvtsd2ss into `t`,
        // then jump to `normal`; else the double in tmpD becomes its rounding to the subnormal grid and `bits` its float bits.
        void RoundTiny(Label normal)
        {
            a.vmovq(k.X(t), k.X(tmpD));                        // keep the sign's source
            a.vandpd(k.X(tmpD), k.X(tmpD), k.ConstDouble(BitConverter.Int64BitsToDouble(long.MaxValue)));
            a.vucomisd(k.X(tmpD), k.ConstDouble(floatMin));
            Label tiny = a.CreateLabel(), convert = a.CreateLabel();
            a.jp(convert);                                     // NaN
            a.jb(tiny);
            a.Label(ref convert);
            a.vcvtsd2ss(k.X(t), k.X(t), k.X(t));
            a.jmp(normal);
            a.Label(ref tiny);
            a.vaddsd(k.X(tmpD), k.X(tmpD), k.ConstDouble(SubnormalRounder));
            a.vsubsd(k.X(tmpD), k.X(tmpD), k.ConstDouble(SubnormalRounder));
            a.vmovmskpd(sign, k.X(t));
            a.shl(sign, 31);
            a.vmulsd(k.X(t), k.X(tmpD), k.ConstDouble(subnormalUlpInverse));
            a.vcvttsd2si(bits, k.X(t));
            a.or(bits, sign);                                  // |x| rounded, as float bits
            a.test(sign, sign);
            var keep = a.CreateLabel();
            a.jz(keep);
            a.vxorpd(k.X(tmpD), k.X(tmpD), k.ConstDouble(-0.0));
            a.Label(ref keep);
        }

        a.Label(ref slow);
        a.mov(slot32, __dword_ptr[Order + j * stride + (stride - 4)]);
        a.vmovss(k.X(u), __dword_ptr[Usage + slot * 4]);
        a.vsubss(k.X(t), k.X(one), k.X(u));
        a.vcvtss2sd(k.X(tmpD), k.X(t), k.X(t));
        a.vmulsd(k.X(tmpD), k.X(tmpD), k.X(productD));        // (1 − u)·p, exact
        var outputNormal = a.CreateLabel();
        var outputStored = a.CreateLabel();
        RoundTiny(outputNormal);
        a.mov(__dword_ptr[output + slot * 4], bits);
        a.jmp(outputStored);
        a.Label(ref outputNormal);
        a.vmovss(__dword_ptr[output + slot * 4], k.X(t));
        a.Label(ref outputStored);
        a.vcvtss2sd(k.X(tmpD), k.X(u), k.X(u));
        a.vmulsd(k.X(tmpD), k.X(tmpD), k.X(productD));        // p·u, exact
        a.inc(j);
        var productNormal = a.CreateLabel();
        RoundTiny(productNormal);
        // Still subnormal: stay here; rounded to ±0: back to the float loop with that zero.
        a.vmovd(k.X(product), bits);
        a.vmovapd(k.X(productD), k.X(tmpD));
        a.test(bits, 0x7FFFFFFF);
        a.jz(next);
        a.cmp(j, n);
        a.jb(slow);
        a.jmp(done);
        a.Label(ref productNormal);
        a.vmovss(k.X(product), k.X(product), k.X(t));
        a.Label(ref next);
        a.cmp(j, n);
        a.jb(fast);
        a.Label(ref done);
    }
}
