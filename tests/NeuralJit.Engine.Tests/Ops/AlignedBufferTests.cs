using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.Ops;

public unsafe class AlignedBufferTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(4096)]
    public void ABufferIsZeroedAndCacheLineAligned(int length)
    {
        using var b = new AlignedBuffer(length);
        Assert.Equal(length, b.Length);
        Assert.Equal(0, (long)b.Pointer % AlignedBuffer.Alignment);
        Assert.All(b.ToArray(), v => Assert.Equal(0f, v));
    }

    /// <summary>A placed buffer starts at its offset in a page, and all of its length is its own (written to the last float).</summary>
    [Theory]
    [InlineData(1, 0)]
    [InlineData(1024, 64)]
    [InlineData(1024 * 1024, 3072)]
    [InlineData(5, 4032)]
    public void APlacedBufferStartsAtItsOffsetInAPage(int length, int pageOffset)
    {
        using var b = new AlignedBuffer(length, pageOffset);
        Assert.Equal(pageOffset, (long)b.Pointer % AlignedBuffer.PageBytes);
        Assert.Equal(length, b.Length);
        Assert.All(b.ToArray(), v => Assert.Equal(0f, v));
        b.Span.Fill(1f);
        Assert.Equal(length, b.ToArray().Count(v => v == 1f));
    }

    [Theory]
    [InlineData(-64)]
    [InlineData(32)]
    [InlineData(4096)]
    public void APageOffsetOutsideAPageOrOffACacheLineIsRefused(int pageOffset)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new AlignedBuffer(16, pageOffset));
        Assert.Equal("pageOffset", e.ParamName);
    }
}
