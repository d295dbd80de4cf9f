using Iced.Intel;
using NeuralJit.Ops;
using OpKind = NeuralJit.Ops.OpKind;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// DncAllocation by a stable LSD radix sort of the usages, then the reference's product loop in sorted order.
/// Each usage becomes a 32-bit key with the float order (vector pass: −0 → +0, sign-flipped, NaN → all ones, so
/// NaN sorts last); four 8-bit counting passes, each stable, starting from the identity permutation, give
/// "usage ascending, ties by the lower slot index" — the reference's order — in O(N) (a pass whose byte is the
/// same for every key is skipped: usages in (0, 1) share their top byte). The products run in float in sorted
/// order exactly as the reference's, so the result matches it bit for bit. The sort is scalar GPR code (the
/// histogram increments and scatters are dependent loads and stores that vectors do not speed up here).
/// The kernel's stack holds keys[N], two permutations[N] and four 256-bin histograms (12·N + 4 KiB, probed a page at a
/// time from the top so a Windows guard page is never skipped); up to <see cref="SmallSlots"/> slots, keys and one
/// permutation.
/// </summary>
public sealed class DncAllocationEmitter : IKernelEmitter
{
    public IReadOnlyList<OpKind> Ops { get; } = new[] { OpKind.DncAllocation };

    private const int Bins = 256, Passes = 4, PageBytes = 4096;

    /// <summary>
    /// Up to this many slots the order comes from counting ranks with vector compares (O(N²/lanes), no histograms):
    /// the radix sort's fixed cost (4 × 256-bin prefix sums) made N = 64 take ~5,700 TSC ticks, 22% of a whole step.
    /// </summary>
    private const int SmallSlots = 128;

    /// <summary>
    /// φ by ranks: rank_i = #{j : key_j &lt; key_i} + #{j &lt; i : key_j = key_i} (usage ascending, ties by index), then
    /// φ[rank_i] = i, at scratch + 4N. Keys are signed ints here. Rows i are emitted per block of one vector: for key
    /// vectors below i's block every key with j &lt; i counts when ≤ key_i, above it when &lt; key_i, and only the block's own
    /// vector compares indices. The tail vector is filled with int.MaxValue, which is never below a key.
    /// </summary>
    private static void RankByCounting(KernelAssembler k, int n)
    {
        var a = k.Asm;
        int L = k.Lanes, vb = k.VectorBytes, nb = n * 4, vectors = (n + L - 1) / L, tail = n % L;
        Vec ki = new(0), acc = new(1), kj = new(2), t = new(3), eq = new(4), lane = new(5), iota = new(6), one = new(7);
        var maskVec = new Vec(k.VectorRegisters - 1);
        TailMask? mask = tail > 0 ? k.CreateTailMask(tail, maskVec) : null;
        var lanes = new uint[L];
        for (int i = 0; i < L; i++) lanes[i] = (uint)i;
        k.Load(iota, k.ConstVector(lanes));
        if (k.IsAvx512) { a.mov(eax, 1); a.vpbroadcastd(k.Z(one), eax); }
        float fill = BitConverter.Int32BitsToSingle(int.MaxValue);

        void LoadKeys(int v)
        {
            if (v == vectors - 1 && mask is { } m) k.LoadTail(kj, __[rdx + v * vb], m, fill);
            else k.Load(kj, __[rdx + v * vb]);
        }
        // acc −= m for a mask of −1 lanes (AVX2) or acc += 1 under k (AVX-512): one count per set lane; subtract = the opposite.
        void Count(int km, Vec m, bool subtract)
        {
            if (k.IsAvx512)
            {
                if (subtract) a.vpsubd(k.ZK(acc, km), k.Z(acc), k.Z(one)); else a.vpaddd(k.ZK(acc, km), k.Z(acc), k.Z(one));
            }
            else if (subtract) a.vpaddd(k.Y(acc), k.Y(acc), k.Y(m)); else a.vpsubd(k.Y(acc), k.Y(acc), k.Y(m));
        }
        void Greater(int km, Vec m, Vec x, Vec y) { if (k.IsAvx512) a.vpcmpgtd(KernelAssembler.K(km), k.Z(x), k.Z(y)); else a.vpcmpgtd(k.Y(m), k.Y(x), k.Y(y)); }

        for (int b = 0; b < vectors; b++)
        {
            int first = b * L, end = Math.Min(n, first + L);
            var row = a.CreateLabel();
            a.mov(eax, first);                                   // i
            a.xor(r10d, r10d);                                  // i − first
            a.Label(ref row);
            k.Broadcast(ki, __dword_ptr[rdx + rax * 4]);
            a.vmovd(k.X(lane), r10d);
            if (k.IsAvx512) a.vpbroadcastd(k.Z(lane), k.X(lane)); else a.vpbroadcastd(k.Y(lane), k.X(lane));
            k.Zero(acc);
            for (int v = 0; v < vectors; v++)
            {
                LoadKeys(v);
                if (v < b) { Greater(2, t, kj, ki); Count(2, t, subtract: true); }   // j < i: counts unless key_j > key_i
                else
                {
                    Greater(2, t, ki, kj); Count(2, t, subtract: false);            // key_j < key_i
                    if (v == b)
                    {
                        // key_j = key_i with j < i
                        Greater(3, eq, lane, iota);
                        if (k.IsAvx512) { a.vpcmpeqd(KernelAssembler.K(4), k.Z(ki), k.Z(kj)); a.kandw(KernelAssembler.K(4), KernelAssembler.K(4), KernelAssembler.K(3)); }
                        else { a.vpcmpeqd(k.Y(t), k.Y(ki), k.Y(kj)); a.vpand(k.Y(t), k.Y(t), k.Y(eq)); }
                        Count(4, t, subtract: false);
                    }
                }
            }
            // rank = first + Σ lanes (the keys below i's block each counted as L − #greater).
            if (k.IsAvx512) { a.vextracti64x4(k.Y(t), k.Z(acc), 1); a.vpaddd(k.Y(acc), k.Y(acc), k.Y(t)); }
            a.vextracti128(k.X(t), k.Y(acc), 1);
            a.vpaddd(k.X(acc), k.X(acc), k.X(t));
            a.vpshufd(k.X(t), k.X(acc), 0x4E);
            a.vpaddd(k.X(acc), k.X(acc), k.X(t));
            a.vpshufd(k.X(t), k.X(acc), 0xB1);
            a.vpaddd(k.X(acc), k.X(acc), k.X(t));
            a.vmovd(r9d, k.X(acc));
            a.add(r9d, first);
            a.mov(__dword_ptr[rdx + r9 * 4 + nb], eax);         // φ[rank_i] = i
            a.inc(eax);
            a.inc(r10d);
            a.cmp(eax, end);
            a.jb(row);
        }
    }

