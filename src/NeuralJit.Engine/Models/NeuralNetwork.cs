using System.Runtime.CompilerServices;
using NeuralJit.Ops;

namespace NeuralJit.Models;

/// <summary>
/// A network built from the kernels: stacked LSTM layers, an optional DNC memory, and a dense (Linear)
/// head, with the parameters named as PyTorch's <c>state_dict()</c> of a module holding
/// <c>self.lstm = nn.LSTM(...)</c>, <c>self.output = nn.Linear(...)</c> and, with memory,
/// <c>self.interface = nn.Linear(hidden, Ξ)</c>: <c>lstm.weight_ih_l{k}</c>, <c>lstm.weight_hh_l{k}</c>,
/// <c>lstm.bias_ih_l{k}</c>, <c>lstm.bias_hh_l{k}</c>, <c>output.weight</c>, <c>output.bias</c>,
/// <c>interface.weight</c>, <c>interface.bias</c>.
/// With memory the controller's input is [x; r_{t−1}] (so <c>lstm.weight_ih_l0</c> is 4H × (I + R·W)),
/// the memory is driven by the last layer's h, and the head sees [h; r_t] (<c>output.weight</c> is
/// O × (H + R·W)). Every op of a step goes through a slot of <see cref="Engine"/>. One network is one
/// sequence's state: steps are not thread-safe on the same instance (use one network per thread).
/// </summary>
public sealed unsafe class NeuralNetwork : IDisposable
{
    private readonly LstmLayer[] _layers;
    private readonly DncMemory? _memory;
    private readonly DenseLayer _head;
    private readonly AlignedBuffer _input;
    private readonly AlignedBuffer? _headInput;
    private readonly NetworkWeights _weights;
    private readonly bool _ownsWeights;
    // Trace span labels, resolved once: a step is a span, and so is each layer, the memory and the head inside it.
    private readonly int _stepLabel, _memoryLabel, _headLabel;
    private readonly int[] _layerLabels;

    /// <summary>A network that lays out its own copy of <paramref name="parameters"/> (freed with it).</summary>
    public NeuralNetwork(NeuralEngine engine, NetworkSizes sizes, IReadOnlyDictionary<string, float[]> parameters)
        : this(engine, new NetworkWeights(sizes, parameters), ownsWeights: true)
    {
    }

    /// <summary>
    /// A network over shared weights: it allocates only its state and step buffers, and never writes the
    /// weights, so any number of networks (threads, runspaces) may run over one <see cref="NetworkWeights"/>.
    /// </summary>
    public NeuralNetwork(NeuralEngine engine, NetworkWeights weights) : this(engine, weights, ownsWeights: false)
    {
    }

    private NeuralNetwork(NeuralEngine engine, NetworkWeights weights, bool ownsWeights)
    {
        var sizes = weights.Sizes;
        Engine = engine;
        Sizes = sizes;
        _weights = weights;
        _ownsWeights = ownsWeights;
        _layers = new LstmLayer[sizes.Layers];
        for (int k = 0; k < sizes.Layers; k++) _layers[k] = new LstmLayer(engine, weights.Layers[k], ownsWeights: false);
        if (sizes.HasMemory)
        {
            _memory = new DncMemory(engine, sizes.MemorySlots, sizes.MemoryWidth, sizes.ReadHeads, weights.Interface!, ownsWeights: false);
            _headInput = new AlignedBuffer(sizes.HeadInputSize);
        }
        _head = new DenseLayer(engine, weights.Head, ownsWeights: false);
        // Every op of a step runs once per step: when the profile promotes the hot ones, the cheap ones (the head, a
        // second layer under ShareThreshold) follow rather than stay managed calls in every step.
        engine.PromoteTogether([.. _layers.Select(l => l.Slot), .. _memory?.StepSlots ?? [], _head.Slot]);
        _input = new AlignedBuffer(sizes.ControllerInputSize);
        _stepLabel = engine.TraceLabel("step");
        _layerLabels = new int[sizes.Layers];
        for (int k = 0; k < sizes.Layers; k++)
            _layerLabels[k] = engine.TraceLabel($"LSTM layer {k} {(k == 0 ? sizes.ControllerInputSize : sizes.HiddenSize)}→{sizes.HiddenSize}");
        _memoryLabel = !sizes.HasMemory ? -1 : engine.TraceLabel($"DNC memory {sizes.MemorySlots}x{sizes.MemoryWidth}, {sizes.ReadHeads} read heads");
        _headLabel = engine.TraceLabel($"Dense head {sizes.HeadInputSize}→{sizes.OutputSize}");
    }

