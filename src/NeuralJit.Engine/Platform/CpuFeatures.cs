using System.Runtime.Intrinsics.X86;

namespace NeuralJit.Platform;

/// <summary>The instruction sets the JIT can target, from narrowest to widest.</summary>
public enum JitIsa
{
    /// <summary>No JIT: the managed tier only.</summary>
    None = 0,
    /// <summary>AVX2 + FMA3, 256-bit ymm registers.</summary>
    Avx2 = 1,
    /// <summary>AVX-512 F/BW/VL/DQ, 512-bit zmm registers and k-masks.</summary>
    Avx512 = 2,
}

/// <summary>
/// What this CPU supports, from the runtime's own CPUID checks, and the best ISA the JIT may use.
/// The cap (<c>NEURALJIT_MAX_ISA</c> = None|Avx2|Avx512, or <c>Set-NeuralJitOption -Isa</c>) lets AVX2
/// code run and be tested on AVX-512 machines.
/// </summary>
public static class CpuFeatures
{
    public static bool IsX64 => System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64;
    public static bool Avx2 => IsX64 && System.Runtime.Intrinsics.X86.Avx2.IsSupported;
    public static bool Fma => IsX64 && System.Runtime.Intrinsics.X86.Fma.IsSupported;
    public static bool Avx512F => IsX64 && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
    public static bool Avx512BW => IsX64 && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported;
    public static bool Avx512VL => IsX64 && System.Runtime.Intrinsics.X86.Avx512F.VL.IsSupported;
    public static bool Avx512DQ => IsX64 && System.Runtime.Intrinsics.X86.Avx512DQ.IsSupported;

    /// <summary>Invariant TSC (CPUID 8000_0007h EDX bit 8): the TSC ticks at a constant rate across P-states.</summary>
    public static bool InvariantTsc
    {
        get
        {
            if (!IsX64 || !X86Base.IsSupported) return false;
            var (maxExt, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
            if ((uint)maxExt < 0x80000007) return false;
            var (_, _, _, edx) = X86Base.CpuId(unchecked((int)0x80000007), 0);
            return (edx & (1 << 8)) != 0;
        }
    }

    /// <summary>The widest ISA this CPU supports for our kernels.</summary>
    public static JitIsa Best => Avx512F && Avx512BW && Avx512VL && Avx512DQ && Fma ? JitIsa.Avx512
        : Avx2 && Fma ? JitIsa.Avx2
        : JitIsa.None;

    /// <summary>The cap from the environment (NEURALJIT_MAX_ISA), or null when unset or unrecognised.</summary>
    public static JitIsa? EnvironmentCap =>
        Enum.TryParse<JitIsa>(Environment.GetEnvironmentVariable("NEURALJIT_MAX_ISA"), ignoreCase: true, out var cap) ? cap : null;

    /// <summary>The ISA the JIT uses under a cap: the narrower of what the CPU has and what is allowed.</summary>
    public static JitIsa Effective(JitIsa? cap = null)
    {
        var limit = cap ?? EnvironmentCap ?? JitIsa.Avx512;
        return (JitIsa)Math.Min((int)Best, (int)limit);
    }

    public static string Describe() =>
        string.Join(' ', new[] { ("AVX2", Avx2), ("FMA", Fma), ("AVX512F", Avx512F), ("AVX512BW", Avx512BW), ("AVX512VL", Avx512VL), ("AVX512DQ", Avx512DQ), ("InvariantTSC", InvariantTsc) }
            .Where(f => f.Item2).Select(f => f.Item1));
}
