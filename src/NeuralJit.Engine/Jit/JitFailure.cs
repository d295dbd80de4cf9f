using NeuralJit.Ops;

namespace NeuralJit.Jit;

/// <summary>Why a key stays on the managed tier: the kinds the cmdlets map to error ids (&lt;CmdletNoun&gt;&lt;Kind&gt;).</summary>
public enum JitFailureKind
{
    /// <summary>No emitter for the op (or not an op at all).</summary>
    NoEmitter,
    /// <summary>The CPU lacks the ISA, or the cap (None) turns the JIT off.</summary>
    IsaUnavailable,
    /// <summary>The shape breaks the op's contract (<see cref="OpSpec.Invalid"/>).</summary>
    InvalidDims,
    /// <summary>A valid shape the emitter declines (displacements beyond 32 bits, weights over 2 GiB).</summary>
    UnsupportedShape,
    /// <summary>The code cache has no room for the kernel.</summary>
    CacheFull,
    /// <summary>The OS refuses executable memory (SELinux execmem, PaX, no mapping).</summary>
    NoExecutableMemory,
}

/// <summary>A compile that did not happen: its kind, for callers to act on, and a message that says what stood in the way.</summary>
public sealed record JitFailure(JitFailureKind Kind, string Message)
{
    public static JitFailure NoEmitter(OpKind op) =>
        new(JitFailureKind.NoEmitter, Enum.IsDefined(op) ? $"no JIT emitter for {op} yet" : $"{(int)op} is not an op");

    public static JitFailure IsaUnavailable(JitIsa isa) => new(JitFailureKind.IsaUnavailable,
        isa == JitIsa.None
            ? CpuFeatures.Best == JitIsa.None ? "this CPU has no AVX2+FMA: the JIT is off" : "the JIT ISA is capped at None"
            : $"this CPU does not support {isa} (it has: {CpuFeatures.Describe()})");

    public override string ToString() => Message;
}
