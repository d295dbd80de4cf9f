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

    /// <summary>The pointer field <paramref name="f"/> of <paramref name="args"/> (A to G sit in enum order, one after another).</summary>
    public static float** Field(KernelArgs* args, OperandField f) => &args->A + (int)f;

    /// <summary>
    /// Byte offsets of the fields, for emitters, taken from the struct's layout (as oneDNN's <c>GET_OFF</c> is
    /// <c>offsetof</c>): reorder or add a field and the emitted loads follow.
    /// </summary>
    public static class Offsets
    {
        public static readonly int A, B, C, D, E, F, G, Scratch, Alpha, Beta, Result, Size;

        static Offsets()
        {
            KernelArgs probe = default;
            byte* at = (byte*)&probe;
            A = (int)((byte*)&probe.A - at);
            B = (int)((byte*)&probe.B - at);
            C = (int)((byte*)&probe.C - at);
            D = (int)((byte*)&probe.D - at);
            E = (int)((byte*)&probe.E - at);
            F = (int)((byte*)&probe.F - at);
            G = (int)((byte*)&probe.G - at);
            Scratch = (int)((byte*)&probe.Scratch - at);
            Alpha = (int)((byte*)&probe.Alpha - at);
            Beta = (int)((byte*)&probe.Beta - at);
            Result = (int)((byte*)&probe.Result - at);
            Size = sizeof(KernelArgs);
        }
    }
}
