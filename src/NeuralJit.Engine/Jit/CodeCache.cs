using System.Runtime.InteropServices;

namespace NeuralJit.Jit;

/// <summary>How the code cache keeps W^X.</summary>
public enum CodeCacheMode
{
    /// <summary>Pick <see cref="DualMapping"/> where the OS allows it, else <see cref="PageFlip"/>.</summary>
    Auto,
    /// <summary>
    /// Linux: one memfd mapped twice, a read-write view the JIT writes through and a read-execute view
    /// kernels run from (asmjit's dual mapping). No page is ever writable and executable, no mprotect or
    /// mmap per kernel, and a page already running code is never re-protected.
    /// </summary>
    DualMapping,
    /// <summary>
    /// Everywhere else: one region mapped read-write up front; each kernel gets pages of its own which
    /// are flipped to read-execute after writing (one mprotect/VirtualProtect per kernel). Pages holding
    /// sealed code are never written again.
    /// </summary>
    PageFlip,
}

/// <summary>
/// The bounded arena holding an engine's JIT kernels (asmjit's JitAllocator in miniature): bump
/// allocation of 64-byte-aligned blocks, bookkeeping in this managed object (never in the executable
/// pages), accounting of used and free bytes. Policy when full: nothing is evicted (a thread may be
/// running any installed kernel, and the cache cannot prove otherwise), <see cref="TryInstall"/> fails
/// with a reason and the compiler stops compiling with a warning; keys stay on the managed tier. The
/// pages are unmapped on <see cref="Dispose"/>; the owner uninstalls every kernel first.
/// </summary>
public sealed unsafe class CodeCache : IDisposable
{
    public const int Alignment = 64;
    private readonly object _gate = new();
    private nint _rw, _rx;
    private int _fd = -1;
    private int _used;
    private int _kernels;
    private bool _disposed;

    /// <summary>Maps the cache. Throws <see cref="ExecutableMemoryException"/> when the OS refuses executable memory.</summary>
    public CodeCache(int capacityBytes, CodeCacheMode mode = CodeCacheMode.Auto)
    {
        if (capacityBytes <= 0) throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "The code cache needs at least one page.");
        int page = Environment.SystemPageSize;
        CapacityBytes = checked((capacityBytes + page - 1) / page * page);
        if (mode == CodeCacheMode.Auto) mode = OperatingSystem.IsLinux() && TryDualMap() ? CodeCacheMode.DualMapping : CodeCacheMode.PageFlip;
        else if (mode == CodeCacheMode.DualMapping && !TryDualMap())
            throw new ExecutableMemoryException("Dual mapping (memfd RW + RX views) is not available on this OS.");
        if (mode == CodeCacheMode.PageFlip) MapPageFlip();
        Mode = mode;
    }

    public CodeCacheMode Mode { get; }
    public int CapacityBytes { get; }
    public int UsedBytes { get { lock (_gate) return _used; } }
    public int FreeBytes => CapacityBytes - UsedBytes;
    public int KernelCount { get { lock (_gate) return _kernels; } }
    /// <summary>Address of the executable view (where kernels run).</summary>
    public nint ExecutableBase => _rx;

    /// <summary>True when <paramref name="address"/> lies inside the executable view.</summary>
    public bool Contains(nint address) => address >= _rx && address < _rx + CapacityBytes;

    /// <summary>
    /// Copies an assembled kernel into the cache and makes it executable. Returns false (with the reason)
    /// when the cache is full or the OS refuses to flip the pages; the cache stays consistent either way.
    /// </summary>
    public bool TryInstall(AssembledKernel kernel, out nint entry, out JitFailure? failure)
    {
        entry = 0;
        var bytes = kernel.Bytes;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int granule = Mode == CodeCacheMode.PageFlip ? Environment.SystemPageSize : Alignment;
            int offset = (_used + granule - 1) / granule * granule;
            int end = Mode == CodeCacheMode.PageFlip ? (offset + bytes.Length + granule - 1) / granule * granule : offset + bytes.Length;
            if (end > CapacityBytes)
            {
                failure = new(JitFailureKind.CacheFull, $"code cache full: {bytes.Length} bytes needed, {Math.Max(0, CapacityBytes - offset)} of {CapacityBytes} free ({_kernels} kernels)");
                return false;
            }
            bytes.CopyTo(new Span<byte>((void*)(_rw + offset), bytes.Length));
            if (Mode == CodeCacheMode.PageFlip && !VirtualMemory.TryProtect(_rw + offset, end - offset, executable: true, out string? error))
            {
                // The pages stay read-write and unused; account them so they are never handed out twice.
                _used = end;
                failure = new(JitFailureKind.NoExecutableMemory, $"the OS refused to make JIT code executable ({error})");
                return false;
            }
            _used = end;
            _kernels++;
            entry = _rx + offset + kernel.EntryOffset;
            failure = null;
            return true;
        }
    }

    private bool TryDualMap() => VirtualMemory.TryMapDual(CapacityBytes, out _fd, out _rw, out _rx);

    private void MapPageFlip() => _rw = _rx = VirtualMemory.MapReadWrite(CapacityBytes);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_rx != _rw) VirtualMemory.Unmap(_rx, CapacityBytes);
            VirtualMemory.Unmap(_rw, CapacityBytes);
            VirtualMemory.CloseFile(_fd);
            _rw = _rx = 0;
            _fd = -1;
        }
    }

    public override string ToString() => $"{Mode} {UsedBytes}/{CapacityBytes} bytes, {KernelCount} kernels";
}
