using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit;

/// <summary>What <c>Get-NeuralJitKernel</c> and <c>Invoke-NeuralJitCompile</c> report about one compiled kernel.</summary>
public sealed class JitKernelInfo
{
    /// <summary>e.g. "dnccontent_256x64_avx512".</summary>
    public string Name { get; init; } = "";
    public OpKind Operation { get; init; }
    /// <summary>The shape as Get-NeuralHotspot shows it ("256x64").</summary>
    public string Dims { get; init; } = "";
    /// <summary>Avx2 or Avx512.</summary>
    public JitIsa Isa { get; init; }
    /// <summary>Bytes of machine code (the constant pool in front of it is <see cref="ConstantPoolBytes"/>).</summary>
    public int CodeBytes { get; init; }
    public int ConstantPoolBytes { get; init; }
    /// <summary>Emit + encode + install, measured with Stopwatch.</summary>
    public double CompileMicroseconds { get; init; }
    /// <summary>The install part alone (copy into the code cache).</summary>
    public double InstallMicroseconds { get; init; }
    /// <summary>Calls of this (op, shape) in the profile (every tier), 0 when never profiled.</summary>
    public long Calls { get; init; }
    /// <summary>True when a profiled slot runs this kernel now.</summary>
    public bool Installed { get; init; }
    /// <summary>Entry point, as a hex string ("0x7F12345640").</summary>
    public string Address { get; init; } = "";
    /// <summary>Intel-syntax listing; null unless asked for (-Disassemble).</summary>
    public string? Disassembly { get; init; }

    public static JitKernelInfo From(NeuralEngine engine, JitKernel kernel, bool disassemble = false)
    {
        var slot = engine.Profile.Find(kernel.Key);
        return new JitKernelInfo
        {
            Name = kernel.Name,
            Operation = kernel.Key.Op,
            Dims = kernel.Key.Dims,
            Isa = kernel.Isa,
            CodeBytes = kernel.Code.Length,
            ConstantPoolBytes = kernel.ConstantPoolBytes,
            CompileMicroseconds = kernel.CompileMicroseconds,
            InstallMicroseconds = kernel.InstallMicroseconds,
            Calls = slot?.Snapshot().Calls ?? 0,
            Installed = ReferenceEquals(slot?.JitKernel, kernel),
            Address = $"0x{(long)kernel.Entry:X}",
            Disassembly = disassemble ? kernel.Disassemble() : null,
        };
    }

    public override string ToString() => Name;
}
