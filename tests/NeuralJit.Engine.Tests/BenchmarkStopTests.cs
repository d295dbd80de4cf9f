using System.Diagnostics;
using NeuralJit.Benchmarking;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// A benchmark stops within a second of its cancellation at every phase: batches are sized by time (never by a
/// call count alone), a call count that would outlast the time limit is refused up front, and a long managed call
/// (scalar GEMM 1024³: seconds) is split into panels of rows with a stop check between them, bit-identically.
/// </summary>
public class BenchmarkStopTests
{
    /// <summary>A call that takes <paramref name="ns"/> nanoseconds of busy time.</summary>
    private sealed class Spin(double ns) : IBenchmarkSubject
    {
        private readonly long _ticks = Math.Max(1, (long)(ns * Stopwatch.Frequency / 1e9));
        public void Run(long calls)
        {
            for (long i = 0; i < calls; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                while (Stopwatch.GetTimestamp() - t0 < _ticks) { }
            }
        }
    }

    private static double SecondsToStop(Action run, int cancelAfterMs, CancellationTokenSource cts)
    {
        var task = Task.Run(run);
        Thread.Sleep(cancelAfterMs);
        Assert.False(task.IsCompleted, "the run ended before the stop request: the test measures nothing");
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        var ex = Assert.ThrowsAny<Exception>(() => task.Wait(TimeSpan.FromSeconds(60)));
        Assert.IsAssignableFrom<OperationCanceledException>(ex is AggregateException a ? a.InnerException : ex);
        return sw.Elapsed.TotalSeconds;
    }

    [Fact]
    public void ACallCountOverTheTimeLimitIsRefusedBeforeTheRounds()
    {
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            SideBySideRunner.Measure(new Spin(1000), new Spin(1000), new BenchmarkBudget(TimeSpan.FromSeconds(600), 1_000_000_000_000_000)));
        Assert.Contains("would take about", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"refusing took {sw.Elapsed}");
    }

    [Fact]
    public void AHugeCallCountStillStopsBetweenTimeSizedBatches()
    {
        // 10¹¹ calls of 1 µs per side fit a one-week limit; split into 20,000 rounds that was 5·10⁶ calls (5 s) a batch.
        using var cts = new CancellationTokenSource();
        double s = SecondsToStop(() => SideBySideRunner.Measure(new Spin(1000), new Spin(1000),
            new BenchmarkBudget(TimeSpan.FromDays(7), 100_000_000_000), cts.Token), 500, cts);
        Assert.True(s < 1.0, $"stopped {s:F3} s after the request");
    }

    [Theory]
    [InlineData(10_000_000, 3, 500)]     // stopped in the warm-up (3 × 2 batches of 5·10⁶ steps)
    [InlineData(200, 100_000, 1500)]     // stopped in the rounds
    public void TheProfilerOverheadMeasurementStopsInEveryPhase(int steps, int rounds, int cancelAfterMs)
    {
        using var cts = new CancellationTokenSource();
        double s = SecondsToStop(() => ProfilerOverhead.Measure(steps, rounds, cancel: cts.Token), cancelAfterMs, cts);
        Assert.True(s < 1.0, $"stopped {s:F3} s after the request");
    }

    [Fact]
    public void AnExactCallCountIsMadeOnBothSides()
    {
        var m = SideBySideRunner.Measure(new Spin(50_000), new Spin(20_000), new BenchmarkBudget(TimeSpan.FromSeconds(600), 37));
        Assert.Equal((37L, 37L), (m.BaselineCalls, m.CandidateCalls));
    }

    [Fact]
    public unsafe void ALongScalarCallStopsBetweenPanels()
    {
        using var w = new OpWorkload(OpKey.Parse(OpKind.Gemm, "1024x1024x1024"));
        var side = w.CreateManaged(KernelTier.Scalar);
        using var cts = new CancellationTokenSource();
        w.Cancellation = cts.Token;
        double s = SecondsToStop(() => side.Run(1), 300, cts);
        Assert.True(s < 1.0, $"stopped {s:F3} s after the request");
    }

    [Theory]
    [InlineData(OpKind.Gemm, "256x512x300", KernelTier.Scalar)]
    [InlineData(OpKind.Gemm, "256x512x300", KernelTier.ManagedSimd)]
    [InlineData(OpKind.Dense, "8200x4100", KernelTier.Scalar)]
    [InlineData(OpKind.LstmGates, "8192x4100", KernelTier.ManagedSimd)]
    [InlineData(OpKind.CosineSimilarity, "8200x4100", KernelTier.Scalar)]
    public unsafe void PanelsGiveTheSameBitsAsOneCall(OpKind op, string dims, KernelTier tier)
    {
        var key = OpKey.Parse(op, dims);
        using var w = new OpWorkload(key);
        var panels = w.CreateManaged(tier);
        nint fn = (nint)ManagedKernels.Get(op, tier);
        var shape = key.Shape;
        var whole = w.CreateCustom((side, calls) =>
        {
            for (long i = 0; i < calls; i++) ((delegate*<in OpShape, KernelArgs*, void>)fn)(in shape, side.Args);
        });
        panels.ResetOutputs(); whole.ResetOutputs();
        panels.Run(1); whole.Run(1);
        // LstmGates: the gates (E) are what panels split; the managed side then runs the cell, which the plain call does not.
        IEnumerable<OperandField> outputs = op == OpKind.LstmGates ? [OperandField.E] : w.Outputs;
        foreach (var f in outputs)
        {
            var a = panels.Span(f).ToArray(); var b = whole.Span(f).ToArray();
            for (int i = 0; i < a.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(a[i]) == BitConverter.SingleToInt32Bits(b[i]), $"{key} {tier} {f}[{i}]: panels {a[i]}, one call {b[i]}");
        }
    }
}
