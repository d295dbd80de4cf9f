using System.Diagnostics;
using System.Management.Automation;
using NeuralJit.Models;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Runs an LSTM network with a dense head. With -Steps, a timed run on seeded random input that
/// returns one summary; with -Sequence or float vectors from the pipeline, one result per time step.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "NeuralInference", DefaultParameterSetName = StepsSet)]
[OutputType(typeof(InferenceResult))]
public sealed class InvokeNeuralInferenceCommand : PSCmdlet
{
    private const string StepsSet = "Steps";
    private const string SequenceSet = "Sequence";
    private const string PipelineSet = "Pipeline";

    // Sizes are checked in BeginProcessing (not ValidateRange) so bad ones get this cmdlet's error id and a RecommendedAction.
    [Parameter] public int InputSize { get; set; } = 64;
    [Parameter] public int HiddenSize { get; set; } = 128;
    [Parameter] public int OutputSize { get; set; } = 10;
    [Parameter] public int Layers { get; set; } = 1;
    [Parameter] public int Seed { get; set; } = 42;

    [Parameter(ParameterSetName = StepsSet)] public long Steps { get; set; } = 1;

    [Parameter(Mandatory = true, ParameterSetName = SequenceSet)] public float[][] Sequence { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = PipelineSet, ValueFromPipeline = true)] public float[] InputVector { get; set; } = [];

    private NeuralNetwork? _network;
    private long _step;
    private volatile bool _stopping;

    private NetworkSizes Sizes => new(InputSize, HiddenSize, OutputSize, Layers);

    protected override void BeginProcessing()
    {
        CheckRange(nameof(InputSize), InputSize, 1 << 20);
        CheckRange(nameof(HiddenSize), HiddenSize, 1 << 16);
        CheckRange(nameof(OutputSize), OutputSize, 1 << 20);
        CheckRange(nameof(Layers), Layers, 64);
        CheckRange(nameof(Steps), Steps, long.MaxValue);
        _network = NeuralNetwork.CreateRandom(NeuralEngine.Default, Sizes, Seed);
    }

    private void CheckRange(string name, long value, long max)
    {
        if (value >= 1 && value <= max) return;
        ThrowTerminatingError(NeuralErrors.Create(
            new ArgumentOutOfRangeException(name, value, $"-{name} must be between 1 and {max:N0}; it was {value:N0}."),
            $"InvokeNeuralInferenceInvalid{name}", ErrorCategory.InvalidArgument, value,
            $"Give -{name} a value from 1 to {max:N0}."));
    }

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case SequenceSet:
                foreach (var x in Sequence) { if (_stopping) return; RunStep(x); }
                break;
            case PipelineSet:
                RunStep(InputVector);
                break;
        }
    }

    protected override void EndProcessing()
    {
        try
        {
            if (ParameterSetName == StepsSet) RunTimed();
        }
        finally
        {
            // Also when Ctrl+C stops the pipeline (WriteProgress then throws PipelineStoppedException).
            _network?.Dispose();
            _network = null;
        }
    }

    protected override void StopProcessing() => _stopping = true;

    private void RunStep(float[] x)
    {
        if (x is null || x.Length != InputSize)
        {
            WriteError(NeuralErrors.InvalidArgument(
                $"Time step {_step} has {x?.Length ?? 0} values; the network takes {InputSize}.",
                "InvokeNeuralInferenceWrongInputLength", x,
                $"Give every time step exactly {InputSize} values, or set -InputSize {x?.Length ?? 0}."));
            _step++;
            return;
        }
        long t0 = Stopwatch.GetTimestamp();
        var y = _network!.Step(x).ToArray();
        long ns = (long)((Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency);
        WriteObject(Result(_step++, 1, ns, y));
    }

    private void RunTimed()
    {
        var net = _network!;
        var rng = new Random(Seed ^ 0x5EED);
        var input = new float[InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
        var progress = new ProgressRecord(1, "Invoke-NeuralInference", $"{Steps} steps of {InputSize}→{HiddenSize} LSTM");
        long chunk = Math.Clamp(Steps / 100, 1, 4096); // at most 4,096 steps between checks of Ctrl+C
        long done = 0, ticks = 0;
        float[] last = [];
        while (done < Steps && !_stopping)
        {
            long n = Math.Min(chunk, Steps - done);
            long t0 = Stopwatch.GetTimestamp();
            for (long s = 1; s < n; s++) net.Step(input);
            last = net.Step(input).ToArray(); // one copy per chunk keeps the last step's output
            ticks += Stopwatch.GetTimestamp() - t0;
            done += n;
            if (Steps >= 1000)
            {
                int percent = (int)(100.0 * done / Steps);
                if (percent != progress.PercentComplete) { progress.PercentComplete = percent; WriteProgress(progress); }
            }
        }
        if (Steps >= 1000) { progress.RecordType = ProgressRecordType.Completed; WriteProgress(progress); }
        if (_stopping) return;
        long ns = (long)(ticks * 1e9 / Stopwatch.Frequency);
        WriteObject(Result(done - 1, done, ns, last));
    }

    private InferenceResult Result(long step, long steps, long ns, float[] output) => new()
    {
        Step = step,
        Steps = steps,
        TotalNanoseconds = ns,
        NanosecondsPerStep = steps == 0 ? 0 : (double)ns / steps,
        Output = output,
        InputSize = InputSize,
        HiddenSize = HiddenSize,
        OutputSize = OutputSize,
        Layers = Layers,
        Model = $"LSTM {InputSize}→{HiddenSize}×{Layers} + Dense→{OutputSize} (seed {Seed})",
    };
}
