using Iced.Intel;
using NeuralJit.Jit;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// Every form <see cref="KernelAssembler"/> emits, in both widths: assembled through the kernel's own path
/// (<see cref="KernelAssembler.Finish"/>), decoded back with Iced and compared with the instruction written out by
/// hand, as Iced's assembler tests do. Operands use registers above 7 (and above 15 on AVX-512) so REX/VEX/EVEX
/// register extensions are exercised, and memory operands with a displacement (EVEX disp8*N compression).
/// </summary>
public class KernelAssemblerEncodingTests
{
    private static readonly Vec D = new(9), A = new(3), B = new(12), HiD = new(25), HiA = new(17), HiB = new(30), M = new(14);

    /// <summary>One form: how to emit it, and the instructions expected (AVX2, AVX-512), ';'-separated, Intel syntax.</summary>
    private sealed record Case(string Name, Action<KernelAssembler> Emit, string Avx2, string Avx512);

    private static readonly Case[] s_cases =
    {
        new("Zero", k => k.Zero(D),
            "vxorps ymm9,ymm9,ymm9",
            "vxorps zmm9,zmm9,zmm9"),
        new("Move", k => k.Move(D, A),
            "vmovaps ymm9,ymm3",
            "vmovaps zmm9,zmm3"),
        new("Move to itself emits nothing", k => k.Move(D, D),
            "",
            ""),
        new("Load", k => k.Load(D, __[rdx + 0x40]),
            "vmovups ymm9,[rdx+40h]",
            "vmovups zmm9,[rdx+40h]"),
        new("Store", k => k.Store(__[rcx + 0x40], D),
            "vmovups [rcx+40h],ymm9",
            "vmovups [rcx+40h],zmm9"),
        new("Broadcast", k => k.Broadcast(D, __dword_ptr[rsi + 8]),
            "vbroadcastss ymm9,[rsi+8]",
            "vbroadcastss zmm9,[rsi+8]"),
        new("BroadcastField", k => k.BroadcastField(D, KernelArgs.Offsets.Beta),
            "vbroadcastss ymm9,[rdi+44h]",
            "vbroadcastss zmm9,[rdi+44h]"),
        new("BroadcastLane0", k => k.BroadcastLane0(D, A),
            "vbroadcastss ymm9,xmm3",
            "vbroadcastss zmm9,xmm3"),
        new("LoadConst", k => k.LoadConst(D, 1f),
            "vbroadcastss ymm9,[r15]",
            "vbroadcastss zmm9,[r15]"),
        new("LoadConst of +0 zeroes", k => k.LoadConst(D, 0f),
            "vxorps ymm9,ymm9,ymm9",
            "vxorps zmm9,zmm9,zmm9"),
        new("LoadPointer", k => k.LoadPointer(rdx, KernelArgs.Offsets.C),
            "mov rdx,[rdi+10h]",
            "mov rdx,[rdi+10h]"),
        new("Add", k => k.Add(D, A, B),
            "vaddps ymm9,ymm3,ymm12",
            "vaddps zmm9,zmm3,zmm12"),
        new("Add from memory", k => k.Add(D, A, __[rdx + 0x40]),
            "vaddps ymm9,ymm3,[rdx+40h]",
            "vaddps zmm9,zmm3,[rdx+40h]"),
        new("Add of a constant", k => k.Add(D, A, k.Const(2f)),
            "vaddps ymm9,ymm3,[r15]",
            "vaddps zmm9,zmm3,[r15]{1to16}"),
        new("Add with high registers", k => k.Add(HiD, HiA, HiB),
            null!,
            "vaddps zmm25,zmm17,zmm30"),
        new("Sub", k => k.Sub(D, A, B),
            "vsubps ymm9,ymm3,ymm12",
            "vsubps zmm9,zmm3,zmm12"),
        new("Sub from memory", k => k.Sub(D, A, __[rdx + 0x40]),
            "vsubps ymm9,ymm3,[rdx+40h]",
            "vsubps zmm9,zmm3,[rdx+40h]"),
        new("Mul", k => k.Mul(D, A, B),
            "vmulps ymm9,ymm3,ymm12",
            "vmulps zmm9,zmm3,zmm12"),
        new("Mul from memory", k => k.Mul(D, A, __[rdx + 0x40]),
            "vmulps ymm9,ymm3,[rdx+40h]",
            "vmulps zmm9,zmm3,[rdx+40h]"),
        new("Div", k => k.Div(D, A, B),
            "vdivps ymm9,ymm3,ymm12",
            "vdivps zmm9,zmm3,zmm12"),
        new("Div from memory", k => k.Div(D, A, __[rdx + 0x40]),
            "vdivps ymm9,ymm3,[rdx+40h]",
            "vdivps zmm9,zmm3,[rdx+40h]"),
        new("Max", k => k.Max(D, A, B),
            "vmaxps ymm9,ymm3,ymm12",
            "vmaxps zmm9,zmm3,zmm12"),
        new("Max from memory", k => k.Max(D, A, __[rdx + 0x40]),
            "vmaxps ymm9,ymm3,[rdx+40h]",
            "vmaxps zmm9,zmm3,[rdx+40h]"),
        new("Min", k => k.Min(D, A, B),
            "vminps ymm9,ymm3,ymm12",
            "vminps zmm9,zmm3,zmm12"),
        new("Min from memory", k => k.Min(D, A, __[rdx + 0x40]),
            "vminps ymm9,ymm3,[rdx+40h]",
            "vminps zmm9,zmm3,[rdx+40h]"),
        new("And", k => k.And(D, A, B),
            "vandps ymm9,ymm3,ymm12",
            "vandps zmm9,zmm3,zmm12"),
        new("And of a bit pattern", k => k.And(D, A, k.ConstBits(0x7FFFFFFF)),
            "vandps ymm9,ymm3,[r15]",
            "vandps zmm9,zmm3,[r15]{1to16}"),
        new("Or", k => k.Or(D, A, B),
            "vorps ymm9,ymm3,ymm12",
            "vorps zmm9,zmm3,zmm12"),
        new("Or from memory", k => k.Or(D, A, __[rdx + 0x40]),
            "vorps ymm9,ymm3,[rdx+40h]",
            "vorps zmm9,zmm3,[rdx+40h]"),
        new("Xor", k => k.Xor(D, A, B),
            "vxorps ymm9,ymm3,ymm12",
            "vxorps zmm9,zmm3,zmm12"),
        new("Xor from memory", k => k.Xor(D, A, __[rdx + 0x40]),
            "vxorps ymm9,ymm3,[rdx+40h]",
            "vxorps zmm9,zmm3,[rdx+40h]"),
        new("Sqrt", k => k.Sqrt(D, A),
            "vsqrtps ymm9,ymm3",
            "vsqrtps zmm9,zmm3"),
        new("ShiftLeftInt32", k => k.ShiftLeftInt32(D, A, 23),
            "vpslld ymm9,ymm3,17h",
            "vpslld zmm9,zmm3,17h"),
        new("FmaAcc", k => k.FmaAcc(D, A, B),
            "vfmadd231ps ymm9,ymm3,ymm12",
            "vfmadd231ps zmm9,zmm3,zmm12"),
        new("FmaAcc from memory", k => k.FmaAcc(D, A, __[rdx + 0x40]),
            "vfmadd231ps ymm9,ymm3,[rdx+40h]",
            "vfmadd231ps zmm9,zmm3,[rdx+40h]"),
        new("FmaAcc with high registers", k => k.FmaAcc(HiD, HiA, HiB),
            null!,
            "vfmadd231ps zmm25,zmm17,zmm30"),
        new("FnmaAcc", k => k.FnmaAcc(D, A, B),
            "vfnmadd231ps ymm9,ymm3,ymm12",
            "vfnmadd231ps zmm9,zmm3,zmm12"),
        new("FnmaAcc of a constant", k => k.FnmaAcc(D, A, k.Const(2f)),
            "vfnmadd231ps ymm9,ymm3,[r15]",
            "vfnmadd231ps zmm9,zmm3,[r15]{1to16}"),
        new("FmaHorner", k => k.FmaHorner(D, A, B),
            "vfmadd213ps ymm9,ymm3,ymm12",
            "vfmadd213ps zmm9,zmm3,zmm12"),
        new("FmaHorner of a constant", k => k.FmaHorner(D, A, k.Const(2f)),
            "vfmadd213ps ymm9,ymm3,[r15]",
            "vfmadd213ps zmm9,zmm3,[r15]{1to16}"),
        new("ConstVector", k => k.Load(D, k.ConstVector(Enumerable.Range(0, k.Lanes).Select(i => (uint)i).ToArray())),
            "vmovups ymm9,[r15]",
            "vmovups zmm9,[r15]"),
        new("Compare", k => k.Compare(new MaskReg(2, M), A, B, 4),
            "vcmpneqps ymm14,ymm3,ymm12",
            "vcmpneqps k2,zmm3,zmm12"),
        new("CompareLess from memory", k => k.CompareLess(new MaskReg(2, M), A, __[rdx + 0x40]),
            "vcmpltps ymm14,ymm3,[rdx+40h]",
            "vcmpltps k2,zmm3,[rdx+40h]"),
        new("Blend", k => k.Blend(D, A, B, new MaskReg(2, M)),
            "vblendvps ymm9,ymm3,ymm12,ymm14",
            "vblendmps zmm9{k2},zmm3,zmm12"),
        new("CreateTailMask", k => k.CreateTailMask(3, M, 2),
            "vmovdqu ymm14,[r15]",
            "kmovw k2,[r15]"),
        new("LoadTail", k => k.LoadTail(D, __[rdx + 0x40], k.CreateTailMask(3, M, 2)),
            "vmovdqu ymm14,[r15]; vmaskmovps ymm9,ymm14,[rdx+40h]",
            "kmovw k2,[r15]; vmovups zmm9{k2}{z},[rdx+40h]"),
        new("LoadTail with fill", k => k.LoadTail(D, __[rdx + 0x40], k.CreateTailMask(3, M, 2), float.NegativeInfinity),
            "vmovdqu ymm14,[r15]; vmaskmovps ymm9,ymm14,[rdx+40h]; vorps ymm9,ymm9,[r15+20h]",
            "kmovw k2,[r15]; vbroadcastss zmm9,[r15+4]; vmovups zmm9{k2},[rdx+40h]"),
        new("StoreTail", k => k.StoreTail(__[rcx + 0x40], D, k.CreateTailMask(3, M, 2)),
            "vmovdqu ymm14,[r15]; vmaskmovps [rcx+40h],ymm14,ymm9",
            "kmovw k2,[r15]; vmovups [rcx+40h]{k2},zmm9"),
        new("ReduceAdd", k => k.ReduceAdd(D, A),
            "vextractf128 xmm3,ymm9,1; vaddps xmm9,xmm9,xmm3; vmovhlps xmm3,xmm3,xmm9; vaddps xmm9,xmm9,xmm3; vmovshdup xmm3,xmm9; vaddss xmm9,xmm9,xmm3",
            "vextractf32x8 ymm3,zmm9,1; vaddps ymm9,ymm9,ymm3; vextractf32x4 xmm3,ymm9,1; vaddps xmm9,xmm9,xmm3; vmovhlps xmm3,xmm3,xmm9; vaddps xmm9,xmm9,xmm3; vmovshdup xmm3,xmm9; vaddss xmm9,xmm9,xmm3"),
        new("ReduceMax", k => k.ReduceMax(D, A),
            "vextractf128 xmm3,ymm9,1; vmaxps xmm9,xmm9,xmm3; vmovhlps xmm3,xmm3,xmm9; vmaxps xmm9,xmm9,xmm3; vmovshdup xmm3,xmm9; vmaxss xmm9,xmm9,xmm3",
            "vextractf32x8 ymm3,zmm9,1; vmaxps ymm9,ymm9,ymm3; vextractf32x4 xmm3,ymm9,1; vmaxps xmm9,xmm9,xmm3; vmovhlps xmm3,xmm3,xmm9; vmaxps xmm9,xmm9,xmm3; vmovshdup xmm3,xmm9; vmaxss xmm9,xmm9,xmm3"),
        new("Emit with an immediate", k => k.Emit(new VectorForm(Code.VEX_Vshufps_ymm_ymm_ymmm256_imm8, Code.EVEX_Vshufps_zmm_k1z_zmm_zmmm512b32_imm8), D, A, B, 0x4E),
            "vshufps ymm9,ymm3,ymm12,4Eh",
            "vshufps zmm9,zmm3,zmm12,4Eh"),
    };

