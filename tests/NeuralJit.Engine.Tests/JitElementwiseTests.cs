using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// Every element-wise op that has an emitter (read from the descriptor table, so a new op is swept without being named
/// here) against the reference within its descriptor's JIT tolerance: both ISAs, hundreds of shapes, fenced and
/// unaligned buffers, inputs in [−1, 1] and [−30, 30] (σ and tanh saturate), and special values.
/// </summary>
public class JitElementwiseTests
{
    public static TheoryData<OpKind, JitIsa> OpsAndIsas()
    {
        var data = new TheoryData<OpKind, JitIsa>();
        foreach (var spec in OpSpecs.All.Where(s => s.Elementwise && s.HasEmitter))
            foreach (JitIsa isa in JitTestEngine.Isas)
                data.Add(spec.Kind, isa);
        return data;
    }

    [Fact]
    public void EveryElementwiseOpWithAnEmitterIsSwept()
    {
        var swept = OpsAndIsas().Select(row => (OpKind)row[0]).Distinct().ToList();
        Assert.Contains(OpKind.Sigmoid, swept);
        Assert.Contains(OpKind.Add, swept);
        Assert.Contains(OpKind.Axpy, swept);
        Assert.DoesNotContain(OpKind.Softmax, swept); // a reduction, not element-wise: JitReductionTests
    }

    [Theory, MemberData(nameof(OpsAndIsas))]
    public void ElementwiseKernelMatchesTheReference(OpKind op, JitIsa isa)
    {
        int seed = 10 * (int)op;
        JitTestEngine.Sweep(op, isa, null, 80, seed + 1);
        JitTestEngine.Sweep(op, isa, null, 40, seed + 2, range: 30);
        JitTestEngine.Sweep(op, isa, null, 40, seed + 3, InputKind.Special, range: 5);
    }

    [Theory, MemberData(nameof(OpsAndIsas))]
    public unsafe void OutputMayAliasTheInput(OpKind op, JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        foreach (int n in new[] { 1, 17, 77 })
        {
            var key = new OpKey(op, OpShape.Vector(n));
            var kernel = engine.Jit.Compile(key, isa);
            using var inputs = OpTestData.Create(op, key.Shape, seed: n);
            inputs.Inject(SpecialValues.All, seed: n, count: 2, 'A');
            OpTestData.AssertInPlaceMatchesReference(inputs, a => ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)((KernelArgs*)a),
                $"in place (C = A) on {isa}", KernelTier.Jit);
        }
    }
}
