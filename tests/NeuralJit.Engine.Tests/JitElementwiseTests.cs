using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>Element-wise JIT kernels against the reference, both ISAs, hundreds of shapes, fenced and unaligned buffers.</summary>
public class JitElementwiseTests
{
    public static TheoryData<JitIsa> Isas => JitTestEngine.Isas;

    // Sigmoid/Tanh: the approximations' bound (MathEmitter) with margin; tiny results (x < −88) may be 0 vs a subnormal.
    private static readonly JitTolerance Transcendental = new(1e-30, 1e-6);
    private static readonly JitTolerance Exact = new(0, 0);
    // Axpy is fused (one rounding): within half an ulp of |y| + |αx| ≤ 3 for inputs in [−1, 1], |α| ≤ 2.
    private static readonly JitTolerance AxpyTol = new(4e-7, 1e-7);

    [Theory, MemberData(nameof(Isas))]
    public void SigmoidMatchesTheLogisticReference(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.Sigmoid, isa, Transcendental, 120, 11, range: 30);
        JitTestEngine.Sweep(OpKind.Sigmoid, isa, Transcendental, 40, 12, InputKind.Special, range: 30);
    }

    [Theory, MemberData(nameof(Isas))]
    public void TanhMatchesTheReference(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.Tanh, isa, Transcendental, 120, 21, range: 10);
        JitTestEngine.Sweep(OpKind.Tanh, isa, Transcendental, 40, 22, InputKind.Special, range: 2);
    }

    [Theory, MemberData(nameof(Isas))]
    public void ReluSoftsignAddMulAreExact(JitIsa isa)
    {
        foreach (var op in new[] { OpKind.Relu, OpKind.Softsign, OpKind.Add, OpKind.Mul })
        {
            JitTestEngine.Sweep(op, isa, Exact, 60, 31 + (int)op);
            JitTestEngine.Sweep(op, isa, Exact, 30, 41 + (int)op, InputKind.Special);
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public void AxpyIsWithinOneRounding(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.Axpy, isa, AxpyTol, 100, 51);
        JitTestEngine.Sweep(OpKind.Axpy, isa, AxpyTol, 30, 52, InputKind.Special);
    }

    [Theory, MemberData(nameof(Isas))]
    public void OutputMayAliasTheInput(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        var kernel = engine.Jit.Compile(new OpKey(OpKind.Tanh, OpShape.Vector(77)), isa);
        var x = Enumerable.Range(0, 77).Select(i => (i - 38) / 10f).ToArray();
        var expected = x.Select(MathF.Tanh).ToArray();
        unsafe
        {
            fixed (float* p = x)
            {
                KernelArgs a = default;
                a.A = p; a.C = p;
                ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
            }
        }
        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - expected[i]) <= 1e-6 * Math.Abs(expected[i]) + 1e-30, $"tanh in place [{i}]: {x[i]} vs {expected[i]}");
    }
}
