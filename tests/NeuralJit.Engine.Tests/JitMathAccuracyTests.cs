using NeuralJit.Jit;
using NeuralJit.Ops;
using Xunit.Abstractions;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// Pins the maximum relative error of the inline exp, sigmoid and tanh (MathEmitter) over [−30, 30] against
/// double-precision Math, on 2^21 evenly spaced floats plus the edges, for both ISAs; and their behaviour at
/// NaN, ±∞ and beyond the saturation points.
/// </summary>
public class JitMathAccuracyTests(ITestOutputHelper output)
{
    public static TheoryData<JitIsa> Isas => Support.JitTestEngine.Isas;

    public enum Fn { Exp, Sigmoid, Tanh }

    // The bounds stated in MathEmitter's documentation (measured: see the test output).
    private static double Bound(Fn f) => f switch { Fn.Exp => 1e-7, Fn.Sigmoid => 2e-7, _ => 2e-7 };

    private static unsafe float[] Run(CodeCache cache, JitIsa isa, Fn f, float[] x)
    {
        var k = new KernelAssembler(isa);
        k.LoadPointer(rsi, KernelArgs.Offsets.A);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        k.ForEachVector(x.Length, 1, rax, new Vec(15), c =>
        {
            var v = new Vec(0);
            k.LoadPart(v, c.At(rsi), c.Count, c.Tail);
            switch (f)
            {
                case Fn.Exp: MathEmitter.Exp(k, v, new Vec(1), new Vec(2)); break;
                case Fn.Sigmoid: MathEmitter.Sigmoid(k, v, new Vec(1), new Vec(2)); break;
                default: MathEmitter.Tanh(k, v, new Vec(1), new Vec(2), new Vec(3), new Vec(4)); break;
            }
            k.StorePart(c.At(rcx), v, c.Count, c.Tail);
        });
        Assert.True(cache.TryInstall(k.Finish(), out nint entry, out var failure), failure?.Message);
        var y = new float[x.Length];
        fixed (float* px = x, py = y)
        {
            KernelArgs a = default; a.A = px; a.C = py;
            ((delegate* unmanaged<KernelArgs*, void>)entry)(&a);
        }
        return y;
    }

    private static double Reference(Fn f, float x) => f switch
    {
        Fn.Exp => Math.Exp(x),
        Fn.Sigmoid => 1 / (1 + Math.Exp(-(double)x)),
        _ => Math.Tanh(x),
    };

    public static IEnumerable<object[]> Cases() =>
        from isa in new[] { JitIsa.Avx2, JitIsa.Avx512 }.Where(i => i <= CpuFeatures.Best)
        from f in Enum.GetValues<Fn>()
        select new object[] { isa, f };

    [Theory, MemberData(nameof(Cases))]
    public void MaxRelativeErrorOverMinus30To30IsPinned(JitIsa isa, Fn f)
    {
        using var cache = new CodeCache(1 << 16);
        const int n = 1 << 21;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(-30 + 60.0 * i / (n - 1));
        var y = Run(cache, isa, f, x);
        double worst = 0; float worstX = 0;
        for (int i = 0; i < n; i++)
        {
            double r = Reference(f, x[i]);
            double err = r == 0 ? Math.Abs(y[i]) : Math.Abs(y[i] - r) / Math.Abs(r);
            if (!(err <= worst)) { worst = err; worstX = x[i]; }
        }
        output.WriteLine($"{f} on {isa}: max relative error {worst:E2} at x = {worstX:R}");
        Assert.True(worst <= Bound(f), $"{f} on {isa}: max relative error {worst:E3} at x = {worstX:R} exceeds the stated {Bound(f):E1}");
    }

    [Theory, MemberData(nameof(Isas))]
    public void EdgesSaturateAndNaNPropagates(JitIsa isa)
    {
        using var cache = new CodeCache(1 << 16);
        float[] x = { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 88.5f, 89f, 100f, -100f, -1e30f, 1e30f, 0f, -0f, 1e-30f, -1e-40f, 20f, -20f };
        var e = Run(cache, isa, Fn.Exp, x);
        var s = Run(cache, isa, Fn.Sigmoid, x);
        var t = Run(cache, isa, Fn.Tanh, x);
        Assert.True(float.IsNaN(e[0]) && float.IsNaN(s[0]) && float.IsNaN(t[0]), "NaN in → NaN out");
        Assert.Equal((float.PositiveInfinity, 1f, 1f), (e[1], s[1], t[1]));
        Assert.Equal((0f, 0f, -1f), (e[2], s[2], t[2]));
        Assert.True(float.IsFinite(e[3]) && Math.Abs(e[3] - Math.Exp(88.5)) / Math.Exp(88.5) < 3e-7, $"exp(88.5) = {e[3]}");
        Assert.Equal(float.PositiveInfinity, e[4]);
        Assert.Equal(float.PositiveInfinity, e[5]);
        Assert.True(e[6] < 1e-38f && e[6] >= 0, $"exp(-100) = {e[6]}");
        Assert.Equal((0f, 0f, -1f), (e[7], s[7], t[7]));
        Assert.Equal((float.PositiveInfinity, 1f, 1f), (e[8], s[8], t[8]));
        Assert.Equal((1f, 0.5f, 0f), (e[9], s[9], t[9]));
        Assert.Equal(1e-30f, t[11]);          // tanh(x) = x for tiny x: the polynomial branch, no cancellation
        Assert.Equal(-1e-40f, t[12]);
        Assert.Equal((1f, -1f), (t[13], t[14]));
        Assert.True(s[13] == 1f && s[14] > 0 && Math.Abs(s[14] - 2.0611536e-9) / 2.0611536e-9 < 3e-7, $"sigmoid(±20) = {s[13]}, {s[14]}");
    }
}
