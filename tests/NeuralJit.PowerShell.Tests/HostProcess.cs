using System.Diagnostics;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Runs NeuralJit.Host as a process with redirected output, as CI and scripts do.</summary>
public static class HostProcess
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
    }

    public static Result Run(string? workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Paths.RepoRoot,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Paths.HostDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("GITHUB_ACTIONS");
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"NeuralJit.Host {string.Join(' ', args)} did not finish in 3 minutes.");
        }
        return new Result(p.ExitCode, stdout.Result.Replace("\r\n", "\n"), stderr.Result.Replace("\r\n", "\n"));
    }
}
