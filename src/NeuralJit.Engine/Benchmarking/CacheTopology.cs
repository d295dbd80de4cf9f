using System.Runtime.Intrinsics.X86;

namespace NeuralJit.Benchmarking;

/// <summary>
/// Data-cache sizes of this core, from CPUID (leaf 8000_001Dh on AMD, leaf 4 on Intel: same register
/// layout), else from Linux sysfs, else typical values; <see cref="Source"/> says which.
/// </summary>
public sealed record CacheTopology(long L1DataBytes, long L2Bytes, long L3Bytes, string Source)
{
    public static CacheTopology Detect() => FromCpuid() ?? FromSysfs() ?? new CacheTopology(32 * 1024, 1024 * 1024, 32L * 1024 * 1024, "assumed (CPUID and sysfs give no cache sizes)");

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
                int level = int.Parse(File.ReadAllText(Path.Combine(dir, "level")).Trim());
                string size = File.ReadAllText(Path.Combine(dir, "size")).Trim();
                long bytes = size.EndsWith('K') ? long.Parse(size[..^1]) * 1024 : size.EndsWith('M') ? long.Parse(size[..^1]) * 1024 * 1024 : long.Parse(size);
                if (level == 1) l1 = bytes; else if (level == 2) l2 = bytes; else if (level == 3) l3 = bytes;
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { }
        }
        return l1 > 0 && l2 > 0 ? new CacheTopology(l1, l2, l3 > 0 ? l3 : 8 * l2, "sysfs") : null;
    }
}
