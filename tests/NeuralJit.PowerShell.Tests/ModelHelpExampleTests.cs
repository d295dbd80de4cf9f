using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text.RegularExpressions;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Every example in the model cmdlets' help (docs/*.md) runs in a runspace with the staged module, without errors.</summary>
public class ModelHelpExampleTests
{
    private static string Docs
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "NeuralJit.psd1")) && Directory.Exists(Path.Combine(d.FullName, "docs")))
                    return Path.Combine(d.FullName, "docs");
            throw new DirectoryNotFoundException("docs");
        }
    }

    public static TheoryData<string, int> Examples()
    {
        var data = new TheoryData<string, int>();
        foreach (var cmd in new[] { "New-NeuralModel", "Import-NeuralModel", "Measure-NeuralEwcPenalty", "Invoke-NeuralInference" })
        {
            int n = Regex.Matches(File.ReadAllText(Path.Combine(Docs, cmd + ".md")), "^### Example", RegexOptions.Multiline).Count;
            for (int i = 0; i < n; i++) data.Add(cmd, i);
        }
        return data;
    }

    [Theory, MemberData(nameof(Examples))]
    public void ExampleRunsWithoutErrors(string command, int index)
    {
        var md = File.ReadAllText(Path.Combine(Docs, command + ".md"));
        var examples = md[md.IndexOf("## EXAMPLES", StringComparison.Ordinal)..md.IndexOf("## PARAMETERS", StringComparison.Ordinal)];
        var code = Regex.Matches(examples, "```powershell\\n(.*?)```", RegexOptions.Singleline)[index].Groups[1].Value;
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule([ModuleImportTests.ManifestPath()]);
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddScript(code);
        var output = ps.Invoke();
        Assert.True(ps.Streams.Error.Count == 0, $"{command} example {index + 1}:\n{code}\n{string.Join("\n", ps.Streams.Error)}");
        Assert.NotEmpty(output);
    }
}