    public static TheoryData<string, JitIsa> Forms()
    {
        var data = new TheoryData<string, JitIsa>();
        foreach (var c in s_cases)
            foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 })
                if ((isa == JitIsa.Avx2 ? c.Avx2 : c.Avx512) is not null) data.Add(c.Name, isa);
        return data;
    }

    [Theory, MemberData(nameof(Forms))]
    public void EachFormDecodesBackToTheInstructionWrittenOut(string form, JitIsa isa)
    {
        var c = s_cases.Single(x => x.Name == form);
        var k = new KernelAssembler(isa, new CallingConvention(win64: false));
        c.Emit(k);
        Assert.Equal(isa == JitIsa.Avx2 ? c.Avx2 : c.Avx512, string.Join("; ", Body(k.Finish(), isa).Select(i => i.Text)));
    }

    [Fact]
    public void EachPairedFormIsOneInstructionInVexYmmAndEvexZmm()
    {
        foreach (var field in typeof(VectorForms).GetFields())
        {
            var form = (VectorForm)field.GetValue(null)!;
            Assert.True(form.Ymm.Mnemonic() == form.Zmm.Mnemonic(), $"{field.Name}: {form.Ymm} and {form.Zmm} are different instructions");
            Assert.True(form.Ymm.ToOpCode().Encoding == EncodingKind.VEX, $"{field.Name}: {form.Ymm} is not VEX (AVX2 CPUs cannot run it)");
            Assert.True(form.Zmm.ToOpCode().Encoding == EncodingKind.EVEX, $"{field.Name}: {form.Zmm} is not EVEX");
            Assert.True(HasOperandOf(form.Ymm, "ymm"), $"{field.Name}: {form.Ymm} has no ymm operand");
            Assert.True(HasOperandOf(form.Zmm, "zmm"), $"{field.Name}: {form.Zmm} has no zmm operand");
        }
    }

    /// <summary>The cases above reach every paired form in both widths, so a form added to the table without a case fails here.</summary>
    [Fact]
    public void TheCasesCoverEveryPairedForm()
    {
        foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 })
        {
            var emitted = new HashSet<Code>();
            foreach (var c in s_cases.Where(c => (isa == JitIsa.Avx2 ? c.Avx2 : c.Avx512) is not null))
            {
                var k = new KernelAssembler(isa, new CallingConvention(win64: false));
                c.Emit(k);
                emitted.UnionWith(Body(k.Finish(), isa).Select(i => i.Code));
            }
            var width = VectorWidth.For(isa);
            var missing = typeof(VectorForms).GetFields().Where(f => !emitted.Contains(width.Pick((VectorForm)f.GetValue(null)!))).Select(f => f.Name).ToList();
            Assert.True(missing.Count == 0, $"{isa}: no case emits {string.Join(", ", missing)}");
        }
    }

    /// <summary>Whether one of <paramref name="code"/>'s operands is a register (or r/m) of <paramref name="width"/> ("ymm", "zmm").</summary>
    private static bool HasOperandOf(Code code, string width)
    {
        var info = code.ToOpCode();
        return Enumerable.Range(0, info.OpCount).Any(i => info.GetOpKind(i).ToString().StartsWith(width + "_", StringComparison.Ordinal));
    }

    /// <summary>
    /// The body's instructions: the decoded kernel without the pool's push/lea and the pop/vzeroupper/ret of the epilogue.
    /// An AVX2 kernel must not contain an EVEX encoding (an AVX2-only CPU faults on it, whatever the operands).
    /// </summary>
    internal static List<(string Text, Code Code)> Body(AssembledKernel kernel, JitIsa isa)
    {
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(kernel.Bytes, kernel.EntryOffset, kernel.CodeBytes));
        var formatter = new IntelFormatter();
        formatter.Options.DigitSeparator = "";
        var text = new List<(string Text, Code Code)>();
        while (decoder.IP < (ulong)kernel.CodeBytes)
        {
            var instr = decoder.Decode();
            Assert.False(instr.IsInvalid, $"invalid bytes at {decoder.IP}");
            var output = new StringOutput();
            formatter.Format(instr, output);
            Assert.False(isa == JitIsa.Avx2 && instr.Encoding == EncodingKind.EVEX, $"EVEX in an AVX2 kernel: {instr.Code}");
            text.Add((output.ToStringAndReset(), instr.Code));
        }
        bool pool = text.Count > 1 && text[0].Text == "push r15" && text[1].Text.StartsWith("lea r15,[", StringComparison.Ordinal);
        Assert.Equal("ret", text[^1].Text);
        Assert.Equal("vzeroupper", text[^2].Text);
        int end = text.Count - 2 - (pool ? 1 : 0);
        if (pool) Assert.Equal("pop r15", text[end].Text);
        return text.GetRange(pool ? 2 : 0, end - (pool ? 2 : 0));
    }
}

