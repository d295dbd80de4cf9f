using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.PowerShell.Tests;

public class ModuleImportTests
{
    internal static string ManifestPath()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "artifacts", "module", "NeuralJit", "NeuralJit.psd1");
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException("The staged module was not found: build the solution first (dotnet build -c Release).");
    }

    [Fact]
    public void StagedManifestImportsAndExportsItsCmdlets()
    {
        var iss = InitialSessionState.CreateDefault2();
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddCommand("Import-Module").AddParameter("Name", ManifestPath()).AddParameter("PassThru");
        var module = ps.Invoke<PSModuleInfo>().Single();
        Assert.False(ps.HadErrors, string.Join("\n", ps.Streams.Error));
        Assert.Contains("Get-NeuralHotspot", module.ExportedCmdlets.Keys);
        Assert.Contains("Invoke-NeuralInference", module.ExportedCmdlets.Keys);
    }
}
