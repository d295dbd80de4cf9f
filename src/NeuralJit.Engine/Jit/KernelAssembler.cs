using System.Runtime.InteropServices;
using Iced.Intel;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit;

/// <summary>A vector register by index: ymm<c>i</c> under AVX2, zmm<c>i</c> under AVX-512 (the emitter does not care).</summary>
public readonly record struct Vec(int Index)
{
    public override string ToString() => $"v{Index}";
}

/// <summary>A mask register: k<c>K</c> under AVX-512, a vector of lane masks (<see cref="Vector"/>) under AVX2.</summary>
public readonly record struct MaskReg(int K, Vec Vector);

/// <summary>
/// A tail mask for <see cref="Count"/> lanes (1..Lanes−1): lanes at or past Count are neither read nor
/// written by masked loads/stores (AVX-512 k-mask with fault suppression; AVX2 vmaskmovps).
/// </summary>
public readonly record struct TailMask(int Count, MaskReg Mask);

/// <summary>
/// The second source of a vector op: a register or a memory operand (e.g. a constant from <see cref="KernelAssembler.Const"/>);
/// a {1toN} broadcast carries over, masking does not (masked forms go through <see cref="TailMask"/>).
/// </summary>
public readonly struct VOp
{
    internal readonly Vec Reg;
    internal readonly AssemblerMemoryOperand Mem;
    internal readonly bool IsMem;
    private VOp(Vec r) { Reg = r; Mem = default; IsMem = false; }
    private VOp(AssemblerMemoryOperand m) { Reg = default; Mem = m; IsMem = true; }
    public static implicit operator VOp(Vec r) => new(r);
    public static implicit operator VOp(AssemblerMemoryOperand m) => new(m);
}

/// <summary>
/// One kernel under construction: Iced's <see cref="Assembler"/> plus a vector width carried as data
/// (<see cref="Width"/>: ymm, 8 lanes, 16 registers under AVX2; zmm, 16 lanes, 32 registers under AVX-512), so one
/// emitter serves both and every vector instruction is one <see cref="VectorForm"/>; a checked register plan
/// (<see cref="Registers"/>), a <see cref="ConstantPool"/> addressed from <see cref="PoolBase"/>, tail masks,
/// reductions, and the calling convention (<see cref="CallingConvention"/>): the body starts with the KernelArgs*
/// in <see cref="Args"/> and must not emit <c>ret</c> — it falls off its end or jumps to <see cref="ExitLabel"/>;
/// <see cref="Finish"/> wraps it in the prologue and epilogue it needs and encodes it (<see cref="KernelEncoder"/>).
/// </summary>
public sealed class KernelAssembler
{
    private readonly CallingConvention _cc;
    private readonly CallingConvention.Frame _frame = new();
    private readonly ConstantPool _pool = new();
    private VectorRegisterPlan? _plan;
    private int _maxVec = -1;
    private Label _exit;
    private bool _exitUsed;
    private Scratch? _scratch;

    /// <summary>
    /// The Iced objects and buffers one kernel needs, kept per thread between kernels: a kernel takes them
    /// in its constructor and <see cref="Finish"/> hands them back, reset, so a warm compile does not regrow
    /// instruction lists and byte buffers (a fused LSTM kernel allocated ~200 KB doing that).
    /// </summary>
    [ThreadStatic] private static Scratch? t_scratch;

    public KernelAssembler(JitIsa isa, CallingConvention? cc = null)
    {
        Width = VectorWidth.For(isa);
        _cc = cc ?? CallingConvention.Current;
        _scratch = t_scratch ?? new Scratch();
        t_scratch = null; // a second kernel assembled at the same time on this thread gets its own
    }