/// <summary><see cref="VectorRegisterPlan"/>: a register has one role at a time, and a planned kernel names no other.</summary>
public class VectorRegisterPlanTests
{
    [Fact]
    public void ARegisterHeldByOneRoleCannotBeTakenByAnother()
    {
        var plan = new KernelAssembler(JitIsa.Avx2).Registers;
        var mask = plan.TakeHighest("tail mask");
        Assert.Equal(new Vec(15), mask);
        var e = Assert.Throws<InvalidOperationException>(() => plan.TakeAt(15, "accumulator"));
        Assert.Contains("tail mask", e.Message);
        Assert.Contains("accumulator", e.Message);
    }

    [Fact]
    public void TakingSkipsHeldRegistersAndBlocksAreConsecutive()
    {
        var plan = new KernelAssembler(JitIsa.Avx512).Registers;
        Assert.Equal(new Vec(0), plan.Take("x"));
        plan.TakeAt(2, "pinned");
        Assert.Equal(new[] { new Vec(3), new Vec(4), new Vec(5) }, plan.TakeBlock(3, "acc"));
        Assert.Equal(new Vec(1), plan.Take("y"));
        Assert.Equal("acc[1]", plan.RoleOf(new Vec(4)));
        Assert.Equal(32 - 6, plan.Free);
    }

