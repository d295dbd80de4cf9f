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
/// What this CPU supports and the best ISA the JIT may use, as this process sees it. <c>NEURALJIT_MAX_ISA</c>
/// (None|Avx2|Avx512) narrows the view itself, not only the JIT: under <c>NEURALJIT_MAX_ISA=Avx2</c> an AVX-512
/// machine reports, compiles, refuses and tests exactly as an AVX2-only CPU does, so both kinds of machine can be
/// tested from either. <c>Set-NeuralJitOption -Isa</c> caps the JIT further, within this view.
/// The <c>Hardware*</c> members are CPUID's own answer, for the few places that must know the truth
/// (inspecting AVX-512 code that this process will not run).
/// </summary>
public static class CpuFeatures
{
    public static bool IsX64 => System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64;

    /// <summary>The widest ISA CPUID offers for our kernels, before any cap.</summary>
    public static JitIsa HardwareBest { get; } =
        IsX64 && System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported
            && System.Runtime.Intrinsics.X86.Avx512F.VL.IsSupported && System.Runtime.Intrinsics.X86.Avx512DQ.IsSupported
            && System.Runtime.Intrinsics.X86.Fma.IsSupported ? JitIsa.Avx512
        : IsX64 && System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported ? JitIsa.Avx2
        : JitIsa.None;

    /// <summary>The cap from the environment (NEURALJIT_MAX_ISA), or null when unset or unrecognised. Read once: the view must not change under running code.</summary>
    public static JitIsa? EnvironmentCap { get; } =
        Enum.TryParse<JitIsa>(Environment.GetEnvironmentVariable("NEURALJIT_MAX_ISA"), ignoreCase: true, out var cap) && Enum.IsDefined(cap) ? cap : null;

    /// <summary>The widest ISA this process may use: the hardware's, narrowed by NEURALJIT_MAX_ISA. Every cmdlet and test reads this.</summary>
    public static JitIsa Best { get; } = (JitIsa)Math.Min((int)HardwareBest, (int)(EnvironmentCap ?? JitIsa.Avx512));

    /// <summary>True when NEURALJIT_MAX_ISA hides an ISA this CPU has.</summary>
    public static bool IsCapped => Best < HardwareBest;

    public static bool Avx2 => Best >= JitIsa.Avx2 || (IsX64 && EnvironmentCap == JitIsa.None && System.Runtime.Intrinsics.X86.Avx2.IsSupported);
    public static bool Fma => Best >= JitIsa.Avx2 || (IsX64 && EnvironmentCap == JitIsa.None && System.Runtime.Intrinsics.X86.Fma.IsSupported);
    public static bool Avx512F => Best >= JitIsa.Avx512;
    public static bool Avx512BW => Best >= JitIsa.Avx512;
    public static bool Avx512VL => Best >= JitIsa.Avx512;
    public static bool Avx512DQ => Best >= JitIsa.Avx512;

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

    /// <summary>True when this process may run <paramref name="isa"/> code (the effective view).</summary>
    public static bool CanRun(JitIsa isa) => isa != JitIsa.None && isa <= Best;

    /// <summary>The ISA the JIT uses under a cap: the narrower of what this process may use and what is allowed.</summary>
    public static JitIsa Effective(JitIsa? cap = null) => (JitIsa)Math.Min((int)Best, (int)(cap ?? JitIsa.Avx512));

    /// <summary>The features of the effective view, and what NEURALJIT_MAX_ISA hides.</summary>
    public static string Describe()
    {
        var seen = string.Join(' ', new[] { ("AVX2", Avx2), ("FMA", Fma), ("AVX512F", Avx512F), ("AVX512BW", Avx512BW), ("AVX512VL", Avx512VL), ("AVX512DQ", Avx512DQ), ("InvariantTSC", InvariantTsc) }
            .Where(f => f.Item2).Select(f => f.Item1));
        return IsCapped ? $"{seen} ({HardwareBest} hidden by NEURALJIT_MAX_ISA={EnvironmentCap})" : seen;
    }
}
