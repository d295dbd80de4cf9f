using System.Diagnostics;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// Runs the real pwsh (the repo's PowerShell dotnet tool, `dotnet pwsh`) as a process with redirected output,
/// with the staged module first on PSModulePath so its cmdlets load by name, as after Install-PSResource.
/// </summary>
public static class PwshProcess
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
    }

    public static Result Run(string? workingDirectory, params string[] args)
    {
        // `dotnet pwsh` finds the tool manifest (.config/dotnet-tools.json) from its working directory:
        // start in the repo and let pwsh change to the test's folder.
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Paths.RepoRoot,
        };
        foreach (var a in new[] { "pwsh", "-NoProfile", "-NonInteractive", "-WorkingDirectory", workingDirectory ?? Paths.RepoRoot })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("GITHUB_ACTIONS");
        psi.Environment["PSModulePath"] = Path.GetDirectoryName(Paths.ModuleDir) + Path.PathSeparator + Environment.GetEnvironmentVariable("PSModulePath");
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet pwsh {string.Join(' ', args)} did not finish in 3 minutes.");
        }
        return new Result(p.ExitCode, stdout.Result.Replace("\r\n", "\n"), stderr.Result.Replace("\r\n", "\n"));
    }
}
