using System.Text;
using Iced.Intel;
using NeuralJit.Ops;

namespace NeuralJit.Jit;

/// <summary>
/// One compiled kernel: machine code for one (op, shape, ISA), living in the engine's code cache.
/// Its entry point takes a single <see cref="KernelArgs"/>* argument.
/// </summary>
public sealed class JitKernel
{
    public JitKernel(OpKey key, JitIsa isa, nint entry, byte[] code, double compileMicroseconds, bool suppressGcTransition = true)
    {
        Key = key;
        Isa = isa;
        Entry = entry;
        Code = code;
        CompileMicroseconds = compileMicroseconds;
        SuppressGcTransition = suppressGcTransition;
    }

    public OpKey Key { get; }
    public JitIsa Isa { get; }
    /// <summary>Address of the first instruction (read-execute memory).</summary>
    public nint Entry { get; }
    /// <summary>A copy of the emitted bytes (for disassembly and round-trip tests).</summary>
    public byte[] Code { get; }
    public double CompileMicroseconds { get; }
    /// <summary>Short kernels skip the GC transition on call (they never block or call back).</summary>
    public bool SuppressGcTransition { get; }

    /// <summary>Bytes of constant pool placed just before <see cref="Entry"/> (data the code reads through r15; not instructions).</summary>
    public int ConstantPoolBytes { get; init; }

    /// <summary>Time to copy the bytes into the code cache and make them executable (part of <see cref="CompileMicroseconds"/>).</summary>
    public double InstallMicroseconds { get; init; }

    /// <summary>The code as Intel-syntax assembly, one instruction per line with its address (decoded on demand by Iced).</summary>
    public string Disassemble()
    {
        var sb = new StringBuilder();
        if (ConstantPoolBytes > 0) sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"; constant pool: {ConstantPoolBytes} bytes at 0x{(long)Entry - ConstantPoolBytes:X}\n");
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(Code), (ulong)Entry);
        var formatter = new IntelFormatter();
        formatter.Options.FirstOperandCharIndex = 10;
        var output = new StringOutput();
        ulong end = (ulong)Entry + (ulong)Code.Length;
        while (decoder.IP < end)
        {
            decoder.Decode(out var instr);
            formatter.Format(instr, output);
            sb.Append(instr.IP.ToString("X16", System.Globalization.CultureInfo.InvariantCulture)).Append("  ").Append(output.ToStringAndReset()).Append('\n');
        }
        return sb.ToString();
    }

    public string Name => $"{Key.Op}_{Key.Dims.Replace('/', '_').Replace(',', '_')}_{Isa}".ToLowerInvariant();
}
