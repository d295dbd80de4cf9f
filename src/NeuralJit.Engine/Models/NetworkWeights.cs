using NeuralJit.Ops;

namespace NeuralJit.Models;

/// <summary>
/// A network's parameters laid out once in the form its kernels read (aligned native memory): per LSTM
/// layer one fused [W_ih | W_hh] matrix and one summed bias, the DNC interface and the output layer.
/// Never written after construction, so any number of <see cref="NeuralNetwork"/>s (runs, sessions,
/// runspaces, threads) read the same copy: building a network allocates state only. The memory is
/// freed when the last holder drops it (the buffers' finalizers), or by <see cref="Dispose"/> when a
/// network built its own.
/// </summary>
public sealed class NetworkWeights : IDisposable
{
    public NetworkWeights(NetworkSizes sizes, IReadOnlyDictionary<string, float[]> parameters)
    {
        sizes.Validate();
        Sizes = sizes;
        Layers = new LstmWeights[sizes.Layers];
        for (int k = 0; k < sizes.Layers; k++)
            Layers[k] = new LstmWeights(k == 0 ? sizes.ControllerInputSize : sizes.HiddenSize, sizes.HiddenSize,
                Get(parameters, $"lstm.weight_ih_l{k}"), Get(parameters, $"lstm.weight_hh_l{k}"),
                GetOptional(parameters, $"lstm.bias_ih_l{k}"), GetOptional(parameters, $"lstm.bias_hh_l{k}"));
        if (sizes.HasMemory)
            Interface = new DenseWeights(sizes.HiddenSize, sizes.InterfaceSize, Get(parameters, "interface.weight"), GetOptional(parameters, "interface.bias"));
        Head = new DenseWeights(sizes.HeadInputSize, sizes.OutputSize, Get(parameters, "output.weight"), GetOptional(parameters, "output.bias"));
    }

    private static float[] Get(IReadOnlyDictionary<string, float[]> p, string name) =>
        p.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"The parameter '{name}' is missing.");

    private static ReadOnlySpan<float> GetOptional(IReadOnlyDictionary<string, float[]> p, string name) =>
        p.TryGetValue(name, out var v) ? v : ReadOnlySpan<float>.Empty;

    public NetworkSizes Sizes { get; }
    internal LstmWeights[] Layers { get; }
    /// <summary>The DNC interface projection (Ξ × H), or null without memory.</summary>
    internal DenseWeights? Interface { get; }
    internal DenseWeights Head { get; }

    /// <summary>Native bytes held (what one copy of the weights costs, whatever the number of networks reading it).</summary>
    public long Bytes => Layers.Sum(l => l.Bytes) + (Interface?.Bytes ?? 0) + Head.Bytes;

    public void Dispose()
    {
        foreach (var l in Layers) l.Dispose();
        Interface?.Dispose();
        Head.Dispose();
    }
}

/// <summary>One LSTM layer's weights as its kernel reads them: W = [W_ih | W_hh] (4H × (I + H)) and b = b_ih + b_hh.</summary>
public sealed class LstmWeights : IDisposable
{
    internal readonly AlignedBuffer W, Bias;

    /// <param name="weightIh">PyTorch weight_ih_l{k}: 4H × I, row-major.</param>
    /// <param name="weightHh">PyTorch weight_hh_l{k}: 4H × H.</param>
    /// <param name="biasIh">bias_ih_l{k}: 4H (or empty for none).</param>
    /// <param name="biasHh">bias_hh_l{k}: 4H (or empty for none).</param>
    public LstmWeights(int inputSize, int hiddenSize, ReadOnlySpan<float> weightIh, ReadOnlySpan<float> weightHh, ReadOnlySpan<float> biasIh, ReadOnlySpan<float> biasHh)
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
        W = new AlignedBuffer(g * row);
        for (int r = 0; r < g; r++)
        {
            weightIh.Slice(r * inputSize, inputSize).CopyTo(W.Span.Slice(r * row, inputSize));
            weightHh.Slice(r * hiddenSize, hiddenSize).CopyTo(W.Span.Slice(r * row + inputSize, hiddenSize));
        }
        Bias = new AlignedBuffer(g);
        for (int r = 0; r < g; r++) Bias.Span[r] = (biasIh.IsEmpty ? 0 : biasIh[r]) + (biasHh.IsEmpty ? 0 : biasHh[r]);
    }

    private static void Expect(int actual, int expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} values; expected {expected}.", name);
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public long Bytes => ((long)W.Length + Bias.Length) * sizeof(float);

    public void Dispose()
    {
        W.Dispose();
        Bias.Dispose();
    }
}

/// <summary>A Linear layer's weights (PyTorch nn.Linear: W is out × in) and bias (zeros when the model has none).</summary>
public sealed class DenseWeights : IDisposable
{
    internal readonly AlignedBuffer W, Bias;

    public DenseWeights(int inputSize, int outputSize, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias)
    {
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "Input size must be positive.");
        if (outputSize <= 0) throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, "Output size must be positive.");
        if (weight.Length != inputSize * outputSize) throw new ArgumentException($"weight has {weight.Length} values; expected {outputSize}×{inputSize}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length != outputSize) throw new ArgumentException($"bias has {bias.Length} values; expected {outputSize}.", nameof(bias));
        InputSize = inputSize;
        OutputSize = outputSize;
        W = new AlignedBuffer(weight);
        Bias = bias.IsEmpty ? new AlignedBuffer(outputSize) : new AlignedBuffer(bias);
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    public long Bytes => ((long)W.Length + Bias.Length) * sizeof(float);

    public void Dispose()
    {
        W.Dispose();
        Bias.Dispose();
    }
}
