using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace NeuralJit.Benchmarks;

/// <summary>
/// The PyTorch peer of the LSTM + DNC step rows: torch_dnc_step.py (the fixtures' paper-order DncNet, float32,
/// batch 1, one thread) run in the same benchmark run, after our rows, with Debian's python3-torch. Without it the
/// benchmark says so, as it does for LIBXSMM.
/// </summary>
internal static class TorchPeer
{
    /// <summary>One network's per-step times from the peer.</summary>
    public sealed record Step(string Network, double MedianMicroseconds, double ThreadCpuMicroseconds, string Torch);

    /// <summary>Runs the peer (about a minute); null with the reason when Python with torch, or the script, is missing.</summary>
    public static IReadOnlyList<Step>? TryMeasure(out string why)
    {
        var script = FindScript();
        if (script is null) { why = "torch_dnc_step.py was not found above the benchmark's folder"; return null; }
        // Debian's torch lives in the system Python's dist-packages, which a pyenv or venv python3 does not see.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(10))) { p.Kill(entireProcessTree: true); why = "the PyTorch peer ran over 10 minutes"; return null; }
            if (p.ExitCode != 0)
            {
                var last = stderr.Result.Trim().Split('\n').LastOrDefault() ?? "";
                why = last.Contains("No module named 'torch'") ? "PyTorch is not installed (apt-get install python3-torch)" : $"the PyTorch peer failed: {last}";
                return null;
            }
            var steps = new List<Step>();
            foreach (var line in stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                steps.Add(new Step(r.GetProperty("network").GetString()!, r.GetProperty("median_us").GetDouble(),
                    r.GetProperty("cpu_median_us").GetDouble(), r.GetProperty("torch").GetString()!));
            }
            why = "";
            return steps;
        }
        catch (System.ComponentModel.Win32Exception e) { why = $"{python} could not start: {e.Message}"; return null; }
    }

    private static string? FindScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "NeuralJit.Benchmarks", "torch_dnc_step.py");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static string Microseconds(double us) => (us * 1000).ToString("N0", CultureInfo.InvariantCulture);
}
