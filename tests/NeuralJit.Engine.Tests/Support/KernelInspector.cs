using Iced.Intel;
using NeuralJit.Jit;
using NeuralJit.Ops;
using IcedOpKind = Iced.Intel.OpKind;

namespace NeuralJit.Engine.Tests.Support;

/// <summary>
/// Checks emitted code without running it, so AVX-512 kernels are checked on CPUs that cannot run them.
/// The code is decoded with Iced and walked by a small interpreter that tracks the general-purpose and
/// mask registers exactly and vector values not at all: every load and store is checked against the
/// operands' extents (masked lanes one by one), with the KernelArgs block, the constant pool and the
/// stack as the only other memory. A problem is: an instruction outside the ISA's CPUID features, an
/// AVX-512 tail without a k-mask, an access outside every region, a store to an input, an output element
/// never stored, an aligned-only access to a user buffer, an exit without <c>vzeroupper</c> right before
/// <c>ret</c> or with a callee-saved register or rsp not restored, and an address, branch or mask that
/// depends on values the walk does not know (vector data).
/// </summary>
public static unsafe class KernelInspector
{
    /// <summary>One memory region the kernel may touch: an operand, the arguments, the pool or the stack.</summary>
    private sealed class Region(string name, ulong start, long bytes, bool writable, bool[]? mustWrite)
    {
        public string Name { get; } = name;
        public ulong Start { get; } = start;
        public long Bytes { get; } = bytes;
        public bool Writable { get; } = writable;
        /// <summary>Per element: true where an output must be stored by the kernel (null: no requirement).</summary>
        public bool[]? MustWrite { get; } = mustWrite;
        public bool[]? Written { get; } = mustWrite is null ? null : new bool[mustWrite.Length];
        public bool Contains(ulong a, long n) => a >= Start && a + (ulong)n <= Start + (ulong)Bytes;
    }

    /// <summary>What one walk saw.</summary>
    public sealed record Report(string Kernel, long Steps, int Accesses, int MaskedAccesses, IReadOnlyList<string> Problems)
    {
        public override string ToString() => Problems.Count == 0
            ? $"{Kernel}: {Steps} steps, {Accesses} accesses ({MaskedAccesses} masked)"
            : $"{Kernel}: {string.Join("; ", Problems.Take(8))}{(Problems.Count > 8 ? $" (+{Problems.Count - 8} more)" : "")}";
    }

    /// <summary>An operand as the inspector sees it: name, length in floats, whether the kernel may write it, and which elements it must write.</summary>
    public sealed record OperandExtent(string Field, int Length, bool Input, bool Output, Func<int, bool>? Live = null);

    private const ulong CodeBase = 0x0000_1000_0000_0000, ArgsBase = 0x0000_2000_0000_0000, OperandBase = 0x0000_3000_0000_0000;
    private const ulong StackTop = 0x0000_4000_0000_0000, CalleeSavedMark = 0x5A5A_0000_0000_0000;
    /// <summary>User buffers start 4 bytes past a 64-byte boundary, as the least aligned float buffers do.</summary>
    private const ulong Misalign = 4;
    private const long StackBytes = 1 << 16;

    private static readonly HashSet<CpuidFeature> s_base = new()
    {
        CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486,
        CpuidFeature.X64, CpuidFeature.CMOV, CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.AVX, CpuidFeature.AVX2, CpuidFeature.FMA,
    };
    private static readonly HashSet<CpuidFeature> s_avx512 = new(s_base)
    {
        CpuidFeature.AVX512F, CpuidFeature.AVX512VL, CpuidFeature.AVX512BW, CpuidFeature.AVX512DQ,
    };

    /// <summary>The CPUID features an instruction of a kernel for <paramref name="isa"/> may need.</summary>
    public static IReadOnlySet<CpuidFeature> Allowed(JitIsa isa) => isa == JitIsa.Avx512 ? s_avx512 : s_base;