    /// <summary>The raw Iced assembler, for GPR work (loops, pointers) and ISA-specific instructions (until <see cref="Finish"/>).</summary>
    public Assembler Asm => _scratch?.Body ?? throw new InvalidOperationException("This kernel was finished; its assembler serves the next kernel.");
    /// <summary>The vector width this kernel is emitted for.</summary>
    public VectorWidth Width { get; }
    public JitIsa Isa => Width.Isa;
    public bool IsAvx512 => Isa == JitIsa.Avx512;
    /// <summary>fp32 lanes per vector: 8 (ymm) or 16 (zmm).</summary>
    public int Lanes => Width.Lanes;
    public int VectorBytes => Width.Bytes;
    /// <summary>Vector registers available: 16 or 32.</summary>
    public int VectorRegisters => Width.Registers;

    /// <summary>The KernelArgs* (rdi on every OS; the prologue moves it there on Win64).</summary>
    public AssemblerRegister64 Args => CallingConvention.Args;

    /// <summary>The register that holds the constant pool's address (reserved: emitters must not touch it).</summary>
    public static AssemblerRegister64 PoolBase => r15;

    /// <summary>Jump here to leave the kernel early (runs the epilogue).</summary>
    public Label ExitLabel
    {
        get
        {
            if (!_exitUsed) { _exit = Asm.CreateLabel("exit"); _exitUsed = true; }
            return _exit;
        }
    }

    // ---- registers -------------------------------------------------------------------------------

    /// <summary>
    /// The kernel's vector registers by role. Asking for it switches on checking: from then on every vector
    /// register the body names must be held by the plan.
    /// </summary>
    public VectorRegisterPlan Registers => _plan ??= new VectorRegisterPlan(VectorRegisters);

    /// <summary>Whether the body takes its vector registers from <see cref="Registers"/> (and so is checked).</summary>
    public bool IsPlanned => _plan is not null;

    public AssemblerRegisterXMM X(Vec v) { Use(v); return new AssemblerRegisterXMM(Register.XMM0 + v.Index); }
    public AssemblerRegisterYMM Y(Vec v) { Use(v); return new AssemblerRegisterYMM(Register.YMM0 + v.Index); }
    public AssemblerRegisterZMM Z(Vec v) { Use(v); return new AssemblerRegisterZMM(Register.ZMM0 + v.Index); }
    public static AssemblerRegisterK K(int k) => new(Register.K0 + k);

    /// <summary><paramref name="v"/> at this kernel's width (ymm or zmm).</summary>
    public Register V(Vec v) { Use(v); return Width.Register(v.Index); }

    private void Use(Vec v)
    {
        if ((uint)v.Index >= (uint)VectorRegisters) throw new ArgumentOutOfRangeException(nameof(v), v, $"{Isa} has {VectorRegisters} vector registers.");
        if (_plan is { } plan && !plan.Holds(v)) throw new InvalidOperationException($"{v} is used but the register plan does not hold it: take it from k.Registers.");
        if (v.Index > _maxVec) _maxVec = v.Index;
    }

    /// <summary>Declares that the body uses a callee-saved GPR (rbx, rbp, r12–r15); the prologue saves it.</summary>
    public void UseCalleeSaved(AssemblerRegister64 r)
    {
        if (r == PoolBase) throw new ArgumentException("r15 holds the constant pool's address; use rbx, rbp or r12–r14.", nameof(r));
        if (!CallingConvention.CalleeSavedGprs.Contains(r)) throw new ArgumentException($"{r} is not callee-saved; use it freely.", nameof(r));
        if (!_frame.SavedGprs.Contains(r)) _frame.SavedGprs.Add(r);
    }

    /// <summary>Reserves 64-byte-aligned scratch stack; returns its offset from rsp (valid for the whole body).</summary>
    public int AllocateStack(int bytes)
    {
        int offset = (_frame.StackBytes + 63) / 64 * 64;
        _frame.StackBytes = offset + bytes;
        return offset;
    }

    /// <summary>
    /// <see cref="AllocateStack"/> for a block that may span pages, its pages then touched from the top down (clobbers
    /// eax): Windows commits a thread's stack a guard page at a time, in that order. Allocate it last, so that it is the
    /// top of the frame.
    /// </summary>
    public int AllocatePagedStack(int bytes)
    {
        int at = AllocateStack(bytes);
        for (int touch = bytes - AlignedBuffer.PageBytes; touch > 0; touch -= AlignedBuffer.PageBytes) Asm.mov(eax, __dword_ptr[rsp + (at + touch)]);
        return at;
    }

