using NeuralJit.Models;

namespace NeuralJit;

/// <summary>
/// One stream through a model that keeps its state between calls: the LSTM's h and c of every layer and,
/// with a DNC, the memory, usage, link matrix, precedence, read weightings and read vectors. Feeding a
/// sequence in chunks gives exactly the outputs of one call over the whole sequence (same kernels, same
/// state). What <c>New-NeuralSession</c> returns. The weights are the model's shared read-only copy; the
/// state is this session's own and is freed with it (its buffers' finalizers).
/// </summary>
/// <remarks>
/// A session is a sequence: it has one owner (<see cref="RunspaceInstanceId"/>, the runspace that made it, checked by
/// the cmdlets), and <see cref="Enter"/> refuses a second caller while one is stepping, so two threads can
/// never interleave steps of one stream.
/// </remarks>
public sealed class NeuralSession
{
    private static int s_lastId;
    private readonly NeuralNetwork _network;
    private int _busy;

    private readonly NeuralModel _model;

    /// <param name="runspaceInstanceId">The owner's identity (for the cmdlets, the runspace's InstanceId).</param>
    /// <param name="runspaceId">The owner's short number (the runspace's Id, as Get-Runspace shows it).</param>
    public NeuralSession(NeuralModel model, NeuralEngine engine, Guid runspaceInstanceId, int runspaceId)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(engine);
        _model = model;
        _network = model.CreateNetwork(engine);
        RunspaceInstanceId = runspaceInstanceId;
        RunspaceId = runspaceId;
        Id = Interlocked.Increment(ref s_lastId);
        CreatedUtc = DateTime.UtcNow;
    }

    /// <summary>A number unique in this process, for telling sessions apart at the prompt.</summary>
    public int Id { get; }
    /// <summary>The model's description, e.g. "LSTM 64→128×1 + Dense→10" (the model itself: <see cref="GetModel"/>).</summary>
    public string Model => _model.Description;
    /// <summary>Where the model came from (its file, or how it was generated).</summary>
    public string Source => _model.Source;
    public int InputSize => _model.InputSize;
    public int OutputSize => _model.OutputSize;
    /// <summary>Steps taken since the session was made or last reset: the index the next step will have.</summary>
    public long Steps { get; private set; }
    /// <summary>Bytes of this session's own state (the weights are the model's, shared).</summary>
    public long StateBytes => _network.StateBytes;
    /// <summary>The runspace that owns it (its InstanceId): the only one the cmdlets let step it.</summary>
    public Guid RunspaceInstanceId { get; }
    /// <summary>That runspace's Id, as Get-Runspace shows it.</summary>
    public int RunspaceId { get; }
    public DateTime CreatedUtc { get; }

    /// <summary>The model it runs (shareable: a new session over it starts from a fresh state).</summary>
    public NeuralModel GetModel() => _model;
    public NetworkSizes GetSizes() => _network.Sizes;

    /// <summary>Claims the session for one call; false if another caller is stepping it now.</summary>
    public bool TryEnter() => Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    /// <summary>Releases the claim taken by <see cref="TryEnter"/>.</summary>
    public void Exit() => Volatile.Write(ref _busy, 0);

    /// <summary>Claims the session for the scope of a <c>using</c>; throws if another caller is stepping it.</summary>
    /// <exception cref="InvalidOperationException">The session is in use.</exception>
    public Claim Enter() => TryEnter() ? new Claim(this)
        : throw new InvalidOperationException($"Session {Id} is being stepped by another caller; a session is one sequence and takes one caller at a time.");

    /// <summary>One time step from the current state; the output is valid until the next step.</summary>
    public ReadOnlySpan<float> Step(ReadOnlySpan<float> x)
    {
        var y = _network.Step(x);
        Steps++;
        return y;
    }

    /// <summary>Zeroes the state: the next step starts a new sequence, as in a fresh session.</summary>
    public void Reset()
    {
        _network.ResetState();
        Steps = 0;
    }

    public override string ToString() => $"Session {Id}: {Model}, {Steps} steps";

    /// <summary>The scope of one claim (see <see cref="Enter"/>).</summary>
    public readonly struct Claim(NeuralSession session) : IDisposable
    {
        public void Dispose() => session.Exit();
    }
}
