using System.Management.Automation;
using NeuralJit.Models;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Elastic weight consolidation's penalty λ/2 · Σ Fᵢ(θᵢ − θ*ᵢ)² through the profiled EwcPenalty op,
/// accumulated in double: for a model against anchor parameters and a Fisher diagonal saved as safetensors
/// with the model's tensor names, or for plain arrays.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "NeuralEwcPenalty", DefaultParameterSetName = ModelSet)]
[OutputType(typeof(EwcPenaltyResult))]
public sealed class MeasureNeuralEwcPenaltyCommand : PSCmdlet
{
    private const string ModelSet = "Model";
    private const string ArraySet = "Array";

    /// <summary>θ: the model whose parameters are measured.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ModelSet, ValueFromPipeline = true, Position = 0)]
    public NeuralModel? Model { get; set; }

    /// <summary>θ*: a safetensors file with the model's tensor names and shapes.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ModelSet)]
    [ValidateNotNullOrEmpty]
    public string AnchorPath { get; set; } = "";

    /// <summary>F: the Fisher diagonal, a safetensors file with the model's tensor names and shapes.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ModelSet)]
    [ValidateNotNullOrEmpty]
    public string FisherPath { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = ArraySet)] public float[] Parameter { get; set; } = [];
    [Parameter(Mandatory = true, ParameterSetName = ArraySet)] public float[] Anchor { get; set; } = [];
    [Parameter(Mandatory = true, ParameterSetName = ArraySet)] public float[] Fisher { get; set; } = [];

    /// <summary>λ, the weight of the old task (passed to the kernel as fp32).</summary>
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double Lambda { get; set; } = 1.0;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ArraySet) MeasureArrays();
        else MeasureModel();
    }

    private void MeasureArrays()
    {
        foreach (var (name, array) in new[] { (nameof(Anchor), Anchor), (nameof(Fisher), Fisher) })
            if (array.Length != Parameter.Length)
            {
                var e = new ArgumentException($"-{name} has {array.Length} values but -Parameter has {Parameter.Length}.");
                WriteError(NeuralErrors.Create(e, "MeasureNeuralEwcPenaltyLengthMismatch", ErrorCategory.InvalidArgument, array,
                    "Give -Parameter, -Anchor and -Fisher the same number of values, one per parameter."));
                return;
            }
        Measure(() => EwcPenalty.Measure(NeuralEngine.Default, Parameter, Anchor, Fisher, (float)Lambda), Fisher);
    }

    /// <summary>Writes the penalty, or the error saying why there is none: a negative Fisher entry, or a result that is not finite.</summary>
    private void Measure(Func<EwcPenaltyResult> measure, object fisher)
    {
        EwcPenaltyResult result;
        try { result = measure(); }
        catch (InvalidDataException e)
        {
            WriteError(NeuralErrors.Create(e, "MeasureNeuralEwcPenaltyNegativeFisher", ErrorCategory.InvalidData, fisher,
                "Give the Fisher diagonal (the mean of squared gradients, every entry ≥ 0): check that -Fisher/-FisherPath is not θ or θ*."));
            return;
        }
        catch (ArithmeticException e)
        {
            WriteError(NeuralErrors.Create(e, "MeasureNeuralEwcPenaltyNotFinite", ErrorCategory.InvalidResult, Lambda,
                $"Use a -Lambda that fits fp32 and keeps the penalty finite (it was {Lambda:G6}), and check θ, θ* and F for NaN or ∞."));
            return;
        }
        WriteObject(result);
    }

    private void MeasureModel()
    {
        var anchor = Load(AnchorPath);
        if (anchor is null) return;
        var fisher = Load(FisherPath);
        if (fisher is null) return;
        try
        {
            Measure(() => EwcPenalty.Measure(NeuralEngine.Default, Model!, anchor.ByName, fisher.ByName, (float)Lambda, anchor.FilePath, fisher.FilePath),
                new FileInfo(fisher.FilePath ?? FisherPath));
        }
        catch (ModelLayoutException e)
        {
            WriteError(NeuralErrors.Create(e, "MeasureNeuralEwcPenaltyLayoutMismatch", ErrorCategory.InvalidData, new FileInfo(e.FilePath ?? AnchorPath),
                $"Save θ* and the Fisher diagonal with exactly the model's tensor names and shapes: {string.Join(", ", Model!.TensorNames)}."));
        }
    }

    private SafeTensorsFile? Load(string path)
    {
        var (files, error) = ModelFiles.Resolve(this, path);
        if (error is null && files.Count != 1)
            error = NeuralErrors.Create(new ArgumentException($"'{path}' resolves to {files.Count} files; give exactly one."),
                "MeasureNeuralEwcPenaltyAmbiguousPath", ErrorCategory.InvalidArgument, path, "Give the path of one .safetensors file.");
        if (error is not null) { WriteError(error); return null; }
        var (file, readError) = ModelFiles.Read(this, files[0], SafeTensorsFile.Read);
        if (readError is not null) WriteError(readError);
        return file;
    }
}
