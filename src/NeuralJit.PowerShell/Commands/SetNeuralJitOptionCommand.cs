using System.Management.Automation;
using NeuralJit.Jit;

namespace NeuralJit.PowerShell.Commands;

/// <summary>Changes the JIT's promotion thresholds, ISA cap, on/off switch and code cache size for the session's engine.</summary>
[Cmdlet(VerbsCommon.Set, "NeuralJitOption", SupportsShouldProcess = true)]
[OutputType(typeof(EngineInfo))]
public sealed class SetNeuralJitOptionCommand : PSCmdlet
{
    /// <summary>Calls a key needs before it can be promoted.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long? CallThreshold { get; set; }

    /// <summary>Share (0..1) of all profiled cycles a key needs before it can be promoted.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double? ShareThreshold { get; set; }

    /// <summary>Widest ISA the JIT may use: None, Avx2 or Avx512. Fixed once the first kernel is compiled.</summary>
    [Parameter]
    public JitIsa? Isa { get; set; }

    /// <summary>Whether hot keys are compiled automatically.</summary>
    [Parameter]
    public bool? Enabled { get; set; }

    /// <summary>Size of the code cache in bytes (at least 4096). Applies until the cache is first mapped.</summary>
    [Parameter]
    [ValidateRange(4096, 256 * 1024 * 1024)]
    public int? CodeCacheBytes { get; set; }

    /// <summary>Write the engine's settings afterwards (Get-NeuralEngine's object).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var engine = NeuralEngine.Default;
        var o = engine.Options;
        if (CallThreshold is { } calls && ShouldProcess("JIT", $"Set CallThreshold to {calls}")) o.CallThreshold = calls;
        if (ShareThreshold is { } share && ShouldProcess("JIT", $"Set ShareThreshold to {share}")) o.ShareThreshold = share;
        if (Enabled is { } on && ShouldProcess("JIT", on ? "Enable automatic compilation" : "Disable automatic compilation")) o.JitEnabled = on;
        if (Isa is { } isa && ShouldProcess("JIT", $"Cap the ISA at {isa}") && !engine.Jit.TrySetIsaCap(isa, out var why))
        {
            var err = new ErrorRecord(new InvalidOperationException(why), "SetNeuralJitOptionIsaFixed", ErrorCategory.InvalidOperation, isa);
            err.ErrorDetails = new ErrorDetails(why) { RecommendedAction = "Start a new session (or set NEURALJIT_MAX_ISA) before the first compile, or compare ISAs with Invoke-NeuralJitCompile -Isa." };
            WriteError(err);
        }
        if (CodeCacheBytes is { } bytes && ShouldProcess("JIT", $"Set the code cache to {bytes} bytes") && !engine.Jit.TrySetCodeCacheBytes(bytes, out var whyNot))
        {
            var err = new ErrorRecord(new InvalidOperationException(whyNot), "SetNeuralJitOptionCodeCacheMapped", ErrorCategory.InvalidOperation, bytes);
            err.ErrorDetails = new ErrorDetails(whyNot) { RecommendedAction = "Set -CodeCacheBytes at the start of a session, before the first kernel is compiled." };
            WriteError(err);
        }
        if (PassThru) WriteObject(EngineInfo.From(engine));
    }
}
