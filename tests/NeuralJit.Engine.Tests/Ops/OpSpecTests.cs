using NeuralJit.Engine.Tests.Support;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Ops;

/// <summary>
/// The descriptor table against the ops themselves: one descriptor per kind, and on sample shapes of every op both
/// managed entry points stay inside the operand extents the descriptor states and use all of them.
/// </summary>
public class OpSpecTests
{
    [Fact]
    public void EveryOpKindHasExactlyOneDescriptor()
    {
        var kinds = Enum.GetValues<OpKind>();
        Assert.Equal(kinds.Length, OpSpecs.All.Count);
        foreach (var k in kinds) Assert.Equal(k, OpSpecs.For(k).Kind);
        Assert.Equal(kinds.Length, OpSpecs.All.Select(s => s.Kind).Distinct().Count());
    }

    public static TheoryData<OpKind, KernelTier> EveryOpAndManagedTier()
    {
        var data = new TheoryData<OpKind, KernelTier>();
        foreach (var op in Enum.GetValues<OpKind>())
            foreach (var tier in new[] { KernelTier.Scalar, KernelTier.ManagedSimd })
                data.Add(op, tier);
        return data;
    }

    /// <summary>
    /// Operands sized exactly as the descriptor says, each followed by NaN guards and written outputs pre-filled with NaN:
    /// after a call from finite inputs no guard is damaged (no write past an extent), no output is NaN (every Output
    /// element written, and no read of a guard past an input), and a NaN in the last element of any input shows in the
    /// outputs (the extent is not larger than what the op reads).
    /// </summary>
    [Theory, MemberData(nameof(EveryOpAndManagedTier))]
    public void ManagedEntryPointsTouchExactlyTheDescribedExtents(OpKind op, KernelTier tier)
    {
        var spec = OpSpecs.For(op);
        int seed = 0;
        foreach (var shape in SampleShapes.Of(spec))
        {
            Assert.Null(spec.Invalid(shape));
            seed++;
            using (var data = OpTestData.Create(op, shape, seed))
            {
                data.Run(tier);
                string where = $"{op} {shape} on {tier}";
                Assert.Null(data.GuardDamage());
                foreach (var o in data.All.Where(o => o.IsOutput))
                    Assert.False(HasNaN(o.Span), $"{where}: output {o.Name} has NaN from finite inputs (unwritten or read past an input)");
                if (spec.WritesResult) Assert.False(double.IsNaN(data.Result), $"{where}: Result is NaN from finite inputs");
            }
            bool writesAny = spec.WritesResult || spec.Operands.Any(o => o.IsWritten && o.Extent(shape).Floats > 0);
            foreach (var input in spec.Operands.Where(o => writesAny && o.Role == OperandRole.Input && o.Extent(shape).Floats > 0))
            {
                using var data = OpTestData.Create(op, shape, seed);
                var span = data[(char)('A' + (int)input.Field)]!.Span;
                span[^1] = float.NaN;
                data.Run(tier);
                bool seen = (spec.WritesResult && double.IsNaN(data.Result)) || data.All.Where(o => o.IsOutput).Any(o => HasNaN(o.Span));
                Assert.True(seen, $"{op} {shape} on {tier}: a NaN in the last element of {input.Name} ({input.Field}, {span.Length} floats) reaches no output: the extent is larger than what the op reads");
            }
        }
    }

    public static TheoryData<OpKind, KernelTier> RowIndependentOpsAndTiers()
    {
        var data = new TheoryData<OpKind, KernelTier>();
        foreach (var spec in OpSpecs.All.Where(s => s.RowMultiplyAdds is not null))
            foreach (var tier in new[] { KernelTier.Scalar, KernelTier.ManagedSimd })
                data.Add(spec.Kind, tier);
        return data;
    }

    [Fact]
    public void RowIndependentOpsAreTheMatrixRowOps()
    {
        var byRow = OpSpecs.All.Where(s => s.RowMultiplyAdds is not null).Select(s => s.Kind).Order();
        Assert.Equal(new[] { OpKind.Gemm, OpKind.Gemv, OpKind.LstmGates, OpKind.CosineSimilarity, OpKind.Dense }.Order(), byRow);
        Assert.Equal(6L * 5, OpSpecs.For(OpKind.Gemm).RowMultiplyAdds!(new OpShape(7, 6, 5)));
        Assert.Equal(5L + 3, OpSpecs.For(OpKind.LstmGates).RowMultiplyAdds!(new OpShape(12, 5, 3)));
    }

