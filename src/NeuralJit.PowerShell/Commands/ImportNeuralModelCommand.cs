using System.Management.Automation;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Reads safetensors files of PyTorch state_dicts (LSTM layers, optional DNC memory, Linear head) and
/// returns one <see cref="NeuralModel"/> per file. Sizes and layer count come from the tensor shapes.
/// </summary>
[Cmdlet(VerbsData.Import, "NeuralModel")]
[OutputType(typeof(NeuralModel))]
public sealed class ImportNeuralModelCommand : PSCmdlet
{
    /// <summary>The .safetensors files; wildcards expand; binds FullName/PSPath from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var p in Path)
        {
            var (files, error) = ModelFiles.Resolve(this, p);
            if (error is not null) { WriteError(error); continue; }
            foreach (var file in files)
            {
                var (model, readError) = ModelFiles.Read(this, file, NeuralModel.Load);
                if (readError is not null) { WriteError(readError); continue; }
                foreach (var (tensor, count) in model!.NonFiniteTensors())
                    WriteWarning($"{file}: tensor '{tensor}' holds {count:N0} NaN or infinite value(s); the model's outputs will be NaN.");
                WriteObject(model);
            }
        }
    }
}
