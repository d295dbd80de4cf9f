using NeuralJit.Ops;
using NeuralJit.Profiling;

namespace NeuralJit.Engine.Tests;

public class ProfileTableTests
{
    [Fact]
    public void DefaultTableIs16KBucketsOf8WaysAndReportsItsRealSize()
    {
        var t = new ProfileTable();
        Assert.Equal(16_384, t.Buckets);
        Assert.Equal(8, ProfileTable.Ways);
        // 8-byte tag per way (1 MiB: one 64-byte line a bucket) + one reference per way.
        Assert.Equal(16_384L * 8 * 8 + 16_384L * 8 * IntPtr.Size, t.TableBytes);
    }

    [Fact]
    public void KeysBeyondEightWaysOfABucketGoToOverflowAndAreNeverDropped()
    {
        using var engine = new NeuralEngine(table: new ProfileTable(buckets: 4, hash: _ => 42)); // every key collides
        var slots = Enumerable.Range(1, 20).Select(n => engine.Resolve(OpKind.Relu, OpShape.Vector(n))).ToList();
        Assert.Equal(20, engine.Profile.Count);
        Assert.Equal(12, engine.Profile.OverflowKeys);
        for (int n = 1; n <= 20; n++) Assert.Same(slots[n - 1], engine.Resolve(OpKind.Relu, OpShape.Vector(n)));
    }

    [Fact]
    public unsafe void ConcurrentCallsFromManyThreadsAreCountedExactly()
    {
        using var engine = new NeuralEngine();
        var slot = engine.Resolve(OpKind.Relu, OpShape.Vector(4));
        const int threads = 8, calls = 50_000;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            float* x = stackalloc float[4];
            KernelArgs a = default;
            a.A = x; a.C = x;
            for (int i = 0; i < calls; i++) slot.Invoke(&a);
        });
        Assert.Equal((long)threads * calls, slot.Snapshot().Calls);
    }
}