    [Fact]
    public void AnExhaustedFileSaysWhoHoldsIt()
    {
        var plan = new KernelAssembler(JitIsa.Avx2).Registers;
        plan.TakeBlock(15, "acc");
        plan.Take("last");
        var e = Assert.Throws<InvalidOperationException>(() => plan.Take("one too many"));
        Assert.Contains("v15 'last'", e.Message);
    }

    [Fact]
    public void APhaseGivesBackWhatItTookAndOnlyThat()
    {
        var plan = new KernelAssembler(JitIsa.Avx2).Registers;
        var sum = plan.Take("sum");
        using (plan.Phase())
        {
            plan.TakeBlock(4, "pass 1 temporaries");
            Assert.Equal(11, plan.Free);
        }
        Assert.Equal(15, plan.Free);
        Assert.True(plan.Holds(sum));
        plan.Release(sum);
        Assert.Throws<InvalidOperationException>(() => plan.Release(sum));
    }

    [Fact]
    public void OnceAKernelHasAPlanItRefusesRegistersThePlanDoesNotHold()
    {
        var k = new KernelAssembler(JitIsa.Avx512);
        var x = k.Registers.Take("x");
        k.Zero(x);
        var e = Assert.Throws<InvalidOperationException>(() => k.Add(x, x, new Vec(7)));
        Assert.Contains("v7", e.Message);
    }

