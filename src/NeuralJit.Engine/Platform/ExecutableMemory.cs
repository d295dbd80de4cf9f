namespace NeuralJit.Platform;

/// <summary>
/// Page-granular memory that is never writable and executable at once (W^X): it is mapped
/// read-write, filled, then flipped to read-execute with <see cref="Seal"/>. Linux/macOS use
/// mmap/mprotect, Windows VirtualAlloc/VirtualProtect. Bookkeeping lives in this managed object,
/// never in the executable pages. Disposing unmaps the pages: the owner must make sure no thread
/// can still be running code in them.
/// </summary>
public sealed unsafe class ExecutableMemory : IDisposable
{
    private nint _address;

    public nint Address => _address;
    public int Size { get; }
    public bool IsSealed { get; private set; }

    private ExecutableMemory(nint address, int size)
    {
        _address = address;
        Size = size;
    }

    public static int PageSize { get; } = Environment.SystemPageSize;

    /// <summary>Maps <paramref name="bytes"/> (rounded up to pages) read-write.</summary>
    /// <exception cref="ExecutableMemoryException">The OS refused the mapping.</exception>
    public static ExecutableMemory Allocate(int bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "Size must be positive.");
        int size = checked((bytes + PageSize - 1) / PageSize * PageSize);
        return new ExecutableMemory(VirtualMemory.MapReadWrite(size), size);
    }

    /// <summary>The writable view, valid until <see cref="Seal"/>.</summary>
    public Span<byte> WritableSpan
    {
        get
        {
            if (IsSealed) throw new InvalidOperationException("The memory is sealed read-execute; it can no longer be written.");
            ObjectDisposedException.ThrowIf(_address == 0, this);
            return new Span<byte>((void*)_address, Size);
        }
    }

    /// <summary>Flips the pages from read-write to read-execute (never both at once).</summary>
    /// <exception cref="ExecutableMemoryException">The OS refused (SELinux execmem, PaX MPROTECT, hardened runtime).</exception>
    public void Seal()
    {
        ObjectDisposedException.ThrowIf(_address == 0, this);
        if (IsSealed) return;
        if (!VirtualMemory.TryProtect(_address, Size, executable: true, out string? error))
            throw new ExecutableMemoryException($"Flipping to read-execute failed ({error}): the OS forbids executable memory here.");
        IsSealed = true;
    }

    public void Dispose()
    {
        nint p = Interlocked.Exchange(ref _address, 0);
        if (p == 0) return;
        VirtualMemory.Unmap(p, Size);
    }
}

/// <summary>The OS refused to map or protect executable memory; callers fall back to the managed tier.</summary>
public sealed class ExecutableMemoryException(string message) : Exception(message);