    // ---- KernelArgs fields -------------------------------------------------------------------------

    /// <summary>mov dst, KernelArgs.field (a pointer; offsets from <see cref="KernelArgs.Offsets"/>).</summary>
    public void LoadPointer(AssemblerRegister64 dst, int fieldOffset) => Asm.mov(dst, __qword_ptr[Args + fieldOffset]);

    /// <summary>Broadcasts a float field (Alpha, Beta) to every lane of <paramref name="d"/>.</summary>
    public void BroadcastField(Vec d, int fieldOffset) => Broadcast(d, __dword_ptr[Args + fieldOffset]);

    // ---- constants ----------------------------------------------------------------------------------

    /// <summary>A float constant as the second source of an arithmetic op ({1to16} broadcast on AVX-512, a replicated m256 on AVX2).</summary>
    public AssemblerMemoryOperand Const(float value) => ConstBits(BitConverter.SingleToUInt32Bits(value));

    /// <summary>A 32-bit pattern constant (masks) as the second source of an op.</summary>
    public AssemblerMemoryOperand ConstBits(uint bits) => IsAvx512
        ? __dword_bcst[PoolBase + _pool.Offset(new[] { bits })]
        : __ymmword_ptr[PoolBase + _pool.Replicated(bits, 8)];

    /// <summary>A full vector constant, one value per lane (length = <see cref="Lanes"/>).</summary>
    public AssemblerMemoryOperand ConstVector(ReadOnlySpan<uint> lanes)
    {
        if (lanes.Length != Lanes) throw new ArgumentException($"Need {Lanes} lanes.", nameof(lanes));
        return Width.Ptr[PoolBase + _pool.Offset(lanes.ToArray())];
    }

