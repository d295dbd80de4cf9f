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

    [Fact]
    public void RemovingTheLastImportFreesTheCodeCacheAndAReimportStartsAFreshEngine()
    {
        // In a pwsh process of its own: this test process keeps the module imported in other runspaces.
        const string script = """
            $null = Invoke-NeuralInference -InputSize 16 -HiddenSize 8 -Steps 30
            # Compiled here, not by a background promotion that a loaded machine may not finish in time.
            $null = Invoke-NeuralJitCompile -Operation LstmGates -Dims 32x24
            $path = (Get-Module NeuralJit).Path
            $maps = { @([System.IO.File]::ReadAllLines('/proc/self/maps') | Where-Object { $_ -like '*neuraljit-code*' }).Count }
            'before keys={0} kernels={1} maps={2}' -f (Get-NeuralEngine).ProfiledKeys, @(Get-NeuralJitKernel).Count, (& $maps)
            Remove-Module NeuralJit
            'removed maps={0}' -f (& $maps)
            Import-Module $path
            'after keys={0} kernels={1}' -f (Get-NeuralEngine).ProfiledKeys, @(Get-NeuralJitKernel).Count
            """;
        var r = PwshProcess.Run(null, "-Command", script);
        Assert.True(r.ExitCode == 0, r.ToString());
        var before = System.Text.RegularExpressions.Regex.Match(r.StdOut, @"before keys=(\d+) kernels=(\d+) maps=(\d+)");
        Assert.True(before.Success, r.ToString());
        Assert.True(int.Parse(before.Groups[2].Value) > 0, "the JIT compiled nothing before removal: " + r);
        Assert.True(int.Parse(before.Groups[3].Value) > 0, "no code cache mapping was seen before removal: " + r);
        Assert.Contains("removed maps=0", r.StdOut);
        Assert.Contains("after keys=0 kernels=0", r.StdOut);
    }
}
