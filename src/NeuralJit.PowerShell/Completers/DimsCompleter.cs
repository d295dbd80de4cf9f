using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using NeuralJit.PowerShell.Commands;

namespace NeuralJit.PowerShell.Completers;

/// <summary>
/// Completes -Dims with the shapes the profiler of the default engine has seen called since the last
/// Reset-NeuralProfile (the rows Get-NeuralHotspot shows), for the operation(s) already bound to -Operation
/// (all operations when none is), most called first; for Compare-JitSpeedup also its built-in targets.
/// </summary>
public sealed class DimsCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var (word, quote) = CompletionText.Unquote(wordToComplete);
        var pattern = CompletionText.Pattern(word);
        var bound = CompletionText.BoundStrings(fakeBoundParameters, "Operation");
        var ops = bound.Count == 0 ? null : OperationNames.Match(bound, out _);
        var seen = !NeuralEngine.DefaultCreated ? [] : NeuralEngine.Default.Profile.Slots
            .Where(s => ops is null || ops.Contains(s.Key.Op))
            .Select(s => (s.Key, Stats: s.Snapshot()))
            .Where(x => x.Stats.Calls > 0)
            .GroupBy(x => x.Key.Dims)
            .Select(g => (Dims: g.Key, Calls: g.Sum(x => x.Stats.Calls), Ops: string.Join(", ", g.Select(x => x.Key.Op).Distinct())))
            .OrderByDescending(x => x.Calls).ThenBy(x => x.Dims, StringComparer.Ordinal)
            .ToList();
        foreach (var (dims, calls, opNames) in seen)
        {
            if (!pattern.IsMatch(dims)) continue;
            yield return new CompletionResult(CompletionText.Quote(dims, quote), dims, CompletionResultType.ParameterValue, $"{opNames} {dims}: {calls:N0} calls");
        }
        // Compare-JitSpeedup measures its built-in targets with nothing profiled yet: offer them too.
        if (!string.Equals(commandName, "Compare-JitSpeedup", StringComparison.OrdinalIgnoreCase)) yield break;
        foreach (var g in CompareJitSpeedupCommand.SeedTable.Where(k => ops is null || ops.Contains(k.Op)).GroupBy(k => k.Dims))
        {
            if (!pattern.IsMatch(g.Key) || seen.Any(x => x.Dims == g.Key)) continue;
            var opNames = string.Join(", ", g.Select(k => k.Op).Distinct());
            yield return new CompletionResult(CompletionText.Quote(g.Key, quote), g.Key, CompletionResultType.ParameterValue, $"{opNames} {g.Key}: a built-in Compare-JitSpeedup target");
        }
    }
}
