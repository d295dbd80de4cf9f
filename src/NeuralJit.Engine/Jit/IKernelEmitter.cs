using NeuralJit.Ops;

namespace NeuralJit.Jit;

/// <summary>
/// Emits the machine code of one family of ops for an exact shape, over <see cref="KernelAssembler"/>
/// (so one emitter serves AVX2 and AVX-512). Register it in <see cref="KernelEmitters.All"/>.
/// </summary>
public interface IKernelEmitter
{
    /// <summary>The ops this emitter handles.</summary>
    IReadOnlyList<OpKind> Ops { get; }

    /// <summary>Null when <paramref name="key"/> can be compiled for <paramref name="isa"/>, else why not (the key stays managed and the reason is shown).</summary>
    string? CannotEmit(OpKey key, JitIsa isa) => null;

    /// <summary>Emits the body for <paramref name="key"/>. The KernelArgs* is in <c>k.Args</c>; do not emit <c>ret</c>.</summary>
    void Emit(KernelAssembler k, OpKey key);
}

/// <summary>The emitters the compiler knows, one line each.</summary>
public static class KernelEmitters
{
    public static IReadOnlyList<IKernelEmitter> All { get; } = new IKernelEmitter[]
    {
        new Emitters.ElementwiseEmitter(),
        new Emitters.ReductionEmitter(),
        new Emitters.CosineEmitter(),
        new Emitters.GemmEmitter(),
        new Emitters.MatVecEmitter(),
        new Emitters.DncInterfaceEmitter(),
        new Emitters.DncWeightingEmitter(),
        new Emitters.DncAllocationEmitter(),
        new Emitters.DncMemoryEmitter(),
        new Emitters.DncLinkEmitter(),
    };

    private static readonly IKernelEmitter?[] s_byOp = Build();

    private static IKernelEmitter?[] Build()
    {
        var table = new IKernelEmitter?[Enum.GetValues<OpKind>().Length];
        foreach (var e in All)
            foreach (var op in e.Ops)
            {
                if (table[(int)op] is { } other) throw new InvalidOperationException($"{op} has two emitters: {other.GetType().Name} and {e.GetType().Name}.");
                table[(int)op] = e;
            }
        foreach (var spec in OpSpecs.All)
            if (spec.HasEmitter != (table[(int)spec.Kind] is not null))
                throw new InvalidOperationException(spec.HasEmitter
                    ? $"{spec.Kind}: its OpSpec declares an emitter, but none in KernelEmitters.All handles it."
                    : $"{spec.Kind}: its OpSpec says HasEmitter = false, but {table[(int)spec.Kind]!.GetType().Name} handles it.");
        return table;
    }

    /// <summary>The emitter for <paramref name="op"/>, or null when the op has none (it stays managed).</summary>
    public static IKernelEmitter? For(OpKind op) => (uint)op < (uint)s_byOp.Length ? s_byOp[(int)op] : null;
}
