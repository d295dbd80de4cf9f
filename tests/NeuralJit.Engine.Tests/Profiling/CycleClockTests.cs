using NeuralJit.Engine.Tests.Support;
using NeuralJit.Platform;
using System.Diagnostics;
using NeuralJit.Jit;
using NeuralJit.Profiling;

namespace NeuralJit.Engine.Tests.Profiling;

public class CycleClockTests
{
    [Fact]
    public void OnX64TheSourceIsTheFencedTscAndItsFrequencyIsPlausible()
    {
        if (CpuFeatures.IsX64)
        {
            Assert.StartsWith("TSC", CycleClock.Source);
            Assert.Contains("lfence", CycleClock.Source);
            // Invariant TSCs tick at a reference clock between a few hundred MHz and ~6 GHz.
            Assert.InRange(CycleClock.Frequency, 2e8, 7e9);
        }
        else
        {
            Assert.Equal("Stopwatch", CycleClock.Source);
            Assert.Equal(Stopwatch.Frequency, CycleClock.Frequency);
        }
    }

    [Fact]
    public void FrequencyAgreesWithTheStopwatchOverAFreshInterval()
    {
        // Bracket each TSC read between two Stopwatch reads and keep the tightest bracket, so preemption cannot skew it.
        (long sw, long tsc) Sample()
        {
            long bestWidth = long.MaxValue, sw = 0, tsc = 0;
            for (int i = 0; i < 200; i++)
            {
                long a = Stopwatch.GetTimestamp(), t = CycleClock.Read(), b = Stopwatch.GetTimestamp();
                if (b - a < bestWidth) { bestWidth = b - a; sw = (a + b) / 2; tsc = t; }
            }
            return (sw, tsc);
        }
        var s0 = Sample();
        Thread.Sleep(60);
        var s1 = Sample();
        double measured = (s1.tsc - s0.tsc) / ((double)(s1.sw - s0.sw) / Stopwatch.Frequency);
        Assert.InRange(measured / CycleClock.Frequency, 0.98, 1.02);
    }

    [Fact]
    public void ReadsAreMonotonicOnOneThreadAndTheEndReadFollowsTheStart()
    {
        long prev = CycleClock.Read();
        for (int i = 0; i < 100_000; i++)
        {
            long t = (i & 1) == 0 ? CycleClock.Read() : CycleClock.ReadEnd();
            Assert.True(t >= prev, $"clock went back from {prev} to {t} at read {i}");
            prev = t;
        }
    }

    [Fact]
    public void TrustFlagFollowsInvariantTscAndAgreeingCalibrations()
    {
        Assert.False(string.IsNullOrWhiteSpace(CycleClock.TrustReason));
        if (CycleClock.Source.StartsWith("TSC", StringComparison.Ordinal))
        {
            bool agree = CycleClock.TrustReason.Contains("calibrations agree");
            Assert.Equal(CpuFeatures.InvariantTsc && agree, CycleClock.IsTrusted);
            Assert.Equal(CpuFeatures.InvariantTsc, !CycleClock.TrustReason.Contains("not invariant"));
        }
        else Assert.StartsWith("fallback", CycleClock.TrustReason);
    }

    [Fact]
    public void OverheadFiguresAreConsistent()
    {
        // The bias of an empty region is at most what timing a call costs, and never negative.
        Assert.InRange(CycleClock.ReadOverheadTicks, 0, CycleClock.PairCostTicks * 4);
        Assert.True(CycleClock.PairCostTicks >= 1);
        Assert.True(OpSlot.SampleCostTicks >= 2 * CycleClock.PairCostTicks, "a timed call costs at least its two fenced reads");
    }

    [Theory]
    [InlineData("start", "lfence|rdtsc|lfence|shl rdx,20h|or rax,rdx|ret")]
    [InlineData("end", "lfence|rdtsc|shl rdx,20h|or rax,rdx|ret")]
    public void TheStubsBytesDecodeToTheirFencedReads(string stub, string expected)
    {
        var code = stub == "start" ? TimestampCounter.StartCode : TimestampCounter.EndCode;
        Assert.True(code.Length <= TimestampCounter.EndOffset, "each stub fits its half cache line");
        Assert.Equal(expected, StubListing.Of(code, stub));
    }
}