    /// <summary>
    /// Rows [r0, r0 + n) run as their own call (<see cref="OpSpec.RowPanel"/>, what a benchmark does to see a stop within
    /// a long call) equal the whole call bit for bit: an operand that follows the rows but is not flagged, one flagged
    /// that does not (B when K = M), or a wrong row step reads or writes the wrong rows. Panels of 1, 2 and 3 rows, on
    /// shapes where M, N and K differ, where K or N equals M, and with padded leading dimensions.
    /// </summary>
    [Theory, MemberData(nameof(RowIndependentOpsAndTiers))]
    public unsafe void RowPanelsEqualTheWholeCallBitForBit(OpKind op, KernelTier tier)
    {
        var spec = OpSpecs.For(op);
        OpShape[] shapes = spec.Form switch
        {
            DimsForm.Triple => [new(7, 5, 3), new(6, 9, 6), new(5, 5, 5), new(7, 5, 3, Lda: 4, Ldb: 8, Ldc: 6)],
            DimsForm.Lstm => [new(12, 5, 3), new(8, 8, 2), new(16, 3, 4, Lda: 9)],
            _ => [new(7, 5), new(6, 6), new(9, 4, Lda: 7)],
        };
        var kernel = ManagedKernels.Get(op, tier);
        int seed = 0;
        foreach (var shape in shapes)
        {
            Assert.Null(spec.Invalid(shape));
            foreach (int panelRows in new[] { 1, 2, 3 })
            {
                seed++;
                using var whole = OpTestData.Create(op, shape, seed);
                using var panels = OpTestData.Create(op, shape, seed);
                whole.Run(kernel);
                for (int r0 = 0; r0 < shape.M; r0 += panelRows)
                {
                    var a = panels.Args;
                    var panel = spec.RowPanel(shape, &a, r0, Math.Min(panelRows, shape.M - r0));
                    kernel(in panel, &a);
                }
                foreach (var o in whole.All)
                {
                    var x = o.Span; var y = panels[o.Name]!.Span;
                    for (int i = 0; i < x.Length; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(x[i]) == BitConverter.SingleToInt32Bits(y[i]),
                            $"{op} {shape} on {tier} in panels of {panelRows} rows: {o.Name}[{i}] is {y[i]:G9}, the whole call gives {x[i]:G9}");
                }
            }
        }
    }

    [Fact]
    public void RowPanelIsOnlyForIndependentRows() =>
        Assert.Throws<InvalidOperationException>(() => { unsafe { KernelArgs a = default; OpSpecs.For(OpKind.DncContent).RowPanel(new OpShape(4, 4), &a, 1, 1); } });

    private static bool HasNaN(Span<float> s)
    {
        foreach (var v in s) if (float.IsNaN(v)) return true;
        return false;
    }

    [Fact]
    public void CostCountsEveryOperandOnceAndInOutTwice()
    {
        var step = new OpKey(OpKind.LstmStep, new OpShape(512, 64, 128));
        // W, x, h, bias read; c read and written; h′ written; the gate scratch not counted.
        Assert.Equal(4.0 * (512 * 192 + 64 + 128 + 512 + 2 * 128 + 128), step.Spec.Bytes(step.Shape));
        Assert.Equal(2.0 * 512 * 192 + 10 * 128, step.Spec.Flops(step.Shape));
        var padded = new OpKey(OpKind.Gemv, OpShape.Matrix(4, 5, lda: 9));
        Assert.Equal(4.0 * (4 * 5 + 5 + 2 * 4), padded.Spec.Bytes(padded.Shape)); // the padding is not moved
    }

    [Fact]
    public void InvalidShapesSayWhy()
    {
        Assert.Contains("must be 4 × hidden", OpSpecs.For(OpKind.LstmStep).Invalid(new OpShape(12, 5, 4)));
        Assert.Contains("smaller than the row length", OpSpecs.For(OpKind.Gemm).Invalid(new OpShape(4, 4, 8, Lda: 7)));
        Assert.Contains("negative", OpSpecs.For(OpKind.Relu).Invalid(new OpShape(-1)));
    }
}
