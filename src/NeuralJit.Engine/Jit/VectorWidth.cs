using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit;

/// <summary>
/// The vector width a kernel is emitted for, as data (xbyak/oneDNN template their kernels over <c>Vmm</c>,
/// LIBXSMM carries a <c>micro_kernel_config</c>): lanes, register file, memory operand size, and which
/// encoding of a <see cref="VectorForm"/> to emit. <see cref="KernelAssembler"/> reads it instead of
/// branching on the ISA per instruction.
/// </summary>
public sealed class VectorWidth
{
    /// <summary>AVX2: ymm, 8 fp32 lanes, 16 registers, VEX encodings.</summary>
    public static VectorWidth Ymm { get; } = new(JitIsa.Avx2, lanes: 8, registers: 16, Iced.Intel.Register.YMM0, __ymmword_ptr);

    /// <summary>AVX-512: zmm, 16 fp32 lanes, 32 registers, EVEX encodings.</summary>
    public static VectorWidth Zmm { get; } = new(JitIsa.Avx512, lanes: 16, registers: 32, Iced.Intel.Register.ZMM0, __zmmword_ptr);

    public static VectorWidth For(JitIsa isa) => isa switch
    {
        JitIsa.Avx2 => Ymm,
        JitIsa.Avx512 => Zmm,
        _ => throw new ArgumentOutOfRangeException(nameof(isa), isa, "Kernels are emitted for Avx2 or Avx512."),
    };

    private readonly Iced.Intel.Register _first;

    private VectorWidth(JitIsa isa, int lanes, int registers, Iced.Intel.Register first, AssemblerMemoryOperandFactory ptr)
    {
        Isa = isa;
        Lanes = lanes;
        Registers = registers;
        _first = first;
        Ptr = ptr;
    }

    public JitIsa Isa { get; }
    /// <summary>fp32 lanes per vector.</summary>
    public int Lanes { get; }
    public int Bytes => Lanes * 4;
    /// <summary>Vector registers in the file.</summary>
    public int Registers { get; }
    /// <summary>A full-vector memory operand of this width: <c>k.Width.Ptr[rdx + 64]</c>.</summary>
    public AssemblerMemoryOperandFactory Ptr { get; }

    /// <summary>The register with index <paramref name="index"/> at this width (ymm<c>i</c> or zmm<c>i</c>).</summary>
    public Iced.Intel.Register Register(int index) => _first + index;

    /// <summary>The encoding of <paramref name="form"/> at this width.</summary>
    public Code Pick(VectorForm form) => Isa == JitIsa.Avx512 ? form.Zmm : form.Ymm;

    public override string ToString() => Isa == JitIsa.Avx512 ? "zmm" : "ymm";
}

/// <summary>One vector instruction in both widths: the VEX ymm encoding AVX2 kernels use and the EVEX zmm encoding AVX-512 kernels use.</summary>
public readonly record struct VectorForm(Code Ymm, Code Zmm);

/// <summary>
/// Every full-width form <see cref="KernelAssembler"/> emits, each pair written once. A form whose last
/// operand is <c>…m256</c>/<c>…m512</c> takes a register or memory there (one Code for both); b32 forms also
/// take a {1to16} broadcast on AVX-512.
/// </summary>
public static class VectorForms
{
    public static readonly VectorForm Add = new(Code.VEX_Vaddps_ymm_ymm_ymmm256, Code.EVEX_Vaddps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm Sub = new(Code.VEX_Vsubps_ymm_ymm_ymmm256, Code.EVEX_Vsubps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm Mul = new(Code.VEX_Vmulps_ymm_ymm_ymmm256, Code.EVEX_Vmulps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm Div = new(Code.VEX_Vdivps_ymm_ymm_ymmm256, Code.EVEX_Vdivps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm Max = new(Code.VEX_Vmaxps_ymm_ymm_ymmm256, Code.EVEX_Vmaxps_zmm_k1z_zmm_zmmm512b32_sae);
    public static readonly VectorForm Min = new(Code.VEX_Vminps_ymm_ymm_ymmm256, Code.EVEX_Vminps_zmm_k1z_zmm_zmmm512b32_sae);
    public static readonly VectorForm And = new(Code.VEX_Vandps_ymm_ymm_ymmm256, Code.EVEX_Vandps_zmm_k1z_zmm_zmmm512b32);
    public static readonly VectorForm Or = new(Code.VEX_Vorps_ymm_ymm_ymmm256, Code.EVEX_Vorps_zmm_k1z_zmm_zmmm512b32);
    public static readonly VectorForm Xor = new(Code.VEX_Vxorps_ymm_ymm_ymmm256, Code.EVEX_Vxorps_zmm_k1z_zmm_zmmm512b32);
    public static readonly VectorForm FmaAcc = new(Code.VEX_Vfmadd231ps_ymm_ymm_ymmm256, Code.EVEX_Vfmadd231ps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm FnmaAcc = new(Code.VEX_Vfnmadd231ps_ymm_ymm_ymmm256, Code.EVEX_Vfnmadd231ps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm FmaHorner = new(Code.VEX_Vfmadd213ps_ymm_ymm_ymmm256, Code.EVEX_Vfmadd213ps_zmm_k1z_zmm_zmmm512b32_er);
    public static readonly VectorForm Sqrt = new(Code.VEX_Vsqrtps_ymm_ymmm256, Code.EVEX_Vsqrtps_zmm_k1z_zmmm512b32_er);
    public static readonly VectorForm ShiftLeftInt32 = new(Code.VEX_Vpslld_ymm_ymm_imm8, Code.EVEX_Vpslld_zmm_k1z_zmmm512b32_imm8);
    public static readonly VectorForm Move = new(Code.VEX_Vmovaps_ymm_ymmm256, Code.EVEX_Vmovaps_zmm_k1z_zmmm512);
    public static readonly VectorForm Load = new(Code.VEX_Vmovups_ymm_ymmm256, Code.EVEX_Vmovups_zmm_k1z_zmmm512);
    public static readonly VectorForm Store = new(Code.VEX_Vmovups_ymmm256_ymm, Code.EVEX_Vmovups_zmmm512_k1z_zmm);
    public static readonly VectorForm BroadcastMemory = new(Code.VEX_Vbroadcastss_ymm_m32, Code.EVEX_Vbroadcastss_zmm_k1z_xmmm32);
    public static readonly VectorForm BroadcastLane0 = new(Code.VEX_Vbroadcastss_ymm_xmm, Code.EVEX_Vbroadcastss_zmm_k1z_xmmm32);
    /// <summary>The AVX2 form writes a vector of lane masks, the AVX-512 form a k register.</summary>
    public static readonly VectorForm Compare = new(Code.VEX_Vcmpps_ymm_ymm_ymmm256_imm8, Code.EVEX_Vcmpps_kr_k1_zmm_zmmm512b32_imm8_sae);
}
