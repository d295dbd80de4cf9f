using System.Runtime.InteropServices;

namespace NeuralJit.Ops;

/// <summary>
/// A float array in native memory, 64-byte aligned (one cache line, one zmm), whose address never
/// moves: what kernels get pointers to. Freed on dispose or, as a last resort, by the finalizer.
/// </summary>
public sealed unsafe class AlignedBuffer : IDisposable
{
    public const int Alignment = 64;
    private float* _p;

    public AlignedBuffer(int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "Length must not be negative.");
        Length = length;
        // Always allocate at least one line so Pointer is never null, even for length 0.
        nuint bytes = (nuint)Math.Max(Alignment, ((long)length * sizeof(float) + Alignment - 1) / Alignment * Alignment);
        _p = (float*)NativeMemory.AlignedAlloc(bytes, Alignment);
        NativeMemory.Clear(_p, bytes);
        GC.AddMemoryPressure((long)bytes);
        _bytes = (long)bytes;
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
        NativeMemory.AlignedFree(_p);
        _p = null;
        GC.RemoveMemoryPressure(_bytes);
    }
}
