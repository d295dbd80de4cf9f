using NeuralJit.Benchmarking;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>Sizes are checked together, in 64-bit arithmetic, before anything is allocated; no size path overflows an int.</summary>
public class MemoryBudgetTests
{
    [Theory]
    [InlineData(7, 13, 5, 1, 0, 0, 0)]
    [InlineData(5, 11, 3, 2, 0, 0, 0)]
    [InlineData(5, 12, 3, 1, 9, 4, 2)]
    public void ParameterBytesAreTheStateDictsFloats(int input, int hidden, int output, int layers, int slots, int width, int heads)
    {
        var sizes = new NetworkSizes(input, hidden, output, layers) { MemorySlots = slots, MemoryWidth = width, ReadHeads = heads };
        long floats = NeuralNetwork.ParameterShapes(sizes).Sum(p => p.Shape.Aggregate(1L, (a, d) => a * d));
        Assert.Equal(4 * floats, MemoryBudget.NetworkBytes(sizes).ParameterBytes);
        Assert.True(MemoryBudget.NetworkBytes(sizes).StateBytes > 0);
    }

    [Fact]
    public void ADncsStateCountsItsLinkMatrix()
    {
        var small = new NetworkSizes(5, 12, 3) { MemorySlots = 9, MemoryWidth = 4, ReadHeads = 2 };
        var big = small with { MemorySlots = 16384 };
        long delta = MemoryBudget.NetworkBytes(big).StateBytes - MemoryBudget.NetworkBytes(small).StateBytes;
        Assert.True(delta >= 4L * (16384L * 16384 - 9 * 9), $"state grew by {delta} bytes; the 16384² link matrix alone is {4L * 16384 * 16384}");
        var e = Assert.Throws<MemoryBudgetException>(() => MemoryBudget.Check(big));
        Assert.Contains("16384", e.Message);
        Assert.True(e.RequiredBytes > MemoryBudget.MaxBytes);
    }

    [Theory]
    [InlineData(1, 23170, 1, 1)]       // 4H·(I+H) = 2,147,488,280 floats: an int overflow in LstmLayer before
    [InlineData(64, 32768, 10, 1)]     // 4H·(I+H) > 2³¹ as a checked int: OverflowException before
    [InlineData(64, 4096, 10, 64)]     // ≈ 34 GB of weights
    [InlineData(int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue)]
    public void OversizedNetworksAreRefusedBeforeAnyAllocation(int input, int hidden, int output, int layers)
    {
        var sizes = new NetworkSizes(input, hidden, output, layers);
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MemoryBudgetException>(() => NeuralNetwork.CreateRandom(engine, sizes, 1));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the refusal allocated the network first");
        Assert.Contains(sizes.ToString(), e.Message);
        Assert.Contains("bytes", e.Message);
        Assert.Equal(MemoryBudget.MaxBytes, e.LimitBytes);
    }

    [Fact]
    public void ANetworkUnderTheCapIsBuilt()
    {
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var net = NeuralNetwork.CreateRandom(engine, new NetworkSizes(64, 128, 10), 1);
        Assert.Equal(10, net.Step(new float[64]).Length);
    }

    [Theory]
    [InlineData(OpKind.EwcPenalty, "65536x65536")]
    [InlineData(OpKind.Gemm, "50000x50000x50000")]
    [InlineData(OpKind.Gemv, "2147483647x2")]
    [InlineData(OpKind.LstmGates, "8x2147483646")]
    [InlineData(OpKind.DncLinkUpdate, "50000x50000")]
    public void ShapesWhoseOperandsPassTwoToTheThirtyOneFloatsAreInvalid(OpKind op, string dims)
    {
        var key = OpKey.Parse(op, dims);
        var e = Assert.ThrowsAny<ArgumentException>(() => NeuralEngine.ValidateShape(key.Op, key.Shape));
        Assert.Contains("floats", e.Message);
    }

    [Fact]
    public void TheLargestIndexableOperandIsValid() =>
        NeuralEngine.ValidateShape(OpKind.EwcPenalty, OpKey.Parse(OpKind.EwcPenalty, "46340x46340").Shape);

    [Theory]
    [InlineData(OpKind.Relu, "2147483647")]
    [InlineData(OpKind.Gemm, "8192x8192x8192")]
    public void BenchmarkOperandsOverTheCapAreRefusedByTheWorkload(OpKind op, string dims)
    {
        var key = OpKey.Parse(op, dims);
        Assert.True(MemoryBudget.OperandBytes(key) > MemoryBudget.MaxBytes);
        var e = Assert.Throws<MemoryBudgetException>(() => new OpWorkload(key));
        Assert.Contains(key.ToString(), e.Message);
    }

    [Fact]
    public void OperandBytesCountInputsOnceAndOutputsPerSide()
    {
        // Gemm 4x5x6: A 4×6, B 6×5 shared; C 4×5 as the start values and one copy per side.
        Assert.Equal(4L * (24 + 30 + 3 * 20), MemoryBudget.OperandBytes(OpKey.Parse(OpKind.Gemm, "4x5x6")));
    }

    [Theory]
    [InlineData(7, 13, 5, 1, 0, 0, 0)]
    [InlineData(6, 10, 3, 2, 0, 0, 0)]
    [InlineData(5, 12, 3, 1, 37, 9, 3)]
    [InlineData(4, 16, 2, 2, 64, 16, 2)]
    public void StepFlopsAreWhatTheProfiledOpsOfAStepCost(int input, int hidden, int output, int layers, int slots, int width, int heads)
    {
        var sizes = new NetworkSizes(input, hidden, output, layers) { MemorySlots = slots, MemoryWidth = width, ReadHeads = heads };
        using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false });
        using var net = NeuralNetwork.CreateRandom(engine, sizes, seed: 3);
        const int Steps = 5;
        var x = new float[input];
        for (int t = 0; t < Steps; t++) net.Step(x);
        double profiled = engine.Profile.Slots.Sum(slot => slot.Snapshot().Calls * slot.Key.Spec.Flops(slot.Key.Shape)) / Steps;
        Assert.Equal(profiled, MemoryBudget.StepFlops(sizes), profiled * 1e-9);
    }

    [Fact]
    public void AStepTooCostlyToStopWithinASecondIsRefusedThoughItsBytesFit()
    {
        var sizes = new NetworkSizes(8, 8, 2) { MemorySlots = 8192, MemoryWidth = 8, ReadHeads = 64 };
        var (parameters, state) = MemoryBudget.NetworkBytes(sizes);
        Assert.True(parameters + state < MemoryBudget.MaxBytes, "the bytes fit: the step's cost refuses it");
        var e = Assert.Throws<MemoryBudgetException>(() => MemoryBudget.Check(sizes));
        Assert.True(e.StepFlops > MemoryBudget.MaxStepFlops);
        Assert.Contains("GFLOP", e.Message);
        // The sizes the benchmark's scaling curve runs pass.
        MemoryBudget.Check(new NetworkSizes(64, 128, 10) { MemorySlots = 4096, MemoryWidth = 64, ReadHeads = 4 });
    }
}
