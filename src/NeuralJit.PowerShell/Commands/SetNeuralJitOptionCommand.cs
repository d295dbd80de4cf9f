using System.Management.Automation;
using NeuralJit.Jit;

namespace NeuralJit.PowerShell.Commands;

/// <summary>Changes the JIT's promotion thresholds, ISA cap, on/off switch, code cache size and subnormal handling for the session's engine.</summary>
[Cmdlet(VerbsCommon.Set, "NeuralJitOption", SupportsShouldProcess = true)]
[OutputType(typeof(EngineInfo))]
public sealed class SetNeuralJitOptionCommand : PSCmdlet
{
    /// <summary>Calls a key needs before it can be promoted.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long CallThreshold { get; set; }

    /// <summary>Share (0..1) of all profiled cycles a key needs before it can be promoted.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double ShareThreshold { get; set; }

    /// <summary>Widest ISA the JIT may use: None, Avx2 or Avx512. Fixed once the first kernel is compiled.</summary>
    [Parameter]
    public JitIsa Isa { get; set; }

    /// <summary>Whether hot keys are compiled automatically.</summary>
    [Parameter]
    public bool Enabled { get; set; }

    /// <summary>Size of the code cache in bytes (at least 4096). Applies until the cache is first mapped.</summary>
    [Parameter]
    [ValidateRange(4096, 256 * 1024 * 1024)]
    public int CodeCacheBytes { get; set; }

    /// <summary>Whether network steps run with subnormal floats flushed to zero (x86-64 only; off by default).</summary>
    [Parameter]
    public bool FlushDenormals { get; set; }

    /// <summary>Write the engine's settings afterwards (Get-NeuralEngine's object).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var engine = NeuralEngine.Default;
        var o = engine.Options;
        bool Bound(string name) => MyInvocation.BoundParameters.ContainsKey(name);
        if (Bound(nameof(CallThreshold)) && ShouldProcess("JIT", $"Set CallThreshold to {CallThreshold}")) o.CallThreshold = CallThreshold;
        if (Bound(nameof(ShareThreshold)) && ShouldProcess("JIT", $"Set ShareThreshold to {ShareThreshold}")) o.ShareThreshold = ShareThreshold;
        if (Bound(nameof(Enabled)) && ShouldProcess("JIT", Enabled ? "Enable automatic compilation" : "Disable automatic compilation")) o.JitEnabled = Enabled;
        if (Bound(nameof(Isa)) && Isa != JitIsa.None && !CpuFeatures.CanRun(Isa))
        {
            WriteError(NeuralErrors.Create(new PlatformNotSupportedException($"This CPU does not support {Isa} (it has: {CpuFeatures.Describe()}); the JIT keeps {engine.Jit.Isa}."),
                "SetNeuralJitOptionIsaUnavailable", ErrorCategory.NotEnabled, Isa,
                $"Use -Isa {CpuFeatures.Best} or lower (Get-NeuralEngine shows BestIsa); AVX-512 kernels need a CPU with AVX-512 F/BW/VL/DQ and no NEURALJIT_MAX_ISA below Avx512."));
        }
        else if (Bound(nameof(Isa)) && ShouldProcess("JIT", $"Cap the ISA at {Isa}") && !engine.Jit.TrySetIsaCap(Isa, out var why))
        {
            WriteError(NeuralErrors.InvalidOperation(why!, "SetNeuralJitOptionIsaFixed", Isa,
                "Start a new session (or set NEURALJIT_MAX_ISA) before the first compile, or compare ISAs with Invoke-NeuralJitCompile -Isa."));
        }
        string? whyNoFlush = null;
        if (Bound(nameof(FlushDenormals)) && FlushDenormals && !Platform.FloatingPointControl.IsAvailable(out whyNoFlush))
        {
            WriteError(NeuralErrors.Create(new PlatformNotSupportedException($"Flushing subnormal floats sets the x86-64 MXCSR register. {whyNoFlush}"),
                "SetNeuralJitOptionFlushDenormalsUnsupported", ErrorCategory.NotEnabled, FlushDenormals,
                "Leave -FlushDenormals off on this CPU: subnormals are kept (IEEE)."));
        }
        else if (Bound(nameof(FlushDenormals)) && ShouldProcess("network steps", FlushDenormals ? "Flush subnormal floats to zero" : "Keep subnormal floats (IEEE)"))
            o.FlushDenormals = FlushDenormals;
        if (Bound(nameof(CodeCacheBytes)) && ShouldProcess("JIT", $"Set the code cache to {CodeCacheBytes} bytes") && !engine.Jit.TrySetCodeCacheBytes(CodeCacheBytes, out var whyNot))
        {
            WriteError(NeuralErrors.InvalidOperation(whyNot!, "SetNeuralJitOptionCodeCacheMapped", CodeCacheBytes,
                "Set -CodeCacheBytes at the start of a session, before the first kernel is compiled."));
        }
        if (PassThru) WriteObject(EngineInfo.From(engine));
    }
}
