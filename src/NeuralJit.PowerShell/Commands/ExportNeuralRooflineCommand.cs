using System.Management.Automation;
using NeuralJit.Reporting;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Writes this machine's roofline as an SVG chart: log-log axes of arithmetic intensity against GFLOP/s, the measured
/// FMA peaks and cache/memory bandwidths as ceilings, and a baseline mark, a JIT mark and an arrow per kernel piped in
/// from Compare-JitSpeedup (or, with no input, the profile's kernels at their current tier).
/// </summary>
[Cmdlet(VerbsData.Export, "NeuralRoofline", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class ExportNeuralRooflineCommand : KernelMeasurementCommand
{
    /// <summary>Width of the chart in pixels (its height is fixed at 540).</summary>
    [Parameter]
    [ValidateRange(400, 4000)]
    public int Width { get; set; } = 800;

    private protected override string Example => "./roofline.svg";

    protected override void EndProcessing()
    {
        if (MeasureRoofline() is not { } roofline) return;
        var points = Points(NeuralEngine.Default.GetHotspots());
        string source = Measured.Count > 0 ? "Compare-JitSpeedup" : "the current profile";
        WriteOutput($"a roofline chart of {points.Count} kernels",
            () => RooflineChart.Render(roofline, points, Title ?? "Roofline",
                $"{MachineDescription.CpuName}; kernels from {source}", Width));
    }
}
