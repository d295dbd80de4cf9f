using System.Management.Automation;

namespace NeuralJit.PowerShell.Completers;

/// <summary>Matching and quoting shared by the completers.</summary>
internal static class CompletionText
{
    /// <summary>The word typed so far without its opening (and closing) quote, and the quote used, if any.</summary>
    public static (string Word, char? Quote) Unquote(string? wordToComplete)
    {
        var w = wordToComplete ?? "";
        if (w.Length > 0 && (w[0] == '\'' || w[0] == '"'))
        {
            char q = w[0];
            w = w.Length > 1 && w[^1] == q ? w[1..^1] : w[1..];
            return (w, q);
        }
        return (w, null);
    }

    /// <summary>A pattern that matches what the user typed as a prefix, honouring wildcards they typed.</summary>
    public static WildcardPattern Pattern(string word) =>
        WildcardPattern.Get(word.EndsWith('*') ? word : word + "*", WildcardOptions.IgnoreCase);

    /// <summary>
    /// The text to insert: quoted when it contains characters PowerShell would split or expand, or when the
    /// user had opened a quote (then with the same quote).
    /// </summary>
    public static string Quote(string value, char? userQuote)
    {
        if (userQuote == '"') return "\"" + value.Replace("`", "``").Replace("\"", "`\"").Replace("$", "`$") + "\"";
        if (userQuote == '\'' || NeedsQuotes(value)) return "'" + value.Replace("'", "''") + "'";
        return value;
    }

    private static bool NeedsQuotes(string value) =>
        value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || c is ',' or ';' or '(' or ')' or '{' or '}' or '$' or '@' or '#' or '`' or '\'' or '"' or '|' or '&' or '<' or '>') || value[0] == '-';

    /// <summary>The values of a bound parameter (string, string[], enum, enum[] or PSObject-wrapped), as strings.</summary>
    public static IReadOnlyList<string> BoundStrings(System.Collections.IDictionary? fakeBoundParameters, string name)
    {
        if (fakeBoundParameters is null || !fakeBoundParameters.Contains(name)) return [];
        var value = fakeBoundParameters[name];
        if (value is PSObject pso) value = pso.BaseObject;
        if (value is string s) return [s];
        if (value is System.Collections.IEnumerable items)
        {
            var list = new List<string>();
            foreach (var item in items)
            {
                var v = item is PSObject p ? p.BaseObject : item;
                if (v is not null) list.Add(v.ToString()!);
            }
            return list;
        }
        return value is null ? [] : [value.ToString()!];
    }
}
