using System.Runtime.CompilerServices;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Models;

/// <summary>
/// One LSTM layer with PyTorch's semantics and gate order (i, f, g, o). The weights are kept as one
/// matrix W = [W_ih | W_hh] of 4H × (I + H) and one bias b = b_ih + b_hh (<see cref="LstmWeights"/>, which
/// several layers may share), so a step is one call of the LstmStep slot resolved here: gates then cell on the
/// managed tier, one fused kernel on the JIT tier. The layer owns only its state (h, c, gates).
/// </summary>
public sealed unsafe class LstmLayer : IDisposable
{
    private readonly LstmWeights _weights;
    private readonly bool _ownsWeights;
    private readonly AlignedBuffer _gates, _c;
    private AlignedBuffer _h, _hNext;
    private readonly OpSlot _step;

    /// <param name="weightIh">PyTorch weight_ih_l{k}: 4H × I, row-major.</param>
    /// <param name="weightHh">PyTorch weight_hh_l{k}: 4H × H.</param>
    /// <param name="biasIh">bias_ih_l{k}: 4H (or empty for none).</param>
    /// <param name="biasHh">bias_hh_l{k}: 4H (or empty for none).</param>
    public LstmLayer(NeuralEngine engine, int inputSize, int hiddenSize,
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh)
        : this(engine, new LstmWeights(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh), ownsWeights: true)
    {
    }

    /// <summary>A layer over shared weights (never written here): only the state is this layer's own.</summary>
    internal LstmLayer(NeuralEngine engine, LstmWeights weights, bool ownsWeights)
    {
        _weights = weights;
        _ownsWeights = ownsWeights;
        InputSize = weights.InputSize;
        HiddenSize = weights.HiddenSize;
        int g = 4 * HiddenSize;
        _gates = new AlignedBuffer(g);
        _c = new AlignedBuffer(HiddenSize);
        _h = new AlignedBuffer(HiddenSize);
        _hNext = new AlignedBuffer(HiddenSize);
        _step = engine.Resolve(OpKind.LstmStep, new OpShape(g, InputSize, HiddenSize));
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    /// <summary>The slot a step runs through (<see cref="NeuralNetwork"/> promotes a step's slots together).</summary>
    internal OpSlot Slot => _step;
    public long ParameterCount => 4L * HiddenSize * (InputSize + HiddenSize) + 8L * HiddenSize;

    /// <summary>The current hidden state h (valid until the next step).</summary>
    public ReadOnlySpan<float> Hidden => _h.Span;
    public float* HiddenPointer => _h.Pointer;
    public ReadOnlySpan<float> Cell => _c.Span;
    /// <summary>Bytes of this layer's own state (h, c, gates), beside the shared weights.</summary>
    public long StateBytes => (4L * HiddenSize + 3L * HiddenSize) * sizeof(float);

    /// <summary>One time step on <paramref name="x"/> (InputSize floats); returns a pointer to the new h.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public float* Step(float* x)
    {
        KernelArgs a = default;
        a.A = _weights.W.Pointer; a.B = x; a.C = _h.Pointer; a.D = _weights.Bias.Pointer; a.E = _gates.Pointer;
        a.F = _c.Pointer; a.G = _hNext.Pointer;
        _step.Invoke(&a);
        (_h, _hNext) = (_hNext, _h);
        return _h.Pointer;
    }

    public void ResetState()
    {
        _c.Span.Clear();
        _h.Span.Clear();
        _hNext.Span.Clear();
    }

    public void Dispose()
    {
        if (_ownsWeights) _weights.Dispose();
        _gates.Dispose(); _c.Dispose(); _h.Dispose(); _hNext.Dispose();
    }
}
