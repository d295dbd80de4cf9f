using System.Management.Automation;

namespace NeuralJit.PowerShell.Commands;

/// <summary>Zeroes every profile counter of the engine; compiled kernels stay installed.</summary>
[Cmdlet(VerbsCommon.Reset, "NeuralProfile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class ResetNeuralProfileCommand : PSCmdlet
{
    protected override void EndProcessing()
    {
        var engine = NeuralEngine.Default;
        if (ShouldProcess($"{engine.Profile.Count} profiled keys", "Reset the call and cycle counters"))
            engine.Profile.Reset();
    }
}
