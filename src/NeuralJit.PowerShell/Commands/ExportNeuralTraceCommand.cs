using System.Management.Automation;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Writes the recorded calls of the current or last trace as a Chrome trace event file (JSON, "ph":"X",
/// microseconds) that Perfetto and chrome://tracing open, with model spans, kernel swaps and code-cache counters.
/// The file is streamed (bounded memory) to a temporary file in the target directory and renamed into place
/// only when complete: a failed or stopped export leaves no file behind.
/// </summary>
[Cmdlet(VerbsData.Export, "NeuralTrace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(TraceInfo))]
public sealed class ExportNeuralTraceCommand : PSCmdlet, IDisposable
{
    /// <summary>The file to write (relative paths resolve against the current location).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    public string Path { get; set; } = "";

    /// <summary>The process name shown in the trace viewer.</summary>
    [Parameter]
    public string ProcessName { get; set; } = "NeuralJit";

    /// <summary>Do not overwrite an existing file.</summary>
    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    /// <summary>Return a TraceInfo describing the written file.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private readonly CancellationTokenSource _stop = new();

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>PowerShell disposes a cmdlet when its pipeline ends.</summary>
    public void Dispose() => _stop.Dispose();

    protected override void ProcessRecord()
    {
        var engine = NeuralEngine.Default;
        var trace = engine.Trace;
        if (trace is null)
        {
            WriteError(NeuralErrors.InvalidOperation(
                "No trace has been recorded in this process.", "ExportNeuralTraceNoTrace", Path,
                "Run Start-NeuralTrace, the work to trace, and Stop-NeuralTrace, then export."));
            return;
        }

        if (OutputFile.Resolve(this, Path, NoClobber, "./trace.json") is not { } file) return;
        long kept = Math.Min(trace.Recorded, trace.Capacity);
        if (!ShouldProcess(file, $"Write up to {kept:N0} trace events")) return;
        long written;
        var progress = new ProgressRecord(1, "Export-NeuralTrace", $"Writing {kept:N0} events to {file}");
        try
        {
            written = StagedFile.Write(file, overwrite: !NoClobber, stream => trace.WriteChromeTrace(stream, engine.ReadTrace(trace), ProcessName, cancellation: _stop.Token,
                progress: done =>
                {
                    int percent = (int)Math.Min(100, 100 * done / Math.Max(1, kept));
                    if (percent != progress.PercentComplete) { progress.PercentComplete = percent; WriteProgress(progress); }
                }));
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(OutputFile.WriteFailed(this, e, Path));
            return;
        }
        finally
        {
            if (kept >= 4096) { progress.RecordType = ProgressRecordType.Completed; WriteProgress(progress); }
        }
        if (PassThru) WriteObject(TraceInfo.From(trace, engine.TraceRecording ? "Recording" : "Exported", file, written));
    }
}
