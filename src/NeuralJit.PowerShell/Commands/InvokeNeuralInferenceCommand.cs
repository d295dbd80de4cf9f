using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NeuralJit.Models;
using NeuralJit.Profiling;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Runs a network: a <see cref="NeuralModel"/> (-Model, or piped from New-/Import-NeuralModel), or a seeded
/// random LSTM + Dense network of the given sizes. With -Steps, a timed run on seeded random input that
/// returns one summary; with -Sequence or float vectors from the pipeline, one sequence (state carried from
/// step to step) and one result per time step. Each invocation builds its own network state (over the model's
/// shared weights), so one model can run in several runspaces at once. With -Session, the steps continue the
/// session's state where its last call stopped (-Reset starts it over).
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "NeuralInference", DefaultParameterSetName = StepsSet)]
[OutputType(typeof(InferenceResult))]
public sealed class InvokeNeuralInferenceCommand : PSCmdlet, IDisposable
{
    private const string StepsSet = "Steps";
    private const string SequenceSet = "Sequence";
    private const string PipelineSet = "Pipeline";
    private const string ModelStepsSet = "ModelSteps";
    private const string ModelSequenceSet = "ModelSequence";
    private const string ModelPipelineSet = "ModelPipeline";
    private const string SessionSequenceSet = "SessionSequence";
    private const string SessionPipelineSet = "SessionPipeline";

    /// <summary>The model to run (from New-NeuralModel or Import-NeuralModel).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ModelStepsSet, ValueFromPipeline = true)]
    [Parameter(Mandatory = true, ParameterSetName = ModelSequenceSet, ValueFromPipeline = true)]
    [Parameter(Mandatory = true, ParameterSetName = ModelPipelineSet)]
    public NeuralModel? Model { get; set; }

    /// <summary>The session to continue (from New-NeuralSession): its state carries over from its last call.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SessionSequenceSet, ValueFromPipeline = true)]
    [Parameter(Mandatory = true, ParameterSetName = SessionPipelineSet)]
    public NeuralSession? Session { get; set; }

    /// <summary>Zero the session's state before its first step of this call.</summary>
    [Parameter(ParameterSetName = SessionSequenceSet)]
    [Parameter(ParameterSetName = SessionPipelineSet)]
    public SwitchParameter Reset { get; set; }

    // Sizes are checked in BeginProcessing (not ValidateRange) so bad ones get this cmdlet's error id and a RecommendedAction.
    [Parameter] public int InputSize { get; set; } = 64;
    [Parameter] public int HiddenSize { get; set; } = 128;
    [Parameter] public int OutputSize { get; set; } = 10;
    [Parameter] public int Layers { get; set; } = 1;
    /// <summary>Seed of the random network's weights and of the timed run's input.</summary>
    [Parameter] public int Seed { get; set; } = 42;

    [Parameter(ParameterSetName = StepsSet)]
    [Parameter(ParameterSetName = ModelStepsSet)]
    public long Steps { get; set; } = 1;

