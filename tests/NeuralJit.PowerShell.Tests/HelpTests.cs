using System.Management.Automation;
using System.Text.RegularExpressions;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// Help comes from docs/*.md (platyPS markdown) compiled to MAML at build. Every exported cmdlet has
/// complete help and the docs name only cmdlets and parameters that exist (the examples run in Pester).
/// </summary>
public sealed class HelpTests : IDisposable
{
    private readonly ModuleSession _s = new();
    public void Dispose() => _s.Dispose();

    public static IEnumerable<object[]> Cmdlets => ModuleSurface.CmdletNames;

    private static IEnumerable<string> DocumentedParameters(CmdletInfo c) =>
        c.Parameters.Keys.Where(p => !ModuleSurface.CommonParameters.Contains(p)).Order();

    private PSObject Help(string name)
    {
        var help = _s.Run($"Get-Help {name} -Full").Single();
        return help;
    }

    private static string Text(object? o) => o switch
    {
        null => "",
        PSObject p when p.BaseObject is string s => s,
        PSObject p when p.BaseObject is object[] arr => string.Join("\n", arr.Select(Text)),
        PSObject p => p.Properties["Text"]?.Value is { } t ? Text(t) : p.ToString(),
        object[] arr => string.Join("\n", arr.Select(Text)),
        _ => o.ToString() ?? "",
    };

    private static IEnumerable<PSObject> Items(object? o) => o switch
    {
        null => [],
        PSObject p when p.BaseObject is object[] arr => arr.Select(PSObject.AsPSObject),
        object[] arr => arr.Select(PSObject.AsPSObject),
        _ => [PSObject.AsPSObject(o)],
    };

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void HelpHasSynopsisDescriptionParametersExamplesInputsAndOutputs(string name)
    {
        var help = Help(name);
        var synopsis = Text(help.Properties["Synopsis"]?.Value).Trim();
        Assert.False(string.IsNullOrEmpty(synopsis) || synopsis.StartsWith(name, StringComparison.Ordinal) || synopsis.Contains("{{"),
            $"{name}: no synopsis from MAML (got '{synopsis}'). Write docs/{name}.md.");
        Assert.False(string.IsNullOrWhiteSpace(Text(help.Properties["description"]?.Value)), $"{name}: no description.");

        var parameters = Items(((PSObject?)help.Properties["parameters"]?.Value)?.Properties["parameter"]?.Value).ToList();
        foreach (var p in DocumentedParameters((CmdletInfo)_s.Run($"Get-Command {name}").Single().BaseObject))
        {
            var doc = parameters.FirstOrDefault(x => string.Equals(Text(x.Properties["name"]?.Value), p, StringComparison.OrdinalIgnoreCase));
            Assert.True(doc is not null, $"{name}: -{p} is not in the help.");
            Assert.False(string.IsNullOrWhiteSpace(Text(doc!.Properties["description"]?.Value)), $"{name}: -{p} has no description.");
        }

        var examples = Items(((PSObject?)help.Properties["examples"]?.Value)?.Properties["example"]?.Value).ToList();
        Assert.True(examples.Count >= 2, $"{name}: {examples.Count} example(s); at least 2 are expected.");
        foreach (var e in examples)
        {
            Assert.False(string.IsNullOrWhiteSpace(Text(e.Properties["code"]?.Value)), $"{name}: an example has no code.");
            Assert.False(string.IsNullOrWhiteSpace(Text(e.Properties["remarks"]?.Value)), $"{name}: example '{Text(e.Properties["title"]?.Value)}' does not say what it does.");
        }

        Assert.NotEmpty(Items(((PSObject?)help.Properties["inputTypes"]?.Value)?.Properties["inputType"]?.Value));
        var outputs = Items(((PSObject?)help.Properties["returnValues"]?.Value)?.Properties["returnValue"]?.Value).ToList();
        Assert.NotEmpty(outputs);
        var outputNames = outputs.Select(o => Text(((PSObject?)o.Properties["type"]?.Value)?.Properties["name"]?.Value).Trim()).ToList();
        var cmdlet = (CmdletInfo)_s.Run($"Get-Command {name}").Single().BaseObject;
        foreach (var t in cmdlet.OutputType.Select(t => t.Type).Where(t => t is not null && t != typeof(void)))
            Assert.True(outputNames.Contains(t!.FullName!), $"{name}: [OutputType({t.FullName})] is not under OUTPUTS in docs/{name}.md ({string.Join(", ", outputNames)}).");
    }

