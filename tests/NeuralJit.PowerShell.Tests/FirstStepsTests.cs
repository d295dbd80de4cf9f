using System.Globalization;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// A fresh process (the real pwsh: a new runtime, nothing of ours compiled yet) runs its first steps on optimised
/// managed kernels, not on .NET's tier-0 code: the median of steps 1–99 of its first call is within 2× of the
/// steady state (the median of a later call's steps 500–999). Medians, so that a preempted step on a loaded machine moves neither side; step 0
/// (which compiles) is left out. Measured on a loaded 2-core Xeon: 1.0–1.1× with optimised kernels, 6× without (N = 256).
/// </summary>
public sealed class FirstStepsTests
{
    [Fact]
    public void AFreshProcessRunsItsFirstStepsAtTheManagedTiersSteadySpeed()
    {
        // The steady state is measured last, after 4,000 more steps and pauses in which tiered compilation (if the kernels
        // relied on it) has promoted everything: within one call of 1,000 steps it may not have (measured: it had not).
        const string script = """
            Import-Module NeuralJit
            Set-NeuralJitOption -Enabled $false
            $m = New-NeuralModel -InputSize 32 -HiddenSize 64 -OutputSize 10 -MemorySlots 128 -MemoryWidth 32 -ReadHeads 2
            $rng = [Random]::new(3)
            $seq = foreach ($t in 1..1000) { , [float[]]@(foreach ($i in 1..32) { $rng.NextDouble() * 2 - 1 }) }
            function Median([double[]]$a) { [Array]::Sort($a); $a[[int]($a.Length / 2)] }
            $ns = [double[]]@(Invoke-NeuralInference -Model $m -Sequence $seq[0..99] | ForEach-Object NanosecondsPerStep)
            $first = Median $ns[1..99]
            foreach ($round in 1..4) { Invoke-NeuralInference -Model $m -Sequence $seq | Out-Null; [Threading.Thread]::Sleep(300) }
            $ns = [double[]]@(Invoke-NeuralInference -Model $m -Sequence $seq | ForEach-Object NanosecondsPerStep)
            '{0:R} {1:R}' -f $first, (Median $ns[500..999])
            """;
        // Up to three fresh processes: unoptimised code is slow in every one of them (6× measured), while a loaded CI machine
        // (the other test assembly and the module's background warm-up sharing two cores) can slow one whole first call.
        var attempts = new List<string>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var r = PwshProcess.Run(null, "-Command", script);
            Assert.True(r.ExitCode == 0, r.ToString());
            var parts = r.StdOut.Trim().Split(' ');
            double first = double.Parse(parts[0], CultureInfo.InvariantCulture), steady = double.Parse(parts[1], CultureInfo.InvariantCulture);
            if (first <= 2 * steady) return;
            attempts.Add($"{first / 1e3:N1} µs against {steady / 1e3:N1} µs");
        }
        Assert.Fail($"Steps 1-99 of a fresh process take (median) {string.Join("; ", attempts)} of the steady state, in three processes: the first steps ran unoptimised code.");
    }
}
