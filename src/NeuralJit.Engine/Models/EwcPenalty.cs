using NeuralJit.Models;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit;

/// <summary>What <c>Measure-NeuralEwcPenalty</c> returns: λ/2 · Σ Fᵢ(θᵢ − θ*ᵢ)².</summary>
public sealed class EwcPenaltyResult
{
    public double Penalty { get; init; }
    public double Lambda { get; init; }
    public long ParameterCount { get; init; }
    /// <summary>Tensors summed (1 for plain arrays).</summary>
    public int Tensors { get; init; }
    /// <summary>How the sum was accumulated: "Double" (each term and every partial sum in double).</summary>
    public string Accumulation { get; init; } = "Double";
    /// <summary>What was measured (the model, or "arrays").</summary>
    public string Source { get; init; } = "";

    public override string ToString() => $"EWC penalty {Penalty:G6} (λ = {Lambda:G4}, {ParameterCount:N0} parameters)";
}

/// <summary>
/// Elastic weight consolidation's penalty (Kirkpatrick et al. 2017), λ/2 · Σ Fᵢ(θᵢ − θ*ᵢ)², through the
/// profiled <see cref="OpKind.EwcPenalty"/> op: one call per tensor (shape = the tensor's), the per-tensor
/// results (each accumulated in double by the op's contract) summed in double.
/// </summary>
public static unsafe class EwcPenalty
{
    /// <summary>The penalty of <paramref name="parameters"/> against <paramref name="anchor"/> weighted by <paramref name="fisher"/> (equal lengths).</summary>
    /// <exception cref="InvalidDataException">A Fisher entry is negative or NaN.</exception>
    /// <exception cref="ArithmeticException">The penalty is not finite.</exception>
    public static EwcPenaltyResult Measure(NeuralEngine engine, ReadOnlySpan<float> parameters, ReadOnlySpan<float> anchor, ReadOnlySpan<float> fisher, float lambda)
    {
        if (anchor.Length != parameters.Length || fisher.Length != parameters.Length)
            throw new ArgumentException($"The parameter, anchor and Fisher arrays must have the same length (got {parameters.Length}, {anchor.Length}, {fisher.Length}).");
        CheckFisher(fisher, "the Fisher array");
        double penalty = Finite(Call(engine, OpShape.Vector(parameters.Length), parameters, anchor, fisher, lambda), lambda);
        return new EwcPenaltyResult { Penalty = penalty, Lambda = lambda, ParameterCount = parameters.Length, Tensors = 1, Source = "arrays" };
    }

    /// <summary>
    /// The penalty of <paramref name="model"/> against anchor parameters and a Fisher diagonal given as
    /// tensors with the model's names and shapes (every model tensor present in both, nothing else).
    /// </summary>
    /// <exception cref="ModelLayoutException">A tensor is missing, unexpected or of another shape.</exception>
    /// <exception cref="InvalidDataException">A Fisher entry is negative or NaN.</exception>
    /// <exception cref="ArithmeticException">The penalty is not finite.</exception>
    public static EwcPenaltyResult Measure(NeuralEngine engine, NeuralModel model, IReadOnlyDictionary<string, SafeTensor> anchor,
        IReadOnlyDictionary<string, SafeTensor> fisher, float lambda, string? anchorName = null, string? fisherName = null)
    {
        Check(model, anchor, anchorName);
        Check(model, fisher, fisherName);
        foreach (var name in model.Names) CheckFisher(fisher[name].Data, $"'{name}' of the Fisher diagonal");
        double penalty = 0;
        long count = 0;
        foreach (var name in model.Names)
        {
            int[] shape = model.GetParameterShape(name)!;
            var op = shape.Length == 2 ? OpShape.Matrix(shape[0], shape[1]) : OpShape.Vector(shape[0]);
            var theta = model.Parameter(name);
            penalty += Call(engine, op, theta, anchor[name].Data, fisher[name].Data, lambda);
            count += theta.Length;
        }
        return new EwcPenaltyResult { Penalty = Finite(penalty, lambda), Lambda = lambda, ParameterCount = count, Tensors = model.Names.Count, Source = model.Source };
    }

    /// <summary>A Fisher diagonal is an expectation of squared gradients: a negative or NaN entry means the wrong file or array.</summary>
    /// <exception cref="InvalidDataException">An entry is negative or NaN (the message names the first and counts them all).</exception>
    private static void CheckFisher(ReadOnlySpan<float> fisher, string what)
    {
        int first = -1, bad = 0;
        for (int i = 0; i < fisher.Length; i++)
            if (!(fisher[i] >= 0)) { if (first < 0) first = i; bad++; }
        if (bad > 0)
            throw new InvalidDataException($"{what} has {bad:N0} negative or NaN entr{(bad == 1 ? "y" : "ies")} (the first is {fisher[first]} at index {first:N0}); a Fisher diagonal is never negative.");
    }

    /// <exception cref="ArithmeticException">The penalty is NaN or infinite (overflow, or NaN/∞ among θ, θ*, F or λ).</exception>
    private static double Finite(double penalty, float lambda) => double.IsFinite(penalty) ? penalty
        : throw new ArithmeticException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"The penalty is {penalty} (λ = {lambda:G9} as fp32): it overflowed, or θ, θ*, the Fisher diagonal or λ holds NaN or ∞."));

    private static void Check(NeuralModel model, IReadOnlyDictionary<string, SafeTensor> tensors, string? file)
    {
        foreach (var name in model.Names)
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new ModelLayoutException("MissingTensor", $"The tensor '{name}' of the model is missing.", name, file);
            var shape = model.GetParameterShape(name)!;
            if (!t.Shape.SequenceEqual(shape.Select(d => (long)d)))
                throw new ModelLayoutException("ShapeMismatch", $"'{name}' has shape {t.ShapeText}; the model's is [{string.Join(", ", shape)}].", name, file);
        }
        foreach (var name in tensors.Keys)
            if (!model.Names.Contains(name))
                throw new ModelLayoutException("UnexpectedTensor", $"The tensor '{name}' is not a parameter of the model.", name, file);
    }

    private static double Call(NeuralEngine engine, OpShape shape, ReadOnlySpan<float> theta, ReadOnlySpan<float> anchor, ReadOnlySpan<float> fisher, float lambda)
    {
        if (theta.IsEmpty) return 0;
        OpSlot slot = engine.Resolve(OpKind.EwcPenalty, shape);
        fixed (float* t = theta, a = anchor, f = fisher)
        {
            KernelArgs args = default;
            args.A = t; args.B = a; args.C = f; args.Alpha = lambda;
            slot.Invoke(&args);
            return args.Result;
        }
    }
}
