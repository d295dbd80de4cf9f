using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// DncMemory's whole step against a second, independent implementation of Graves et al. (2016), Methods,
/// written here in double from the equations (no engine code), over many steps so every piece of state matters.
/// </summary>
public class DncMemoryTests
{
    /// <summary>
    /// The paper's forward pass in double, state in plain arrays, from an already squashed interface vector.
    /// One exception, on purpose: the usage is computed in fp32 from the fp32 state. The allocation sorts the
    /// usage, which is discontinuous — slots whose usages are equal in exact arithmetic (common: untouched
    /// slots after a symmetric start) differ by 1e-12 in double and tie in fp32, so a double usage would pick
    /// another slot for reasons of rounding, not of correctness.
    /// </summary>
    private sealed class PaperDnc(int n, int w, int r)
    {
        public double[,] M = new double[n, w];
        public double[] P = new double[n], Ww = new double[n];
        public float[] U32 = new float[n], Ww32 = new float[n], Wr32 = new float[r * n];
        public double[,] L = new double[n, n], Wr = new double[r, n], Rv = new double[r, w];

        public void Load(DncMemory d)
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < w; j++) M[i, j] = d.Memory[i * w + j];
                for (int j = 0; j < n; j++) L[i, j] = d.Link[i * n + j];
                P[i] = d.Precedence[i]; Ww[i] = d.WriteWeights[i];
            }
            for (int h = 0; h < r; h++) for (int i = 0; i < n; i++) Wr[h, i] = d.ReadWeights[h * n + i];
            d.Usage.CopyTo(U32); d.WriteWeights.CopyTo(Ww32); d.ReadWeights.CopyTo(Wr32);
        }

        double[] Content(double[] key, double beta)
        {
            var s = new double[n];
            double kn = Math.Sqrt(key.Sum(k => k * k));
            for (int i = 0; i < n; i++)
            {
                double dot = 0, mn = 0;
                for (int j = 0; j < w; j++) { dot += M[i, j] * key[j]; mn += M[i, j] * M[i, j]; }
                s[i] = beta * dot / (Math.Sqrt(mn) * kn + 1e-6);
            }
            double max = s.Max(), sum = 0;
            for (int i = 0; i < n; i++) { s[i] = Math.Exp(s[i] - max); sum += s[i]; }
            for (int i = 0; i < n; i++) s[i] /= sum;
            return s;
        }

        public void Step(float[] xi)
        {
            var l = new DncInterfaceLayout(r, w);
            double[] Take(int at, int len) { var v = new double[len]; for (int i = 0; i < len; i++) v[i] = xi[at + i]; return v; }
            var kr = Take(l.ReadKeys, r * w); var br = Take(l.ReadStrengths, r);
            var kw = Take(l.WriteKey, w); double bw = xi[l.WriteStrength];
            var e = Take(l.Erase, w); var v = Take(l.WriteVector, w);
            double ga = xi[l.AllocationGate], gw = xi[l.WriteGate];
            var pi = Take(l.ReadModes, 3 * r);
            // Usage (fp32, see above): ψ = Π_i (1 − f_i w^r_{t−1,i}); u = (u + w^w_{t−1} − u∘w^w_{t−1})∘ψ.
            for (int i = 0; i < n; i++)
            {
                float psi = 1f;
                for (int h = 0; h < r; h++) psi *= 1f - xi[l.FreeGates + h] * Wr32[h * n + i];
                U32[i] = (U32[i] + Ww32[i] - U32[i] * Ww32[i]) * psi;
            }
            // Allocation: a[φ_j] = (1 − u[φ_j]) Π_{i<j} u[φ_i], φ = usage ascending (stable).
            var phi = Enumerable.Range(0, n).OrderBy(i => U32[i]).ToArray();
            var alloc = new double[n];
            double prod = 1;
            foreach (int j in phi) { alloc[j] = (1 - U32[j]) * prod; prod *= U32[j]; }
            var cw = Content(kw, bw);
            for (int i = 0; i < n; i++) Ww[i] = gw * (ga * alloc[i] + (1 - ga) * cw[i]);
            for (int i = 0; i < n; i++) for (int j = 0; j < w; j++) M[i, j] = M[i, j] * (1 - Ww[i] * e[j]) + Ww[i] * v[j];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) L[i, j] = i == j ? 0 : (1 - Ww[i] - Ww[j]) * L[i, j] + Ww[i] * P[j];
            double sw = Ww.Sum();
            for (int i = 0; i < n; i++) P[i] = (1 - sw) * P[i] + Ww[i];
            var newWr = new double[r, n];
            for (int h = 0; h < r; h++)
            {
                var c = Content(kr.Skip(h * w).Take(w).ToArray(), br[h]);
                for (int i = 0; i < n; i++)
                {
                    double fw = 0, bk = 0;
                    for (int j = 0; j < n; j++) { fw += L[i, j] * Wr[h, j]; bk += L[j, i] * Wr[h, j]; }
                    newWr[h, i] = pi[3 * h] * bk + pi[3 * h + 1] * c[i] + pi[3 * h + 2] * fw;
                }
            }
            Wr = newWr;
            for (int h = 0; h < r; h++) for (int j = 0; j < w; j++) { double s = 0; for (int i = 0; i < n; i++) s += Wr[h, i] * M[i, j]; Rv[h, j] = s; }
        }
    }

    private static double OnePlus(double x) => 1 + Math.Log(1 + Math.Exp(x));
    private static double Sig(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>The squashed interface the paper prescribes for <paramref name="raw"/>, in double.</summary>
    private static double[] Squash(float[] raw, int r, int w)
    {
        var l = new DncInterfaceLayout(r, w);
        var o = raw.Select(x => (double)x).ToArray();
        for (int h = 0; h < r; h++) { o[l.ReadStrengths + h] = OnePlus(raw[l.ReadStrengths + h]); o[l.FreeGates + h] = Sig(raw[l.FreeGates + h]); }
        o[l.WriteStrength] = OnePlus(raw[l.WriteStrength]);
        for (int j = 0; j < w; j++) o[l.Erase + j] = Sig(raw[l.Erase + j]);
        o[l.AllocationGate] = Sig(raw[l.AllocationGate]); o[l.WriteGate] = Sig(raw[l.WriteGate]);
        for (int h = 0; h < r; h++)
        {
            var e = Enumerable.Range(0, 3).Select(k => Math.Exp(raw[l.ReadModes + 3 * h + k])).ToArray();
            for (int k = 0; k < 3; k++) o[l.ReadModes + 3 * h + k] = e[k] / e.Sum();
        }
        return o;
    }

    private static void Close(double want, float got, double tol, string what)
    {
        if (!(Math.Abs(want - got) <= tol * Math.Max(1, Math.Abs(want)))) Assert.Fail($"{what} = {got:R}, paper {want:R}");
    }

    /// <summary>
    /// Lock-step: before every step the paper implementation takes the engine's state, then both step and every
    /// piece of the new state is compared (so an error shows at the step and in the quantity that caused it).
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(4, 3, 1)]
    [InlineData(9, 4, 2)]
    [InlineData(16, 8, 3)]
    [InlineData(33, 5, 2)]
    public void EveryStepMatchesAnIndependentImplementationOfThePaper(int n, int w, int r)
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        int xiSize = DncInterfaceLayout.SizeOf(r, w);
        using var dnc = new DncMemory(engine, 3, n, w, r, new float[xiSize * 3], []);
        var paper = new PaperDnc(n, w, r);
        var rng = new Random(n * 31 + w * 7 + r);
        const double tol = 1e-5;
        for (int t = 0; t < 25; t++)
        {
            var raw = new float[xiSize];
            for (int i = 0; i < raw.Length; i++) raw[i] = (float)(rng.NextDouble() * 6 - 3);
            paper.Load(dnc);
            var got = dnc.StepInterface(raw).ToArray();
            string at = $"N={n} W={w} R={r} step {t}";
            var squashed = Squash(raw, r, w);
            for (int i = 0; i < xiSize; i++) Close(squashed[i], dnc.Interface[i], 1e-6, $"{at}: ξ[{i}]");
            paper.Step(dnc.Interface.ToArray());
            for (int i = 0; i < n; i++)
            {
                Assert.True(paper.U32[i] == dnc.Usage[i], $"{at}: u[{i}] = {dnc.Usage[i]:R}, paper {paper.U32[i]:R}");
                Close(paper.Ww[i], dnc.WriteWeights[i], tol, $"{at}: w^w[{i}]");
                Close(paper.P[i], dnc.Precedence[i], tol, $"{at}: p[{i}]");
                for (int j = 0; j < w; j++) Close(paper.M[i, j], dnc.Memory[i * w + j], tol, $"{at}: M[{i},{j}]");
                for (int j = 0; j < n; j++) Close(paper.L[i, j], dnc.Link[i * n + j], tol, $"{at}: L[{i},{j}]");
            }
            for (int h = 0; h < r; h++)
            {
                for (int i = 0; i < n; i++) Close(paper.Wr[h, i], dnc.ReadWeights[h * n + i], tol, $"{at}: w^r[{h},{i}]");
                for (int j = 0; j < w; j++) Close(paper.Rv[h, j], got[h * w + j], tol, $"{at}: r[{h},{j}]");
            }
        }
    }

    /// <summary>
    /// With N a multiple of 1024 (a row of L, a head's weighting: whole pages) the buffers DncLinkTemporal streams side by
    /// side start at their own offsets in a page, so their lines of one column do not share L1 sets; other N are only
    /// cache-line aligned.
    /// </summary>
    [Theory]
    [InlineData(1024, true)]
    [InlineData(2048, true)]
    [InlineData(512, false)]
    [InlineData(1000, false)]
    public unsafe void TheLinkKernelsBuffersOfWholePageRowsStartAtTheirOwnPartOfAPage(int n, bool placed)
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        int xiSize = DncInterfaceLayout.SizeOf(2, 4);
        using var dnc = new DncMemory(engine, 3, n, 4, 2, new float[xiSize * 3], []);
        long Offset(ReadOnlySpan<float> s) { fixed (float* p = s) return (long)p % 4096; }
        var offsets = new[] { Offset(dnc.Link), Offset(dnc.ReadWeights), Offset(dnc.WriteWeights), Offset(dnc.Precedence), Offset(dnc.BackwardWeights), Offset(dnc.ForwardWeights) };
        Assert.All(offsets, o => Assert.Equal(0, o % 64));
        if (placed) Assert.Equal(new long[] { 0, 1024, 2048, 2560, 3072, 3584 }, offsets);
    }

    [Fact]
    public void ResetStateStartsANewSequence()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        int xiSize = DncInterfaceLayout.SizeOf(2, 4);
        using var dnc = new DncMemory(engine, 3, 6, 4, 2, new float[xiSize * 3], []);
        var rng = new Random(5);
        var seq = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, xiSize).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        var first = seq.Select(x => dnc.StepInterface(x).ToArray()).ToArray();
        dnc.ResetState();
        var second = seq.Select(x => dnc.StepInterface(x).ToArray()).ToArray();
        for (int t = 0; t < seq.Length; t++) Assert.Equal(first[t], second[t]);
        Assert.NotEqual(first[0], first[3]);
    }

    [Fact]
    public void EveryDncStepIsProfiledWithItsShape()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        var sizes = new NetworkSizes(5, 12, 3) { MemorySlots = 16, MemoryWidth = 8, ReadHeads = 2 };
        using var net = NeuralNetwork.CreateRandom(engine, sizes, 1);
        for (int t = 0; t < 10; t++) net.Step(new float[5]);
        var rows = engine.GetHotspots().ToDictionary(h => (h.Operation.ToString(), h.Dims), h => h.Calls);
        Assert.Equal(10, rows[("DncInterface", "2x8")]);
        Assert.Equal(10, rows[("DncUsage", "16x2")]);
        Assert.Equal(10, rows[("DncAllocation", "16")]);
        Assert.Equal(10, rows[("DncContent", "16x8")]); // the write key
        Assert.Equal(10, rows[("DncWriteWeighting", "16")]);
        Assert.Equal(10, rows[("DncWriteContent", "16x8x2")]); // the write fused with both read keys' content weightings
        Assert.False(rows.ContainsKey(("DncWrite", "16x8")));
        Assert.Equal(10, rows[("DncLinkTemporal", "16x16x2")]); // link update fused with the temporal weightings
        Assert.False(rows.ContainsKey(("DncLinkUpdate", "16x16")));
        Assert.Equal(10, rows[("DncReadWeighting", "16x2")]);
        Assert.Equal(10, rows[("DncRead", "16x8x2")]);
        Assert.Equal(10, rows[("Dense", $"{sizes.InterfaceSize}x12")]); // interface projection
        Assert.Equal(10, rows[("Dense", "3x28")]);                        // head sees [h; r]
        Assert.Equal(10, rows[("LstmStep", $"48x{5 + 16 + 12}")]);       // controller sees [x; r]
    }
}
