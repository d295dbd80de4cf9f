using NeuralJit.Ops;

namespace NeuralJit.Models;

/// <summary>
/// A network built from the kernels: stacked LSTM layers and a dense (Linear) head, with the
/// parameters named as PyTorch's <c>state_dict()</c> of a module holding <c>self.lstm = nn.LSTM(...)</c>
/// and <c>self.output = nn.Linear(...)</c>: <c>lstm.weight_ih_l{k}</c>, <c>lstm.weight_hh_l{k}</c>,
/// <c>lstm.bias_ih_l{k}</c>, <c>lstm.bias_hh_l{k}</c>, <c>output.weight</c>, <c>output.bias</c>.
/// Every op of a step goes through a slot of <see cref="Engine"/>. One network is one sequence's
/// state: steps are not thread-safe on the same instance (use one network per thread).
/// </summary>
public sealed unsafe class NeuralNetwork : IDisposable
{
    private readonly LstmLayer[] _layers;
    private readonly DenseLayer _head;
    private readonly AlignedBuffer _input;

    public NeuralNetwork(NeuralEngine engine, NetworkSizes sizes, IReadOnlyDictionary<string, float[]> parameters)
    {
        sizes.Validate();
        Engine = engine;
        Sizes = sizes;
        _layers = new LstmLayer[sizes.Layers];
        for (int k = 0; k < sizes.Layers; k++)
        {
            int inSize = k == 0 ? sizes.InputSize : sizes.HiddenSize;
            _layers[k] = new LstmLayer(engine, inSize, sizes.HiddenSize,
                Get(parameters, $"lstm.weight_ih_l{k}"), Get(parameters, $"lstm.weight_hh_l{k}"),
                GetOptional(parameters, $"lstm.bias_ih_l{k}"), GetOptional(parameters, $"lstm.bias_hh_l{k}"));
        }
        _head = new DenseLayer(engine, sizes.HiddenSize, sizes.OutputSize, Get(parameters, "output.weight"), GetOptional(parameters, "output.bias"));
        _input = new AlignedBuffer(sizes.InputSize);
    }

    private static float[] Get(IReadOnlyDictionary<string, float[]> p, string name) =>
        p.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"The parameter '{name}' is missing.");

    private static ReadOnlySpan<float> GetOptional(IReadOnlyDictionary<string, float[]> p, string name) =>
        p.TryGetValue(name, out var v) ? v : ReadOnlySpan<float>.Empty;

    /// <summary>
    /// A network with PyTorch's default initialisation (uniform ±1/√hidden for the LSTM, ±1/√in for
    /// the head) drawn from a seeded generator: the same sizes and seed give the same weights.
    /// </summary>
    public static NeuralNetwork CreateRandom(NeuralEngine engine, NetworkSizes sizes, int seed) =>
        new(engine, sizes, RandomParameters(sizes, seed));

    public static Dictionary<string, float[]> RandomParameters(NetworkSizes sizes, int seed)
    {
        sizes.Validate();
        var rng = new Random(seed);
        float[] Uniform(int n, double bound)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
            return a;
        }
        var p = new Dictionary<string, float[]>();
        double lstmBound = 1 / Math.Sqrt(sizes.HiddenSize);
        int g = 4 * sizes.HiddenSize;
        for (int k = 0; k < sizes.Layers; k++)
        {
            int inSize = k == 0 ? sizes.InputSize : sizes.HiddenSize;
            p[$"lstm.weight_ih_l{k}"] = Uniform(g * inSize, lstmBound);
            p[$"lstm.weight_hh_l{k}"] = Uniform(g * sizes.HiddenSize, lstmBound);
            p[$"lstm.bias_ih_l{k}"] = Uniform(g, lstmBound);
            p[$"lstm.bias_hh_l{k}"] = Uniform(g, lstmBound);
        }
        double headBound = 1 / Math.Sqrt(sizes.HiddenSize);
        p["output.weight"] = Uniform(sizes.OutputSize * sizes.HiddenSize, headBound);
        p["output.bias"] = Uniform(sizes.OutputSize, headBound);
        return p;
    }

    public NeuralEngine Engine { get; }
    public NetworkSizes Sizes { get; }
    public IReadOnlyList<LstmLayer> Layers => _layers;
    public long ParameterCount => _layers.Sum(l => l.ParameterCount) + _head.ParameterCount;

    /// <summary>One time step: x (InputSize floats) through every layer and the head; returns the head's output.</summary>
    public ReadOnlySpan<float> Step(ReadOnlySpan<float> x)
    {
        if (x.Length != Sizes.InputSize)
            throw new ArgumentException($"The input has {x.Length} values; this network takes {Sizes.InputSize}.", nameof(x));
        x.CopyTo(_input.Span);
        float* h = _input.Pointer;
        foreach (var layer in _layers) h = layer.Step(h);
        _head.Forward(h);
        return _head.Output;
    }

    /// <summary>Clears the hidden and cell state: the next step starts a new sequence.</summary>
    public void ResetState()
    {
        foreach (var l in _layers) l.ResetState();
    }

    public void Dispose()
    {
        foreach (var l in _layers) l.Dispose();
        _head.Dispose();
        _input.Dispose();
    }
}

/// <summary>The sizes of a <see cref="NeuralNetwork"/>.</summary>
public readonly record struct NetworkSizes(int InputSize, int HiddenSize, int OutputSize, int Layers = 1)
{
    public void Validate()
    {
        if (InputSize <= 0) throw new ArgumentOutOfRangeException(nameof(InputSize), InputSize, "InputSize must be positive.");
        if (HiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(HiddenSize), HiddenSize, "HiddenSize must be positive.");
        if (OutputSize <= 0) throw new ArgumentOutOfRangeException(nameof(OutputSize), OutputSize, "OutputSize must be positive.");
        if (Layers <= 0) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "Layers must be positive.");
    }
}
