using Iced.Intel;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Jit.Emitters;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// The DNC ops' JIT kernels against the reference: many (N, W, R) including 0, 1 and sizes that are not multiples of
/// the vector width, every operand fenced (Tight/Aligned/Unaligned), random and special inputs (NaN, ±∞, huge, tiny,
/// subnormal, −0), both ISAs where the CPU runs them; every kernel of both ISAs is also emitted and decoded.
/// </summary>
public class JitDncTests
{
    public static TheoryData<JitIsa> Isas => JitTestEngine.Isas;

    private static readonly OpTolerance Exact = new(0, 0);
    // Interface: oneplus (softplus), sigmoid and the 3-way softmax by the vectorised exp/log (≤ a few ulp);
    // absolute 1e-37 where the reference's result is subnormal and AVX2's exp flushes to 0.
    private static readonly OpTolerance InterfaceTol = new(1e-37, 1e-6);

    /// <summary>2·γ_N relative to Σ|terms| (the reference on |inputs|): an N-term float sum in another order, with FMA.</summary>
    private static OpTolerance SumTol(int terms) => new(1e-37, 0, MagnitudeFactor: 2 * OpTolerance.Gamma(terms));

    private static readonly int[] Slots = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 47, 64, 65, 97, 128, 129, 256, 257, 300 };
    private static readonly int[] Widths = { 1, 3, 7, 8, 9, 16, 17, 24, 33, 64, 65, 100 };
    private static readonly int[] HeadCounts = { 1, 2, 3, 4, 5, 7, 9 };

    /// <summary>
    /// Weightings, gates and usages live in [0, 1] (fields <paramref name="signed"/> in [−1, 1]); in Special mode one in
    /// eight is NaN, ±∞, ±huge, tiny, subnormal or ±0. Fields in <paramref name="weights"/> (the sums' weights) get only
    /// non-negative specials and no huge values: FMA does not round a product that overflows (1e30·1e30 − ∞ = −∞,
    /// the reference's ∞ − ∞ = NaN), and DNC weightings are in [0, 1].
    /// </summary>
    private static Func<string, Random, float> Fill(InputKind inputs, Func<string, bool>? signed = null, Func<string, bool>? weights = null) => (field, rng) =>
    {
        if (inputs == InputKind.Special && rng.Next(8) == 0)
            return weights is not null && weights(field)
                ? rng.Next(5) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => 1e-30f, 3 => 1e-40f, _ => 0f }
                : rng.Next(9) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, 3 => 1e30f, 4 => -1e30f, 5 => 1e-30f, 6 => 1e-40f, 7 => -0f, _ => 0f };
        float u = (float)rng.NextDouble();
        return signed is not null && signed(field) ? 2 * u - 1 : u;
    };

    private static void Run(JitIsa isa, OpKey key, OpTolerance tol, int seed, InputKind inputs, Func<string, Random, float> fill, float? alpha = null, float? beta = null)
    {
        using var engine = JitTestEngine.Create(4 << 20);
        var kernel = engine.Jit.Compile(key, isa);
        JitConformance.Check(kernel, tol, seed, JitConformance.PlacementFor(seed), inputs, fill: fill, alpha: alpha, beta: beta);
    }

    private static IEnumerable<(int N, int R, int Seed)> SlotsByHeads(int seed, int random = 12)
    {
        var rng = new Random(seed);
        int i = 0;
        foreach (int n in Slots) yield return (n, HeadCounts[i % HeadCounts.Length], seed + i++);
        for (int j = 0; j < random; j++) yield return (rng.Next(1, 400), rng.Next(1, 10), seed + i++);
    }

    [Theory, MemberData(nameof(Isas))]
    public void TemporalMatchesTheReferenceForAllHeadsInOnePass(JitIsa isa)
    {
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (var (n, r, seed) in SlotsByHeads(inputs == InputKind.Random ? 1000 : 2000))
                Run(isa, new OpKey(OpKind.DncTemporal, new OpShape(n, r)), SumTol(n), seed, inputs, Fill(inputs, weights: f => f == "B"));
        // More heads than one pass holds, and a backward (R·N·4 > 12 KiB) cut in column chunks.
        foreach (var (n, r) in new[] { (700, 9), (1601, 4), (40, 16) })
            Run(isa, new OpKey(OpKind.DncTemporal, new OpShape(n, r)), SumTol(n), 3000 + n, InputKind.Random, Fill(InputKind.Random, f => f == "A"));
    }

    /// <summary>
    /// Each Temporal row group fits the registers (one kept for the AVX2 tail mask; three more for the fused kernel's
    /// update in the column loop), and two rows share a group whenever heads split evenly allow it.
    /// </summary>
    [Fact]
    public void TemporalBlockingFitsTheRegistersAndGroupsTwoRowsWhenTheHeadsAllow()
    {
        foreach (int registers in new[] { 12, 13, 15, 16, 29, 32 })
            for (int heads = 1; heads <= 16; heads++)
            {
                var (rows, hb) = NeuralJit.Jit.Emitters.DncLinkEmitter.Blocking(registers, heads);
                string at = $"{registers} registers, {heads} heads: {rows}x{hb}";
                Assert.True(hb >= 1 && hb <= heads && rows >= 1 && rows <= 4, at);
                Assert.True(rows * (2 * hb + 1) + 2 <= registers && rows * hb <= 15, at);
                int blocks = (heads + hb - 1) / hb;
                Assert.True(hb - heads / blocks <= 1, $"{at}: uneven blocks");
                if (2 * (2 * Math.Min(heads, 2) + 1) + 2 <= registers) Assert.True(rows >= 2, $"{at}: one row per group");
            }
        Assert.Equal((2, 2), NeuralJit.Jit.Emitters.DncLinkEmitter.Blocking(16, 4));
        Assert.Equal((3, 4), NeuralJit.Jit.Emitters.DncLinkEmitter.Blocking(32, 4));
    }

    /// <summary>
    /// The next row group's prefetch over whole rows walks its contiguous rows in address order: segments of a power-of-two
    /// lines per column vector that add up to the group's rows, each starting where the one before ends.
    /// </summary>
    [Fact]
    public void SequentialPrefetchCoversTheNextGroupInAddressOrder()
    {
        foreach (int rowBytes in new[] { 64, 4096, 5800 })
            for (int rows = 1; rows <= 15; rows++)
            {
                var segments = NeuralJit.Jit.Emitters.DncLinkEmitter.SequentialPrefetch(rows, rowBytes).ToList();
                int covered = 0;
                foreach (var (scale, start) in segments)
                {
                    Assert.Contains(scale, new[] { 1, 2, 4, 8 });
                    Assert.Equal(covered * rowBytes, start);
                    covered += scale;
                }
                Assert.Equal(rows, covered);
                Assert.True(segments.Count <= 4, $"{rows} rows: {segments.Count} segments");
            }
        Assert.Equal(new[] { (2, 0), (1, 8192) }, NeuralJit.Jit.Emitters.DncLinkEmitter.SequentialPrefetch(3, 4096));
    }

    /// <summary>The fused link update + temporal weightings: L and p bit-exact, the weightings within the Temporal sums' bound.</summary>
    [Theory, MemberData(nameof(Isas))]
    public void LinkTemporalMatchesTheUpdateThenTheWeightingsOfTheReference(JitIsa isa)
    {
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (var (n, r, seed) in SlotsByHeads(inputs == InputKind.Random ? 1500 : 2500, random: 8))
            {
                float scale = n == 0 ? 1 : 2f / n;
                var fill = Fill(inputs, weights: f => f is "B" or "D");
                Run(isa, new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), SumTol(n), seed, inputs, (f, rng) => f == "B" ? fill(f, rng) * scale : fill(f, rng));
            }
        // Past one pass of heads; b cut in column chunks, for L in L2 (181x36: each chunk updates its own columns and
        // zeroes the diagonals that fall in it) and past it; heads = 0 (the update alone).
        foreach (var (n, r) in new[] { (700, 9), (1601, 4), (40, 16), (33, 0), (181, 36) })
            Run(isa, new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), SumTol(n), 3500 + n, InputKind.Random, Fill(InputKind.Random));
    }

    /// <summary>
    /// L in L2 up to the mode boundary (N = 362, 363 past it): AVX2's read-only column loop takes two vectors per iteration
    /// and prefetches the next group, so every column count around it (1 to 5 vectors, odd and even, with and without a
    /// tail, 45 + a tail at N = 362) and every head count 1..9 (row groups of 1 to 4 rows, remainder groups); random and
    /// special inputs. L and p bit-exact is LinkTemporalUpdatesTheLinksAndPrecedenceBitExactly.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void LinkTemporalInL2ReadsEveryColumnOfTheUnrolledLoop(JitIsa isa)
    {
        int i = 0;
        foreach (int n in new[] { 8, 16, 24, 31, 32, 40, 47, 64, 100, 256, 361, 362, 363 })
            foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            {
                int r = 1 + i % 9;
                float scale = 2f / n;
                var fill = Fill(inputs, weights: f => f is "B" or "D");
                Run(isa, new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), SumTol(n), 3800 + i++, inputs, (f, rng) => f == "B" ? fill(f, rng) * scale : fill(f, rng));
            }
    }

    /// <summary>
    /// L past L2 (N·N·4 &gt; 512 KiB): the fused kernel updates each row group inside the Temporal column loop, the diagonal
    /// zeroed by a mask window, rows in groups with a remainder, tails, every head count of one pass, b cut in column chunks
    /// (R·N·4 &gt; 12 KiB) with the diagonal in every chunk; random and special inputs.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void LinkTemporalUpdatingInTheColumnLoopMatchesTheReference(JitIsa isa)
    {
        int i = 0;
        foreach (var (n, r) in new[] { (363, 1), (401, 2), (515, 3), (777, 4), (1024, 4), (1031, 2), (2048, 4), (1540, 5), (600, 9) })
            foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            {
                float scale = 2f / n;
                var fill = Fill(inputs, weights: f => f is "B" or "D");
                Run(isa, new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), SumTol(n), 3700 + i++, inputs, (f, rng) => f == "B" ? fill(f, rng) * scale : fill(f, rng));
            }
    }

    /// <summary>
    /// Past L2 with more than 16 KiB of read weightings and b (2·R·N·4), the fused kernel sums each column chunk through
    /// the stack scratch: R = 2..9 (R = 1 never qualifies below 10 MiB of L), the first N past the boundary (513 at
    /// R = 4, 1025 at R = 2), chunks that do not divide the vectors, tails of 1 to 15 lanes, and L up to the 10 MiB limit
    /// (1619); random and special inputs. Each shape is checked to take the scratch path at both vector widths.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void LinkTemporalThroughTheSideScratchMatchesTheReference(JitIsa isa)
    {
        int i = 0;
        foreach (var (n, r) in new[] { (1025, 2), (1103, 2), (683, 3), (1001, 3), (513, 4), (777, 4), (1449, 4), (1619, 4), (411, 5), (363, 6), (500, 7), (363, 8), (367, 9), (1000, 9) })
        {
            foreach (int vb in new[] { 32, 64 }) Assert.NotNull(DncLinkEmitter.SideChunks(n, r, n * 4 / vb, vb, 1));
            var inputs = i % 3 == 2 ? InputKind.Special : InputKind.Random;
            float scale = 2f / n;
            var fill = Fill(inputs, weights: f => f is "B" or "D");
            Run(isa, new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), SumTol(n), 3900 + i++, inputs, (f, rng) => f == "B" ? fill(f, rng) * scale : fill(f, rng));
        }
    }

    /// <summary>
    /// The side scratch's chunks: none at 16 KiB of side data or less, or past 10 MiB of L; otherwise at least the chunks
    /// without it, side data of about 8 KiB a chunk unless that would cut rows in segments under 1 KiB, and a scratch of
    /// at most 32 KiB (larger R keeps the plain chunks).
    /// </summary>
    [Fact]
    public void SideScratchChunksKeepSegmentsOfAKibibyteAndTheScratchSmall()
    {
        Assert.Null(DncLinkEmitter.SideChunks(512, 4, 32, 64, 1));
        Assert.Equal(4, DncLinkEmitter.SideChunks(1024, 4, 64, 64, 2));
        Assert.Null(DncLinkEmitter.SideChunks(1024, 2, 64, 64, 1));
        Assert.Null(DncLinkEmitter.SideChunks(1620, 4, 101, 64, 1));
        Assert.Null(DncLinkEmitter.SideChunks(1024, 16, 64, 64, 4));
        foreach (int vb in new[] { 32, 64 })
            for (int heads = 1; heads <= 16; heads++)
                for (int n = 363; n <= 1700; n += 7)
                {
                    int full = n * 4 / vb, plain = heads * n * 4 <= 12 * 1024 ? 1 : Math.Max(2, (heads * n * 4 + 16 * 1024 - 1) / (16 * 1024));
                    string at = $"N = {n}, R = {heads}, {vb}-byte vectors";
                    if (DncLinkEmitter.SideChunks(n, heads, full, vb, plain) is not { } c)
                    {
                        Assert.True(2 * heads * n * 4 <= 16 * 1024 || (long)n * n * 4 > 10 << 20 || 2 * heads * ((full + plain - 1) / plain + 1) * vb > 32 * 1024, at);
                        continue;
                    }
                    Assert.True(2 * heads * n * 4 > 16 * 1024 && (long)n * n * 4 <= 10 << 20, at);
                    int chunkVecs = (full + c - 1) / c;
                    Assert.True(c >= plain && 2 * heads * (chunkVecs + 1) * vb <= 32 * 1024, $"{at}: {c} chunks");
                    if (c > plain) Assert.True(full / c * vb >= 1024, $"{at}: {c} chunks cut segments under 1 KiB");
                    if (c > plain) Assert.True(c <= (2 * heads * n * 4 + 8 * 1024 - 1) / (8 * 1024), $"{at}: {c} chunks where fewer hold 8 KiB");
                }
    }

    /// <summary>
    /// The fused kernel's L and p bit for bit against the reference link update, in both regimes (L in L2, and past it
    /// where the column loop masks only the vectors that hold the row group's diagonals): diagonals in the first, a middle
    /// and the tail vector, straddling two vectors, in a group's remainder rows, in every column chunk (600x9, 777x4) and
    /// with b unchunked past 8 MiB of L (1540x5, 1601x4) or summed through the side scratch (777x4 up to 1619x4, 683x3, 363x8); unaligned buffers; random, unscaled (cancelling) and special inputs.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public unsafe void LinkTemporalUpdatesTheLinksAndPrecedenceBitExactly(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(4 << 20);
        int seed = 0;
        foreach (var (n, r) in new[] { (17, 2), (300, 4), (362, 7), (363, 1), (401, 2), (515, 3), (777, 4), (1031, 2), (1540, 5), (1601, 4), (600, 9), (683, 3), (363, 8), (1619, 4) })
            foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            {
                var kernel = engine.Jit.Compile(new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), isa);
                var rng = new Random(7700 + seed++);
                var fill = Fill(inputs, weights: f => f is "B" or "D");
                float scale = seed % 3 == 0 ? 1 : 2f / n;     // unscaled weightings: 1 − w_i − w_j < 0, and the sum cancels
                // One float of offset: every operand unaligned.
                float[] link = new float[n * n + 1], w = new float[n + 1], p = new float[n + 1], reads = new float[r * n + 1], f = new float[r * n + 1], b = new float[r * n + 1];
                for (int i = 1; i < link.Length; i++) link[i] = fill("A", rng);
                for (int i = 1; i < w.Length; i++) w[i] = fill("B", rng) * scale;
                for (int i = 1; i < p.Length; i++) p[i] = fill("C", rng);
                for (int i = 1; i < reads.Length; i++) reads[i] = fill("D", rng);
                var expectedLink = link[1..];
                var expectedP = p[1..];
                DncReferenceOps.DncLinkUpdate(n, expectedLink, w.AsSpan(1), expectedP);
                fixed (float* pl = link, pw = w, pp = p, pr = reads, pf = f, pb = b)
                {
                    KernelArgs a = default;
                    a.A = pl + 1; a.B = pw + 1; a.C = pp + 1; a.D = pr + 1; a.E = pf + 1; a.F = pb + 1;
                    ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
                }
                for (int i = 0; i < n * n; i++)
                    if (BitConverter.SingleToInt32Bits(link[i + 1]) != BitConverter.SingleToInt32Bits(expectedLink[i]) && !(float.IsNaN(link[i + 1]) && float.IsNaN(expectedLink[i])))
                        Assert.Fail($"{isa} {n}x{r} {inputs}: L[{i / n}, {i % n}] = {link[i + 1]:R}, reference {expectedLink[i]:R}");
                for (int i = 0; i < n; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(p[i + 1]) == BitConverter.SingleToInt32Bits(expectedP[i]) || float.IsNaN(p[i + 1]) && float.IsNaN(expectedP[i]),
                        $"{isa} {n}x{r} {inputs}: p[{i}] = {p[i + 1]:R}, reference {expectedP[i]:R}");
            }
    }

    /// <summary>
    /// The fused kernel's f bit for bit (L in L2): each forward sum f_h[i] = Σ_j L′[i, j]·w_h[j] over the updated L′ is
    /// accumulated lane by lane (column vectors in order, FMA, the tail's missing lanes 0) and its lanes then added in
    /// ReduceAdd's pairs (l + L/2, …, l + 1, the low part first); with b cut in column chunks each chunk's sum is added to
    /// those before (the chunks as the emitter cuts them: R·N·4 &gt; 12 KiB, the fewest of ≤ 16 KiB and at least two).
    /// AVX-512 folds a block's sums together in one ReductionTree and stores each head's rows by a masked store, which must
    /// add the same pairs and put every sum in its place: blocks of 4 rows × 2 or 3 heads, 3 × 4, 2 × 5 and 2 × 7 (heads
    /// two lanes apart), remainder groups of 1 row (one lane per head), a tail, N = 1, and 362x9 in two chunks.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public unsafe void LinkTemporalForwardSumsAddEachRowsLanesInPairs(JitIsa isa)
    {
        using var engine = JitTestEngine.Create(4 << 20);
        int lanes = isa == JitIsa.Avx512 ? 16 : 8, seed = 0;
        foreach (var (n, r) in new[] { (1, 4), (17, 4), (100, 3), (255, 2), (64, 7), (37, 5), (131, 9), (256, 4), (362, 9), (40, 1) })
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.DncLinkTemporal, new OpShape(n, r)), isa);
            var rng = new Random(8100 + seed++);
            // f has 16 floats of fence after it: a store of a head's sums must not reach past its rows.
            float[] link = new float[n * n], w = new float[n], p = new float[n], reads = new float[r * n], f = new float[r * n + 16], b = new float[r * n];
            Array.Fill(f, -7f, r * n, 16);
            for (int i = 0; i < link.Length; i++) link[i] = (float)rng.NextDouble();
            for (int i = 0; i < n; i++) { w[i] = (float)rng.NextDouble() * 2 / n; p[i] = (float)rng.NextDouble(); }
            for (int i = 0; i < reads.Length; i++) reads[i] = (float)rng.NextDouble();
            var updated = link.ToArray();
            DncReferenceOps.DncLinkUpdate(n, updated, w, p.ToArray());
            fixed (float* pl = link, pw = w, pp = p, pr = reads, pf = f, pb = b)
            {
                KernelArgs a = default;
                a.A = pl; a.B = pw; a.C = pp; a.D = pr; a.E = pf; a.F = pb;
                ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
            }
            int full = n / lanes, chunks = r * n * 4 <= 12 * 1024 ? 1 : Math.Max(2, (r * n * 4 + 16 * 1024 - 1) / (16 * 1024));
            int chunkVecs = (full + chunks - 1) / chunks;
            var acc = new float[lanes];
            for (int h = 0; h < r; h++)
                for (int i = 0; i < n; i++)
                {
                    float expected = 0;
                    for (int v0 = 0; v0 == 0 || v0 < full; v0 += chunkVecs)
                    {
                        int end = Math.Min(v0 + chunkVecs, full) * lanes;
                        if (end == full * lanes) end = n;              // the last chunk takes the tail
                        Array.Clear(acc);
                        for (int j = v0 * lanes; j < end; j++) acc[j % lanes] = MathF.FusedMultiplyAdd(updated[i * n + j], reads[h * n + j], acc[j % lanes]);
                        for (int half = lanes / 2; half >= 1; half /= 2)
                            for (int l = 0; l < half; l++) acc[l] += acc[l + half];
                        expected = v0 == 0 ? acc[0] : acc[0] + expected;
                        if (end == n) break;
                    }
                    Assert.True(BitConverter.SingleToInt32Bits(f[h * n + i]) == BitConverter.SingleToInt32Bits(expected),
                        $"{isa} {n}x{r}: f[{h}][{i}] = {f[h * n + i]:R}, lanes added in pairs {expected:R}");
                }
            Assert.True(f.Skip(r * n).All(x => x == -7f), $"{isa} {n}x{r}: f written past its end");
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public void ReadMatchesTheReferenceWithStridesAndManyHeads(JitIsa isa)
    {
        var rng = new Random(4000);
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (int w in Widths)
            {
                int n = Slots[rng.Next(Slots.Length)], r = HeadCounts[i % HeadCounts.Length];
                int lda = i % 3 == 0 ? w + rng.Next(1, 9) : 0;
                Run(isa, new OpKey(OpKind.DncRead, new OpShape(n, w, r, lda)), SumTol(n), 4000 + i++, inputs, Fill(inputs, f => f == "A", f => f == "B"));
            }
        Run(isa, new OpKey(OpKind.DncRead, new OpShape(256, 64, 4)), SumTol(256), 4100, InputKind.Random, Fill(InputKind.Random, f => f == "A"));
        Run(isa, new OpKey(OpKind.DncRead, new OpShape(50, 64, 16)), SumTol(50), 4101, InputKind.Random, Fill(InputKind.Random, f => f == "A"));
    }

    /// <summary>
    /// The read in chunks of rows (several passes: AVX2 W = 64 R = 4, a column tail, AVX-512 past 6 vectors, heads past
    /// one pass): N one short of a chunk, a chunk, one past, several chunks and a short one; strided rows too.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void ReadInChunksMatchesTheReferenceAcrossChunkBoundaries(JitIsa isa)
    {
        int lanes = isa == JitIsa.Avx512 ? 16 : 8, i = 0, chunkedShapes = 0;
        foreach (var (w, r) in new[] { (64, 4), (20, 3), (100, 4), (8, 16), (17, 9) })
        {
            int budget = (isa == JitIsa.Avx512 ? 32 : 16) - (isa != JitIsa.Avx512 && w % lanes > 0 ? 1 : 0);
            int chunk = DncMemoryEmitter.ReadChunkBytes / (w * 4);
            if (DncMemoryEmitter.ReadChunkRows(chunk + 1, w, r, lanes, budget) == chunk + 1) continue;   // one pass: never chunked
            chunkedShapes++;
            foreach (int n in new[] { chunk - 1, chunk, chunk + 1, 3 * chunk + 5 })
            {
                int lda = i % 2 == 1 ? w + 3 : 0;
                Run(isa, new OpKey(OpKind.DncRead, new OpShape(n, w, r, lda)), SumTol(n), 4200 + i++, InputKind.Random, Fill(InputKind.Random, f => f == "A"));
            }
        }
        Assert.True(chunkedShapes >= 2, $"{isa}: only {chunkedShapes} shapes read in chunks");
    }

    /// <summary>The write four rows at a time: N around the group (1–9) and widths with tails, bit for bit; and the
    /// fused write + content around its chunk of rows (~8 KiB of M), wider than the straight-line rows (8 vectors).</summary>
    [Theory, MemberData(nameof(Isas))]
    public void WriteGroupsAndContentChunksMatchTheReferenceAtTheirBoundaries(JitIsa isa)
    {
        int lanes = isa == JitIsa.Avx512 ? 16 : 8, i = 0;
        foreach (int w in new[] { 1, 17, 64 })
            for (int n = 1; n <= 9; n++)
                Run(isa, new OpKey(OpKind.DncWrite, new OpShape(n, w, 0)), Exact, 5700 + i++, InputKind.Special, Fill(InputKind.Special, f => f is "A" or "D"));
        foreach (var (w, r) in new[] { (64, 4), (9, 3), (100, 2), (1, 1), (130, 2), (200, 5) })
        {
            int chunk = DncMemoryEmitter.ContentChunkRows(w, lanes);
            Assert.True(chunk % lanes == 0 && chunk <= DncMemoryEmitter.MaxContentChunkRows);
            foreach (int n in new[] { chunk - 1, chunk, chunk + 1, 2 * chunk + 5 })
                Run(isa, new OpKey(OpKind.DncWriteContent, new OpShape(n, w, r)), ContentTol(n, w), 5800 + i++, InputKind.Random,
                    (f, g) => f == "F" ? (float)(1 + 7 * g.NextDouble()) : Fill(InputKind.Random, f => f is "A" or "D" or "E")(f, g));
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public void WriteIsBitExactWithStrides(JitIsa isa)
    {
        var rng = new Random(5000);
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (int w in Widths)
            {
                int n = Slots[rng.Next(Slots.Length)];
                int lda = i % 3 == 0 ? w + rng.Next(1, 9) : 0;
                Run(isa, new OpKey(OpKind.DncWrite, new OpShape(n, w, 0, lda)), Exact, 5000 + i++, inputs, Fill(inputs, f => f is "A" or "D"));
            }
    }

    /// <summary>
    /// The write fused with every read key's content weighting: each c^r_h within DncContent's bound for β ≤ 8 (a cosine
    /// error δ moves an output by ≤ β·δ), the memory too (its code is DncWrite's, bit-exact above); strides, heads past
    /// one pass of registers (8), W = 0.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void WriteContentWritesExactlyThenWeighsEveryReadKeyOnTheWrittenMemory(JitIsa isa)
    {
        var rng = new Random(5500);
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (int w in Widths.Append(0))
            {
                int n = Slots[rng.Next(Slots.Length)], r = HeadCounts[i % HeadCounts.Length];
                int lda = i % 3 == 0 ? w + rng.Next(1, 9) : 0;
                // Strengths in [0, 8], their specials non-negative and never huge: β·(a rounding of cos) must stay small.
                var fill = Fill(inputs, f => f is "A" or "D" or "E", f => f == "F");
                Run(isa, new OpKey(OpKind.DncWriteContent, new OpShape(n, w, r, lda)), ContentTol(n, w), 5500 + i++, inputs, (f, g) => f == "F" ? 8 * fill(f, g) : fill(f, g));
            }
        // Row groups of one vector of lanes: a chunk of 512 rows and one more, whole groups only, one short group, rows wider
        // than the straight-line limit (4 vectors) with a tail.
        foreach (var (n, w, r) in new[] { (256, 64, 4), (1024, 64, 4), (1100, 9, 3), (64, 16, 2), (37, 19, 30), (100, 8, 9), (33, 64, 25),
                     (513, 16, 2), (16, 16, 2), (7, 16, 1), (40, 100, 2) })
            Run(isa, new OpKey(OpKind.DncWriteContent, new OpShape(n, w, r)), ContentTol(n, w), 5600 + n + r, InputKind.Random,
                (f, g) => f == "F" ? (float)(1 + 7 * g.NextDouble()) : Fill(InputKind.Random, f => f is "A" or "D" or "E")(f, g));
    }

    /// <summary>
    /// W = 16 on AVX-512 sums whole groups of 16 rows over their transpose: whole groups only, a short group after them,
    /// a row stride past the width, many heads; random and special inputs (on AVX2 the same shapes take the trees).
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void WriteContentTransposedGroupsMatchTheReference(JitIsa isa)
    {
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (var shape in new[] { new OpShape(64, 16, 2), new OpShape(71, 16, 3), new OpShape(50, 16, 2, 21), new OpShape(48, 16, 9), new OpShape(16, 16, 1) })
            {
                var fill = Fill(inputs, f => f is "A" or "D" or "E", f => f == "F");
                Run(isa, new OpKey(OpKind.DncWriteContent, shape), ContentTol(shape.M, shape.N), 5900 + i++, inputs, (f, g) => f == "F" ? 8 * fill(f, g) : fill(f, g));
            }
    }

    /// <summary>DncContent's bound (cosine error ≤ 4γ_W + 8ε amplified by β ≤ 8, plus the N-term softmax normaliser); the memory is exact (0 error).</summary>
    private static OpTolerance ContentTol(int n, int w) =>
        new(8 * (4 * OpTolerance.Gamma(w) + 8 * OpTolerance.FloatEps) + 2 * OpTolerance.Gamma(n) + 1e-7, 1e-5);

    [Theory, MemberData(nameof(Isas))]
    public void LinkUpdateIsBitExact(JitIsa isa)
    {
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (int n in Slots)
            {
                // Write weightings that sum to about 1, as the model's do, so 1 − Σw cancels.
                float scale = n == 0 ? 1 : 2f / n;
                var fill = Fill(inputs);
                Run(isa, new OpKey(OpKind.DncLinkUpdate, OpShape.Vector(n)), Exact, 6000 + i++, inputs, (f, r) => f == "B" ? fill(f, r) * scale : fill(f, r));
            }
    }

    /// <summary>
    /// A link row of up to 48 column vectors is straight-line code with the loads folded into the arithmetic, a longer one
    /// a loop: both sides of the boundary (48 vectors, with and without a tail, 49, 49 and a tail) bit for bit.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void LinkUpdateIsBitExactOnBothSidesOfTheStraightLineRow(JitIsa isa)
    {
        int lanes = isa == JitIsa.Avx512 ? 16 : 8, i = 0;
        foreach (int n in new[] { 48 * lanes - 1, 48 * lanes, 48 * lanes + 5, 49 * lanes, 49 * lanes + 7 })
        {
            float scale = 2f / n;
            var fill = Fill(InputKind.Random);
            Run(isa, new OpKey(OpKind.DncLinkUpdate, OpShape.Vector(n)), Exact, 6100 + i++, InputKind.Random, (f, r) => f == "B" ? fill(f, r) * scale : fill(f, r));
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public void UsageWriteWeightingAndReadWeightingAreBitExact(JitIsa isa)
    {
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (var (n, r, seed) in SlotsByHeads(inputs == InputKind.Random ? 7000 : 7500, random: 6))
            {
                var fill = Fill(inputs);
                Run(isa, new OpKey(OpKind.DncUsage, new OpShape(n, r)), Exact, seed, inputs, fill);
                Run(isa, new OpKey(OpKind.DncReadWeighting, new OpShape(n, r)), Exact, seed + 1, inputs, fill);
                Run(isa, new OpKey(OpKind.DncWriteWeighting, OpShape.Vector(n)), Exact, seed + 2, inputs, fill, alpha: 0.3f, beta: 0.9f);
            }
        Run(isa, new OpKey(OpKind.DncWriteWeighting, OpShape.Vector(33)), Exact, 7900, InputKind.Random, Fill(InputKind.Random), alpha: float.NaN, beta: 1e30f);
    }

    [Theory, MemberData(nameof(Isas))]
    public void InterfaceSquashesLikeTheReference(JitIsa isa)
    {
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            foreach (int r in HeadCounts)
                foreach (int w in new[] { 1, 5, 8, 16, 17, 64 })
                {
                    // Raw interface values in [−30, 30]: strengths, gates and modes across the squashing functions' ranges.
                    var fill = Fill(inputs);
                    Run(isa, new OpKey(OpKind.DncInterface, new OpShape(r, w)), InterfaceTol, 8000 + i++, inputs, (f, rng) => fill(f, rng) is var v && float.IsFinite(v) && Math.Abs(v) <= 1 ? 60 * v - 30 : v);
                }
    }

    /// <summary>
    /// The R softmaxes of DncWriteContent run several heads in lockstep: each must subtract its own head's max. Head h's
    /// key is row 5h of M (cosine 1) and β alternates small and large (0.5, 100, 0.25, 90, 1): with another head's max,
    /// exp(~100) overflows and the head's weights come out NaN. w = 0 leaves M as it is, so the reference is the read content.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public unsafe void WriteContentSoftmaxesSubtractEachHeadsMax(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        var strengths = new[] { 0.5f, 100f, 0.25f, 90f, 1f };
        foreach (var (n, w, heads) in new[] { (64, 16, 2), (64, 16, 3), (23, 16, 5), (64, 9, 4) })
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.DncWriteContent, new OpShape(n, w, heads)), isa);
            var rng = new Random(n + heads);
            var memory = Enumerable.Range(0, n * w).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var keys = Enumerable.Range(0, heads * w).Select(i => memory[(i / w * 5) % n * w + i % w]).ToArray();
            var beta = strengths.Take(heads).ToArray();
            var weights = new float[n];
            var erase = Enumerable.Repeat(0.5f, w).ToArray();
            var writeVec = Enumerable.Repeat(0.25f, w).ToArray();
            var expected = new float[heads * n];
            var actual = new float[heads * n];
            DncReferenceOps.DncReadContent(n, w, heads, memory, w, keys, beta, expected);
            fixed (float* pm = memory, pw = weights, pe = erase, pv = writeVec, pk = keys, pb = beta, pc = actual)
            {
                var a = new KernelArgs { A = pm, B = pw, C = pe, D = pv, E = pk, F = pb, G = pc };
                ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
            }
            for (int i = 0; i < heads * n; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4, $"DncWriteContent {n}x{w}x{heads} on {isa}: c[{i / n}][{i % n}] = {actual[i]}, expected {expected[i]}");
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public unsafe void InterfaceSquashesInPlace(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        // ξ copied to the kernel's stack first (up to 768 floats), read in place beyond (9 heads of 64: 816 floats), and one head of one.
        foreach (var (heads, width) in new[] { (4, 64), (9, 64), (1, 1) })
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.DncInterface, new OpShape(heads, width)), isa);
            int size = DncInterfaceLayout.SizeOf(heads, width);
            var rng = new Random(9);
            var raw = Enumerable.Range(0, size).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
            var expected = new float[size];
            DncReferenceOps.DncInterface(heads, width, raw, expected);
            fixed (float* p = raw)
            {
                KernelArgs a = default;
                a.A = p; a.C = p;
                ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
            }
            for (int i = 0; i < size; i++)
                Assert.True(Math.Abs(raw[i] - expected[i]) <= 1e-6 * Math.Abs(expected[i]), $"{isa} {heads}x{width} in place [{i}]: {raw[i]} vs {expected[i]}");
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public void AllocationSortsUsagesWithTheReferenceTieOrder(JitIsa isa)
    {
        int i = 0;
        foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
            // 160/161 and 240/241: where AVX2 and AVX-512 change from counting ranks to the radix sort. The radix sort's
            // items are stored a whole vector at a time and scattered two a turn: 322 and 1000 end in a partial vector with
            // an even count, 511 and 333 with an odd one (the scatter's last single item).
            foreach (int n in Slots.Concat(new[] { 160, 161, 240, 241, 320, 322, 333, 511, 1000, 1024, 4096 }))
            {
                // A few distinct values so most usages tie, or distinct ones; Special adds NaN, ±∞, ±0 and subnormals.
                bool ties = i % 2 == 0;
                var fill = Fill(inputs);
                Run(isa, new OpKey(OpKind.DncAllocation, OpShape.Vector(n)), Exact, 9000 + i++, inputs,
                    (f, rng) => ties && rng.Next(8) != 0 ? rng.Next(4) / 4f : fill(f, rng));
            }
    }

    /// <summary>
    /// Once the running product is ±0, every later output is a zero whose sign the usages decide ((1 − u)·±0), until a
    /// usage of ±∞ or NaN makes it NaN; the kernel stores +0 without multiplying while the product is +0 and the usage in
    /// [+0, 1]. The conformance check calls ±0 equal, so this compares the outputs' bits with the reference: usages mixing
    /// [0, 1) with ±0, tiny ones (the product reaches zero early), 1 and its neighbours, values above 1, negatives, ±∞ and NaN.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public unsafe void AllocationOutputsAfterTheProductReachesZeroKeepTheirSignBits(JitIsa isa)
    {
        var specials = new[] { -0f, 0f, 1e-30f, float.Epsilon, 0.5f, 0.99999994f, 1f, 1.0000001f, 1.5f, 3f, -2f, -1e-30f,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN };
        using var engine = JitTestEngine.Create(4 << 20);
        int seed = 0;
        foreach (int n in new[] { 100, 200, 333, 1000 })
            foreach (int specialsIn8 in new[] { 1, 4 })
                foreach (bool finite in new[] { true, false })
                {
                    var rng = new Random(9700 + seed++);
                    var usage = new float[n];
                    for (int i = 0; i < n; i++)
                    {
                        float pick = specials[rng.Next(finite ? specials.Length - 3 : specials.Length)];
                        usage[i] = rng.Next(8) < specialsIn8 ? pick : (float)rng.NextDouble();
                    }
                    var expected = new float[n];
                    DncReferenceOps.DncAllocation(n, usage, expected);
                    var actual = new float[n];
                    var kernel = engine.Jit.Compile(new OpKey(OpKind.DncAllocation, OpShape.Vector(n)), isa);
                    fixed (float* u = usage)
                    fixed (float* c = actual)
                    {
                        KernelArgs args = default;
                        args.A = u; args.C = c;
                        ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&args);
                    }
                    for (int i = 0; i < n; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i]),
                            $"{isa} N={n} seed {seed - 1}: a[{i}] (usage {usage[i]:R}) bits {BitConverter.SingleToInt32Bits(actual[i]):X8}, expected {BitConverter.SingleToInt32Bits(expected[i]):X8}");
                }
    }

    /// <summary>
    /// The running product through the subnormal range, where the kernel leaves its float loop (N &gt; 64): a product that
    /// turns subnormal at once (two −1e-20), decays there, and leaves it upwards (3, 1e10, 1e30); then random usages over
    /// forty decades with random signs, so products cross the range both ways and outputs round on the subnormal grid.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void AllocationProductsThroughTheSubnormalRangeAreBitExact(JitIsa isa)
    {
        var walk = new float[] { -1e-20f, -1e-20f, 0.5f, 0.7f, 0.9f, 0.999f, 3f, 1e10f, 1e30f, float.NaN };
        foreach (int n in new[] { 65, 100, 300 })
        {
            int next = 0;
            Run(isa, new OpKey(OpKind.DncAllocation, OpShape.Vector(n)), Exact, 9500 + n, InputKind.Random,
                (f, rng) => next < walk.Length ? walk[next++] : next++ % 2 == 0 ? 1f : 0.6f + 0.3f * (float)rng.NextDouble());
            Run(isa, new OpKey(OpKind.DncAllocation, OpShape.Vector(n)), Exact, 9600 + n, InputKind.Random,
                (f, rng) => (rng.Next(2) == 0 ? -1 : 1) * MathF.Pow(10, -20 + 40 * (float)rng.NextDouble()));
        }
    }

    /// <summary>Every DNC kernel of both ISAs assembles and decodes, whether or not this CPU can run it.</summary>
    [Fact]
    public void EveryDncKernelOfBothIsasDecodes()
    {
        var keys = new[]
        {
            new OpKey(OpKind.DncInterface, new OpShape(4, 64)), new OpKey(OpKind.DncUsage, new OpShape(257, 3)),
            new OpKey(OpKind.DncAllocation, OpShape.Vector(100)), new OpKey(OpKind.DncWriteWeighting, OpShape.Vector(33)),
            new OpKey(OpKind.DncWrite, new OpShape(65, 17, 0, 20)), new OpKey(OpKind.DncLinkUpdate, OpShape.Vector(129)),
            new OpKey(OpKind.DncTemporal, new OpShape(257, 4)), new OpKey(OpKind.DncTemporal, new OpShape(1601, 9)),
            new OpKey(OpKind.DncLinkTemporal, new OpShape(256, 4)), new OpKey(OpKind.DncLinkTemporal, new OpShape(1601, 9)),
            new OpKey(OpKind.DncReadWeighting, new OpShape(100, 5)), new OpKey(OpKind.DncRead, new OpShape(256, 65, 4)),
            new OpKey(OpKind.DncWriteContent, new OpShape(256, 64, 4)), new OpKey(OpKind.DncWriteContent, new OpShape(65, 17, 30, 20)),
        };
        foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 })
            foreach (var key in keys)
            {
                var k = new KernelAssembler(isa);
                KernelEmitters.For(key.Op)!.Emit(k, key);
                var assembled = k.Finish();
                var code = assembled.Bytes.AsSpan(assembled.EntryOffset).ToArray();
                var decoder = Decoder.Create(64, new ByteArrayCodeReader(code));
                Instruction last = default;
                bool zmm = false;
                while (decoder.IP < (ulong)code.Length)
                {
                    decoder.Decode(out last);
                    Assert.False(last.IsInvalid, $"{key.Op} {key.Dims} {isa}: invalid instruction at +{last.IP}");
                    for (int o = 0; o < last.OpCount; o++)
                        if (last.GetOpKind(o) == OpKind_Register && last.GetOpRegister(o).IsZMM()) zmm = true;
                }
                Assert.Equal((ulong)code.Length, decoder.IP);
                Assert.Equal(Mnemonic.Ret, last.Mnemonic);
                Assert.True(zmm == (isa == JitIsa.Avx512), $"{key.Op} {key.Dims} {isa}: zmm registers {(zmm ? "used" : "not used")}");
            }
    }

    public static TheoryData<JitIsa, int, int, int, int, int> NetworkCases()
    {
        var d = new TheoryData<JitIsa, int, int, int, int, int>();
        foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 }.Where(i => CpuFeatures.Best >= i))
        {
            d.Add(isa, 32, 64, 64, 16, 2);     // the issue's small network
            d.Add(isa, 13, 37, 61, 19, 3);     // nothing a multiple of the vector width
            d.Add(isa, 64, 128, 256, 64, 4);   // the issue's main network
        }
        return d;
    }

    /// <summary>
    /// An LSTM + DNC network with every kernel that has an emitter on the JIT tier (all nine DNC slots, the LSTM step,
    /// the dense layers) gives the managed network's outputs within 1e-5 over 1,000 steps: the DNC's bit-exact ops keep
    /// the allocation order, and the summation-order differences of the sums stay bounded through the recurrence.
    /// </summary>
    [Theory, MemberData(nameof(NetworkCases))]
    public void LstmDncNetworkOnJitKernelsMatchesTheManagedNetwork(JitIsa isa, int input, int hidden, int slots, int width, int heads)
    {
        const double tolerance = 1e-5;
        int steps = slots >= 256 ? 300 : 1000;
        var sizes = new NetworkSizes(input, hidden, 10) { MemorySlots = slots, MemoryWidth = width, ReadHeads = heads };
        using var managedEngine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var jitEngine = new NeuralEngine(new EngineOptions { JitEnabled = false, IsaCap = isa, SynchronousCompilation = true, CodeCacheBytes = 1 << 20 });
        using var managed = NeuralNetwork.CreateRandom(managedEngine, sizes, seed: 3);
        using var jit = NeuralNetwork.CreateRandom(jitEngine, sizes, seed: 3);
        var dncOps = JitTestEngine.InstallEverySlot(jitEngine, isa).Select(k => k.Key.Op)
            .Where(op => op.ToString().StartsWith("Dnc", StringComparison.Ordinal)).ToHashSet();
        Assert.Equal(9, dncOps.Count); // the link update and the temporal weightings run as one fused op

        var (worst, worstStep) = NetworkLockstep.MaxDifference(managed, jit, steps, seed: 17, isa.ToString());
        Assert.True(worst <= tolerance, $"{isa} {sizes}: JIT and managed networks differ by {worst:G3} at step {worstStep} (tolerance {tolerance})");
    }

    /// <summary>
    /// With the default thresholds the profile promotes a network's hot ops, and the step's other ops (each well under
    /// ShareThreshold alone: the DNC's gates and weightings, the output Dense, a second LSTM layer) follow them
    /// (<see cref="NeuralEngine.PromoteTogether"/>): every op of the step is Jit, the nine DNC ops among them.
    /// </summary>
    [Theory]
    [MemberData(nameof(Isas))]
    public void AfterDefaultPromotionEveryOpOfTheStepIsJit(JitIsa isa)
    {
        var dncSizes = new NetworkSizes(32, 64, 10) { MemorySlots = 64, MemoryWidth = 16, ReadHeads = 2 };
        var lstmSizes = new NetworkSizes(16, 64, 3) { Layers = 2 };
        foreach (var (sizes, ops, dncOps) in new[] { (dncSizes, 12, 9), (lstmSizes, 3, 0) })
        {
            using var engine = new NeuralEngine(new EngineOptions { IsaCap = isa, SynchronousCompilation = true });
            using var net = NeuralNetwork.CreateRandom(engine, sizes, seed: 1);
            var x = new float[sizes.InputSize];
            var rng = new Random(2);
            for (int s = 0; s < 2500; s++)
            {
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                net.Step(x);
            }
            var hotspots = engine.GetHotspots();
            Assert.Equal(ops, hotspots.Count);
            Assert.Equal(dncOps, hotspots.Count(h => h.Operation.ToString().StartsWith("Dnc", StringComparison.Ordinal)));
            foreach (var h in hotspots)
                Assert.True(h.Status == HotspotStatus.Jit, $"{sizes}: {h.Operation} {h.Dims}: {h.Status} ({h.Share:P2} of cycles, {h.Calls} calls; {engine.Jit.WhyManaged(OpKey.Parse(h.Operation, h.Dims))})");
            Assert.All(hotspots, h => Assert.Equal((HotspotTier)isa, h.Tier));
        }
    }

    private const Iced.Intel.OpKind OpKind_Register = Iced.Intel.OpKind.Register;
}