    /// <summary>
    /// Every parameter's accepted values in Get-Help (the syntax's -Name {A | B} and the parameter entry) are exactly
    /// its [ValidateSet] or the names of its enum type, from the built module, so a new operation needs no doc edit;
    /// other parameters list none.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void HelpListsEachParametersAcceptedValuesFromItsType(string name)
    {
        var cmdlet = (CmdletInfo)_s.Run($"Get-Command {name}").Single().BaseObject;
        var listed = _s.Run($$"""
            $h = Get-Help {{name}} -Full
            foreach ($p in @($h.parameters.parameter)) { "parameters|$($p.name)|$(@($p.parameterValueGroup.parameterValue) -join ',')" }
            foreach ($s in @($h.syntax.syntaxItem)) { foreach ($p in @($s.parameter)) { "syntax|$($p.name)|$(@($p.parameterValueGroup.parameterValue) -join ',')" } }
            """).Select(o => o.ToString().Split('|')).Where(e => e[1].Length > 0).ToList();   // Get-NeuralEngine has no parameters
        foreach (var entry in listed)
        {
            var meta = cmdlet.Parameters[entry[1]];
            var type = meta.ParameterType.IsArray ? meta.ParameterType.GetElementType()! : meta.ParameterType;
            type = Nullable.GetUnderlyingType(type) ?? type;
            var expected = meta.Attributes.OfType<ValidateSetAttribute>().FirstOrDefault()?.ValidValues.ToArray()
                           ?? (type.IsEnum ? Enum.GetNames(type) : []);
            Assert.True(string.Join(",", expected) == entry[2], $"{name} -{entry[1]} ({entry[0]}): help lists '{entry[2]}', the parameter accepts '{string.Join(",", expected)}'.");
        }
    }

    /// <summary>A docs/Verb-Noun.md per exported cmdlet, its parameters exactly the cmdlet's, with their types.</summary>
    [Fact]
    public void DocsAndCmdletsNameTheSameCmdletsAndParameters()
    {
        var problems = new List<string>();
        var exported = ModuleSurface.Cmdlets.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
        var docs = Directory.GetFiles(Paths.Docs, "*-*.md").ToDictionary(f => Path.GetFileNameWithoutExtension(f), StringComparer.OrdinalIgnoreCase);
        foreach (var name in exported.Keys.Where(n => !docs.ContainsKey(n))) problems.Add($"{name} is exported but docs/{name}.md does not exist.");
        foreach (var (name, file) in docs)
        {
            if (!exported.TryGetValue(name, out var cmdlet)) { problems.Add($"docs/{name}.md documents a cmdlet the module does not export."); continue; }
            var text = File.ReadAllText(file).Replace("\r\n", "\n");
            var parameterSection = Regex.Match(text, @"\n## PARAMETERS\n(.*?)(\n## |\z)", RegexOptions.Singleline).Groups[1].Value;
            var documented = Regex.Matches(parameterSection, @"^### -(\w+)\s*$", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
            var actual = DocumentedParameters(cmdlet).ToList();
            foreach (var p in actual.Where(p => !documented.Contains(p, StringComparer.OrdinalIgnoreCase))) problems.Add($"{name}: -{p} has no '### -{p}' section in docs/{name}.md.");
            foreach (var p in documented.Where(p => !actual.Contains(p, StringComparer.OrdinalIgnoreCase))) problems.Add($"docs/{name}.md documents -{p}, which {name} does not have.");
            foreach (Match m in Regex.Matches(parameterSection, @"^### -(\w+)\s*\n.*?```yaml\nType: (\S+)", RegexOptions.Multiline | RegexOptions.Singleline))
            {
                if (!cmdlet.Parameters.TryGetValue(m.Groups[1].Value, out var meta)) continue;
                // platyPS writes a Nullable<T> parameter as T (as Get-Command's syntax does): compare the underlying type.
                var typeName = (Nullable.GetUnderlyingType(meta.ParameterType) ?? meta.ParameterType).Name;
                if (!string.Equals(typeName, m.Groups[2].Value, StringComparison.Ordinal))
                    problems.Add($"docs/{name}.md: -{m.Groups[1].Value} is documented as {m.Groups[2].Value} but is a {typeName}.");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void AboutTopicExplainsTiersColumnsThresholdsAndConcurrency()
    {
        var text = string.Join("\n", _s.Run("Get-Help about_NeuralJit").Select(o => o.ToString()));
        Assert.Contains("TOPIC", text);
        foreach (var phrase in new[] { "Tiers", "TSC", "not a core clock cycle", "1,000", "2%", "sample", "null", "Concurrency", "ForEach-Object -Parallel", "ring buffer" })
            Assert.True(text.Contains(phrase, StringComparison.OrdinalIgnoreCase), $"about_NeuralJit does not mention '{phrase}'.");
    }

    // Every example runs in the real pwsh, where Utility cmdlets exist: tests/pester/HelpExamples.Tests.ps1.
}
