using System.Management.Automation;

namespace NeuralJit.PowerShell.Commands;

/// <summary>Stops the trace recording; its events stay in memory for Export-NeuralTrace until the next Start-NeuralTrace.</summary>
[Cmdlet(VerbsLifecycle.Stop, "NeuralTrace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(TraceInfo))]
public sealed class StopNeuralTraceCommand : PSCmdlet
{
    protected override void EndProcessing()
    {
        var engine = NeuralEngine.Default;
        if (!engine.TraceRecording)
        {
            WriteError(NeuralErrors.InvalidOperation(
                "No trace is recording.", "StopNeuralTraceNotRecording",
                engine.Trace is { } last ? TraceInfo.From(last, "Stopped") : engine,
                "Start a trace with Start-NeuralTrace first; Export-NeuralTrace writes the last stopped trace."));
            return;
        }
        if (!ShouldProcess("the trace recording", "Stop")) return;
        var trace = engine.StopTrace();
        if (trace is not null) WriteObject(TraceInfo.From(trace, "Stopped"));
    }
}
