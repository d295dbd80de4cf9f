using System.Runtime.CompilerServices;
using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Models;

/// <summary>A Linear layer (PyTorch <c>nn.Linear</c>: y = W x + b, W is out × in) through one Dense slot.</summary>
public sealed unsafe class DenseLayer : IDisposable
{
    private readonly DenseWeights _weights;
    private readonly bool _ownsWeights;
    private readonly AlignedBuffer _y;
    private readonly OpSlot _slot;

    public DenseLayer(NeuralEngine engine, int inputSize, int outputSize, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias)
        : this(engine, new DenseWeights(inputSize, outputSize, weight, bias), ownsWeights: true)
    {
    }

    /// <summary>A layer over shared weights (never written here): only the output vector is this layer's own.</summary>
    internal DenseLayer(NeuralEngine engine, DenseWeights weights, bool ownsWeights)
    {
        _weights = weights;
        _ownsWeights = ownsWeights;
        InputSize = weights.InputSize;
        OutputSize = weights.OutputSize;
        _y = new AlignedBuffer(OutputSize);
        _slot = engine.Resolve(OpKind.Dense, OpShape.Matrix(OutputSize, InputSize));
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    /// <summary>The slot a forward pass runs through (<see cref="NeuralNetwork"/> promotes a step's slots together).</summary>
    internal OpSlot Slot => _slot;
    public long ParameterCount => (long)InputSize * OutputSize + OutputSize;
    public ReadOnlySpan<float> Output => _y.Span;

    /// <summary>y = W x + b; returns a pointer to y (valid until the next call).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public float* Forward(float* x)
    {
        KernelArgs a = default;
        a.A = _weights.W.Pointer; a.B = x; a.D = _weights.Bias.Pointer; a.C = _y.Pointer;
        _slot.Invoke(&a);
        return _y.Pointer;
    }

    public void Dispose()
    {
        if (_ownsWeights) _weights.Dispose();
        _y.Dispose();
    }
}