    /// <summary>
    /// Every emitter stays on the plan: every kernel of a few conformance shapes, both ISAs, is emitted with checking on.
    /// </summary>
    [Fact]
    public void EveryEmitterTakesItsRegistersFromThePlan()
    {
        foreach (var e in KernelEmitters.All)
            foreach (var op in e.Ops)
                foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 })
                {
                    int emitted = 0;
                    var shapes = op switch
                    {
                        OpKind.Gemm => MatrixKernels.GemmKernelTests.Shapes(12, 4242),
                        OpKind.LstmGates or OpKind.LstmStep => MatrixKernels.MatVecKernelTests.LstmShapes(4, 4242),
                        _ => Support.JitConformance.Shapes(op, 12, 4242),
                    };
                    foreach (var shape in shapes)
                    {
                        var key = new OpKey(op, shape);
                        try { NeuralEngine.ValidateShape(op, shape); } catch (ArgumentException) { continue; }
                        if (e.CannotEmit(key, isa) is not null) continue;
                        var k = new KernelAssembler(isa);
                        e.Emit(k, key);
                        if (k.Asm.Instructions.Count == 0) { k.Finish(); continue; } // an empty shape: nothing to check
                        Assert.True(k.IsPlanned, $"{e.GetType().Name} emitted {key} on {isa} without the register plan");
                        k.Finish();
                        emitted++;
                    }
                    Assert.True(emitted > 0, $"no {op} kernel emitted on {isa}");
                }
    }

    [Fact]
    public void AKernelWithoutAPlanAcceptsAnyRegisterInItsFile()
    {
        var k = new KernelAssembler(JitIsa.Avx2);
        k.Add(new Vec(1), new Vec(2), new Vec(15));
        Assert.Throws<ArgumentOutOfRangeException>(() => k.Zero(new Vec(16)));
        Assert.Equal(16, k.Finish().VectorRegistersUsed);
    }
}