    [Parameter(Mandatory = true, ParameterSetName = SequenceSet)]
    [Parameter(Mandatory = true, ParameterSetName = ModelSequenceSet)]
    [Parameter(ParameterSetName = SessionSequenceSet)]
    [TimeStepsTransformation]
    public float[][] Sequence { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = PipelineSet, ValueFromPipeline = true)]
    [Parameter(Mandatory = true, ParameterSetName = ModelPipelineSet, ValueFromPipeline = true)]
    [Parameter(Mandatory = true, ParameterSetName = SessionPipelineSet, ValueFromPipeline = true)]
    public float[] InputVector { get; set; } = [];

    private NeuralNetwork? _network;
    private NeuralModel? _networkModel;
    private string _description = "";
    private long _step;
    private volatile bool _stopping;
    /// <summary>The invocation's span in a recording trace: the parent of every step it runs.</summary>
    private TraceSpan _inference;
    private TieringNarrator? _narrator;
    private readonly HashSet<NeuralSession> _reset = new(ReferenceEqualityComparer.Instance); // -Reset: each session once per call
    private NeuralSession? _session; // the session being stepped, while ProcessSession holds its claim

    private bool UsesModel => ParameterSetName is ModelStepsSet or ModelSequenceSet or ModelPipelineSet;
    private bool UsesSession => ParameterSetName is SessionSequenceSet or SessionPipelineSet;

    protected override void BeginProcessing()
    {
        CheckRange(nameof(Steps), Steps, long.MaxValue);
        _inference = NeuralEngine.Default.BeginSpan(NeuralEngine.Default.TraceLabel("Invoke-NeuralInference"));
        _narrator = new TieringNarrator(this, NeuralEngine.Default);
        if (NeuralEngine.Default.Options.FlushDenormals)
            WriteVerbose("Steps run with subnormal floats flushed to zero (Set-NeuralJitOption -FlushDenormals $true).");
        if (UsesModel || UsesSession) return; // the model may arrive from the pipeline; its sizes come from its tensors
        CheckRange(nameof(InputSize), InputSize, 1 << 20);
        CheckRange(nameof(HiddenSize), HiddenSize, 1 << 16);
        CheckRange(nameof(OutputSize), OutputSize, 1 << 20);
        CheckRange(nameof(Layers), Layers, 64);
        var sizes = new NetworkSizes(InputSize, HiddenSize, OutputSize, Layers);
        try { _network = NeuralNetwork.CreateRandom(NeuralEngine.Default, sizes, Seed); }
        catch (MemoryBudgetException e) { ThrowTerminatingError(TooLarge(e, sizes)); }
        _description = $"{sizes} (seed {Seed})";
    }

    private static ErrorRecord TooLarge(MemoryBudgetException e, object target) =>
        NeuralErrors.Create(e, "InvokeNeuralInferenceTooLarge", ErrorCategory.LimitsExceeded, target,
            NeuralErrors.TooLargeAction(e, $"Use smaller sizes: a network's parameters and state may take at most {MemoryBudget.Bytes(e.LimitBytes)} (and no more than the machine has free)."));

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
        if (UsesSession)
        {
            ProcessSession(Session!);
            return;
        }
        if (UsesModel && !EnsureModelNetwork()) return;
        switch (ParameterSetName)
        {
            case SequenceSet:
            case ModelSequenceSet:
                foreach (var x in Sequence) { if (_stopping) return; RunStep(x); }
                break;
            case PipelineSet:
            case ModelPipelineSet:
                RunStep(InputVector);
                break;
            case ModelStepsSet:
                RunTimed();
                break;
        }
    }

    protected override void EndProcessing()
    {
        try
        {
            // Piped input that bound nothing (an empty pipeline, or strings that failed to bind) asks for no run.
            if (ParameterSetName == StepsSet && !MyInvocation.ExpectingInput) RunTimed();
            _narrator?.Finish();
        }
        finally
        {
            // Also when Ctrl+C stops the pipeline (WriteProgress then throws PipelineStoppedException).
            DisposeNetwork();
            _inference.Dispose();
        }
    }

    protected override void StopProcessing() => _stopping = true;

    // PowerShell disposes the cmdlet when its pipeline ends, stopped or not: the engine must not keep the narrator.
    public void Dispose() => _narrator?.Dispose();

    /// <summary>The steps of this record on a session, claimed for their duration (one caller at a time, its own runspace only).</summary>
    private void ProcessSession(NeuralSession session)
    {
        if (!SizesAgree(session.GetSizes(), session, nameof(Session))) return;
        var runspace = Runspace.DefaultRunspace;
        if (runspace is null || runspace.InstanceId != session.RunspaceInstanceId)
        {
            var e = new InvalidOperationException(
                $"Session {session.Id} belongs to runspace {session.RunspaceId}, and this is runspace {runspace?.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)"}: a session is one sequence, stepped by the runspace that made it.");
            WriteError(NeuralErrors.Create(e, "InvokeNeuralInferenceSessionOtherRunspace", ErrorCategory.InvalidOperation, session,
                "Make a session in this runspace with New-NeuralSession -Model $session.GetModel() (the model itself may be shared), or run -Model for a fresh state."));
            return;
        }
        if (!session.TryEnter())
        {
            var e = new InvalidOperationException($"Session {session.Id} is being stepped by another call (a pipeline that is still writing its results).");
            WriteError(NeuralErrors.Create(e, "InvokeNeuralInferenceSessionInUse", ErrorCategory.ResourceBusy, session,
                "Let the call that steps the session finish first (collect its results in a variable), or use a second session."));
            return;
        }
        try
        {
            if (Reset && _reset.Add(session)) session.Reset();
            _session = session;
            _description = $"{session.Model} ({session.Source})";
            if (ParameterSetName == SessionPipelineSet) RunStep(InputVector);
            else foreach (var x in Sequence) { if (_stopping) return; RunStep(x); }
        }
        finally
        {
            _session = null;
            session.Exit();
        }
    }

    /// <summary>False (and an error) when a size given on the command line disagrees with the model's.</summary>
    private bool SizesAgree(NetworkSizes sizes, object target, string source)
    {
        foreach (var (name, value, actual) in new[] { (nameof(InputSize), InputSize, sizes.InputSize), (nameof(HiddenSize), HiddenSize, sizes.HiddenSize),
                     (nameof(OutputSize), OutputSize, sizes.OutputSize), (nameof(Layers), Layers, sizes.Layers) })
            if (MyInvocation.BoundParameters.ContainsKey(name) && value != actual)
            {
                var e = new ArgumentException($"-{name} {value} disagrees with the model, whose {name} is {actual}.");
                WriteError(NeuralErrors.Create(e, "InvokeNeuralInferenceModelSizeMismatch", ErrorCategory.InvalidArgument, target,
                    $"Leave out -{name} when you pass -{source}: the model's sizes come from its tensors."));
                return false;
            }
        return true;
    }

    /// <summary>A network for the current model: a new one (fresh state) whenever a different model arrives.</summary>
    private bool EnsureModelNetwork()
    {
        var model = Model!;
        if (ReferenceEquals(model, _networkModel)) return true;
        if (!SizesAgree(model.GetSizes(), model, nameof(Model))) return false;
        DisposeNetwork();
        try { _network = model.RentNetwork(NeuralEngine.Default); }
        catch (MemoryBudgetException e) { WriteError(TooLarge(e, model)); return false; }
        _networkModel = model;
        _description = $"{model.Description} ({model.Source})";
        _step = 0;
        return true;
    }

    private void DisposeNetwork()
    {
        if (_networkModel is not null) _networkModel.ReturnNetwork(_network!); // a model's network: its state is reused by the next call
        else _network?.Dispose();
        _network = null;
        _networkModel = null;
    }

    private NetworkSizes CurrentSizes => _session?.GetSizes() ?? _network!.Sizes;

    private void RunStep(float[]? x)
    {
        int inputSize = CurrentSizes.InputSize;
        if (_session is not null) _step = _session.Steps; // a session's steps are numbered across its calls
        if (x is null || x.Length != inputSize)
        {
            var e = new ArgumentException($"Time step {_step} has {x?.Length ?? 0} values; the network takes {inputSize}.");
            string action = UsesModel || UsesSession
                ? $"Give every time step exactly {inputSize} values: the model's input size."
                : $"Give every time step exactly {inputSize} values, or set -InputSize {x?.Length ?? 0}.";
            WriteError(NeuralErrors.Create(e, "InvokeNeuralInferenceWrongInputLength", ErrorCategory.InvalidArgument, x, action));
            _step++;
            return;
        }
        long t0 = Stopwatch.GetTimestamp();
        var y = (_session is not null ? _session.Step(x) : _network!.Step(x)).ToArray();
        long ns = (long)((Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency);
        WriteObject(Result(_step++, 1, ns, y));
        _narrator?.Flush();
    }

    private void RunTimed()
    {
        var net = _network!;
        var sizes = net.Sizes;
        var rng = new Random(Seed ^ 0x5EED);
        var input = new float[sizes.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
        var progress = new ProgressRecord(1, "Invoke-NeuralInference", $"{Steps} steps of {sizes}");
        long chunk = Math.Clamp(Steps / 100, 1, 4096); // steps between progress updates (Ctrl+C is checked every step)
        long done = 0, ticks = 0;
        float[] last = [];
        while (done < Steps && !_stopping)
        {
            long n = Math.Min(chunk, Steps - done);
            long t0 = Stopwatch.GetTimestamp();
            for (long s = 1; s < n && !_stopping; s++) net.Step(input); // a step of a large network can take 0.1 s: check each one
            last = net.Step(input).ToArray(); // one copy per chunk keeps the last step's output
            ticks += Stopwatch.GetTimestamp() - t0;
            done += n;
            _narrator?.Flush();
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

    private InferenceResult Result(long step, long steps, long ns, float[] output)
    {
        var s = CurrentSizes;
        return new()
        {
            Step = step,
            Steps = steps,
            TotalNanoseconds = ns,
            NanosecondsPerStep = steps == 0 ? 0 : (double)ns / steps,
            Output = output,
            InputSize = s.InputSize,
            HiddenSize = s.HiddenSize,
            OutputSize = s.OutputSize,
            Layers = s.Layers,
            MemorySlots = s.MemorySlots,
            MemoryWidth = s.MemoryWidth,
            ReadHeads = s.ReadHeads,
            Model = _description,
        };
    }
}
