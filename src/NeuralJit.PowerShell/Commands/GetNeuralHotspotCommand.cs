using System.Management.Automation;
using NeuralJit.PowerShell.Completers;

namespace NeuralJit.PowerShell.Commands;

/// <summary>The profiled (op, shape) keys ranked by total cycles, with their share and JIT status.</summary>
[Cmdlet(VerbsCommon.Get, "NeuralHotspot")]
[OutputType(typeof(HotspotRecord))]
public sealed class GetNeuralHotspotCommand : PSCmdlet
{
    /// <summary>Only these operations (OpKind names; wildcards allowed).</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OperationCompleter))]
    public string[]? Operation { get; set; }

    /// <summary>Only these shapes, as shown in the Dims column (wildcards allowed).</summary>
    [Parameter]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(DimsCompleter))]
    public string[]? Dims { get; set; }

    /// <summary>Only keys with these statuses.</summary>
    [Parameter]
    public HotspotStatus[]? Status { get; set; }

    /// <summary>Only the first N records (after filtering).</summary>
    [Parameter]
    public int Top { get; set; }

    protected override void BeginProcessing()
    {
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Top)) && Top < 1)
        {
            ThrowTerminatingError(NeuralErrors.InvalidArgument(
                $"-Top must be 1 or more; it was {Top}.", "GetNeuralHotspotInvalidTop", Top,
                "Give -Top a positive number of rows, or leave it out to get every key."));
        }
    }

    protected override void EndProcessing()
    {
        IEnumerable<HotspotRecord> rows = NeuralEngine.Default.GetHotspots();
        if (Operation is { Length: > 0 })
        {
            var kinds = OperationNames.Match(Operation, out var unknown);
            foreach (var name in unknown)
            {
                WriteError(NeuralErrors.InvalidArgument(
                    $"'{name}' is not an operation{(WildcardPattern.ContainsWildcardCharacters(name) ? " nor a valid wildcard pattern" : "")}. Operations: {string.Join(", ", Enum.GetNames<Ops.OpKind>())}.",
                    "GetNeuralHotspotUnknownOperation", name,
                    "Use one of the operation names (Tab completes them) or a wildcard pattern such as 'Lstm*'."));
            }
            var wanted = kinds.ToHashSet();
            rows = rows.Where(r => wanted.Contains(r.Operation));
        }
        if (Dims is { Length: > 0 })
        {
            var patterns = new List<WildcardPattern>();
            foreach (var d in Dims)
            {
                var pattern = WildcardPattern.Get(d, WildcardOptions.IgnoreCase);
                try { pattern.IsMatch(""); } // a malformed pattern ('[') only fails when first matched
                catch (WildcardPatternException e)
                {
                    WriteError(NeuralErrors.Create(e, "GetNeuralHotspotInvalidDims", ErrorCategory.InvalidArgument, d,
                        "Give -Dims as the Dims column shows them (e.g. 256x64) or a valid wildcard pattern; escape a literal [ as `[."));
                    continue;
                }
                patterns.Add(pattern);
            }
            if (patterns.Count == 0) return;
            rows = rows.Where(r => patterns.Any(p => p.IsMatch(r.Dims)));
        }
        if (Status is { Length: > 0 }) rows = rows.Where(r => Status.Contains(r.Status));
        if (Top > 0) rows = rows.Take(Top);
        foreach (var r in rows) WriteObject(r);
    }
}
