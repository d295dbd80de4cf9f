using System.Runtime.InteropServices;

namespace NeuralJit.Jit;

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
        nint p;
        if (OperatingSystem.IsWindows())
        {
            p = Native.VirtualAlloc(0, (nuint)size, Native.MEM_COMMIT | Native.MEM_RESERVE, Native.PAGE_READWRITE);
            if (p == 0) throw new ExecutableMemoryException($"VirtualAlloc of {size} bytes failed (error {Marshal.GetLastPInvokeError()}).");
        }
        else
        {
            int flags = Native.MAP_PRIVATE | (OperatingSystem.IsMacOS() ? Native.MAP_ANON_MAC : Native.MAP_ANONYMOUS_LINUX);
            p = Native.mmap(0, (nuint)size, Native.PROT_READ | Native.PROT_WRITE, flags, -1, 0);
            if (p == -1) throw new ExecutableMemoryException($"mmap of {size} bytes failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        return new ExecutableMemory(p, size);
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
        if (OperatingSystem.IsWindows())
        {
            if (!Native.VirtualProtect(_address, (nuint)Size, Native.PAGE_EXECUTE_READ, out _))
                throw new ExecutableMemoryException($"VirtualProtect to read-execute failed (error {Marshal.GetLastPInvokeError()}).");
            Native.FlushInstructionCache(Native.GetCurrentProcess(), _address, (nuint)Size);
        }
        else if (Native.mprotect(_address, (nuint)Size, Native.PROT_READ | Native.PROT_EXEC) != 0)
        {
            throw new ExecutableMemoryException($"mprotect to read-execute failed (errno {Marshal.GetLastPInvokeError()}): the OS forbids executable memory here.");
        }
        IsSealed = true; // x86 keeps instruction fetch coherent with stores; no explicit flush needed on Unix.
    }

    public void Dispose()
    {
        nint p = Interlocked.Exchange(ref _address, 0);
        if (p == 0) return;
        if (OperatingSystem.IsWindows()) Native.VirtualFree(p, 0, Native.MEM_RELEASE);
        else Native.munmap(p, (nuint)Size);
    }

    private static class Native
    {
        public const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
        public const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS_LINUX = 0x20, MAP_ANON_MAC = 0x1000;
        public const uint MEM_COMMIT = 0x1000, MEM_RESERVE = 0x2000, MEM_RELEASE = 0x8000;
        public const uint PAGE_READWRITE = 0x04, PAGE_EXECUTE_READ = 0x20;

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

/// <summary>The OS refused to map or protect executable memory; callers fall back to the managed tier.</summary>
public sealed class ExecutableMemoryException(string message) : Exception(message);
