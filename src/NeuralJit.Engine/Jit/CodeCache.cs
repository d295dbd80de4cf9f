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
    public bool TryInstall(AssembledKernel kernel, out nint entry, out string? failure)
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
                failure = $"code cache full: {bytes.Length} bytes needed, {Math.Max(0, CapacityBytes - offset)} of {CapacityBytes} free ({_kernels} kernels)";
                return false;
            }
            bytes.CopyTo(new Span<byte>((void*)(_rw + offset), bytes.Length));
            if (Mode == CodeCacheMode.PageFlip && !Native.Protect(_rw + offset, end - offset, executable: true, out string? error))
            {
                // The pages stay read-write and unused; account them so they are never handed out twice.
                _used = end;
                failure = $"the OS refused to make JIT code executable ({error})";
                return false;
            }
            _used = end;
            _kernels++;
            entry = _rx + offset + kernel.EntryOffset;
            failure = null;
            return true;
        }
    }

    private bool TryDualMap()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            int fd = Native.memfd_create("neuraljit-code", Native.MFD_CLOEXEC);
            if (fd < 0) return false;
            if (Native.ftruncate(fd, CapacityBytes) != 0) { Native.close(fd); return false; }
            nint rw = Native.mmap(0, (nuint)CapacityBytes, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, fd, 0);
            if (rw == -1) { Native.close(fd); return false; }
            nint rx = Native.mmap(0, (nuint)CapacityBytes, Native.PROT_READ | Native.PROT_EXEC, Native.MAP_SHARED, fd, 0);
            if (rx == -1) { Native.munmap(rw, (nuint)CapacityBytes); Native.close(fd); return false; }
            _fd = fd; _rw = rw; _rx = rx;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private void MapPageFlip()
    {
        nint p;
        if (OperatingSystem.IsWindows())
        {
            p = Native.VirtualAlloc(0, (nuint)CapacityBytes, Native.MEM_COMMIT | Native.MEM_RESERVE, Native.PAGE_READWRITE);
            if (p == 0) throw new ExecutableMemoryException($"VirtualAlloc of {CapacityBytes} bytes failed (error {Marshal.GetLastPInvokeError()}).");
        }
        else
        {
            int flags = Native.MAP_PRIVATE | (OperatingSystem.IsMacOS() ? Native.MAP_ANON_MAC : Native.MAP_ANONYMOUS_LINUX);
            p = Native.mmap(0, (nuint)CapacityBytes, Native.PROT_READ | Native.PROT_WRITE, flags, -1, 0);
            if (p == -1) throw new ExecutableMemoryException($"mmap of {CapacityBytes} bytes failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        _rw = _rx = p;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (OperatingSystem.IsWindows()) { if (_rw != 0) Native.VirtualFree(_rw, 0, Native.MEM_RELEASE); }
            else
            {
                if (_rx != 0 && _rx != _rw) Native.munmap(_rx, (nuint)CapacityBytes);
                if (_rw != 0) Native.munmap(_rw, (nuint)CapacityBytes);
                if (_fd >= 0) Native.close(_fd);
            }
            _rw = _rx = 0;
            _fd = -1;
        }
    }

    public override string ToString() => $"{Mode} {UsedBytes}/{CapacityBytes} bytes, {KernelCount} kernels";

    private static class Native
    {
        public const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
        public const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS_LINUX = 0x20, MAP_ANON_MAC = 0x1000;
        public const uint MFD_CLOEXEC = 1;
        public const uint MEM_COMMIT = 0x1000, MEM_RESERVE = 0x2000, MEM_RELEASE = 0x8000;
        public const uint PAGE_READWRITE = 0x04, PAGE_EXECUTE_READ = 0x20;

        public static bool Protect(nint p, int bytes, bool executable, out string? error)
        {
            error = null;
            if (OperatingSystem.IsWindows())
            {
                if (VirtualProtect(p, (nuint)bytes, executable ? PAGE_EXECUTE_READ : PAGE_READWRITE, out _))
                {
                    FlushInstructionCache(GetCurrentProcess(), p, (nuint)bytes);
                    return true;
                }
                error = $"VirtualProtect error {Marshal.GetLastPInvokeError()}";
                return false;
            }
            if (mprotect(p, (nuint)bytes, executable ? PROT_READ | PROT_EXEC : PROT_READ | PROT_WRITE) == 0) return true;
            error = $"mprotect errno {Marshal.GetLastPInvokeError()}";
            return false;
        }

        [DllImport("libc", SetLastError = true)] public static extern int memfd_create([MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint flags);
        [DllImport("libc", SetLastError = true)] public static extern int ftruncate(int fd, long length);
        [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
        [DllImport("libc", SetLastError = true)] public static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
        [DllImport("libc", SetLastError = true)] public static extern int mprotect(nint addr, nuint length, int prot);
        [DllImport("libc", SetLastError = true)] public static extern int munmap(nint addr, nuint length);
        [DllImport("kernel32", SetLastError = true)] public static extern nint VirtualAlloc(nint addr, nuint size, uint type, uint protect);
        [DllImport("kernel32", SetLastError = true)] public static extern bool VirtualProtect(nint addr, nuint size, uint protect, out uint old);
        [DllImport("kernel32", SetLastError = true)] public static extern bool VirtualFree(nint addr, nuint size, uint type);
        [DllImport("kernel32")] public static extern bool FlushInstructionCache(nint process, nint addr, nuint size);
        [DllImport("kernel32")] public static extern nint GetCurrentProcess();
    }
}
