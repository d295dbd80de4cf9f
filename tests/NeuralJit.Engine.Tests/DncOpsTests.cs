using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>Each DNC step, on both managed tiers, against numbers worked out by hand from the paper's equations and against each other on random sizes.</summary>
public unsafe class DncOpsTests
{
    public static TheoryData<KernelTier> Tiers => new() { KernelTier.Scalar, KernelTier.ManagedSimd };

    /// <summary>Runs <paramref name="op"/> of <paramref name="tier"/> on copies of the operands (A…G), returning the buffers after the call.</summary>
    private static float[][] Run(OpKind op, KernelTier tier, OpShape shape, float alpha, float beta, params float[][] operands)
    {
        var bufs = operands.Select(o => new AlignedBuffer(o)).ToArray();
        try
        {
            KernelArgs a = default;
            if (bufs.Length > 0) a.A = bufs[0].Pointer;
            if (bufs.Length > 1) a.B = bufs[1].Pointer;
            if (bufs.Length > 2) a.C = bufs[2].Pointer;
            if (bufs.Length > 3) a.D = bufs[3].Pointer;
            if (bufs.Length > 4) a.E = bufs[4].Pointer;
            if (bufs.Length > 5) a.F = bufs[5].Pointer;
            if (bufs.Length > 6) a.G = bufs[6].Pointer;
            a.Alpha = alpha; a.Beta = beta;
            ManagedKernels.Get(op, tier)(in shape, &a);
            return bufs.Select(b => b.ToArray()).ToArray();
        }
        finally
        {
            foreach (var b in bufs) b.Dispose();
        }
    }

