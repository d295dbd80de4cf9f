using System.Runtime.CompilerServices;

namespace NeuralJit.Models;

/// <summary>
/// Runs a tiny LSTM + DNC network (every op of a model's step, profiled) once per process on a pool thread, so
/// that the managed kernels' optimised code (they are all AggressiveOptimization: no tier-0 phase) is compiled
/// before a user's first step instead of during it. The steps also give the IL-only System.Numerics.Tensors
/// methods the softmax uses the calls that let tiered compilation promote them.
/// </summary>
internal static class ManagedTierWarmUp
{
    private static int s_started;

    /// <summary>Starts the warm-up on first call; later calls (the module's import, every engine's constructor) do nothing.</summary>
    public static void StartInBackground()
    {
        if (Interlocked.Exchange(ref s_started, 1) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static _ => Run(), null);
    }

    private static void Run()
    {
        try
        {
            // The profiler's clock first (its calibration and overhead measurement, tens of ms on a loaded machine):
            // a user's first profiled step would otherwise wait for it.
            RuntimeHelpers.RunClassConstructor(typeof(Profiling.CycleClock).TypeHandle);
            using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
            // Sizes past 8 vectors of 16 floats (N = 160) with tails (W = 20, H = 20): the library's unrolled loops and
            // every remainder path are compiled too, not only the short-span ones (N = 256 measured 46 ms on its first step otherwise).
            var sizes = new NetworkSizes(3, 20, 2, Layers: 2) { MemorySlots = 160, MemoryWidth = 20, ReadHeads = 2 };
            using var net = NeuralNetwork.CreateRandom(engine, sizes, seed: 1);
            float[] x = [0.5f, -0.25f, 1f];
            for (int i = 0; i < 40; i++) net.Step(x); // ≥ 30 calls: tiered compilation's threshold for what is not ours
        }
        catch (Exception)
        {
            // Only a head start, on a pool thread where an escaping exception would end the process: the user's
            // first step compiles whatever this did not.
        }
    }
}