    /// <summary>
    /// A network with PyTorch's default initialisation (uniform ±1/√hidden for the LSTM, ±1/√fan_in for
    /// the Linear layers) drawn from a seeded generator: the same sizes and seed give the same weights.
    /// </summary>
    public static NeuralNetwork CreateRandom(NeuralEngine engine, NetworkSizes sizes, int seed) =>
        new(engine, sizes, RandomParameters(sizes, seed));

    /// <exception cref="MemoryBudgetException">The network would exceed <see cref="MemoryBudget.MaxBytes"/> or the free memory.</exception>
    public static Dictionary<string, float[]> RandomParameters(NetworkSizes sizes, int seed)
    {
        sizes.Validate();
        MemoryBudget.Check(sizes);
        var rng = new Random(seed);
        var p = new Dictionary<string, float[]>();
        foreach (var (name, shape) in ParameterShapes(sizes))
        {
            // nn.LSTM draws every tensor from ±1/√hidden; nn.Linear from ±1/√fan_in.
            double bound = name.StartsWith("lstm.", StringComparison.Ordinal) ? 1 / Math.Sqrt(sizes.HiddenSize)
                : name.StartsWith("output.", StringComparison.Ordinal) ? 1 / Math.Sqrt(sizes.HeadInputSize)
                : 1 / Math.Sqrt(sizes.HiddenSize);
            int n = 1;
            foreach (int d in shape) n = checked(n * d);
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
            p[name] = a;
        }
        return p;
    }

    /// <summary>
    /// Every parameter of a network of <paramref name="sizes"/> with its shape, in PyTorch's state_dict
    /// order (LSTM layers, then interface, then output). Biases are listed too; a loader may accept their absence.
    /// </summary>
    public static IReadOnlyList<(string Name, int[] Shape)> ParameterShapes(NetworkSizes sizes)
    {
        sizes.Validate();
        int g = 4 * sizes.HiddenSize;
        var list = new List<(string, int[])>();
        for (int k = 0; k < sizes.Layers; k++)
        {
            int inSize = k == 0 ? sizes.ControllerInputSize : sizes.HiddenSize;
            list.Add(($"lstm.weight_ih_l{k}", [g, inSize]));
            list.Add(($"lstm.weight_hh_l{k}", [g, sizes.HiddenSize]));
            list.Add(($"lstm.bias_ih_l{k}", [g]));
            list.Add(($"lstm.bias_hh_l{k}", [g]));
        }
        if (sizes.HasMemory)
        {
            list.Add(("interface.weight", [sizes.InterfaceSize, sizes.HiddenSize]));
            list.Add(("interface.bias", [sizes.InterfaceSize]));
        }
        list.Add(("output.weight", [sizes.OutputSize, sizes.HeadInputSize]));
        list.Add(("output.bias", [sizes.OutputSize]));
        return list;
    }

    public NeuralEngine Engine { get; }
    public NetworkSizes Sizes { get; }
    public IReadOnlyList<LstmLayer> Layers => _layers;
    /// <summary>The DNC memory, or null for a plain LSTM network.</summary>
    public DncMemory? Memory => _memory;
    public long ParameterCount => _layers.Sum(l => l.ParameterCount) + (_memory?.ParameterCount ?? 0) + _head.ParameterCount;
    /// <summary>The weights it reads (shared with every other network of the same model).</summary>
    internal NetworkWeights Weights => _weights;
    /// <summary>Bytes of this network's own state and step buffers: what one more run or session of the model costs.</summary>
    public long StateBytes => _layers.Sum(l => l.StateBytes) + (_memory?.StateBytes ?? 0)
        + ((long)_input.Length + (_headInput?.Length ?? 0) + Sizes.OutputSize) * sizeof(float);