    private static void Near(float[] expected, float[] actual, float tol = 1e-6f, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(MathF.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, MathF.Abs(expected[i]))))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (all: {string.Join(", ", actual.Take(64))})");
    }

    [Theory, MemberData(nameof(Tiers))]
    public void InterfaceSquashesStrengthsGatesAndModesOfZeros(KernelTier tier)
    {
        // R = 1, W = 1: Ξ = 1 + 3 + 5 + 3 = 12. oneplus(0) = 1 + ln 2, σ(0) = ½, softmax of three zeros = ⅓.
        var raw = new float[12];
        var outp = Run(OpKind.DncInterface, tier, new OpShape(1, 1), 0, 0, raw, [], new float[12])[2];
        float op = 1 + MathF.Log(2);
        Near([0, op, 0, op, 0.5f, 0, 0.5f, 0.5f, 0.5f, 1 / 3f, 1 / 3f, 1 / 3f], outp);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void InterfaceKeepsKeysAndWriteVectorAndSquashesLargeValuesWithoutOverflow(KernelTier tier)
    {
        var l = new DncInterfaceLayout(2, 3);
        var raw = new float[l.Size];
        for (int i = 0; i < raw.Length; i++) raw[i] = i - 10;
        raw[l.ReadStrengths] = 100; raw[l.WriteStrength] = -100;
        raw[l.ReadModes] = 1000; // softmax must not overflow
        var o = Run(OpKind.DncInterface, tier, new OpShape(2, 3), 0, 0, raw, [], new float[l.Size])[2];
        for (int i = 0; i < 6; i++) Assert.Equal(raw[i], o[i]);
        for (int j = 0; j < 3; j++) { Assert.Equal(raw[l.WriteKey + j], o[l.WriteKey + j]); Assert.Equal(raw[l.WriteVector + j], o[l.WriteVector + j]); }
        Assert.Equal(101f, o[l.ReadStrengths], 4);
        Assert.Equal(1f, o[l.WriteStrength], 6);
        Near([1, 0, 0], o.AsSpan(l.ReadModes, 3).ToArray());
        Assert.Equal(1f / (1 + MathF.Exp(-(l.Erase - 10))), o[l.Erase], 6);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void UsageAppliesRetentionOfFreedReadsAndAddsWrites(KernelTier tier)
    {
        // f = ½, w^r = [1, 0], w^w = [0, ½], u = [0.4, 0.2]: ψ = [½, 1]; u' = [0.4·½, (0.2 + ½ − 0.1)·1] = [0.2, 0.6].
        var u = Run(OpKind.DncUsage, tier, new OpShape(2, 1), 0, 0, [0.5f], [1, 0], [0.4f, 0.2f], [0, 0.5f])[2];
        Near([0.2f, 0.6f], u);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void AllocationFollowsUsageAscendingWithTiesByIndex(KernelTier tier)
    {
        // φ = (1, 3, 0, 2): a1 = 0.8, a3 = 0.8·0.2, a0 = 0.5·0.2·0.2, a2 = 0.1·0.2·0.2·0.5.
        var a = Run(OpKind.DncAllocation, tier, OpShape.Vector(4), 0, 0, [0.5f, 0.2f, 0.9f, 0.2f], [], new float[4])[2];
        Near([0.02f, 0.8f, 0.002f, 0.16f], a);
        // All free: the whole write goes to the first slot.
        Near([1, 0, 0], Run(OpKind.DncAllocation, tier, OpShape.Vector(3), 0, 0, [0, 0, 0], [], new float[3])[2]);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void WriteWeightingInterpolatesAllocationAndContent(KernelTier tier)
    {
        var w = Run(OpKind.DncWriteWeighting, tier, OpShape.Vector(2), 0.25f, 0.8f, [1, 0], [0.5f, 0.5f], new float[2])[2];
        Near([0.5f, 0.3f], w);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void WriteErasesThenAdds(KernelTier tier)
    {
        var m = Run(OpKind.DncWrite, tier, new OpShape(2, 2), 0, 0, [1, 2, 3, 4], [1, 0.5f], [1, 0], [10, 20])[0];
        Near([10, 22, 6.5f, 14], m);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void WriteHonoursTheMemoryRowStride(KernelTier tier)
    {
        // lda 3: the third float of each row is padding and must stay untouched.
        var m = Run(OpKind.DncWrite, tier, new OpShape(2, 2, 0, 3), 0, 0, [1, 2, -7, 3, 4], [1, 0.5f], [1, 0], [10, 20])[0];
        Near([10, 22, -7, 6.5f, 14], m);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void LinkMatrixRecordsWriteOrderAndTemporalWeightingsFollowIt(KernelTier tier)
    {
        // Write slot 0, then 1, then 2: L[1,0] = L[2,1] = 1 and the precedence moves with the writes.
        float[] link = new float[9], p = new float[3];
        foreach (var w in new float[][] { [1, 0, 0], [0, 1, 0], [0, 0, 1] })
        {
            var r = Run(OpKind.DncLinkUpdate, tier, OpShape.Vector(3), 0, 0, link, w, p);
            link = r[0]; p = r[2];
            Near(w, p, what: "precedence");
        }
        Near([0, 0, 0, 1, 0, 0, 0, 1, 0], link, what: "link");
        // Head 0 read slot 0, head 1 slot 2: forward goes 0 → 1, backward 2 → 1.
        var t = Run(OpKind.DncTemporal, tier, new OpShape(3, 2), 0, 0, link, [1, 0, 0, 0, 0, 1], new float[6], new float[6]);
        Near([0, 1, 0, 0, 0, 0], t[2], what: "forward");
        Near([0, 0, 0, 0, 1, 0], t[3], what: "backward");
    }

    [Theory, MemberData(nameof(Tiers))]
    public void LinkUpdateDecaysOldLinksAndKeepsTheDiagonalZero(KernelTier tier)
    {
        // w = [½, ½], p = [1, 0], L = [[0, 1], [1, 0]]: L01 = (1 − ½ − ½)·1 + ½·0 = 0, L10 = 0·1 + ½·1 = ½; p = 0·p + w.
        var r = Run(OpKind.DncLinkUpdate, tier, OpShape.Vector(2), 0, 0, [0, 1, 1, 0], [0.5f, 0.5f], [1, 0]);
        Near([0, 0, 0.5f, 0], r[0]);
        Near([0.5f, 0.5f], r[2]);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void ReadWeightingMixesBackwardContentForwardByReadMode(KernelTier tier)
    {
        var w = Run(OpKind.DncReadWeighting, tier, new OpShape(2, 1), 0, 0, [1, 0], [0, 1], [0.5f, 0.5f], [0.2f, 0.3f, 0.5f], new float[2])[4];
        Near([0.45f, 0.55f], w);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void ReadIsTheWeightedSumOfRows(KernelTier tier)
    {
        var r = Run(OpKind.DncRead, tier, new OpShape(2, 2, 2), 0, 0, [1, 2, 3, 4], [0.25f, 0.75f, 1, 0], new float[4])[2];
        Near([2.5f, 3.5f, 1, 2], r);
    }

    public static TheoryData<int, int, int> RandomSizes()
    {
        var d = new TheoryData<int, int, int>();
        foreach (var (n, w, r) in new[] { (1, 1, 1), (2, 3, 1), (7, 5, 2), (16, 8, 4), (33, 17, 3), (64, 64, 1), (129, 20, 2) }) d.Add(n, w, r);
        return d;
    }

    [Theory, MemberData(nameof(RandomSizes))]
    public void ManagedTierMatchesTheReferenceOnRandomOperands(int n, int w, int r)
    {
        var rng = new Random(n * 1000 + w * 10 + r);
        float[] U(int len, float lo = 0, float hi = 1) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = lo + (float)rng.NextDouble() * (hi - lo); return a; }
        float[] Simplex(int heads, int len)
        {
            var a = U(heads * len);
            for (int h = 0; h < heads; h++) { float s = 0; for (int i = 0; i < len; i++) s += a[h * len + i]; for (int i = 0; i < len; i++) a[h * len + i] /= s; }
            return a;
        }
        void Both(string name, OpKind op, OpShape shape, float alpha, float beta, int outIndex, float tol, params float[][] operands)
        {
            var reference = Run(op, KernelTier.Scalar, shape, alpha, beta, operands);
            var managed = Run(op, KernelTier.ManagedSimd, shape, alpha, beta, operands);
            Near(reference[outIndex], managed[outIndex], tol, $"{name} N={n} W={w} R={r}");
        }

        int xi = DncInterfaceLayout.SizeOf(r, w);
        Both("interface", OpKind.DncInterface, new OpShape(r, w), 0, 0, 2, 1e-6f, U(xi, -6, 6), [], new float[xi]);
        Both("usage", OpKind.DncUsage, new OpShape(n, r), 0, 0, 2, 1e-6f, U(r), Simplex(r, n), U(n), Simplex(1, n));
        Both("allocation", OpKind.DncAllocation, OpShape.Vector(n), 0, 0, 2, 1e-6f, U(n), [], new float[n]);
        Both("write weighting", OpKind.DncWriteWeighting, OpShape.Vector(n), 0.3f, 0.9f, 2, 1e-6f, Simplex(1, n), Simplex(1, n), new float[n]);
        Both("write", OpKind.DncWrite, new OpShape(n, w), 0, 0, 0, 1e-6f, U(n * w, -1, 1), Simplex(1, n), U(w), U(w, -1, 1));
        Both("link", OpKind.DncLinkUpdate, OpShape.Vector(n), 0, 0, 0, 1e-6f, U(n * n), Simplex(1, n), Simplex(1, n));
        Both("link precedence", OpKind.DncLinkUpdate, OpShape.Vector(n), 0, 0, 2, 1e-6f, U(n * n), Simplex(1, n), Simplex(1, n));
        Both("forward", OpKind.DncTemporal, new OpShape(n, r), 0, 0, 2, 1e-5f, U(n * n), Simplex(r, n), new float[r * n], new float[r * n]);
        Both("backward", OpKind.DncTemporal, new OpShape(n, r), 0, 0, 3, 1e-5f, U(n * n), Simplex(r, n), new float[r * n], new float[r * n]);
        var (l0, w0, p0, r0) = (U(n * n), Simplex(1, n), Simplex(1, n), Simplex(r, n));
        Both("fused link", OpKind.DncLinkTemporal, new OpShape(n, r), 0, 0, 0, 1e-6f, l0, w0, p0, r0, new float[r * n], new float[r * n]);
        Both("fused forward", OpKind.DncLinkTemporal, new OpShape(n, r), 0, 0, 4, 1e-5f, l0, w0, p0, r0, new float[r * n], new float[r * n]);
        Both("fused backward", OpKind.DncLinkTemporal, new OpShape(n, r), 0, 0, 5, 1e-5f, l0, w0, p0, r0, new float[r * n], new float[r * n]);
        Both("read weighting", OpKind.DncReadWeighting, new OpShape(n, r), 0, 0, 4, 1e-6f, Simplex(r, n), Simplex(r, n), Simplex(r, n), Simplex(r, 3), new float[r * n]);
        Both("read", OpKind.DncRead, new OpShape(n, w, r), 0, 0, 2, 1e-5f, U(n * w, -1, 1), Simplex(r, n), new float[r * w]);
        var (m0, ww0, e0, v0, k0, b0) = (U(n * w, -1, 1), Simplex(1, n), U(w), U(w, -1, 1), U(r * w, -1, 1), U(r, 1, 8));
        Both("fused write", OpKind.DncWriteContent, new OpShape(n, w, r), 0, 0, 0, 1e-6f, m0, ww0, e0, v0, k0, b0, new float[r * n]);
        Both("fused read content", OpKind.DncWriteContent, new OpShape(n, w, r), 0, 0, 6, 1e-5f, m0, ww0, e0, v0, k0, b0, new float[r * n]);
    }

    [Theory, MemberData(nameof(Tiers))]
    public void WriteContentIsTheWriteThenEachReadKeysContentWeightingOfTheWrittenMemory(KernelTier tier)
    {
        // Slot 1 is overwritten with v = [0, 1] (w = [0, 1], e = [1, 1]): key 0 = [0, 1] now matches it, not slot 0 = [1, 0];
        // key 1 = [1, 0] still matches slot 0. β = 10 and 0 (uniform).
        var r = Run(OpKind.DncWriteContent, tier, new OpShape(2, 2, 2), 0, 0, [1, 0, 1, 0], [0, 1], [1, 1], [0, 1], [0, 1, 1, 0], [10, 0], new float[4]);
        Near([1, 0, 0, 1], r[0], what: "memory");
        float e10 = MathF.Exp(10f * (1 / (1 + 1e-6f)));
        Near([1 / (1 + e10), e10 / (1 + e10), 0.5f, 0.5f], r[6], 1e-5f, what: "read content");
    }

    [Theory, MemberData(nameof(Tiers))]
    public void LinkTemporalIsTheLinkUpdateThenTheWeightingsOfTheUpdatedLinks(KernelTier tier)
    {
        // The write order 0 → 1 is recorded by this step's update (L[1,0] = 1): head 0 reading slot 0 moves forward to 1.
        var r = Run(OpKind.DncLinkTemporal, tier, new OpShape(3, 1), 0, 0, new float[9], [0, 1, 0], [1, 0, 0], [1, 0, 0], new float[3], new float[3]);
        Near([0, 0, 0, 1, 0, 0, 0, 0, 0], r[0], what: "link");
        Near([0, 1, 0], r[2], what: "precedence");
        Near([0, 1, 0], r[4], what: "forward");
        Near([0, 0, 0], r[5], what: "backward");
    }

    [Fact]
    public void AllocationOrdersTiesNegativeZeroAndNaNTheSameOnBothTiers()
    {
        float[] u = [0.5f, -0f, 0f, float.NaN, 0.5f, 1e-30f];
        var reference = Run(OpKind.DncAllocation, KernelTier.Scalar, OpShape.Vector(6), 0, 0, u, [], new float[6])[2];
        var managed = Run(OpKind.DncAllocation, KernelTier.ManagedSimd, OpShape.Vector(6), 0, 0, u, [], new float[6])[2];
        Assert.Equal(reference.Select(BitConverter.SingleToInt32Bits), managed.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(1f, reference[1]); // the first of the two zeros gets everything
    }

    [Fact]
    public void DncShapesShowInTheKeyDims()
    {
        Assert.Equal("16x16", new OpKey(OpKind.DncLinkUpdate, OpShape.Vector(16)).Dims);
        Assert.Equal("16x16x2", new OpKey(OpKind.DncTemporal, new OpShape(16, 2)).Dims);
        Assert.Equal("16x8x2", new OpKey(OpKind.DncRead, new OpShape(16, 8, 2)).Dims);
        Assert.Equal("16x8", new OpKey(OpKind.DncWrite, new OpShape(16, 8)).Dims);
        Assert.Equal(2 * 8 + 3 * 8 + 5 * 2 + 3, new OpKey(OpKind.DncInterface, new OpShape(2, 8)).Elements);
    }
}
