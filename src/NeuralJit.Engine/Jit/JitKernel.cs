using NeuralJit.Ops;

namespace NeuralJit.Jit;

/// <summary>
/// One compiled kernel: machine code for one (op, shape, ISA), living in the engine's code cache.
/// Its entry point takes a single <see cref="KernelArgs"/>* argument.
/// </summary>
public sealed class JitKernel
{
    public JitKernel(OpKey key, JitIsa isa, nint entry, byte[] code, double compileMicroseconds, bool fusesCell = false, bool suppressGcTransition = true)
    {
        Key = key;
        Isa = isa;
        Entry = entry;
        Code = code;
        CompileMicroseconds = compileMicroseconds;
        FusesCell = fusesCell;
        SuppressGcTransition = suppressGcTransition;
    }

    public OpKey Key { get; }
    public JitIsa Isa { get; }
    /// <summary>Address of the first instruction (read-execute memory).</summary>
    public nint Entry { get; }
    /// <summary>A copy of the emitted bytes (for disassembly and round-trip tests).</summary>
    public byte[] Code { get; }
    public double CompileMicroseconds { get; }
    /// <summary>For LstmGates: the kernel also performs the cell update (c, h′).</summary>
    public bool FusesCell { get; }
    /// <summary>Short kernels skip the GC transition on call (they never block or call back).</summary>
    public bool SuppressGcTransition { get; }

    public string Name => $"{Key.Op}_{Key.Dims.Replace('/', '_').Replace(',', '_')}_{Isa}".ToLowerInvariant();
}