    public void Emit(KernelAssembler k, OpKey key)
    {
        int n = key.Shape.M;
        if (n == 0) return;
        var a = k.Asm;
        int nb = n * 4;
        bool small = n <= SmallSlots;
        var maskVec = new Vec(k.VectorRegisters - 1);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);          // usage
        int bytes = small ? 2 * nb : 3 * nb + Passes * Bins * 4;
        int at = k.AllocateStack(bytes);
        for (int touch = bytes - PageBytes; touch > 0; touch -= PageBytes) a.mov(eax, __dword_ptr[rsp + (at + touch)]);
        a.lea(rdx, __[rsp + at]);                          // keys[N] | perm[N] | perm[N] | hist[4][256]
        a.lea(r8, __[rdx + 3 * nb]);                       // histograms

        // Keys: the float's bits made monotonic as unsigned (negative: ~b, else b | 2^31); −0 → +0; NaN → 0xFFFFFFFF.
        Vec x = new(0), s = new(1), ones = new(2), zero = new(3);
        var nan = new MaskReg(2, new Vec(4));
        a.mov(eax, -1);
        if (k.IsAvx512) a.vpbroadcastd(k.Z(ones), eax); else { a.vmovd(k.X(ones), eax); a.vpbroadcastd(k.Y(ones), k.X(ones)); }
        k.Zero(zero);
        k.ForEachVector(n, 1, r10, maskVec, c =>
        {
            k.LoadPart(x, c.At(rsi), c.Count, c.Tail);
            k.Add(x, x, zero);                              // −0 + 0 = +0: the two zeros tie, as in the reference
            if (k.IsAvx512) a.vpsrad(k.Z(s), k.Z(x), 31); else a.vpsrad(k.Y(s), k.Y(x), 31);
            k.Or(s, s, k.ConstBits(0x80000000));
            k.Compare(nan, x, x, 3 /* UNORD_Q */);
            k.Xor(x, x, s);
            k.Blend(x, x, ones, nan);
            if (small) k.Xor(x, x, k.ConstBits(0x80000000));   // as signed ints: vpcmpgtd compares them in the same order
            k.StorePart(c.At(rdx), x, c.Count, c.Tail);
        });
        if (small)
        {
            RankByCounting(k, n);
            a.lea(r11, __[rdx + nb]);
            Products(k, n);
            return;
        }
        k.ForEachVector(Passes * Bins, 4, r10, maskVec, c => k.Store(c.At(r8), zero));

