namespace NeuralJit.Ops;

/// <summary>Which implementation runs an op: the scalar reference, the managed SIMD tier, or JIT machine code.</summary>
public enum KernelTier
{
    /// <summary>Plain scalar loops (<see cref="ReferenceOps"/>): the oracle and the "Scalar" baseline.</summary>
    Scalar,
    /// <summary>Vector256/Vector512 and TensorPrimitives (<see cref="ManagedSimdOps"/>): the default tier and the honest baseline.</summary>
    ManagedSimd,
    /// <summary>Shape-specialised x86-64 code emitted by the JIT.</summary>
    Jit,
}
