using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

public class OpKeyParseTests
{
    public static TheoryData<OpKind, OpShape> Keys => new()
    {
        { OpKind.Gemm, OpShape.ForGemm(64, 32, 16) },
        { OpKind.Gemm, OpShape.ForGemm(5, 7, 9, 12, 10, 11) },
        { OpKind.LstmGates, new OpShape(512, 64, 128) },
        { OpKind.LstmStep, new OpShape(512, 64, 128) },
        { OpKind.DncContent, OpShape.Matrix(256, 64) },
        { OpKind.CosineSimilarity, OpShape.Matrix(7, 3, 5) },
        { OpKind.Dense, OpShape.Matrix(128, 64) },
        { OpKind.EwcPenalty, OpShape.Matrix(128, 128) },
        { OpKind.EwcPenalty, OpShape.Vector(1000000) },
        { OpKind.Softmax, OpShape.Vector(256) },
        { OpKind.Relu, OpShape.Vector(0) },
    };

    [Theory, MemberData(nameof(Keys))]
    public void ParseIsTheInverseOfDims(OpKind op, OpShape shape)
    {
        var key = new OpKey(op, shape);
        Assert.Equal(key, OpKey.Parse(op, key.Dims));
    }

    /// <summary>A valid shape of every op (unused fields 0), plain and with custom leading dims.</summary>
    public static TheoryData<OpKind, OpShape> EveryOp()
    {
        var data = new TheoryData<OpKind, OpShape>();
        foreach (var op in Enum.GetValues<OpKind>())
        {
            var shapes = Support.SampleShapes.Of(OpSpecs.For(op));
            foreach (var s in shapes)
            {
                data.Add(op, s);
                data.Add(op, s with { Lda = s.StrideA(op) + 3, Ldb = s.N + 1, Ldc = s.N + 2 });
            }
        }
        return data;
    }

    [Theory, MemberData(nameof(EveryOp))]
    public void ParseIsTheInverseOfDimsForEveryOp(OpKind op, OpShape shape)
    {
        var key = new OpKey(op, shape);
        Assert.True(OpKey.TryParse(op, key.Dims, out var parsed, out var error), error);
        Assert.Equal(key, parsed);
        Assert.Equal(key.Dims, parsed.Dims);
    }

    [Theory]
    [InlineData(OpKind.DncLinkUpdate, "16x8")]
    [InlineData(OpKind.DncTemporal, "16x8x2")]
    [InlineData(OpKind.DncTemporal, "16x2")]
    [InlineData(OpKind.DncRead, "16x8")]
    [InlineData(OpKind.DncAllocation, "16x2")]
    [InlineData(OpKind.EwcPenalty, "128x0")]
    [InlineData(OpKind.Gemm, "64x64")]
    [InlineData(OpKind.Sigmoid, "8x8")]
    [InlineData(OpKind.DncContent, "256")]
    [InlineData(OpKind.LstmGates, "510x192")]
    [InlineData(OpKind.Relu, "-4")]
    [InlineData(OpKind.Relu, "")]
    [InlineData(OpKind.Gemm, "4x4x4/ld4,4")]
    public void MalformedDimsSayWhatWasExpected(OpKind op, string dims)
    {
        Assert.False(OpKey.TryParse(op, dims, out _, out var error));
        Assert.Contains(op.ToString(), error);
        Assert.Throws<FormatException>(() => OpKey.Parse(op, dims));
    }
}
