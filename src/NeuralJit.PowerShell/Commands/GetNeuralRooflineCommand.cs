using System.Management.Automation;
using NeuralJit.Benchmarking;
using NeuralJit.Jit;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Measures this machine's roofline with emitted loops: fp32 FMA peak under AVX2 and AVX-512 and the read, in-place
/// update and write bandwidth of L1, L2, L3 and memory. The first call measures (seconds) and later calls return that
/// measurement, which Compare-JitSpeedup also uses; -Force measures again.
/// </summary>
[Cmdlet(VerbsCommon.Get, "NeuralRoofline")]
[OutputType(typeof(RooflineResult))]
public sealed class GetNeuralRooflineCommand : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Measure again instead of returning the process's first measurement.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        if (CpuFeatures.Best == JitIsa.None)
        {
            ThrowTerminatingError(NeuralErrors.Create(
                new PlatformNotSupportedException("The roofline loops need an x86-64 CPU with AVX2 and FMA."),
                "GetNeuralRooflineUnsupportedCpu", ErrorCategory.NotImplemented, CpuFeatures.Describe(),
                "Run on an x86-64 CPU with AVX2 and FMA.", details: "This CPU lacks AVX2+FMA, so there is no JIT tier to bound."));
            return;
        }
        try
        {
            WriteObject(Force ? Roofline.Measure(_stop.Token) : Roofline.GetCached(_stop.Token));
        }
        catch (OperationCanceledException) { }
        catch (ExecutableMemoryException e)
        {
            ThrowTerminatingError(NeuralErrors.Create(e, "GetNeuralRooflineExecutableMemoryDenied", ErrorCategory.PermissionDenied, null,
                "The OS refuses executable memory (SELinux execmem, PaX): allow it for this process to measure."));
        }
    }

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>PowerShell disposes a cmdlet when its pipeline ends.</summary>
    public void Dispose() => _stop.Dispose();
}
