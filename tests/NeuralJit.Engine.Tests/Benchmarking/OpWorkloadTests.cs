using NeuralJit.Benchmarking;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Benchmarking;

/// <summary>
/// A benchmark times thousands of calls on the same sample operands, so what an op updates in place must stay what the
/// op is meant to see: weightings drawn as weightings (≥ 0, summing to 1) keep a DNC's precedence, usage and links
/// finite, and the timed data is not NaN.
/// </summary>
public class OpWorkloadTests
{
    public static TheoryData<OpKind> OpsWithWeightings()
    {
        var data = new TheoryData<OpKind>();
        foreach (var op in Enum.GetValues<OpKind>())
            if (OpSpecs.For(op).Operands.Any(o => o.WeightingLength is not null)) data.Add(op);
        return data;
    }

    /// <summary>64 slots: a weighting drawn unscaled sums to about 32 there, which a small sample shape may not show.</summary>
    private static OpShape SlotsShape(DimsForm form) => form switch
    {
        DimsForm.Length or DimsForm.Square => new(64),
        DimsForm.Matrix or DimsForm.SquareByN => new(64, 4),
        DimsForm.Triple => new(64, 16, 4),
        _ => throw new ArgumentOutOfRangeException(nameof(form), form, "No DNC op has this dims form."),
    };

    [Theory]
    [MemberData(nameof(OpsWithWeightings))]
    public unsafe void WeightingsAreDrawnAsWeightingsAndRepeatedCallsStayFinite(OpKind op)
    {
        var spec = OpSpecs.For(op);
        foreach (var shape in SampleShapes.Of(spec).Where(s => s.M > 0).Take(3).Append(SlotsShape(spec.Form)))
        {
            using var w = new OpWorkload(new OpKey(op, shape));
            var side = w.CreateManaged(KernelTier.ManagedSimd);
            foreach (var o in spec.Operands.Where(o => o.WeightingLength is not null))
            {
                var values = side.Span(o.Field)[..o.Extent(shape).Floats];
                int length = o.WeightingLength!(shape);
                Assert.All(values.ToArray(), v => Assert.True(v >= 0, $"{op} {shape}: {o.Name} has {v}"));
                for (int start = 0; start + length <= values.Length; start += length)
                {
                    double sum = 0;
                    foreach (float v in values.Slice(start, length)) sum += v;
                    Assert.True(Math.Abs(sum - 1) < 1e-4, $"{op} {shape}: {o.Name}[{start}..] sums to {sum}");
                }
            }
            side.Run(2000);
            foreach (var f in w.Outputs)
                Assert.All(side.Span(f).ToArray(), v => Assert.True(float.IsFinite(v), $"{op} {shape}: {f} holds {v} after 2,000 calls"));
        }
    }
}