    /// <summary>One time step: x (InputSize floats) through every layer (and the memory) and the head; returns the head's output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<float> Step(ReadOnlySpan<float> x)
    {
        if (x.Length != Sizes.InputSize)
            throw new ArgumentException($"The input has {x.Length} values; this network takes {Sizes.InputSize}.", nameof(x));
        using var step = Engine.BeginSpan(_stepLabel);
        using var denormals = Platform.FloatingPointControl.FlushDenormalsWhile(Engine.Options.FlushDenormals);
        x.CopyTo(_input.Span);
        if (_memory is not null) _memory.ReadVectors.CopyTo(_input.Span[Sizes.InputSize..]); // r_{t−1}
        float* h = _input.Pointer;
        for (int k = 0; k < _layers.Length; k++)
        {
            using var layer = Engine.BeginSpan(_layerLabels[k]);
            h = _layers[k].Step(h);
        }
        if (_memory is null)
        {
            using var head = Engine.BeginSpan(_headLabel);
            _head.Forward(h);
        }
        else
        {
            using (Engine.BeginSpan(_memoryLabel)) _memory.Step(h);
            using var head = Engine.BeginSpan(_headLabel);
            var headIn = _headInput!.Span;
            new ReadOnlySpan<float>(h, Sizes.HiddenSize).CopyTo(headIn);
            _memory.ReadVectors.CopyTo(headIn[Sizes.HiddenSize..]);
            _head.Forward(_headInput.Pointer);
        }
        return _head.Output;
    }

    /// <summary>Clears the hidden, cell and memory state: the next step starts a new sequence.</summary>
    public void ResetState()
    {
        foreach (var l in _layers) l.ResetState();
        _memory?.ResetState();
    }

    public void Dispose()
    {
        foreach (var l in _layers) l.Dispose();
        _memory?.Dispose();
        _head.Dispose();
        _input.Dispose();
        _headInput?.Dispose();
        if (_ownsWeights) _weights.Dispose();
    }
}

/// <summary>
/// The sizes of a <see cref="NeuralNetwork"/>. Memory sizes are 0 for a plain LSTM network; with a DNC
/// memory all three (slots N, width W, read heads R) are positive.
/// </summary>
public readonly record struct NetworkSizes(int InputSize, int HiddenSize, int OutputSize, int Layers = 1)
{
    public int MemorySlots { get; init; }
    public int MemoryWidth { get; init; }
    public int ReadHeads { get; init; }

    public bool HasMemory => MemorySlots > 0;
    /// <summary>R·W, the floats of all read vectors (0 without memory).</summary>
    public int ReadSize => HasMemory ? ReadHeads * MemoryWidth : 0;
    /// <summary>What the first LSTM layer sees: I, or I + R·W with memory.</summary>
    public int ControllerInputSize => InputSize + ReadSize;
    /// <summary>What the output layer sees: H, or H + R·W with memory.</summary>
    public int HeadInputSize => HiddenSize + ReadSize;
    /// <summary>Ξ, the interface vector's length (0 without memory).</summary>
    public int InterfaceSize => HasMemory ? DncInterfaceLayout.SizeOf(ReadHeads, MemoryWidth) : 0;

    public void Validate()
    {
        if (InputSize <= 0) throw new ArgumentOutOfRangeException(nameof(InputSize), InputSize, "InputSize must be positive.");
        if (HiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(HiddenSize), HiddenSize, "HiddenSize must be positive.");
        if (OutputSize <= 0) throw new ArgumentOutOfRangeException(nameof(OutputSize), OutputSize, "OutputSize must be positive.");
        if (Layers <= 0) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "Layers must be positive.");
        bool any = MemorySlots != 0 || MemoryWidth != 0 || ReadHeads != 0;
        if (any && (MemorySlots <= 0 || MemoryWidth <= 0 || ReadHeads <= 0))
            throw new ArgumentOutOfRangeException(nameof(MemorySlots), (MemorySlots, MemoryWidth, ReadHeads),
                "A DNC memory needs MemorySlots, MemoryWidth and ReadHeads all positive (or all 0 for none).");
    }

    public override string ToString() =>
        $"LSTM {InputSize}→{HiddenSize}×{Layers}" + (HasMemory ? $" + DNC {MemorySlots}×{MemoryWidth}, {ReadHeads} read head{(ReadHeads == 1 ? "" : "s")}" : "") + $" + Dense→{OutputSize}";
}
