using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Models;

/// <summary>A Linear layer (PyTorch <c>nn.Linear</c>: y = W x + b, W is out × in) through one Dense slot.</summary>
public sealed unsafe class DenseLayer : IDisposable
{
    private readonly AlignedBuffer _w, _b, _y;
    private readonly OpSlot _slot;

    public DenseLayer(NeuralEngine engine, int inputSize, int outputSize, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias)
    {
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "Input size must be positive.");
        if (outputSize <= 0) throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, "Output size must be positive.");
        if (weight.Length != (long)inputSize * outputSize) throw new ArgumentException($"weight has {weight.Length} values; expected {outputSize}×{inputSize}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length != outputSize) throw new ArgumentException($"bias has {bias.Length} values; expected {outputSize}.", nameof(bias));
        InputSize = inputSize;
        OutputSize = outputSize;
        _w = new AlignedBuffer(weight);
        _b = bias.IsEmpty ? new AlignedBuffer(outputSize) : new AlignedBuffer(bias);
        _y = new AlignedBuffer(outputSize);
        _slot = engine.Resolve(OpKind.Dense, OpShape.Matrix(outputSize, inputSize));
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    public long ParameterCount => (long)InputSize * OutputSize + OutputSize;
    public ReadOnlySpan<float> Output => _y.Span;

    /// <summary>y = W x + b; returns a pointer to y (valid until the next call).</summary>
    public float* Forward(float* x)
    {
        KernelArgs a = default;
        a.A = _w.Pointer; a.B = x; a.D = _b.Pointer; a.C = _y.Pointer;
        _slot.Invoke(&a);
        return _y.Pointer;
    }

    public void Dispose()
    {
        _w.Dispose(); _b.Dispose(); _y.Dispose();
    }
}
