using System.Management.Automation;
using NeuralJit.Ops;

namespace NeuralJit.PowerShell.Commands;

/// <summary>The profiled (op, shape) keys ranked by total cycles, with their share and JIT status.</summary>
[Cmdlet(VerbsCommon.Get, "NeuralHotspot")]
[OutputType(typeof(HotspotRecord))]
public sealed class GetNeuralHotspotCommand : PSCmdlet
{
    /// <summary>Only the first N records (after filtering).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Top { get; set; }

    /// <summary>Only these operations.</summary>
    [Parameter(Position = 0)]
    public OpKind[]? Operation { get; set; }

    /// <summary>Only keys with these statuses.</summary>
    [Parameter]
    public HotspotStatus[]? Status { get; set; }

    protected override void EndProcessing()
    {
        IEnumerable<HotspotRecord> rows = NeuralEngine.Default.GetHotspots();
        if (Operation is { Length: > 0 }) rows = rows.Where(r => Operation.Any(o => o.ToString() == r.Operation));
        if (Status is { Length: > 0 }) rows = rows.Where(r => Status.Any(s => s.ToString() == r.Status));
        if (Top > 0) rows = rows.Take(Top);
        foreach (var r in rows) WriteObject(r);
    }
}
