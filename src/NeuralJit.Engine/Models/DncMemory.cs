using System.Runtime.CompilerServices;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Models;

/// <summary>
/// The external memory of a Differentiable Neural Computer (Graves et al. 2016, "Hybrid computing using
/// a neural network with dynamic external memory", Methods), forward pass only: N slots of width W,
/// R read heads, one write head. Each step takes the controller's hidden state h, projects it to the
/// interface vector ξ = W_ξ·h + b_ξ (the parameters <c>interface.weight</c> Ξ×H and <c>interface.bias</c> Ξ),
/// squashes it (oneplus strengths, sigmoid gates and erase, softmax read modes), then: retention ψ and
/// usage u; allocation weighting a from u sorted ascending; write content weighting; write weighting;
/// erase-then-add memory update; temporal link matrix and precedence; forward and backward weightings;
/// read content weightings; read weightings; read vectors. Every step runs through a slot resolved here
/// (Dense, DncInterface, DncUsage, DncAllocation, DncContent for the write key, DncWriteWeighting, DncWriteContent — the
/// write fused with the content weightings of all read keys on the written memory, one pass over M —, DncLinkTemporal —
/// the link update fused with the forward and backward weightings, one pass over the N×N links —, DncReadWeighting, DncRead),
/// so each shows in the hotspot table with its shape. The step's slots are promoted together (<see cref="NeuralEngine.PromoteTogether"/>).
/// State starts at zero (memory, usage, link, precedence, weightings, read vectors), as in the paper.
/// One instance is one sequence's state: not thread-safe.
/// </summary>
public sealed unsafe class DncMemory : IDisposable
{
    private readonly DenseLayer _interface;
    private readonly DncInterfaceLayout _layout;
    private readonly AlignedBuffer _xi, _memory, _usage, _allocation, _writeContent, _writeWeights, _link, _precedence,
        _readWeights, _forward, _backward, _readContent, _readVectors;
    private readonly OpSlot _squashSlot, _usageSlot, _allocationSlot, _contentSlot, _writeWeightingSlot, _writeContentSlot,
        _linkTemporalSlot, _readWeightingSlot, _readSlot;

    /// <param name="controllerSize">H, the size of the controller's hidden state.</param>
    /// <param name="interfaceWeight">Ξ × H, row-major (PyTorch nn.Linear layout).</param>
    /// <param name="interfaceBias">Ξ, or empty for none.</param>
    public DncMemory(NeuralEngine engine, int controllerSize, int slots, int width, int readHeads,
        ReadOnlySpan<float> interfaceWeight, ReadOnlySpan<float> interfaceBias)
        : this(engine, slots, width, readHeads, InterfaceWeights(controllerSize, slots, width, readHeads, interfaceWeight, interfaceBias), ownsWeights: true)
    {
    }

    private static DenseWeights InterfaceWeights(int controllerSize, int slots, int width, int readHeads, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias)
    {
        CheckSizes(slots, width, readHeads);
        return new DenseWeights(controllerSize, DncInterfaceLayout.SizeOf(readHeads, width), weight, bias);
    }

