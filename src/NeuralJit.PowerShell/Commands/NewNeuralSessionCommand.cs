using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Starts a <see cref="NeuralSession"/> over a model: a stream whose recurrent state and DNC memory persist
/// between calls of <c>Invoke-NeuralInference -Session</c>. The session belongs to the runspace that made it;
/// the model's weights are shared, only the state is new.
/// </summary>
[Cmdlet(VerbsCommon.New, "NeuralSession")]
[OutputType(typeof(NeuralSession))]
public sealed class NewNeuralSessionCommand : PSCmdlet
{
    /// <summary>The model to stream through (from New-NeuralModel or Import-NeuralModel).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public NeuralModel? Model { get; set; }

    protected override void ProcessRecord()
    {
        // Every cmdlet runs on a thread whose DefaultRunspace is the runspace running it.
        var runspace = Runspace.DefaultRunspace;
        WriteObject(new NeuralSession(Model!, NeuralEngine.Default, runspace.InstanceId, runspace.Id));
    }
}
