using System.Management.Automation;
using NeuralJit.Profiling;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Starts recording every profiled call of the module's engine into a bounded ring buffer
/// (TraceRecorder.EventBytes bytes per event, Capacity rounded up to a power of two) for Export-NeuralTrace.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "NeuralTrace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(TraceInfo))]
public sealed class StartNeuralTraceCommand : PSCmdlet
{
    /// <summary>Events to keep; the oldest are overwritten once the buffer is full.</summary>
    [Parameter(Position = 0)]
    public int Capacity { get; set; } = TraceRecorder.DefaultCapacity;

    protected override void EndProcessing()
    {
        if (Capacity < 1 || Capacity > TraceRecorder.MaxCapacity)
        {
            ThrowTerminatingError(NeuralErrors.Create(
                new ArgumentOutOfRangeException(nameof(Capacity), Capacity, $"-Capacity must be between 1 and {TraceRecorder.MaxCapacity:N0} events; it was {Capacity:N0}."),
                "StartNeuralTraceInvalidCapacity", ErrorCategory.InvalidArgument, Capacity,
                $"Give -Capacity a number of events between 1 and {TraceRecorder.MaxCapacity:N0} (each takes {TraceRecorder.EventBytes} bytes), or leave it out for {TraceRecorder.DefaultCapacity:N0}."));
        }
        var engine = NeuralEngine.Default;
        if (engine.TraceRecording)
        {
            ThrowTerminatingError(NeuralErrors.InvalidOperation(
                "A trace is already recording.", "StartNeuralTraceAlreadyRecording", TraceInfo.From(engine.Trace!, "Recording"),
                "Run Stop-NeuralTrace (and Export-NeuralTrace) before starting a new trace."));
        }
        long bytes = (long)RoundUp(Capacity) * TraceRecorder.EventBytes;
        if (!ShouldProcess($"ring buffer of {RoundUp(Capacity):N0} events ({bytes / 1024.0 / 1024.0:N1} MiB)", "Start recording every kernel call")) return;
        try
        {
            var trace = engine.StartTrace(Capacity);
            WriteObject(TraceInfo.From(trace, "Recording"));
        }
        catch (InvalidOperationException e)
        {
            // Another runspace started one between the check and now.
            ThrowTerminatingError(NeuralErrors.Create(e, "StartNeuralTraceAlreadyRecording", ErrorCategory.InvalidOperation,
                engine.Trace is { } t ? TraceInfo.From(t, "Recording") : null,
                "Run Stop-NeuralTrace (and Export-NeuralTrace) before starting a new trace."));
        }
    }

    private static int RoundUp(int n)
    {
        int size = 1;
        while (size < n) size <<= 1;
        return size;
    }
}