    private static void CheckSizes(int slots, int width, int readHeads)
    {
        if (slots <= 0) throw new ArgumentOutOfRangeException(nameof(slots), slots, "Memory slots must be positive.");
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "Memory width must be positive.");
        if (readHeads <= 0) throw new ArgumentOutOfRangeException(nameof(readHeads), readHeads, "Read heads must be positive.");
    }

    /// <summary>A memory over a shared interface projection (never written here): only the state is this memory's own.</summary>
    internal DncMemory(NeuralEngine engine, int slots, int width, int readHeads, DenseWeights interfaceWeights, bool ownsWeights)
    {
        CheckSizes(slots, width, readHeads);
        Slots = slots;
        Width = width;
        ReadHeads = readHeads;
        _layout = new DncInterfaceLayout(readHeads, width);
        if (interfaceWeights.OutputSize != _layout.Size)
            throw new ArgumentException($"The interface projection has {interfaceWeights.OutputSize} rows; R = {readHeads}, W = {width} need {_layout.Size}.", nameof(interfaceWeights));
        _interface = new DenseLayer(engine, interfaceWeights, ownsWeights);
        _xi = new AlignedBuffer(_layout.Size);
        _memory = new AlignedBuffer(checked(slots * width));
        _usage = new AlignedBuffer(slots);
        _allocation = new AlignedBuffer(slots);
        _writeContent = new AlignedBuffer(slots);
        // DncLinkTemporal streams each row group of L with w, p, the read weightings and b (which the next op reads with f)
        // at the same column. With N a multiple of 1024 a row of L and a head's weighting span whole pages, so buffers at the
        // same offset in a page put those streams' lines of a column in the same L1 sets; each then starts at its own part
        // of a page. A step against the allocator's placement, in one process (each ratio one run): N = 1024 AVX-512
        // 1.08–1.13, AVX2 0.95–1.05 (with the side scratch of DncLinkTemporal; 1.11–1.15 both before it); N = 2048
        // 0.97–1.04; N = 4096 AVX-512 0.96, AVX2 1.03–1.09. At N = 512 (rows of half a page) these offsets were 1–3%
        // slower, so other N keep the allocator's placement.
        bool wholePages = slots % 1024 == 0;
        AlignedBuffer Placed(int length, int pageOffset) => wholePages ? new AlignedBuffer(length, pageOffset) : new AlignedBuffer(length);
        _writeWeights = Placed(slots, 2048);
        _link = Placed(checked(slots * slots), 0);
        _precedence = Placed(slots, 2560);
        _readWeights = Placed(checked(readHeads * slots), 1024);
        _forward = Placed(checked(readHeads * slots), 3584);
        _backward = Placed(checked(readHeads * slots), 3072);
        _readContent = new AlignedBuffer(checked(readHeads * slots));
        _readVectors = new AlignedBuffer(checked(readHeads * width));

        _squashSlot = engine.Resolve(OpKind.DncInterface, new OpShape(readHeads, width));
        _usageSlot = engine.Resolve(OpKind.DncUsage, new OpShape(slots, readHeads));
        _allocationSlot = engine.Resolve(OpKind.DncAllocation, OpShape.Vector(slots));
        _contentSlot = engine.Resolve(OpKind.DncContent, OpShape.Matrix(slots, width));
        _writeWeightingSlot = engine.Resolve(OpKind.DncWriteWeighting, OpShape.Vector(slots));
        _writeContentSlot = engine.Resolve(OpKind.DncWriteContent, new OpShape(slots, width, readHeads));
        _linkTemporalSlot = engine.Resolve(OpKind.DncLinkTemporal, new OpShape(slots, readHeads));
        _readWeightingSlot = engine.Resolve(OpKind.DncReadWeighting, new OpShape(slots, readHeads));
        _readSlot = engine.Resolve(OpKind.DncRead, new OpShape(slots, width, readHeads));
        StepSlots = [_interface.Slot, _squashSlot, _usageSlot, _allocationSlot, _contentSlot, _writeWeightingSlot, _writeContentSlot,
            _linkTemporalSlot, _readWeightingSlot, _readSlot];
        engine.PromoteTogether(StepSlots);
    }

    /// <summary>The slots a step runs through, each once: the interface, then the nine DNC ops.</summary>
    internal IReadOnlyList<OpSlot> StepSlots { get; }

    public int Slots { get; }
    public int Width { get; }
    public int ReadHeads { get; }
    public int ControllerSize => _interface.InputSize;
    /// <summary>Ξ = R·W + 3W + 5R + 3.</summary>
    public int InterfaceSize => _layout.Size;
    public DncInterfaceLayout Layout => _layout;
    public long ParameterCount => _interface.ParameterCount;
    /// <summary>Bytes of this memory's own state (memory, usage, links, precedence, weightings, read vectors, interface vector).</summary>
    public long StateBytes => StateBuffers.Sum(b => (long)b.Length) * sizeof(float) + (long)_interface.OutputSize * sizeof(float);

    private AlignedBuffer[] StateBuffers => [_xi, _memory, _usage, _allocation, _writeContent, _writeWeights, _link, _precedence, _readWeights, _forward, _backward, _readContent, _readVectors];

    /// <summary>The squashed interface vector of the last step.</summary>
    public ReadOnlySpan<float> Interface => _xi.Span;
    public ReadOnlySpan<float> Memory => _memory.Span;
    public ReadOnlySpan<float> Usage => _usage.Span;
    public ReadOnlySpan<float> Allocation => _allocation.Span;
    public ReadOnlySpan<float> WriteContentWeights => _writeContent.Span;
    public ReadOnlySpan<float> WriteWeights => _writeWeights.Span;
    public ReadOnlySpan<float> Link => _link.Span;
    public ReadOnlySpan<float> Precedence => _precedence.Span;
    public ReadOnlySpan<float> ForwardWeights => _forward.Span;
    public ReadOnlySpan<float> BackwardWeights => _backward.Span;
    public ReadOnlySpan<float> ReadContentWeights => _readContent.Span;
    /// <summary>R×N, head after head.</summary>
    public ReadOnlySpan<float> ReadWeights => _readWeights.Span;
    /// <summary>R×W, head after head: what the controller sees at the next step and the output layer now.</summary>
    public ReadOnlySpan<float> ReadVectors => _readVectors.Span;
    public float* ReadVectorsPointer => _readVectors.Pointer;

    /// <summary>One step from the controller's hidden state h (ControllerSize floats); returns a pointer to the R·W read vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public float* Step(float* h)
    {
        _interface.Forward(h);
        _interface.Output.CopyTo(_xi.Span);
        return StepFromRawInterface();
    }

    /// <summary>One step from a raw (unsquashed) interface vector of <see cref="InterfaceSize"/> floats, skipping the projection.</summary>
    public ReadOnlySpan<float> StepInterface(ReadOnlySpan<float> rawInterface)
    {
        if (rawInterface.Length != _layout.Size)
            throw new ArgumentException($"The interface vector has {rawInterface.Length} values; expected {_layout.Size}.", nameof(rawInterface));
        rawInterface.CopyTo(_xi.Span);
        StepFromRawInterface();
        return _readVectors.Span;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private float* StepFromRawInterface()
    {
        float* xi = _xi.Pointer;
        var l = _layout;
        KernelArgs a = default;

        a.A = xi; a.C = xi;
        _squashSlot.Invoke(&a);

        a = default;
        a.A = xi + l.FreeGates; a.B = _readWeights.Pointer; a.D = _writeWeights.Pointer; a.C = _usage.Pointer;
        _usageSlot.Invoke(&a);

        a = default;
        a.A = _usage.Pointer; a.C = _allocation.Pointer;
        _allocationSlot.Invoke(&a);

        a = default;
        a.A = _memory.Pointer; a.B = xi + l.WriteKey; a.Alpha = xi[l.WriteStrength]; a.C = _writeContent.Pointer;
        _contentSlot.Invoke(&a);

        a = default;
        a.A = _allocation.Pointer; a.B = _writeContent.Pointer; a.Alpha = xi[l.AllocationGate]; a.Beta = xi[l.WriteGate]; a.C = _writeWeights.Pointer;
        _writeWeightingSlot.Invoke(&a);

        // The read keys' content weightings need only the written memory: computed with the write, in one pass over M,
        // before the links (which need neither), so every value is the paper's.
        a = default;
        a.A = _memory.Pointer; a.B = _writeWeights.Pointer; a.C = xi + l.Erase; a.D = xi + l.WriteVector;
        a.E = xi + l.ReadKeys; a.F = xi + l.ReadStrengths; a.G = _readContent.Pointer;
        _writeContentSlot.Invoke(&a);

        a = default;
        a.A = _link.Pointer; a.B = _writeWeights.Pointer; a.C = _precedence.Pointer;
        a.D = _readWeights.Pointer; a.E = _forward.Pointer; a.F = _backward.Pointer;
        _linkTemporalSlot.Invoke(&a);

        a = default;
        a.A = _backward.Pointer; a.B = _readContent.Pointer; a.C = _forward.Pointer; a.D = xi + l.ReadModes; a.E = _readWeights.Pointer;
        _readWeightingSlot.Invoke(&a);

        a = default;
        a.A = _memory.Pointer; a.B = _readWeights.Pointer; a.C = _readVectors.Pointer;
        _readSlot.Invoke(&a);
        return _readVectors.Pointer;
    }

    /// <summary>Zeroes the whole state: the next step starts a new sequence.</summary>
    public void ResetState()
    {
        foreach (var b in StateBuffers) b.Span.Clear();
    }

    public void Dispose()
    {
        _interface.Dispose();
        foreach (var b in StateBuffers) b.Dispose();
    }
}
