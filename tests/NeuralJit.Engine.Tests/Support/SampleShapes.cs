using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>A few valid shapes of any op, from its dims form: sizes 0 and 1, odd sizes, and a padded row stride.</summary>
public static class SampleShapes
{
    public static IEnumerable<OpShape> Of(OpSpec spec) => spec.Form switch
    {
        DimsForm.Length => [new(0), new(1), new(7), new(33)],
        DimsForm.Matrix => [new(0, 5), new(1, 1), new(5, 7), new(9, 33), new(9, 33, 0, Lda: 36)],
        DimsForm.Triple => [new(1, 1, 1), new(5, 7, 3), new(6, 9, 4, Lda: spec.RowLengthA(new OpShape(6, 9, 4)) + 2)],
        DimsForm.Lstm => [new(0, 0, 0), new(4, 0, 1), new(12, 5, 3), new(36, 13, 9), new(36, 13, 9, Lda: 25)],
        DimsForm.LengthOrMatrix => [new(0), new(1), new(45), new(5, 9)],
        DimsForm.Square => [new(1), new(6)],
        DimsForm.SquareByN => [new(1, 1), new(5, 2)],
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Form, "No sample shapes for this dims form."),
    };
}
