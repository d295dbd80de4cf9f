using System.Runtime.InteropServices;

namespace NeuralJit.Ops;

/// <summary>
/// A float array in native memory, 64-byte aligned (one cache line, one zmm), whose address never
/// moves: what kernels get pointers to. Freed on dispose or, as a last resort, by the finalizer.
/// </summary>
public sealed unsafe class AlignedBuffer : IDisposable
{
    public const int Alignment = 64, PageBytes = 4096;
    private float* _p;
    private void* _block;

    public AlignedBuffer(int length) : this(length, pageOffset: null)
    {
    }

    /// <summary>
    /// A buffer that starts <paramref name="pageOffset"/> bytes into a 4 KiB page (a multiple of <see cref="Alignment"/>):
    /// buffers a kernel streams side by side, placed at different offsets, keep their lines of one index out of the
    /// same L1 sets when their strides are multiples of a page.
    /// </summary>
    public AlignedBuffer(int length, int pageOffset) : this(length, (int?)pageOffset)
    {
    }

    private AlignedBuffer(int length, int? pageOffset)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "Length must not be negative.");
        if (pageOffset is int o && (o is < 0 or >= PageBytes || o % Alignment != 0))
            throw new ArgumentOutOfRangeException(nameof(pageOffset), pageOffset, $"A page offset is a multiple of {Alignment} below {PageBytes}.");
        Length = length;
        // Always allocate at least one line so Pointer is never null, even for length 0.
        nuint bytes = (nuint)Math.Max(Alignment, ((long)length * sizeof(float) + Alignment - 1) / Alignment * Alignment);
        int offset = pageOffset ?? 0;
        _block = NativeMemory.AlignedAlloc(bytes + (nuint)offset, (nuint)(pageOffset is null ? Alignment : PageBytes));
        _p = (float*)((byte*)_block + offset);
        NativeMemory.Clear(_p, bytes);
        _bytes = (long)bytes + offset;
        GC.AddMemoryPressure(_bytes);
    }

    private readonly long _bytes;

    public AlignedBuffer(ReadOnlySpan<float> data) : this(data.Length) => data.CopyTo(Span);

    public int Length { get; }

    public float* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_p == null, this);
            return _p;
        }
    }

    public Span<float> Span => new(Pointer, Length);

    public float[] ToArray() => Span.ToArray();

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~AlignedBuffer() => Free();

    private void Free()
    {
        if (_p == null) return;
        NativeMemory.AlignedFree(_block);
        _p = null;
        _block = null;
        GC.RemoveMemoryPressure(_bytes);
    }
}
