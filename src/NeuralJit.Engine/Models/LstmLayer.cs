using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Models;

/// <summary>
/// One LSTM layer with PyTorch's semantics and gate order (i, f, g, o). The weights are kept as one
/// matrix W = [W_ih | W_hh] of 4H × (I + H) and one bias b = b_ih + b_hh, so a step is one call of the
/// LstmStep slot resolved here: gates then cell on the managed tier, one fused kernel on the JIT tier.
/// </summary>
public sealed unsafe class LstmLayer : IDisposable
{
    private readonly AlignedBuffer _w, _bias, _gates, _c;
    private AlignedBuffer _h, _hNext;
    private readonly OpSlot _step;

    /// <param name="weightIh">PyTorch weight_ih_l{k}: 4H × I, row-major.</param>
    /// <param name="weightHh">PyTorch weight_hh_l{k}: 4H × H.</param>
    /// <param name="biasIh">bias_ih_l{k}: 4H (or empty for none).</param>
    /// <param name="biasHh">bias_hh_l{k}: 4H (or empty for none).</param>
    public LstmLayer(NeuralEngine engine, int inputSize, int hiddenSize,
        ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh)
    {
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "Input size must be positive.");
        if (hiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "Hidden size must be positive.");
        int g = 4 * hiddenSize;
        Expect(weightIh.Length, g * inputSize, "weight_ih");
        Expect(weightHh.Length, g * hiddenSize, "weight_hh");
        if (!biasIh.IsEmpty) Expect(biasIh.Length, g, "bias_ih");
        if (!biasHh.IsEmpty) Expect(biasHh.Length, g, "bias_hh");

        InputSize = inputSize;
        HiddenSize = hiddenSize;
        int row = inputSize + hiddenSize;
        _w = new AlignedBuffer(g * row);
        for (int r = 0; r < g; r++)
        {
            weightIh.Slice(r * inputSize, inputSize).CopyTo(_w.Span.Slice(r * row, inputSize));
            weightHh.Slice(r * hiddenSize, hiddenSize).CopyTo(_w.Span.Slice(r * row + inputSize, hiddenSize));
        }
        _bias = new AlignedBuffer(g);
        for (int r = 0; r < g; r++) _bias.Span[r] = (biasIh.IsEmpty ? 0 : biasIh[r]) + (biasHh.IsEmpty ? 0 : biasHh[r]);
        _gates = new AlignedBuffer(g);
        _c = new AlignedBuffer(hiddenSize);
        _h = new AlignedBuffer(hiddenSize);
        _hNext = new AlignedBuffer(hiddenSize);
        _step = engine.Resolve(OpKind.LstmStep, new OpShape(g, inputSize, hiddenSize));
    }

    private static void Expect(int actual, int expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} values; expected {expected}.", name);
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public long ParameterCount => 4L * HiddenSize * (InputSize + HiddenSize) + 8L * HiddenSize;

    /// <summary>The current hidden state h (valid until the next step).</summary>
    public ReadOnlySpan<float> Hidden => _h.Span;
    public float* HiddenPointer => _h.Pointer;
    public ReadOnlySpan<float> Cell => _c.Span;

    /// <summary>One time step on <paramref name="x"/> (InputSize floats); returns a pointer to the new h.</summary>
    public float* Step(float* x)
    {
        KernelArgs a = default;
        a.A = _w.Pointer; a.B = x; a.C = _h.Pointer; a.D = _bias.Pointer; a.E = _gates.Pointer;
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
        _w.Dispose(); _bias.Dispose(); _gates.Dispose(); _c.Dispose(); _h.Dispose(); _hNext.Dispose();
    }
}
