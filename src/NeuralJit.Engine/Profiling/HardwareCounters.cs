using System.Runtime.InteropServices;

namespace NeuralJit.Profiling;

/// <summary>
/// A source of per-thread cache-miss and TLB-miss counts. The profiler reads it before and after a
/// measured call; where no source is available the counts stay null, never estimated.
/// </summary>
public interface IHardwareCounterSource
{
    /// <summary>True when counts can be read on this machine.</summary>
    bool IsAvailable { get; }
    /// <summary>Why the counters are or are not available, in words a user can act on.</summary>
    string Status { get; }
    /// <summary>Reads the calling thread's running totals; false if this thread's counters cannot be read.</summary>
    bool TryRead(out ulong cacheMisses, out ulong tlbMisses);
}

/// <summary>
/// Linux <c>perf_event_open</c>: last-level-cache read misses and data-TLB read misses of the calling
/// thread, user space only. Opened lazily per thread (perf events with pid 0 count one thread).
/// Where the kernel refuses (a VM without a PMU, <c>perf_event_paranoid</c> too high, not Linux), it
/// reports itself unavailable with the reason.
/// </summary>
public sealed unsafe class PerfEventCounters : IHardwareCounterSource, IDisposable
{
    private readonly ThreadLocal<(int cache, int tlb)> _fds;
    private readonly List<int> _opened = new();

    public bool IsAvailable { get; }
    public string Status { get; }

    public PerfEventCounters()
    {
        _fds = new ThreadLocal<(int, int)>(OpenForThisThread);
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            Status = "perf_event_open is Linux x86-64 only here";
            return;
        }
        var (c, t) = _fds.Value;
        if (c < 0 || t < 0)
        {
            int errno = -Math.Min(c, t);
            Status = $"perf_event_open refused (errno {errno}): no hardware PMU in this VM, or /proc/sys/kernel/perf_event_paranoid forbids it";
            return;
        }
        IsAvailable = true;
        Status = "perf_event_open: LLC read misses, dTLB read misses (user space)";
    }

    public bool TryRead(out ulong cacheMisses, out ulong tlbMisses)
    {
        cacheMisses = tlbMisses = 0;
        if (!IsAvailable) return false;
        var (c, t) = _fds.Value;
        if (c < 0 || t < 0) return false;
        ulong v;
        if (read(c, &v, 8) != 8) return false;
        cacheMisses = v;
        if (read(t, &v, 8) != 8) return false;
        tlbMisses = v;
        return true;
    }

    private (int, int) OpenForThisThread()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return (-1, -1);
        // PERF_TYPE_HW_CACHE: id | (op << 8) | (result << 16); LL = 2, DTLB = 3, OP_READ = 0, RESULT_MISS = 1.
        int cache = Open(2 | (0 << 8) | (1 << 16));
        int tlb = Open(3 | (0 << 8) | (1 << 16));
        lock (_opened) { if (cache >= 0) _opened.Add(cache); if (tlb >= 0) _opened.Add(tlb); }
        return (cache, tlb);
    }

    private static int Open(ulong config)
    {
        var attr = new PerfEventAttr { Type = 3 /* PERF_TYPE_HW_CACHE */, Size = (uint)sizeof(PerfEventAttr), Config = config, Flags = 1UL << 5 /* exclude_kernel */ | 1UL << 6 /* exclude_hv */ };
        long fd = syscall(298 /* __NR_perf_event_open */, (nint)(&attr), 0, -1, -1, 0);
        return fd >= 0 ? (int)fd : -Marshal.GetLastPInvokeError();
    }

    public void Dispose()
    {
        lock (_opened) { foreach (var fd in _opened) _ = close(fd); _opened.Clear(); }
        _fds.Dispose();
    }

    [StructLayout(LayoutKind.Sequential, Size = 128)]
    private struct PerfEventAttr
    {
        public uint Type;
        public uint Size;
        public ulong Config;
        public ulong SamplePeriod;
        public ulong SampleType;
        public ulong ReadFormat;
        public ulong Flags;
    }

    [DllImport("libc", SetLastError = true)] private static extern long syscall(long number, nint attr, int pid, int cpu, int groupFd, ulong flags);
    [DllImport("libc", SetLastError = true)] private static extern nint read(int fd, void* buf, nint count);
    [DllImport("libc")] private static extern int close(int fd);
}

/// <summary>No hardware counters: every miss count stays null.</summary>
public sealed class NoHardwareCounters(string status) : IHardwareCounterSource
{
    public bool IsAvailable => false;
    public string Status { get; } = status;
    public bool TryRead(out ulong cacheMisses, out ulong tlbMisses) { cacheMisses = tlbMisses = 0; return false; }
}
