using System.Runtime.InteropServices;

namespace NeuralJit.Platform;

/// <summary>
/// The OS calls behind executable memory, in one place (asmjit's virtmem): map read-write, flip
/// protections, dual-map one memfd (a read-write view and a read-execute view of the same pages, so
/// no mapping is ever writable and executable), unmap. Linux/macOS: mmap/mprotect/memfd_create;
/// Windows: VirtualAlloc/VirtualProtect.
/// </summary>
internal static class VirtualMemory
{
    /// <summary>Maps <paramref name="bytes"/> read-write (private, anonymous).</summary>
    /// <exception cref="ExecutableMemoryException">The OS refused the mapping.</exception>
    public static nint MapReadWrite(int bytes)
    {
        if (OperatingSystem.IsWindows())
        {
            nint w = Native.VirtualAlloc(0, (nuint)bytes, Native.MEM_COMMIT | Native.MEM_RESERVE, Native.PAGE_READWRITE);
            if (w == 0) throw new ExecutableMemoryException($"VirtualAlloc of {bytes} bytes failed (error {Marshal.GetLastPInvokeError()}).");
            return w;
        }
        int flags = Native.MAP_PRIVATE | (OperatingSystem.IsMacOS() ? Native.MAP_ANON_MAC : Native.MAP_ANONYMOUS_LINUX);
        nint p = Native.mmap(0, (nuint)bytes, Native.PROT_READ | Native.PROT_WRITE, flags, -1, 0);
        if (p == -1) throw new ExecutableMemoryException($"mmap of {bytes} bytes failed (errno {Marshal.GetLastPInvokeError()}).");
        return p;
    }

    /// <summary>Sets pages to read-execute (<paramref name="executable"/>) or read-write; never both.</summary>
    public static bool TryProtect(nint p, int bytes, bool executable, out string? error)
    {
        error = null;
        if (OperatingSystem.IsWindows())
        {
            if (Native.VirtualProtect(p, (nuint)bytes, executable ? Native.PAGE_EXECUTE_READ : Native.PAGE_READWRITE, out _))
            {
                Native.FlushInstructionCache(Native.GetCurrentProcess(), p, (nuint)bytes);
                return true;
            }
            error = $"VirtualProtect error {Marshal.GetLastPInvokeError()}";
            return false;
        }
        // x86 keeps instruction fetch coherent with stores; no explicit flush is needed on Unix.
        if (Native.mprotect(p, (nuint)bytes, executable ? Native.PROT_READ | Native.PROT_EXEC : Native.PROT_READ | Native.PROT_WRITE) == 0) return true;
        error = $"mprotect errno {Marshal.GetLastPInvokeError()}";
        return false;
    }

    /// <summary>
    /// Linux only: one memfd of <paramref name="bytes"/> mapped twice, read-write at <paramref name="rw"/> and
    /// read-execute at <paramref name="rx"/>. False (and nothing left mapped) where the OS refuses.
    /// </summary>
    public static bool TryMapDual(int bytes, out int fd, out nint rw, out nint rx)
    {
        fd = -1; rw = rx = 0;
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            int f = Native.memfd_create("neuraljit-code", Native.MFD_CLOEXEC);
            if (f < 0) return false;
            if (Native.ftruncate(f, bytes) != 0) { _ = Native.close(f); return false; }
            nint w = Native.mmap(0, (nuint)bytes, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, f, 0);
            if (w == -1) { _ = Native.close(f); return false; }
            nint x = Native.mmap(0, (nuint)bytes, Native.PROT_READ | Native.PROT_EXEC, Native.MAP_SHARED, f, 0);
            if (x == -1) { _ = Native.munmap(w, (nuint)bytes); _ = Native.close(f); return false; }
            fd = f; rw = w; rx = x;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Unmaps what <see cref="MapReadWrite"/> or one view of <see cref="TryMapDual"/> returned.</summary>
    public static void Unmap(nint p, int bytes)
    {
        if (p == 0) return;
        // Releasing can only fail for an address we never mapped: nothing to do about it here.
        if (OperatingSystem.IsWindows()) _ = Native.VirtualFree(p, 0, Native.MEM_RELEASE);
        else _ = Native.munmap(p, (nuint)bytes);
    }

    /// <summary>Closes the memfd of a dual mapping.</summary>
    public static void CloseFile(int fd)
    {
        if (fd >= 0) _ = Native.close(fd);
    }

    private static class Native
    {
        public const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
        public const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS_LINUX = 0x20, MAP_ANON_MAC = 0x1000;
        public const uint MFD_CLOEXEC = 1;
        public const uint MEM_COMMIT = 0x1000, MEM_RESERVE = 0x2000, MEM_RELEASE = 0x8000;
        public const uint PAGE_READWRITE = 0x04, PAGE_EXECUTE_READ = 0x20;

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
