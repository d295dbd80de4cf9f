using System.Management.Automation;
using NeuralJit.Ops;
using NeuralJit.Reporting;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Writes one self-contained HTML report (no script, nothing fetched): the machine and its roofline numbers, the roofline
/// chart, the Compare-JitSpeedup results piped in, the hotspot table with share bars, and the compiled kernels with their
/// disassembly folded.
/// </summary>
[Cmdlet(VerbsData.Export, "NeuralReport", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class ExportNeuralReportCommand : KernelMeasurementCommand
{
    /// <summary>The speedup (baseline ns / JIT ns); computed from the times when absent.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double Speedup { get; set; }

    /// <summary>Largest |baseline − JIT| over the outputs.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double MaxAbsError { get; set; }

    /// <summary>What bounds the kernel: Compute, L1, L2, L3 or Memory.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Bound { get; set; }

    /// <summary>The roofline bound's share of the JIT time, in percent.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double PercentOfBound { get; set; }

    /// <summary>Half the 99.9% confidence interval of the baseline's mean, in ns.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double BaselineErrorNanoseconds { get; set; }

    /// <summary>Half the 99.9% confidence interval of the JIT kernel's mean, in ns.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double JitErrorNanoseconds { get; set; }

    private protected override string Example => "./report.html";

    private protected override SpeedupResult ToResult(OpKey key) => new()
    {
        Operation = key.Op, Dims = key.Dims, Isa = BoundIsa, Baseline = Baseline ?? "",
        BaselineNanoseconds = BaselineNanoseconds, JitNanoseconds = JitNanoseconds,
        Speedup = Speedup > 0 ? Speedup : JitNanoseconds > 0 ? BaselineNanoseconds / JitNanoseconds : 0,
        MaxAbsError = MaxAbsError, Bound = Bound ?? "", PercentOfBound = PercentOfBound,
        BaselineErrorNanoseconds = BaselineErrorNanoseconds, JitErrorNanoseconds = JitErrorNanoseconds,
    };

    protected override void EndProcessing()
    {
        if (MeasureRoofline() is not { } roofline) return;
        var engine = NeuralEngine.Default;
        var hotspots = engine.GetHotspots();
        var content = new ReportContent
        {
            Title = Title ?? "NeuralJit report",
            Engine = EngineInfo.From(engine),
            Roofline = roofline,
            Hotspots = hotspots,
            Kernels = engine.Jit.Kernels.Select(k => JitKernelInfo.From(engine, k, disassemble: true)).ToList(),
            Speedups = Measured,
            Points = Points(hotspots),
        };
        WriteOutput($"a report of {content.Hotspots.Count} hotspots, {content.Kernels.Count} kernels and {Measured.Count} speedups", () =>
        {
            var w = new StringWriter();
            HtmlReport.Write(w, content, Stop.Token);
            return w.ToString();
        });
    }
}
