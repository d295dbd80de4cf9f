using System.Runtime.Intrinsics.X86;

namespace NeuralJit.Benchmarking;

/// <summary>
/// Data-cache sizes of this core, from CPUID (leaf 8000_001Dh on AMD, leaf 4 on Intel: same register
/// layout), else from Linux sysfs, else typical values; <see cref="Source"/> says which.
/// </summary>
public sealed record CacheTopology(long L1DataBytes, long L2Bytes, long L3Bytes, string Source)
{
    public static CacheTopology Detect() => FromCpuid() ?? FromAmdLegacyCpuid() ?? FromSysfs() ?? new CacheTopology(32 * 1024, 1024 * 1024, 32L * 1024 * 1024, "assumed (CPUID and sysfs give no cache sizes)");

    private static CacheTopology? FromCpuid()
    {
        if (!X86Base.IsSupported) return null;
        var (_, ebx0, ecx0, edx0) = X86Base.CpuId(0, 0);
        bool amd = ebx0 == 0x68747541; // "Auth"enticAMD
        int leaf = amd ? unchecked((int)0x8000001D) : 4;
        if (amd)
        {
            var (maxExt, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
            if ((uint)maxExt < 0x8000001D) return null;
        }
        long l1 = 0, l2 = 0, l3 = 0;
        for (int i = 0; i < 8; i++)
        {
            var (eax, ebx, ecx, _) = X86Base.CpuId(leaf, i);
            int type = eax & 0x1F;
            if (type == 0) break;
            if (type == 2) continue; // instruction cache
            int level = (eax >> 5) & 7;
            long size = (long)(((uint)ebx >> 22) + 1) * ((((uint)ebx >> 12) & 0x3FF) + 1) * (((uint)ebx & 0xFFF) + 1) * ((uint)ecx + 1L);
            if (level == 1) l1 = size; else if (level == 2) l2 = size; else if (level == 3) l3 = size;
        }
        return l1 > 0 && l2 > 0 ? new CacheTopology(l1, l2, l3 > 0 ? l3 : 8 * l2, $"CPUID leaf {(uint)leaf:X}h") : null;
    }

    /// <summary>AMD's older leaves: 8000_0005h ECX[31:24] = L1d KiB, 8000_0006h ECX[31:16] = L2 KiB, EDX[31:18] = L3 in 512 KiB units.</summary>
    private static CacheTopology? FromAmdLegacyCpuid()
    {
        if (!X86Base.IsSupported) return null;
        var (maxExt, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
        if ((uint)maxExt < 0x80000006) return null;
        var (_, _, ecx5, _) = X86Base.CpuId(unchecked((int)0x80000005), 0);
        var (_, _, ecx6, edx6) = X86Base.CpuId(unchecked((int)0x80000006), 0);
        long l1 = (long)((uint)ecx5 >> 24) * 1024, l2 = (long)((uint)ecx6 >> 16) * 1024, l3 = (long)((uint)edx6 >> 18) * 512 * 1024;
        if (l1 <= 0 || l2 <= 0) return null;
        // Hypervisors sometimes report the whole host's L3 here; no core complex has more than 128 MiB.
        if (l3 <= 0 || l3 > 128L << 20) return new CacheTopology(l1, l2, 32L << 20, $"CPUID leaves 80000005h/80000006h (L3 of {l3 >> 20} MiB implausible: assumed 32 MiB)");
        return new CacheTopology(l1, l2, l3, "CPUID leaves 80000005h/80000006h");
    }

    private static CacheTopology? FromSysfs()
    {
        const string root = "/sys/devices/system/cpu/cpu0/cache";
        if (!Directory.Exists(root)) return null;
        long l1 = 0, l2 = 0, l3 = 0;
        foreach (var dir in Directory.GetDirectories(root, "index*"))
        {
            try
            {
                string type = File.ReadAllText(Path.Combine(dir, "type")).Trim();
                if (type == "Instruction") continue;
                int level = int.Parse(File.ReadAllText(Path.Combine(dir, "level")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                string size = File.ReadAllText(Path.Combine(dir, "size")).Trim();
                long bytes = size.EndsWith('K') ? long.Parse(size[..^1], System.Globalization.CultureInfo.InvariantCulture) * 1024 : size.EndsWith('M') ? long.Parse(size[..^1], System.Globalization.CultureInfo.InvariantCulture) * 1024 * 1024 : long.Parse(size, System.Globalization.CultureInfo.InvariantCulture);
                if (level == 1) l1 = bytes; else if (level == 2) l2 = bytes; else if (level == 3) l3 = bytes;
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { }
        }
        return l1 > 0 && l2 > 0 ? new CacheTopology(l1, l2, l3 > 0 ? l3 : 8 * l2, "sysfs") : null;
    }
}
