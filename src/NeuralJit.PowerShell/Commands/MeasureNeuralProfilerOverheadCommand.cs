using System.Management.Automation;
using NeuralJit.Benchmarking;
using NeuralJit.Ops;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Measures what the profiler costs on the 64→128 LSTM inference workload: the same network run in batches with
/// profiling on and off, interleaved, reporting medians, the ratio and the overhead in percent, and the per-call
/// costs behind it. Runs on a private engine, so the module's profile is not touched.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "NeuralProfilerOverhead")]
[OutputType(typeof(ProfilerOverheadResult))]
public sealed class MeasureNeuralProfilerOverheadCommand : PSCmdlet, IDisposable
{
    /// <summary>Inference steps per timed batch.</summary>
    [Parameter(Position = 0)]
    [ValidateRange(1, 10_000_000)]
    public int Steps { get; set; } = 1000;

    /// <summary>Pairs of batches (one with profiling on, one off).</summary>
    [Parameter]
    [ValidateRange(1, 100_000)]
    public int Rounds { get; set; } = 41;

    /// <summary>The tier the network runs on: ManagedSimd (default) or Jit (every key compiled first).</summary>
    [Parameter]
    [ValidateSet(nameof(KernelTier.ManagedSimd), nameof(KernelTier.Jit))]
    public string Tier { get; set; } = nameof(KernelTier.ManagedSimd);

    private readonly CancellationTokenSource _cancel = new();

    protected override void EndProcessing()
    {
        var progress = new ProgressRecord(1, "Measure-NeuralProfilerOverhead", $"{Rounds} rounds of {Steps} steps with profiling on and off");
        ProfilerOverheadResult result;
        try
        {
            result = ProfilerOverhead.Measure(Steps, Rounds, progress: percent =>
            {
                progress.PercentComplete = percent;
                WriteProgress(progress);
            }, cancel: _cancel.Token, tier: Enum.Parse<KernelTier>(Tier));
        }
        catch (OperationCanceledException)
        {
            return;
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
        WriteObject(result);
    }

    protected override void StopProcessing() => _cancel.Cancel();

    /// <summary>PowerShell disposes a cmdlet when its pipeline ends.</summary>
    public void Dispose() => _cancel.Dispose();
}
