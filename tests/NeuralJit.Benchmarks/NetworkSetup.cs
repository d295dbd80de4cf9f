using System.Diagnostics;
using NeuralJit.Models;

namespace NeuralJit.Benchmarks;

/// <summary>
/// What a call costs before its first step: a network built by copying the weights (what every
/// Invoke-NeuralInference -Model call did before models shared one layout) against one built over the
/// model's shared weights (state only), interleaved, with one managed step beside them for scale.
/// </summary>
internal static class NetworkSetup
{
    /// <summary>The models whose per-call costs the app prints: the LSTM and the three LSTM + DNC sizes of the issue.</summary>
    internal static readonly NetworkSizes[] Models =
    [
        new NetworkSizes(64, 128, 10),
        new NetworkSizes(32, 64, 10) { MemorySlots = 64, MemoryWidth = 16, ReadHeads = 2 },
        new NetworkSizes(64, 128, 10) { MemorySlots = 256, MemoryWidth = 64, ReadHeads = 4 },
        new NetworkSizes(64, 128, 10) { MemorySlots = 1024, MemoryWidth = 64, ReadHeads = 4 },
    ];

    public static void Print()
    {
        Console.WriteLine();
        Console.WriteLine("Network setup per call (µs, medians of 200 interleaved rounds; managed tier, profiling on):");
        Console.WriteLine($"  {"model",-54} {"copy weights",13} {"shared weights",15} {"one step",9} {"weights KiB",12} {"state KiB",10}");
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        foreach (var sizes in Models)
        {
            var model = NeuralModel.Create(sizes, 42);
            var parameters = model.TensorNames.ToDictionary(n => n, n => model.GetParameter(n)!);
            var x = new float[sizes.InputSize];
            const int rounds = 200;
            double[] copy = new double[rounds], shared = new double[rounds], step = new double[rounds];
            long stateBytes = 0;
            for (int r = -20; r < rounds; r++) // 20 rounds of warm-up, then measured
            {
                long t0 = Stopwatch.GetTimestamp();
                using (var n = new NeuralNetwork(engine, sizes, parameters)) { }
                long t1 = Stopwatch.GetTimestamp();
                using (var n = model.CreateNetwork(engine)) { stateBytes = n.StateBytes; }
                long t2 = Stopwatch.GetTimestamp();
                using var net = model.CreateNetwork(engine);
                long t3 = Stopwatch.GetTimestamp();
                net.Step(x);
                long t4 = Stopwatch.GetTimestamp();
                if (r < 0) continue;
                copy[r] = Us(t1 - t0);
                shared[r] = Us(t2 - t1);
                step[r] = Us(t4 - t3);
            }
            Console.WriteLine($"  {sizes,-54} {Median(copy),13:N1} {Median(shared),15:N1} {Median(step),9:N1} {model.Weights.Bytes / 1024.0,12:N1} {stateBytes / 1024.0,10:N1}");
        }
        Console.WriteLine("  copy weights = new NeuralNetwork(engine, sizes, parameters) + Dispose; shared weights = model.CreateNetwork(engine) + Dispose.");
    }

    internal static double Us(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    internal static double Median(double[] a)
    {
        var s = (double[])a.Clone();
        Array.Sort(s);
        return s[s.Length / 2];
    }
}
