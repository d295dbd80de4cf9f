using System.Runtime.InteropServices;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Jit;

/// <summary>
/// The one place that knows SysV vs Win64. Every kernel is <c>void kernel(KernelArgs*)</c>. Emitted bodies
/// see the same machine on both: the KernelArgs pointer in <c>rdi</c>, and free use of the scratch GPRs
/// (<see cref="ScratchGprs"/>) and of every vector register they touch. The prologue/epilogue built here
/// make that true: on Win64 it saves rsi/rdi (callee-saved there), moves rcx into rdi and saves the low
/// 128 bits of xmm6–15 if the body used them; everywhere it saves any callee-saved GPR the body asked
/// for, aligns a stack frame if the body asked for scratch stack, and ends with <c>vzeroupper; ret</c>
/// (no AVX→SSE transition penalty in the managed caller).
/// </summary>
public sealed class CallingConvention
{
    public static CallingConvention Current { get; } = new(OperatingSystem.IsWindows());

    public CallingConvention(bool win64) => IsWin64 = win64;

    public bool IsWin64 { get; }

    /// <summary>The native register holding the KernelArgs* on entry (rcx on Win64, rdi on SysV).</summary>
    public AssemblerRegister64 NativeArgument => IsWin64 ? rcx : rdi;

    /// <summary>Where the body finds the KernelArgs* (after the prologue), on every OS.</summary>
    public static AssemblerRegister64 Args => rdi;

    /// <summary>GPRs a body may use freely without asking (rdi holds the args pointer; rsp is the stack).</summary>
    public static IReadOnlyList<AssemblerRegister64> ScratchGprs { get; } = new[] { rax, rcx, rdx, rsi, r8, r9, r10, r11 };

    /// <summary>GPRs a body must declare with <see cref="KernelAssembler.UseCalleeSaved"/> before using them.</summary>
    public static IReadOnlyList<AssemblerRegister64> CalleeSavedGprs { get; } = new[] { rbx, rbp, r12, r13, r14, r15 };

    /// <summary>Emits the prologue into <paramref name="a"/>. Pairs with <see cref="EmitEpilogue"/>.</summary>
    internal void EmitPrologue(Assembler a, Frame f)
    {
        if (IsWin64) { a.push(rsi); a.push(rdi); }
        foreach (var r in f.SavedGprs) a.push(r);
        if (f.StackBytes > 0 || (IsWin64 && f.SavedXmm > 0))
        {
            a.push(rbp);
            a.mov(rbp, rsp);
            int bytes = (f.StackBytes + 63) / 64 * 64 + f.SavedXmm * 16;
            a.sub(rsp, bytes);
            a.and(rsp, -64);
            // xmm saves sit above the 64-aligned scratch area.
            for (int i = 0; i < f.SavedXmm; i++)
                a.vmovdqu(__[rsp + ((f.StackBytes + 63) / 64 * 64 + i * 16)], new AssemblerRegisterXMM(Register.XMM6 + i));
        }
        if (IsWin64) a.mov(rdi, rcx);
    }

    internal void EmitEpilogue(Assembler a, Frame f)
    {
        if (f.StackBytes > 0 || (IsWin64 && f.SavedXmm > 0))
        {
            for (int i = 0; i < f.SavedXmm; i++)
                a.vmovdqu(new AssemblerRegisterXMM(Register.XMM6 + i), __[rsp + ((f.StackBytes + 63) / 64 * 64 + i * 16)]);
            a.mov(rsp, rbp);
            a.pop(rbp);
        }
        for (int i = f.SavedGprs.Count - 1; i >= 0; i--) a.pop(f.SavedGprs[i]);
        if (IsWin64) { a.pop(rdi); a.pop(rsi); }
        a.vzeroupper();
        a.ret();
    }

    /// <summary>What the body used, so the prologue saves exactly that.</summary>
    internal sealed class Frame
    {
        public List<AssemblerRegister64> SavedGprs { get; } = new();
        /// <summary>How many of xmm6..xmm15 must be saved (Win64 only): highest used index − 5.</summary>
        public int SavedXmm;
        public int StackBytes;
    }
}
