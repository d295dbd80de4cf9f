using System.Runtime.InteropServices;

namespace NeuralJit.Ops;

/// <summary>
/// The one argument every kernel takes, in every tier: a block of operand pointers and scalars.
/// A single pointer argument keeps the native calling convention trivial (rdi on SysV, rcx on Win64)
/// and lets the JIT load operands at fixed offsets (<see cref="Offsets"/>). What each field means
/// per op is documented on <see cref="OpKind"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KernelArgs
{
    public float* A;
    public float* B;
    public float* C;
    public float* D;
    public float* E;
    public float* F;
    public float* G;
    public float* Scratch;
    public float Alpha;
    public float Beta;
    /// <summary>Scalar output (Dot, EwcPenalty).</summary>
    public double Result;

    /// <summary>Byte offsets of the fields, for emitters.</summary>
    public static class Offsets
    {
        public const int A = 0, B = 8, C = 16, D = 24, E = 32, F = 40, G = 48, Scratch = 56;
        public const int Alpha = 64, Beta = 68, Result = 72;
        public const int Size = 80;
    }
}
