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
                foreach (var (tensor, nans, infinities, values) in model!.NonFiniteTensors())
                    WriteWarning($"{file}: '{tensor}' holds {nans:N0} NaN and {infinities:N0} infinite value{(nans + infinities == 1 ? "" : "s")} of {values:N0}; outputs that depend on it will be NaN or infinite.");
                WriteObject(model);
            }
        }
    }
}
