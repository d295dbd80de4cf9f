using NeuralJit.Engine.Tests.Support;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Ops;

public class OpTestDataTests
{
    [Fact]
    public void SameSeedGivesIdenticalOperandsAndDifferentSeedsDiffer()
    {
        using var a = OpTestData.Create(OpKind.Gemm, OpShape.ForGemm(5, 7, 3, lda: 4), seed: 1);
        using var b = OpTestData.Create(OpKind.Gemm, OpShape.ForGemm(5, 7, 3, lda: 4), seed: 1);
        using var c = OpTestData.Create(OpKind.Gemm, OpShape.ForGemm(5, 7, 3, lda: 4), seed: 2);
        Assert.Equal(a['A']!.ToArray(), b['A']!.ToArray());
        Assert.NotEqual(a['A']!.ToArray(), c['A']!.ToArray());
        Assert.Equal(ManagedKernels.MatrixSpan(5, 3, 4), a['A']!.Length);
    }

    [Fact]
    public void ComparisonReportsTheWorstElementAndNaNPositions()
    {
        using var e = OpTestData.Create(OpKind.Relu, OpShape.Vector(10), seed: 3);
        e.Run(KernelTier.Scalar);
        using var a = e.Clone();
        a['C']!.Span[4] += 0.5f;
        a['C']!.Span[7] = float.NaN;
        var r = OpTestData.Compare(e, a, OpTestData.For(OpKind.Relu, e.Shape));
        Assert.False(r.Passed);
        Assert.Contains("worst [4]", r.Message);
        Assert.Contains("NaN positions differ", r.Message);
        Assert.Contains("[7]", r.Message);
    }

    [Fact]
    public unsafe void GuardCatchesAWritePastTheEnd()
    {
        using var e = OpTestData.Create(OpKind.Add, OpShape.Vector(5), seed: 4, unaligned: true);
        Assert.Null(e.GuardDamage());
        e['C']!.Pointer[5] = 1f;
        Assert.Contains("past the end of operand C", e.GuardDamage());
    }

    [Fact]
    public void InjectPlantsOnlyRequestedKindsInInputs()
    {
        using var e = OpTestData.Create(OpKind.Add, OpShape.Vector(50), seed: 5);
        string where = e.Inject(SpecialValues.NaN, seed: 9, count: 4);
        Assert.Contains("NaN", where);
        Assert.True(e['A']!.ToArray().Concat(e['B']!.ToArray()).Count(float.IsNaN) is >= 1 and <= 4);
    }
}
