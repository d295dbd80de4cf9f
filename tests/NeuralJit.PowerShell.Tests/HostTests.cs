using System.Text.RegularExpressions;

namespace NeuralJit.PowerShell.Tests;

/// <summary>NeuralJit.Host: the README's main job, pwsh's exit codes, stdout/stderr, -File arguments.</summary>
public sealed class HostTests
{
    [Fact]
    public void ReadmeMainJobCommandPrintsTheHotspotTableWithLstmStepOnTop()
    {
        var readme = File.ReadAllText(Path.Combine(Paths.RepoRoot, "README.md"));
        var m = Regex.Match(readme, @"dotnet run -c Release --project src/NeuralJit\.Host -- -Command '([^']+)'");
        Assert.True(m.Success, "README.md no longer shows the main-job command `dotnet run -c Release --project src/NeuralJit.Host -- -Command '...'`.");
        var r = HostProcess.Run(null, "-Command", m.Groups[1].Value);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.False(r.StdOut.Contains((char)0x1b), "ANSI escape in redirected output:\n" + r);   // redirected: plain text
        var lines = r.StdOut.Split('\n').Select(l => l.TrimEnd()).ToList();
        int header = lines.FindIndex(l => l.StartsWith("Operation") && l.Contains("Total cycles") && l.Contains("Avg cycles") && l.Contains("Share"));
        Assert.True(header >= 0, "no hotspot table header:\n" + r);
        Assert.StartsWith("---------", lines[header + 1]);
        Assert.Matches(@"^LstmStep\s+512x192\s+[\d,]+\s", lines[header + 2]);
        Assert.All(lines, l => Assert.True(l.Length <= 120, "wider than the 120 columns of redirected output: " + l));
    }

    [Fact]
    public void CommandExitCodesFollowPwsh()
    {
        Assert.Equal(7, HostProcess.Run(null, "-Command", "exit 7").ExitCode);

        var thrown = HostProcess.Run(null, "-Command", "throw 'boom'; 'after'");
        Assert.Equal(1, thrown.ExitCode);
        Assert.Contains("boom", thrown.StdErr);
        Assert.DoesNotContain("after", thrown.StdOut);

        // The last statement failed ($? false): 1, with the error on stderr and not on stdout.
        var failed = HostProcess.Run(null, "-Command", "'before'; Get-NeuralHotspot -Operation Nope");
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("before", failed.StdOut);
        Assert.Contains("'Nope' is not an operation", failed.StdErr);
        Assert.DoesNotContain("Nope", failed.StdOut);

        // An earlier statement failed but the last succeeded: 0, as pwsh -Command does.
        var recovered = HostProcess.Run(null, "-Command", "Get-NeuralHotspot -Operation Nope; 'fine'");
        Assert.True(recovered.ExitCode == 0, recovered.ToString());
        Assert.Contains("fine", recovered.StdOut);
    }

    [Fact]
    public void FileBindsNamedSwitchAndPositionalArgumentsAndExitsWithTheScriptsCode()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-host-");
        try
        {
            var script = Path.Combine(dir.FullName, "args.ps1");
            File.WriteAllText(script, """
                param([double] $MinSpeedup = 1, [switch] $Force, [string] $Name = 'none')
                "min=$MinSpeedup force=$Force name=$Name args=$($args -join '|')"
                exit 3
                """);
            var r = HostProcess.Run(dir.FullName, "-File", "args.ps1", "-MinSpeedup", "1e9", "-Force", "-Name:it's $(x)", "extra", "two words");
            Assert.True(r.ExitCode == 3, r.ToString());
            Assert.Contains("min=1000000000 force=True name=it's $(x) args=extra|two words", r.StdOut);

            File.WriteAllText(script, "throw 'from the file'");
            var thrown = HostProcess.Run(dir.FullName, "-File", "args.ps1");
            Assert.Equal(1, thrown.ExitCode);
            Assert.Contains("from the file", thrown.StdErr);

            File.WriteAllText(script, "'ok'");
            var ok = HostProcess.Run(dir.FullName, "-File", "args.ps1");
            Assert.Equal(0, ok.ExitCode);
            Assert.Equal("ok", ok.StdOut.Trim());

            Assert.Equal(64, HostProcess.Run(dir.FullName, "-File", "missing.ps1").ExitCode);
            Assert.Equal(64, HostProcess.Run(dir.FullName, "-NoSuchOption").ExitCode);
        }
        finally { dir.Delete(recursive: true); }
    }
}