    /// <summary>A double scalar constant (qword) for scalar double ops (vmulsd, vaddsd …).</summary>
    public AssemblerMemoryOperand ConstDouble(double value)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(value);
        return __qword_ptr[PoolBase + _pool.Offset(new[] { (uint)bits, (uint)(bits >> 32) })];
    }

    /// <summary>Loads a float constant into every lane of <paramref name="d"/>.</summary>
    public void LoadConst(Vec d, float value)
    {
        if (value == 0 && !float.IsNegative(value)) { Zero(d); return; }
        Broadcast(d, __dword_ptr[PoolBase + _pool.Offset(new[] { BitConverter.SingleToUInt32Bits(value) })]);
    }

    // ---- one instruction of a form, at this width -----------------------------------------------------

    /// <summary>d = form(a, b): a three-operand <paramref name="form"/> at this kernel's width.</summary>
    public void Emit(VectorForm form, Vec d, Vec a, VOp b) => Add(b.IsMem
        ? Instruction.Create(Width.Pick(form), V(d), V(a), b.Mem.ToMemoryOperand(64))
        : Instruction.Create(Width.Pick(form), V(d), V(a), V(b.Reg)), b);

    /// <summary>d = form(a, b, imm).</summary>
    public void Emit(VectorForm form, Vec d, Vec a, VOp b, byte imm) => Add(b.IsMem
        ? Instruction.Create(Width.Pick(form), V(d), V(a), b.Mem.ToMemoryOperand(64), imm)
        : Instruction.Create(Width.Pick(form), V(d), V(a), V(b.Reg), imm), b);

    /// <summary>d = form(s): a two-operand form (a move, a load, a unary op).</summary>
    public void Emit(VectorForm form, Vec d, VOp s) => Add(s.IsMem
        ? Instruction.Create(Width.Pick(form), V(d), s.Mem.ToMemoryOperand(64))
        : Instruction.Create(Width.Pick(form), V(d), V(s.Reg)), s);

    private void Add(Instruction instr, VOp memorySource)
    {
        if (memorySource.IsMem && memorySource.Mem.IsBroadcast) instr.IsBroadcast = true;
        Asm.AddInstruction(instr);
    }

    // ---- moves, loads, stores -----------------------------------------------------------------------

    public void Zero(Vec d) => Emit(VectorForms.Xor, d, d, d);
    public void Move(Vec d, Vec s) { if (d != s) Emit(VectorForms.Move, d, s); }

    /// <summary>Full-vector unaligned load.</summary>
    public void Load(Vec d, AssemblerMemoryOperand m) => Emit(VectorForms.Load, d, m);
    /// <summary>Full-vector unaligned store.</summary>
    public void Store(AssemblerMemoryOperand m, Vec s) => Asm.AddInstruction(Instruction.Create(Width.Pick(VectorForms.Store), m.ToMemoryOperand(64), V(s)));

    /// <summary>vbroadcastss from a dword in memory (use __dword_ptr[…]).</summary>
    public void Broadcast(Vec d, AssemblerMemoryOperand m) => Emit(VectorForms.BroadcastMemory, d, m);
    /// <summary>Broadcasts lane 0 of <paramref name="s"/> to every lane of <paramref name="d"/>.</summary>
    public void BroadcastLane0(Vec d, Vec s) => Asm.AddInstruction(Instruction.Create(Width.Pick(VectorForms.BroadcastLane0), V(d), X(s)));

    /// <summary>
    /// Prepares a tail mask for <paramref name="count"/> lanes (1..Lanes−1). AVX-512 loads k<paramref name="k"/>
    /// from the pool (no GPR clobbered); AVX2 loads lane masks into <paramref name="avx2Vector"/>, which the
    /// body must then leave alone while it uses the mask.
    /// </summary>
    public TailMask CreateTailMask(int count, Vec avx2Vector, int k = 1)
    {
        if (count <= 0 || count >= Lanes) throw new ArgumentOutOfRangeException(nameof(count), count, $"A tail has 1..{Lanes - 1} lanes.");
        if (k is < 1 or > 7) throw new ArgumentOutOfRangeException(nameof(k), k, "Use k1..k7.");
        if (IsAvx512)
        {
            Asm.kmovw(K(k), __word_ptr[PoolBase + _pool.Offset(new[] { (1u << count) - 1 })]);
            return new TailMask(count, new MaskReg(k, default));
        }
        var lanes = new uint[8];
        for (int i = 0; i < count; i++) lanes[i] = 0xFFFFFFFF;
        Asm.vmovdqu(Y(avx2Vector), __ymmword_ptr[PoolBase + _pool.Offset(lanes)]);
        return new TailMask(count, new MaskReg(0, avx2Vector));
    }

    /// <summary>Loads the first t.Count lanes; the other lanes become 0 and their memory is never touched.</summary>
    public void LoadTail(Vec d, AssemblerMemoryOperand m, TailMask t)
    {
        if (IsAvx512) Asm.vmovups(ZK(d, t.Mask.K).z, m);
        else Asm.vmaskmovps(Y(d), Y(t.Mask.Vector), m);
    }

    /// <summary>Loads the first t.Count lanes; the other lanes become <paramref name="fill"/> (e.g. −∞ before a max).</summary>
    public void LoadTail(Vec d, AssemblerMemoryOperand m, TailMask t, float fill)
    {
        if (IsAvx512)
        {
            LoadConst(d, fill);
            Asm.vmovups(ZK(d, t.Mask.K), m);
        }
        else
        {
            Asm.vmaskmovps(Y(d), Y(t.Mask.Vector), m);
            var lanes = new uint[8];
            for (int i = t.Count; i < 8; i++) lanes[i] = BitConverter.SingleToUInt32Bits(fill);
            Asm.vorps(Y(d), Y(d), __ymmword_ptr[PoolBase + _pool.Offset(lanes)]);
        }
    }

    /// <summary>Stores the first t.Count lanes; memory past them is never touched.</summary>
    public void StoreTail(AssemblerMemoryOperand m, Vec s, TailMask t)
    {
        if (IsAvx512) Asm.vmovups(MK(m, t.Mask.K), Z(s));
        else Asm.vmaskmovps(m, Y(t.Mask.Vector), Y(s));
    }

    /// <summary>Load of <paramref name="count"/> lanes (1..Lanes): a plain load when full, else masked.</summary>
    public void LoadPart(Vec d, AssemblerMemoryOperand m, int count, TailMask? t)
    {
        if (count == Lanes) Load(d, m); else LoadTail(d, m, t ?? throw new ArgumentNullException(nameof(t)));
    }

    public void StorePart(AssemblerMemoryOperand m, Vec s, int count, TailMask? t)
    {
        if (count == Lanes) Store(m, s); else StoreTail(m, s, t ?? throw new ArgumentNullException(nameof(t)));
    }

    internal AssemblerRegisterZMM ZK(Vec v, int k) => k switch
    {
        1 => Z(v).k1, 2 => Z(v).k2, 3 => Z(v).k3, 4 => Z(v).k4, 5 => Z(v).k5, 6 => Z(v).k6, 7 => Z(v).k7,
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    internal static AssemblerMemoryOperand MK(AssemblerMemoryOperand m, int k) => k switch
    {
        1 => m.k1, 2 => m.k2, 3 => m.k3, 4 => m.k4, 5 => m.k5, 6 => m.k6, 7 => m.k7,
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    // ---- arithmetic (d = a op b) ----------------------------------------------------------------------

    public void Add(Vec d, Vec a, VOp b) => Emit(VectorForms.Add, d, a, b);
    public void Sub(Vec d, Vec a, VOp b) => Emit(VectorForms.Sub, d, a, b);
    public void Mul(Vec d, Vec a, VOp b) => Emit(VectorForms.Mul, d, a, b);
    public void Div(Vec d, Vec a, VOp b) => Emit(VectorForms.Div, d, a, b);
    /// <summary>vmaxps: when either is NaN the result is <paramref name="b"/> (put the value whose NaN must survive second).</summary>
    public void Max(Vec d, Vec a, VOp b) => Emit(VectorForms.Max, d, a, b);
    /// <summary>vminps: when either is NaN the result is <paramref name="b"/>.</summary>
    public void Min(Vec d, Vec a, VOp b) => Emit(VectorForms.Min, d, a, b);
    public void And(Vec d, Vec a, VOp b) => Emit(VectorForms.And, d, a, b);
    public void Or(Vec d, Vec a, VOp b) => Emit(VectorForms.Or, d, a, b);
    public void Xor(Vec d, Vec a, VOp b) => Emit(VectorForms.Xor, d, a, b);
    public void Sqrt(Vec d, Vec a) => Emit(VectorForms.Sqrt, d, a);
    /// <summary>Integer lanes shifted left (for building 2^n in the exponent field).</summary>
    public void ShiftLeftInt32(Vec d, Vec a, int bits) => Asm.AddInstruction(Instruction.Create(Width.Pick(VectorForms.ShiftLeftInt32), V(d), V(a), (uint)(byte)bits));

    /// <summary>acc = a·b + acc (vfmadd231ps).</summary>
    public void FmaAcc(Vec acc, Vec a, VOp b) => Emit(VectorForms.FmaAcc, acc, a, b);
    /// <summary>acc = −(a·b) + acc (vfnmadd231ps).</summary>
    public void FnmaAcc(Vec acc, Vec a, VOp b) => Emit(VectorForms.FnmaAcc, acc, a, b);
    /// <summary>x = x·m + c (vfmadd213ps): one Horner step.</summary>
    public void FmaHorner(Vec x, Vec m, VOp c) => Emit(VectorForms.FmaHorner, x, m, c);

    // ---- masks ----------------------------------------------------------------------------------------

    /// <summary>m = (a &lt; b) per lane, ordered (NaN → false). AVX2 needs m.Vector, AVX-512 m.K.</summary>
    public void CompareLess(MaskReg m, Vec a, VOp b) => Compare(m, a, b, 1 /* LT_OS */);

    /// <summary>vcmpps with an explicit predicate (0 EQ_OQ, 1 LT_OS, 2 LE_OS, 3 UNORD_Q, 4 NEQ_UQ, 5 NLT_US, 6 NLE_US, 7 ORD_Q …).</summary>
    public void Compare(MaskReg m, Vec a, VOp b, byte predicate)
    {
        // The one operand the widths disagree on: AVX-512 compares into a k register, AVX2 into lane masks.
        var dest = IsAvx512 ? Register.K0 + m.K : V(m.Vector);
        Add(b.IsMem
            ? Instruction.Create(Width.Pick(VectorForms.Compare), dest, V(a), b.Mem.ToMemoryOperand(64), predicate)
            : Instruction.Create(Width.Pick(VectorForms.Compare), dest, V(a), V(b.Reg), predicate), b);
    }

    /// <summary>d = m ? ifSet : ifClear, per lane.</summary>
    public void Blend(Vec d, Vec ifClear, Vec ifSet, MaskReg m)
    {
        if (IsAvx512) Asm.vblendmps(ZK(d, m.K), Z(ifClear), Z(ifSet));
        else Asm.vblendvps(Y(d), Y(ifClear), Y(ifSet), Y(m.Vector));
    }

    // ---- horizontal reductions ------------------------------------------------------------------------

    /// <summary>Sum of all lanes of <paramref name="v"/> into lane 0 of v (read it as X(v)); <paramref name="tmp"/> is clobbered.</summary>
    public void ReduceAdd(Vec v, Vec tmp) => Reduce(v, tmp, max: false);

    /// <summary>Max of all lanes into lane 0 of v. NaN handling follows vmaxps (a NaN lane may be dropped): check NaN separately if it matters.</summary>
    public void ReduceMax(Vec v, Vec tmp) => Reduce(v, tmp, max: true);

    /// <summary>Halves the vector until one lane is left: 512→256 (zmm only), 256→128, 128→64, 64→32.</summary>
    private void Reduce(Vec v, Vec tmp, bool max)
    {
        if (IsAvx512)
        {
            Asm.vextractf32x8(Y(tmp), Z(v), 1);
            if (max) Asm.vmaxps(Y(v), Y(v), Y(tmp)); else Asm.vaddps(Y(v), Y(v), Y(tmp));
            Asm.vextractf32x4(X(tmp), Y(v), 1);
        }
        else Asm.vextractf128(X(tmp), Y(v), 1);
        if (max) Asm.vmaxps(X(v), X(v), X(tmp)); else Asm.vaddps(X(v), X(v), X(tmp));
        Asm.vmovhlps(X(tmp), X(tmp), X(v));
        if (max) Asm.vmaxps(X(v), X(v), X(tmp)); else Asm.vaddps(X(v), X(v), X(tmp));
        Asm.vmovshdup(X(tmp), X(v));
        if (max) Asm.vmaxss(X(v), X(v), X(tmp)); else Asm.vaddss(X(v), X(v), X(tmp));
    }

    // ---- loops ----------------------------------------------------------------------------------------

    /// <summary>
    /// Visits <paramref name="n"/> contiguous floats a vector at a time, shape-specialised: an
    /// <paramref name="unroll"/>-vector loop over byte offset <paramref name="index"/> (a scratch GPR)
    /// while two or more unrolled blocks remain, straight-line code for the remaining full vectors, and one
    /// masked tail (mask from <see cref="CreateTailMask"/>, AVX2 mask in <paramref name="avx2Mask"/>). The
    /// body addresses memory with <see cref="Cursor.At"/> and loads/stores with <see cref="LoadPart"/>/<see cref="StorePart"/>.
    /// <see cref="Cursor.Slot"/> (0..unroll−1) lets it rotate registers.
    /// </summary>
    public void ForEachVector(int n, int unroll, AssemblerRegister64 index, Vec avx2Mask, Action<Cursor> body)
    {
        if (n <= 0) return;
        int full = n / Lanes, tail = n % Lanes, vb = VectorBytes;
        int blocks = full / unroll;
        int done = 0;
        if (blocks >= 2)
        {
            var loop = Asm.CreateLabel();
            Asm.xor(index, index);
            Asm.Label(ref loop);
            for (int u = 0; u < unroll; u++) body(new Cursor(index, u * vb, Lanes, null, u));
            Asm.add(index, unroll * vb);
            Asm.cmp(index, blocks * unroll * vb);
            Asm.jb(loop);
            done = blocks * unroll;
        }
        for (int v = done; v < full; v++) body(new Cursor(null, v * vb, Lanes, null, (v - done) % unroll));
        if (tail > 0)
        {
            var mask = CreateTailMask(tail, avx2Mask);
            body(new Cursor(null, full * vb, tail, mask, 0));
        }
    }

    // ---- finishing ------------------------------------------------------------------------------------

    /// <summary>Wraps the body in prologue/epilogue and encodes [constant pool | padding to 64 | code] (<see cref="KernelEncoder"/>).</summary>
    public AssembledKernel Finish()
    {
        var scratch = _scratch ?? throw new InvalidOperationException("This kernel was already finished.");
        var body = scratch.Body;
        if (_exitUsed) body.Label(ref _exit);
        _frame.SavedXmm = _cc.IsWin64 ? Math.Max(0, Math.Min(_maxVec, 15) - 5) : 0;
        if (_pool.Bytes > 0 && !_frame.SavedGprs.Contains(PoolBase)) _frame.SavedGprs.Add(PoolBase);
        _cc.EmitEpilogue(body, _frame);
        _cc.EmitPrologue(scratch.Prologue, _frame);
        int entry = KernelEncoder.Encode(scratch.Encoder, scratch.Writer, _pool, scratch.Prologue.Instructions, body.Instructions,
            scratch.Labels, scratch.Pending, PoolBase);
        var assembled = new AssembledKernel(scratch.Writer.ToArray(), entry, _maxVec + 1);
        scratch.Reset();
        _scratch = null;
        t_scratch = scratch;
        return assembled;
    }

    /// <summary>See <see cref="t_scratch"/>. Reset leaves every list and buffer at its capacity.</summary>
    private sealed class Scratch
    {
        public readonly Assembler Body = new(64);
        public readonly Assembler Prologue = new(64);
        public readonly KernelEncoder.ByteWriter Writer = new(4096);
        public readonly Encoder Encoder;
        public readonly Dictionary<ulong, int> Labels = new();
        public readonly List<(Instruction Instr, int Offset, int Length)> Pending = new();

        public Scratch() => Encoder = Encoder.Create(64, Writer);

        public void Reset()
        {
            Body.Reset();
            Prologue.Reset();
            Writer.Clear();
            Labels.Clear();
            Pending.Clear();
        }
    }
}

/// <summary>Where a <see cref="KernelAssembler.ForEachVector"/> body is: [base + Index + Displacement], Count lanes (Tail set when Count &lt; Lanes).</summary>
public readonly record struct Cursor(AssemblerRegister64? Index, int Displacement, int Count, TailMask? Tail, int Slot)
{
    /// <summary>The memory operand of this vector in the array at <paramref name="basePtr"/>.</summary>
    public AssemblerMemoryOperand At(AssemblerRegister64 basePtr) => Index is { } i ? __[basePtr + i + Displacement] : __[basePtr + Displacement];
    public bool IsTail => Tail is not null;
}

/// <summary>Encoded kernel bytes: [constant pool][code]; execution starts at <see cref="EntryOffset"/> (64-aligned).</summary>
public sealed record AssembledKernel(byte[] Bytes, int EntryOffset, int VectorRegistersUsed)
{
    public int CodeBytes => Bytes.Length - EntryOffset;
}