    /// <summary>
    /// Walks <paramref name="code"/> (an assembled kernel: [pool | code], entry at <paramref name="entryOffset"/>)
    /// as if called with KernelArgs whose pointers address <paramref name="operands"/> and whose Alpha and Beta
    /// are given (Beta = 0 and ≠ 0 take different paths in the matrix kernels).
    /// </summary>
    public static Report Inspect(string name, byte[] code, int entryOffset, JitIsa isa, IReadOnlyList<OperandExtent> operands,
        float alpha = 1.5f, float beta = 0.75f, long maxSteps = 20_000_000)
    {
        var problems = new List<string>();
        void Problem(string p) { if (problems.Count < 64) problems.Add(p); }

        // Decode everything first: invalid bytes or bytes left over are problems on their own.
        var instructions = new Dictionary<ulong, Instruction>();
        var order = new List<Instruction>();
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code, entryOffset, code.Length - entryOffset), CodeBase + (ulong)entryOffset);
        ulong end = CodeBase + (ulong)code.Length;
        while (decoder.IP < end)
        {
            decoder.Decode(out var ins);
            if (ins.IsInvalid) { Problem($"invalid instruction at +{ins.IP - CodeBase - (ulong)entryOffset}"); return new Report(name, 0, 0, 0, problems); }
            instructions[ins.IP] = ins;
            order.Add(ins);
        }
        var allowed = Allowed(isa);
        foreach (var ins in order)
            foreach (var f in ins.Code.CpuidFeatures())
                if (!allowed.Contains(f)) Problem($"{Text(ins)} needs {f}, outside the {isa} list");
        for (int i = 0; i < order.Count; i++)
            if (order[i].Mnemonic == Mnemonic.Ret && (i == 0 || order[i - 1].Mnemonic != Mnemonic.Vzeroupper))
                Problem($"ret at +{order[i].IP - CodeBase} without vzeroupper right before it");
        if (isa == JitIsa.Avx512)
            foreach (var ins in order)
                if (ins.Mnemonic is Mnemonic.Vmaskmovps or Mnemonic.Vblendvps)
                    Problem($"{Text(ins)}: an AVX2 tail form in AVX-512 code (tails use k-masks)");

        // Memory: the regions and the KernelArgs block the kernel reads its pointers from.
        var regions = new List<Region>();
        KernelArgs args = default;
        ulong next = OperandBase;
        foreach (var o in operands)
        {
            ulong start = next + Misalign;
            next += 1UL << 32;
            bool[]? must = o.Output ? Enumerable.Range(0, o.Length).Select(i => o.Live?.Invoke(i) ?? true).ToArray() : null;
            regions.Add(new Region(o.Field, start, 4L * o.Length, writable: o.Output || !o.Input, must));
            float* p = (float*)start;
            switch (o.Field)
            {
                case "A": args.A = p; break;
                case "B": args.B = p; break;
                case "C": args.C = p; break;
                case "D": args.D = p; break;
                case "E": args.E = p; break;
                case "F": args.F = p; break;
                case "G": args.G = p; break;
                case "Scratch": args.Scratch = p; break;
                default: throw new ArgumentException($"unknown KernelArgs field {o.Field}");
            }
        }
        args.Alpha = alpha; args.Beta = beta; args.Result = double.NaN;
        var argBytes = new byte[sizeof(KernelArgs)];
        fixed (byte* d = argBytes) *(KernelArgs*)d = args;
        var argsRegion = new Region("KernelArgs", ArgsBase, argBytes.Length, writable: true, null);
        var poolRegion = new Region("constant pool", CodeBase, entryOffset, writable: false, null);
        var stackRegion = new Region("stack", StackTop - StackBytes, StackBytes + 8, writable: true, null);
        regions.Add(argsRegion); regions.Add(poolRegion); regions.Add(stackRegion);
        var stack = new Dictionary<ulong, Val>();

        var m = new Machine();
        foreach (var r in CallingConvention.CalleeSavedGprs) m.Set(r.Value, Val.Of(CalleeSavedMark + (ulong)r.Value));
        m.Set(Register.RSP, Val.Of(StackTop));
        stack[StackTop] = Val.Of(0xDEAD_BEEF); // the return address
        m.Set(CallingConvention.Current.NativeArgument.Value, Val.Of(ArgsBase));

        var info = new InstructionInfoFactory();
        var vectorConstants = new Dictionary<int, byte[]>(); // vector registers holding a pool constant, by number
        ulong ip = CodeBase + (ulong)entryOffset;
        long steps = 0;
        int accesses = 0, masked = 0;
        while (problems.Count < 64)
        {
            if (!instructions.TryGetValue(ip, out var ins)) { Problem($"control reached +{ip - CodeBase}, outside the decoded kernel"); break; }
            if (++steps > maxSteps) { Problem($"no ret within {maxSteps} steps"); break; }

            // Every memory operand, before the instruction's own effect (addresses use the old registers).
            if (ins.Mnemonic is not (Mnemonic.Lea or Mnemonic.Prefetcht0 or Mnemonic.Prefetcht1 or Mnemonic.Prefetcht2 or Mnemonic.Prefetchnta))
            {
                foreach (var used in info.GetInfo(ins).GetUsedMemory())
                {
                    if (used.Base is Register.RSP or Register.RBP && used.Index == Register.None && ins.Mnemonic is Mnemonic.Push or Mnemonic.Pop or Mnemonic.Ret) continue;
                    var addr = Address(m, used.Base, used.Index, used.Scale, used.Displacement, ins);
                    if (!addr.Known) { Problem($"{Text(ins)}: the address depends on data the walk does not model"); continue; }
                    bool write = used.Access is OpAccess.Write or OpAccess.CondWrite or OpAccess.ReadWrite or OpAccess.ReadCondWrite;
                    int size = used.MemorySize.GetSize();
                    int element = used.MemorySize.GetElementSize();
                    accesses++;
                    if (ins.OpMask != Register.None)
                    {
                        masked++;
                        var k = m.Get(ins.OpMask);
                        if (!k.Known) { Problem($"{Text(ins)}: a masked access whose mask depends on data"); continue; }
                        for (int lane = 0; lane < size / element; lane++)
                            if ((k.V >> lane & 1) != 0) Touch(addr.V + (ulong)(lane * element), element, write, ins);
                    }
                    else if (ins.Mnemonic == Mnemonic.Vmaskmovps)
                    {
                        // AVX2 tails: the lanes are the sign bits of a mask register, known when it was loaded from the pool.
                        masked++;
                        if (!vectorConstants.TryGetValue(ins.Op1Register.GetNumber(), out var lanes)) { Problem($"{Text(ins)}: a vmaskmovps whose mask is not a pool constant"); continue; }
                        for (int lane = 0; lane < size / 4; lane++)
                            if ((lanes[4 * lane + 3] & 0x80) != 0) Touch(addr.V + (ulong)(4 * lane), 4, write, ins);
                    }
                    else
                        Touch(addr.V, size, write, ins);
                }
            }

            // Vector registers: only pool constants are known (the AVX2 tail masks); any other write forgets them.
            foreach (var r in info.GetInfo(ins).GetUsedRegisters())
                if (r.Register.IsVectorRegister() && r.Access is not (OpAccess.Read or OpAccess.CondRead or OpAccess.None))
                    vectorConstants.Remove(r.Register.GetNumber());
            if (ins.Mnemonic is Mnemonic.Vmovdqu or Mnemonic.Vmovups or Mnemonic.Vmovaps or Mnemonic.Vmovdqa && ins.OpCount == 2
                && ins.Op0Kind == IcedOpKind.Register && ins.Op1Kind == IcedOpKind.Memory && ins.OpMask == Register.None
                && Address(m, ins.MemoryBase, ins.MemoryIndex, ins.MemoryIndexScale, ins.MemoryDisplacement64, ins) is { Known: true } constant
                && poolRegion.Contains(constant.V, ins.MemorySize.GetSize()))
                vectorConstants[ins.Op0Register.GetNumber()] = code.AsSpan((int)(constant.V - CodeBase), ins.MemorySize.GetSize()).ToArray();

            ulong nextIp = ins.NextIP;
            switch (ins.Mnemonic)
            {
                case Mnemonic.Ret:
                    if (m.Get(Register.RSP) is not { Known: true, V: StackTop }) Problem($"ret with rsp {m.Get(Register.RSP)}, not where it started");
                    foreach (var r in CallingConvention.CalleeSavedGprs)
                        if (m.Get(r.Value) is not { Known: true } v || v.V != CalleeSavedMark + (ulong)r.Value) Problem($"ret with callee-saved {r.Value} not restored");
                    foreach (var region in regions.Where(r => r.Written is not null))
                    {
                        int missed = Enumerable.Range(0, region.Written!.Length).Count(e => region.MustWrite![e] && !region.Written[e]);
                        if (missed > 0) Problem($"{missed} element(s) of output {region.Name} never stored, the first at {Enumerable.Range(0, region.Written.Length).First(e => region.MustWrite![e] && !region.Written[e])}");
                    }
                    return new Report(name, steps, accesses, masked, problems);
                case Mnemonic.Push:
                {
                    var v = Operand(ins, 0);
                    var sp = m.Get(Register.RSP).V - 8;
                    m.Set(Register.RSP, Val.Of(sp));
                    Touch(sp, 8, true, ins);
                    stack[sp] = v;
                    break;
                }
                case Mnemonic.Pop:
                {
                    var sp = m.Get(Register.RSP).V;
                    Touch(sp, 8, false, ins);
                    m.Set(ins.Op0Register, stack.TryGetValue(sp, out var v) ? v : Val.Unknown);
                    m.Set(Register.RSP, Val.Of(sp + 8));
                    break;
                }
                case Mnemonic.Mov or Mnemonic.Movzx or Mnemonic.Movsxd when ins.Op0Kind == IcedOpKind.Register:
                {
                    var v = Operand(ins, 1);
                    if (ins.Mnemonic == Mnemonic.Movsxd && v.Known) v = Val.Of((ulong)(long)(int)v.V);
                    m.Set(ins.Op0Register, v);
                    break;
                }
                case Mnemonic.Mov when ins.Op0Kind == IcedOpKind.Memory:
                {
                    var a = Address(m, ins.MemoryBase, ins.MemoryIndex, ins.MemoryIndexScale, ins.MemoryDisplacement64, ins);
                    if (a.Known && stackRegion.Contains(a.V, 8)) stack[a.V] = ins.MemorySize.GetSize() == 8 ? Operand(ins, 1) : Val.Unknown;
                    break;
                }
                case Mnemonic.Lea:
                    m.Set(ins.Op0Register, Address(m, ins.MemoryBase, ins.MemoryIndex, ins.MemoryIndexScale, ins.MemoryDisplacement64, ins));
                    break;
                case Mnemonic.Add or Mnemonic.Sub or Mnemonic.Cmp or Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Test
                    or Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Neg or Mnemonic.Imul or Mnemonic.Shl or Mnemonic.Shr or Mnemonic.Sar:
                    Alu(ins);
                    break;
                case Mnemonic.Jmp:
                    nextIp = ins.NearBranchTarget;
                    break;
                case Mnemonic.Kmovw or Mnemonic.Kmovd or Mnemonic.Kmovq or Mnemonic.Kmovb:
                {
                    var v = Operand(ins, 1);
                    int bits = ins.Mnemonic switch { Mnemonic.Kmovb => 8, Mnemonic.Kmovw => 16, Mnemonic.Kmovd => 32, _ => 64 };
                    if (ins.Op0Kind == IcedOpKind.Register) m.Set(ins.Op0Register, v.Known ? Val.Of(bits == 64 ? v.V : v.V & ((1UL << bits) - 1)) : v);
                    break;
                }
                case Mnemonic.Kxnorw or Mnemonic.Kxnorb or Mnemonic.Kxnord or Mnemonic.Kxnorq when ins.Op1Register == ins.Op2Register:
                {
                    int bits = ins.Mnemonic switch { Mnemonic.Kxnorb => 8, Mnemonic.Kxnorw => 16, Mnemonic.Kxnord => 32, _ => 64 };
                    m.Set(ins.Op0Register, Val.Of(bits == 64 ? ulong.MaxValue : (1UL << bits) - 1));
                    break;
                }
                default:
                    if (ins.FlowControl == FlowControl.ConditionalBranch)
                    {
                        var taken = m.Condition(ins.ConditionCode);
                        if (taken is null) { Problem($"{Text(ins)}: a branch on flags the walk does not know"); return new Report(name, steps, accesses, masked, problems); }
                        if (taken.Value) nextIp = ins.NearBranchTarget;
                    }
                    else if (ins.FlowControl is not FlowControl.Next)
                    {
                        Problem($"{Text(ins)}: control flow the inspector does not model");
                        return new Report(name, steps, accesses, masked, problems);
                    }
                    else
                    {
                        // Anything else that writes a GPR or a mask register leaves it unknown (its value comes from vector data).
                        foreach (var r in info.GetInfo(ins).GetUsedRegisters())
                            if (r.Access is OpAccess.Write or OpAccess.ReadWrite or OpAccess.CondWrite or OpAccess.ReadCondWrite && (r.Register.IsGPR() || r.Register.IsK()))
                                m.Set(r.Register, Val.Unknown);
                        if (ins.RflagsModified != RflagsBits.None) m.ForgetFlags();
                    }
                    break;
            }
            ip = nextIp;
        }
        return new Report(name, steps, accesses, masked, problems);

        void Touch(ulong address, long bytes, bool write, in Instruction ins)
        {
            var region = regions.FirstOrDefault(r => r.Contains(address, bytes));
            if (region is null)
            {
                var near = regions.FirstOrDefault(r => address + (ulong)bytes > r.Start && address < r.Start + (ulong)r.Bytes + 4096);
                Problem(near is null
                    ? $"{Text(ins)}: {bytes} bytes at 0x{address:X} are outside every operand"
                    : $"{Text(ins)}: {bytes} bytes at byte {(long)(address - near.Start)} of {near.Name} ({near.Bytes} bytes) run past its extent");
                return;
            }
            if (write && !region.Writable) { Problem($"{Text(ins)}: stores to {region.Name}, which is an input"); return; }
            if (ins.Mnemonic is Mnemonic.Vmovaps or Mnemonic.Vmovapd or Mnemonic.Vmovdqa or Mnemonic.Vmovdqa32 or Mnemonic.Vmovdqa64 or Mnemonic.Vmovntps
                && region.Start >= OperandBase && region.Start < StackTop)
                Problem($"{Text(ins)}: an aligned-only access to {region.Name}, which users may pass unaligned");
            if (write && region.Written is { } written)
            {
                long first = (long)(address - region.Start) / 4, last = ((long)(address - region.Start) + bytes - 1) / 4;
                for (long e = first; e <= last; e++)
                {
                    if (!region.MustWrite![e]) Problem($"{Text(ins)}: stores to element {e} of {region.Name}, which is outside its rows (padding)");
                    written[e] = true;
                }
            }
        }

        Val Operand(in Instruction ins, int i) => ins.GetOpKind(i) switch
        {
            IcedOpKind.Register => m.Get(ins.GetOpRegister(i)),
            IcedOpKind.Immediate8 or IcedOpKind.Immediate16 or IcedOpKind.Immediate32 or IcedOpKind.Immediate64
                or IcedOpKind.Immediate8to16 or IcedOpKind.Immediate8to32 or IcedOpKind.Immediate8to64 or IcedOpKind.Immediate32to64 => Val.Of(ins.GetImmediate(i)),
            IcedOpKind.Memory => Load(ins),
            _ => Val.Unknown,
        };

        Val Load(in Instruction ins)
        {
            var a = Address(m, ins.MemoryBase, ins.MemoryIndex, ins.MemoryIndexScale, ins.MemoryDisplacement64, ins);
            int size = ins.MemorySize.GetSize();
            if (!a.Known || size > 8) return Val.Unknown;
            if (argsRegion.Contains(a.V, size)) return Val.Of(ReadLittleEndian(argBytes, (int)(a.V - ArgsBase), size));
            if (poolRegion.Contains(a.V, size)) return Val.Of(ReadLittleEndian(code, (int)(a.V - CodeBase), size));
            if (size == 8 && stack.TryGetValue(a.V, out var v)) return v;
            return Val.Unknown;
        }

        void Alu(in Instruction ins)
        {
            var dst = Operand(ins, 0);
            int bits = ins.Op0Kind == IcedOpKind.Register ? ins.Op0Register.GetSize() * 8 : ins.MemorySize.GetSize() * 8;
            Val src = ins.Mnemonic is Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Neg ? Val.Of(1)
                : ins.Mnemonic == Mnemonic.Imul && ins.OpCount == 3 ? Operand(ins, 2)
                : Operand(ins, 1);
            if (ins.Mnemonic == Mnemonic.Imul && ins.OpCount == 3) dst = Operand(ins, 1);
            bool writes = ins.Mnemonic is not (Mnemonic.Cmp or Mnemonic.Test);
            if (ins.Mnemonic is Mnemonic.Xor or Mnemonic.Sub && ins.Op0Kind == IcedOpKind.Register && ins.Op1Kind == IcedOpKind.Register && ins.Op0Register == ins.Op1Register)
            {
                dst = Val.Of(0); src = Val.Of(0); // xor r, r is zero whatever r held
            }
            if (!dst.Known || !src.Known)
            {
                if (writes && ins.Op0Kind == IcedOpKind.Register) m.Set(ins.Op0Register, Val.Unknown);
                m.ForgetFlags();
                return;
            }
            ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1, sign = 1UL << (bits - 1);
            ulong a = dst.V & mask, b = src.V & mask, r;
            bool? cf = false, of = false;
            switch (ins.Mnemonic)
            {
                case Mnemonic.Add: r = (a + b) & mask; cf = r < a; of = ((~(a ^ b) & (a ^ r)) & sign) != 0; break;
                case Mnemonic.Sub or Mnemonic.Cmp: r = (a - b) & mask; cf = a < b; of = (((a ^ b) & (a ^ r)) & sign) != 0; break;
                case Mnemonic.Inc: r = (a + 1) & mask; cf = m.CF; of = r == sign; break;
                case Mnemonic.Dec: r = (a - 1) & mask; cf = m.CF; of = a == sign; break;
                case Mnemonic.Neg: r = (0 - a) & mask; cf = a != 0; of = a == sign; break;
                case Mnemonic.And or Mnemonic.Test: r = a & b; break;
                case Mnemonic.Or: r = a | b; break;
                case Mnemonic.Xor: r = a ^ b; break;
                case Mnemonic.Imul: r = (a * b) & mask; cf = of = null; break;
                case Mnemonic.Shl: r = (a << (int)(b & 63)) & mask; cf = of = null; break;
                case Mnemonic.Shr: r = a >> (int)(b & 63); cf = of = null; break;
                default: r = (ulong)((long)(a << (64 - bits)) >> (64 - bits) >> (int)(b & 63)) & mask; cf = of = null; break; // sar
            }
            if (writes && ins.Op0Kind == IcedOpKind.Register) m.Set(ins.Op0Register, Val.Of(r));
            m.SetFlags(zf: r == 0, sf: (r & sign) != 0, cf, of);
        }
    }

    private static ulong ReadLittleEndian(byte[] bytes, int offset, int size)
    {
        ulong v = 0;
        for (int i = size - 1; i >= 0; i--) v = v << 8 | bytes[offset + i];
        return v;
    }

    private static Val Address(Machine m, Register @base, Register index, int scale, ulong displacement, in Instruction ins)
    {
        if (@base == Register.RIP) return Val.Of(ins.IPRelativeMemoryAddress);
        var b = @base == Register.None ? Val.Of(0) : m.Get(@base);
        var x = index == Register.None ? Val.Of(0) : m.Get(index);
        return b.Known && x.Known ? Val.Of(b.V + x.V * (ulong)scale + displacement) : Val.Unknown;
    }

    private static string Text(in Instruction ins) => $"+{ins.IP - CodeBase:X} {ins}";

    /// <summary>A register's value, or unknown.</summary>
    private readonly record struct Val(ulong V, bool Known)
    {
        public static Val Of(ulong v) => new(v, true);
        public static Val Unknown => default;
        public override string ToString() => Known ? $"0x{V:X}" : "unknown";
    }

    /// <summary>The GPRs, k0–k7 and the four flags the branches read.</summary>
    private sealed class Machine
    {
        private readonly Val[] _gpr = new Val[16];
        private readonly Val[] _k = new Val[8];
        public bool? ZF, SF, CF, OF;

        public Val Get(Register r)
        {
            if (r.IsK()) return _k[r - Register.K0];
            var full = r.GetFullRegister();
            if (full < Register.RAX || full > Register.R15) return Val.Unknown;
            var v = _gpr[full - Register.RAX];
            int bytes = r.GetSize();
            return v.Known && bytes < 8 ? Val.Of(v.V & ((1UL << (8 * bytes)) - 1)) : v;
        }

        public void Set(Register r, Val v)
        {
            if (r.IsK()) { _k[r - Register.K0] = v; return; }
            var full = r.GetFullRegister();
            if (full < Register.RAX || full > Register.R15) return;
            int bytes = r.GetSize();
            // A 32-bit write zero-extends; 8- and 16-bit writes merge, which the walk does not need to model.
            _gpr[full - Register.RAX] = bytes == 8 ? v : bytes == 4 && v.Known ? Val.Of(v.V & 0xFFFF_FFFF) : Val.Unknown;
        }

        public void SetFlags(bool zf, bool sf, bool? cf, bool? of) { ZF = zf; SF = sf; CF = cf; OF = of; }
        public void ForgetFlags() { ZF = SF = CF = OF = null; }

        public bool? Condition(ConditionCode c) => c switch
        {
            ConditionCode.e => ZF,
            ConditionCode.ne => !ZF,
            ConditionCode.b => CF,
            ConditionCode.ae => !CF,
            ConditionCode.be => CF is null || ZF is null ? null : CF.Value || ZF.Value,
            ConditionCode.a => CF is null || ZF is null ? null : !CF.Value && !ZF.Value,
            ConditionCode.s => SF,
            ConditionCode.ns => !SF,
            ConditionCode.o => OF,
            ConditionCode.no => !OF,
            ConditionCode.l => SF is null || OF is null ? null : SF != OF,
            ConditionCode.ge => SF is null || OF is null ? null : SF == OF,
            ConditionCode.le => SF is null || OF is null || ZF is null ? null : ZF.Value || SF != OF,
            ConditionCode.g => SF is null || OF is null || ZF is null ? null : !ZF.Value && SF == OF,
            _ => null,
        };
    }
}
