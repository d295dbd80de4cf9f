using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.MatrixKernels;

public class JitNetworkTests
{
    /// <summary>
    /// The same network (2 LSTM layers 64→128→128 and a 128→10 head, same seed) on the managed tier and with
    /// JIT kernels in its LstmStep (fused gates and cell) and Dense slots gives the same outputs over 400 steps within
    /// 1e-5 absolute (measured: 2.6e-8 in both ISAs). Per-step differences (summation order, the ~1.5e-7 σ/tanh
    /// error) feed back through h and c; the gates keep them bounded instead of growing.
    /// </summary>
    [Theory]
    [MemberData(nameof(JitTestEngine.Isas), MemberType = typeof(JitTestEngine))]
    public void JitNetworkMatchesManagedNetworkOverManySteps(JitIsa isa)
    {
        const int steps = 400;
        const double tolerance = 1e-5;
        var sizes = new NetworkSizes(64, 128, 10, Layers: 2);
        using var managedEngine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var jitEngine = new NeuralEngine(new EngineOptions { JitEnabled = false, IsaCap = isa, SynchronousCompilation = true, CodeCacheBytes = 1 << 20 });
        using var managed = NeuralNetwork.CreateRandom(managedEngine, sizes, seed: 11);
        using var jit = NeuralNetwork.CreateRandom(jitEngine, sizes, seed: 11);

        int installed = 0;
        foreach (var key in new[] { new OpKey(OpKind.LstmStep, new OpShape(512, 64, 128)), new OpKey(OpKind.LstmStep, new OpShape(512, 128, 128)), new OpKey(OpKind.Dense, OpShape.Matrix(10, 128)) })
        {
            var slot = jitEngine.Resolve(key.Op, key.Shape);
            var kernel = jitEngine.Promotion.CompileAndInstall(slot);
            Assert.NotNull(kernel);
            Assert.Equal(isa, kernel!.Isa);
            Assert.Equal(KernelTier.Jit, slot.Tier);
            installed++;
        }
        Assert.Equal(3, installed);

        var (worst, worstStep) = NetworkLockstep.MaxDifference(managed, jit, steps, seed: 5, isa.ToString());
        Assert.True(worst <= tolerance, $"{isa}: JIT and managed networks differ by {worst:G3} at step {worstStep} (tolerance {tolerance})");
        // Every step is one call of each layer's LstmStep slot, whichever tier runs it.
        Assert.Equal(steps, jitEngine.Resolve(OpKind.LstmStep, new OpShape(512, 64, 128)).Snapshot().Calls);
        Assert.Equal(steps, managedEngine.Resolve(OpKind.LstmStep, new OpShape(512, 64, 128)).Snapshot().Calls);
    }
}
