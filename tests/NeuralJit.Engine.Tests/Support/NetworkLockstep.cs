using NeuralJit.Models;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>Two networks with the same weights stepped side by side on the same random inputs.</summary>
public static class NetworkLockstep
{
    /// <summary>
    /// Steps both networks <paramref name="steps"/> times (inputs uniform in [−1, 1] from <paramref name="seed"/>) and
    /// returns the largest output difference and the step it occurred at; fails on a NaN in <paramref name="candidate"/>.
    /// </summary>
    public static (double Worst, int Step) MaxDifference(NeuralNetwork baseline, NeuralNetwork candidate, int steps, int seed, string what)
    {
        var rng = new Random(seed);
        var x = new float[baseline.Sizes.InputSize];
        double worst = 0;
        int worstStep = -1;
        for (int s = 0; s < steps; s++)
        {
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var a = baseline.Step(x).ToArray();
            var b = candidate.Step(x).ToArray();
            for (int i = 0; i < a.Length; i++)
            {
                Assert.False(float.IsNaN(b[i]), $"{what}: output {i} is NaN at step {s}");
                double d = Math.Abs(a[i] - b[i]);
                if (d > worst) { worst = d; worstStep = s; }
            }
        }
        return (worst, worstStep);
    }
}