        // Identity permutation, then the four byte histograms in one pass over the keys.
        var loop = a.CreateLabel();
        a.xor(eax, eax);
        a.Label(ref loop);
        a.mov(__dword_ptr[rdx + rax * 4 + nb], eax);
        a.inc(eax);
        a.cmp(eax, n);
        a.jb(loop);
        loop = a.CreateLabel();
        a.xor(eax, eax);
        a.Label(ref loop);
        a.mov(r9d, __dword_ptr[rdx + rax * 4]);
        for (int p = 0; p < Passes; p++)
        {
            a.movzx(r10d, r9b);
            a.inc(__dword_ptr[r8 + r10 * 4 + p * Bins * 4]);
            if (p < Passes - 1) a.shr(r9d, (byte)8);
        }
        a.inc(rax);
        a.cmp(rax, n);
        a.jb(loop);

        // r11 = the current order, rcx = where the next pass writes; swapped after each pass that runs.
        a.lea(r11, __[rdx + nb]);
        a.lea(rcx, __[rdx + 2 * nb]);
        for (int p = 0; p < Passes; p++)
        {
            int hist = p * Bins * 4;
            var skip = a.CreateLabel();
            a.mov(eax, __dword_ptr[rdx]);
            if (p > 0) a.shr(eax, (byte)(8 * p));
            a.movzx(eax, al);
            a.cmp(__dword_ptr[r8 + rax * 4 + hist], n);
            a.je(skip);                                      // every key has this byte: the pass would not move anything
            // Exclusive prefix sums: bin → first output position.
            loop = a.CreateLabel();
            a.xor(r9d, r9d);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.mov(r10d, __dword_ptr[r8 + rax * 4 + hist]);
            a.mov(__dword_ptr[r8 + rax * 4 + hist], r9d);
            a.add(r9d, r10d);
            a.inc(eax);
            a.cmp(eax, Bins);
            a.jb(loop);
            // Stable scatter in the current order.
            loop = a.CreateLabel();
            a.xor(r9d, r9d);
            a.Label(ref loop);
            a.mov(eax, __dword_ptr[r11 + r9 * 4]);           // slot
            a.mov(r10d, __dword_ptr[rdx + rax * 4]);         // its key
            if (p > 0) a.shr(r10d, (byte)(8 * p));
            a.movzx(r10d, r10b);
            a.mov(esi, __dword_ptr[r8 + r10 * 4 + hist]);
            a.inc(__dword_ptr[r8 + r10 * 4 + hist]);
            a.mov(__dword_ptr[rcx + rsi * 4], eax);
            a.inc(r9);
            a.cmp(r9, n);
            a.jb(loop);
            a.xchg(r11, rcx);
            a.Label(ref skip);
        }

        Products(k, n);
    }

    /// <summary>a[φ_j] = (1 − u[φ_j])·Π_{i&lt;j} u[φ_i], in float and in sorted order like the reference; φ at r11.</summary>
    private static void Products(KernelAssembler k, int n)
    {
        var a = k.Asm;
        Vec product = new(0), one = new(1), u = new(2), t = new(3);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(r10, KernelArgs.Offsets.C);
        k.LoadConst(one, 1f);
        k.Move(product, one);
        var loop = a.CreateLabel();
        a.xor(r9d, r9d);
        a.Label(ref loop);
        a.mov(eax, __dword_ptr[r11 + r9 * 4]);
        a.vmovss(k.X(u), __dword_ptr[rsi + rax * 4]);
        a.vsubss(k.X(t), k.X(one), k.X(u));
        a.vmulss(k.X(t), k.X(t), k.X(product));
        a.vmovss(__dword_ptr[r10 + rax * 4], k.X(t));
        a.vmulss(k.X(product), k.X(product), k.X(u));
        a.inc(r9);
        a.cmp(r9, n);
        a.jb(loop);
    }
}
