using NeuralJit.Ops;

namespace NeuralJit.Jit;

/// <summary>What happened to a key on its way between the tiers.</summary>
public enum TieringEventKind
{
    /// <summary>The profile made the key a JIT candidate (calls and share over the thresholds).</summary>
    Promoted,
    /// <summary>A compile of the key started (in the background, or on the calling thread).</summary>
    CompileStarted,
    /// <summary>The kernel exists: compiled now, or found in the kernel cache.</summary>
    Compiled,
    /// <summary>The slot's kernel pointer now points at the JIT kernel.</summary>
    Installed,
    /// <summary>The key stays on the managed tier; <see cref="TieringEvent.Message"/> says why.</summary>
    Refused,
    /// <summary>A condition the user must know about (code cache full, no executable memory).</summary>
    Warning,
}

/// <summary>
/// One step of tiering, raised by <see cref="NeuralEngine.Tiering"/> on the thread where it happened (often a
/// background compile thread): subscribers queue it and report it on their own thread.
/// </summary>
public sealed record TieringEvent(TieringEventKind Kind, OpKey Key, string Message)
{
    public JitIsa? Isa { get; init; }
    public double? CompileMicroseconds { get; init; }
    public int? CodeBytes { get; init; }

    public override string ToString() => Message;
}
