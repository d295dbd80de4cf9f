using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using NeuralJit.Ops;

namespace NeuralJit.PowerShell.Completers;

/// <summary>Completes -Operation with the op kinds (<see cref="OpKind"/>), matching what was typed as a prefix or wildcard pattern.</summary>
public sealed class OperationCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var (word, quote) = CompletionText.Unquote(wordToComplete);
        var pattern = CompletionText.Pattern(word);
        foreach (var name in Enum.GetNames<OpKind>().Order(StringComparer.OrdinalIgnoreCase))
        {
            if (!pattern.IsMatch(name)) continue;
            yield return new CompletionResult(CompletionText.Quote(name, quote), name, CompletionResultType.ParameterValue, Describe(name));
        }
    }

    private static string Describe(string op) => $"{op} (seen shapes: {OperationNames.SeenDims(op).Count})";
}

/// <summary>Operation names as the cmdlets accept them: <see cref="OpKind"/> names, case-insensitive, with wildcards.</summary>
public static class OperationNames
{
    /// <summary>The op kinds matching any of <paramref name="patterns"/>; the names that are neither a kind nor a valid wildcard pattern go to <paramref name="unknown"/>.</summary>
    public static HashSet<OpKind> Match(IEnumerable<string> patterns, out List<string> unknown)
    {
        var set = new HashSet<OpKind>();
        unknown = [];
        foreach (var p in patterns)
        {
            bool wildcard = WildcardPattern.ContainsWildcardCharacters(p);
            var pattern = WildcardPattern.Get(p, WildcardOptions.IgnoreCase);
            bool any = false;
            try
            {
                foreach (var kind in Enum.GetValues<OpKind>())
                {
                    if (pattern.IsMatch(kind.ToString())) { set.Add(kind); any = true; }
                }
            }
            catch (WildcardPatternException) { unknown.Add(p); continue; } // '[' parses only when matched
            if (!any && !wildcard) unknown.Add(p);
        }
        return set;
    }

    /// <summary>The dims the default engine's profile has seen called (since the last reset) for ops whose names match <paramref name="operationPattern"/>.</summary>
    public static IReadOnlyList<string> SeenDims(string? operationPattern)
    {
        if (!NeuralEngine.DefaultCreated) return [];
        var ops = operationPattern is null ? null : Match([operationPattern], out _);
        return NeuralEngine.Default.Profile.Slots
            .Where(s => (ops is null || ops.Contains(s.Key.Op)) && s.Snapshot().Calls > 0)
            .Select(s => s.Key.Dims)
            .Distinct()
            .ToList();
    }
}
