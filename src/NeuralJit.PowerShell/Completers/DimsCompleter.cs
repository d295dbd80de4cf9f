using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace NeuralJit.PowerShell.Completers;

/// <summary>
/// Completes -Dims with the shapes the profiler of the default engine has seen called since the last
/// Reset-NeuralProfile (the rows Get-NeuralHotspot shows), for the operation(s) already bound to -Operation
/// (all operations when none is), most called first.
/// </summary>
public sealed class DimsCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        if (!NeuralEngine.DefaultCreated) yield break;
        var (word, quote) = CompletionText.Unquote(wordToComplete);
        var pattern = CompletionText.Pattern(word);
        var bound = CompletionText.BoundStrings(fakeBoundParameters, "Operation");
        var ops = bound.Count == 0 ? null : OperationNames.Match(bound, out _);
        var seen = NeuralEngine.Default.Profile.Slots
            .Where(s => ops is null || ops.Contains(s.Key.Op))
            .Select(s => (s.Key, Stats: s.Snapshot()))
            .Where(x => x.Stats.Calls > 0)
            .GroupBy(x => x.Key.Dims)
            .Select(g => (Dims: g.Key, Calls: g.Sum(x => x.Stats.Calls), Ops: string.Join(", ", g.Select(x => x.Key.Op).Distinct())))
            .OrderByDescending(x => x.Calls).ThenBy(x => x.Dims, StringComparer.Ordinal);
        foreach (var (dims, calls, opNames) in seen)
        {
            if (!pattern.IsMatch(dims)) continue;
            yield return new CompletionResult(CompletionText.Quote(dims, quote), dims, CompletionResultType.ParameterValue, $"{opNames} {dims}: {calls:N0} calls");
        }
    }
}
