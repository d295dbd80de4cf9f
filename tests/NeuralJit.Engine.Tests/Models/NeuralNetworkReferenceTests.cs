using NeuralJit.Models;

namespace NeuralJit.Engine.Tests.Models;

/// <summary>
/// The network against a straightforward per-step LSTM written here from PyTorch's equations (torch.nn.LSTM docs),
/// in double precision, reading the same state_dict names:
///   i = σ(W_ii x + b_ii + W_hi h + b_hi), f = σ(W_if x + b_if + W_hf h + b_hf), g = tanh(W_ig x + b_ig + W_hg h + b_hg),
///   o = σ(W_io x + b_io + W_ho h + b_ho), c′ = f ⊙ c + i ⊙ g, h′ = o ⊙ tanh(c′); rows of weight_ih/hh are [i; f; g; o].
/// The head is y = W h + b on the last layer's h.
/// </summary>
public class NeuralNetworkReferenceTests
{
    private sealed class PyTorchLstm(NetworkSizes sizes, IReadOnlyDictionary<string, float[]> p)
    {
        private readonly double[][] _h = Enumerable.Range(0, sizes.Layers).Select(_ => new double[sizes.HiddenSize]).ToArray();
        private readonly double[][] _c = Enumerable.Range(0, sizes.Layers).Select(_ => new double[sizes.HiddenSize]).ToArray();

        private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

        public double[] Step(float[] input)
        {
            int H = sizes.HiddenSize;
            double[] x = input.Select(v => (double)v).ToArray();
            for (int l = 0; l < sizes.Layers; l++)
            {
                var wih = p[$"lstm.weight_ih_l{l}"]; var whh = p[$"lstm.weight_hh_l{l}"];
                var bih = p[$"lstm.bias_ih_l{l}"]; var bhh = p[$"lstm.bias_hh_l{l}"];
                int I = x.Length;
                double Gate(int row)
                {
                    double s = bih[row] + bhh[row];
                    for (int j = 0; j < I; j++) s += wih[row * I + j] * x[j];
                    for (int j = 0; j < H; j++) s += whh[row * H + j] * _h[l][j];
                    return s;
                }
                var hNew = new double[H];
                for (int k = 0; k < H; k++)
                {
                    double i = Sigmoid(Gate(k)), f = Sigmoid(Gate(H + k)), g = Math.Tanh(Gate(2 * H + k)), o = Sigmoid(Gate(3 * H + k));
                    _c[l][k] = f * _c[l][k] + i * g;
                    hNew[k] = o * Math.Tanh(_c[l][k]);
                }
                _h[l] = hNew;
                x = hNew;
            }
            var w = p["output.weight"]; var b = p["output.bias"];
            var y = new double[sizes.OutputSize];
            for (int r = 0; r < y.Length; r++)
            {
                double s = b[r];
                for (int j = 0; j < H; j++) s += w[r * H + j] * x[j];
                y[r] = s;
            }
            return y;
        }
    }

    [Theory]
    [InlineData(5, 7, 3, 1)]
    [InlineData(13, 9, 4, 2)]
    [InlineData(64, 128, 10, 1)]
    [InlineData(3, 17, 1, 2)]
    public void StepsMatchAnIndependentPyTorchStyleLstm(int input, int hidden, int output, int layers)
    {
        var sizes = new NetworkSizes(input, hidden, output, layers);
        var parameters = NeuralNetwork.RandomParameters(sizes, seed: 1234 + hidden);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var net = new NeuralNetwork(engine, sizes, parameters);
        var reference = new PyTorchLstm(sizes, parameters);
        var rng = new Random(99);
        for (int step = 0; step < 12; step++)
        {
            var x = Enumerable.Range(0, input).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var got = net.Step(x).ToArray();
            var want = reference.Step(x);
            Assert.Equal(output, got.Length);
            for (int r = 0; r < output; r++)
            {
                // float kernels (and a few-ulp tanh/σ) against double over up to 12 recurrent steps: 2e-5 absolute on O(1) outputs.
                double err = Math.Abs(got[r] - want[r]);
                Assert.True(err <= 2e-5 + 1e-5 * Math.Abs(want[r]),
                    $"{input}→{hidden}×{layers}→{output}, step {step}, output[{r}]: got {got[r]:R}, PyTorch equations give {want[r]:R} (|Δ| {err:G3})");
            }
        }
    }

    [Fact]
    public void EveryStepGoesThroughTheProfiledSlotsOnce()
    {
        var sizes = new NetworkSizes(5, 7, 3, 2);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var net = NeuralNetwork.CreateRandom(engine, sizes, seed: 5);
        var x = new float[5];
        for (int i = 0; i < 25; i++) net.Step(x);
        var hot = engine.GetHotspots();
        // One LstmStep per layer (28x12, 28x14) and the Dense head: nothing else is called.
        Assert.Equal(25, hot.Single(h => h.Operation == NeuralJit.Ops.OpKind.LstmStep && h.Dims == "28x12").Calls);
        Assert.Equal(25, hot.Single(h => h.Operation == NeuralJit.Ops.OpKind.LstmStep && h.Dims == "28x14").Calls);
        Assert.Equal(25, hot.Single(h => h.Operation == NeuralJit.Ops.OpKind.Dense).Calls);
        Assert.Equal(3, hot.Count);
    }
}
