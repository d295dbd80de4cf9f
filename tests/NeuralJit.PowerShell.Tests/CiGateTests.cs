namespace NeuralJit.PowerShell.Tests;

/// <summary>docs/examples/ci-gate.ps1 run through NeuralJit.Host: exit 1 naming the op and shape on a slow or inaccurate kernel, 0 when all pass.</summary>
public sealed class CiGateTests
{
    private static string Script => Path.Combine(Paths.Docs, "examples", "ci-gate.ps1");

    // A stand-in with Compare-JitSpeedup's documented properties (a function shadows the cmdlet), so the
    // gate's logic is tested on known numbers, independently of the benchmark's timing.
    private const string StandIn = """
        function Compare-JitSpeedup {
            [pscustomobject]@{ Operation = 'Gemm'; Dims = '64x64x64'; Isa = 'Avx2'; Baseline = 'ManagedSimd'; Speedup = 2.31; MaxAbsError = 1e-6; BaselineNanoseconds = 23100; JitNanoseconds = 10000 }
            [pscustomobject]@{ Operation = 'LstmGates'; Dims = '512x192'; Isa = 'Avx512'; Baseline = 'ManagedSimd'; Speedup = 1.40; MaxAbsError = 3e-5; BaselineNanoseconds = 3500; JitNanoseconds = 2500 }
        }
        """;

    private static HostProcess.Result Gate(string arguments, DirectoryInfo dir) =>
        HostProcess.Run(dir.FullName, "-Command", $"{StandIn}\n& '{Script}' {arguments} -OutDir '{dir.FullName}'; exit $LASTEXITCODE");

    [Fact]
    public void FailsNamingTheOpAndShapeWhenASpeedupIsUnderTheMinimum()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-gate-");
        try
        {
            var r = Gate("-MinSpeedup 2", dir);
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains("LstmGates 512x192 (Avx512): speedup 1.40x over ManagedSimd is under the minimum 2x", r.StdErr);
            Assert.DoesNotContain("Gemm 64x64x64 (Avx2): speedup", r.StdErr);
            Assert.Contains("1 of 2 kernels failed", r.StdErr);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void FailsWhenAnErrorIsOverTheTolerance()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-gate-");
        try
        {
            var r = Gate("-MinSpeedup 1 -MaxError 1e-5", dir);
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains("LstmGates 512x192 (Avx512): max abs error 3E-05 is over the tolerance 1E-05", r.StdErr);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void PassesAndSaysWhichArtifactsItSkippedWithoutUtilityCmdlets()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-gate-");
        try
        {
            var r = Gate("-MinSpeedup 1e-9 -MaxError 1", dir);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("ci-gate: all 2 kernels passed", r.StdOut);
            Assert.Contains("Skipped the CSV artifact: Export-Csv is not available", r.StdOut);
            Assert.Contains("Skipped the JSON artifact: ConvertTo-Json is not available", r.StdOut);
            Assert.Equal("", r.StdErr.Trim());
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void ReportWritesTheHtmlReportBesideTheArtifactsWithOneRowPerResult()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-gate-");
        try
        {
            var r = Gate("-MinSpeedup 1e-9 -MaxError 1 -Report", dir);
            Assert.True(r.ExitCode == 0, r.ToString());
            string html = Path.Combine(dir.FullName, "ci-gate.html");
            Assert.Contains("Wrote " + html, r.StdOut);
            string text = File.ReadAllText(html);
            var speedups = text[text.IndexOf("<table id=\"speedups\">", StringComparison.Ordinal)..];
            speedups = speedups[..speedups.IndexOf("</table>", StringComparison.Ordinal)];
            Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(speedups, "<tr><td>").Count);
            Assert.Contains("<td>LstmGates</td><td>512x192</td><td>Avx512</td><td>ManagedSimd</td>", speedups);
            Assert.Contains("1.40x", speedups);
            Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(text, "class=\"mark jit\"").Count);
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>
    /// With the real Compare-JitSpeedup (from the jit-gemm work): an impossible minimum fails, a trivial one
    /// passes. Until the module exports it, the gate must refuse to pass (exit 2) rather than check nothing.
    /// </summary>
    [Fact]
    public void RealCompareJitSpeedupGivesBothExitCodes()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-gate-");
        try
        {
            bool exported = ModuleSurface.Cmdlets.Any(c => c.Name == "Compare-JitSpeedup");
            var fail = HostProcess.Run(dir.FullName, "-File", Script, "-MinSpeedup", "1e9", "-OutDir", dir.FullName);
            if (!exported)
            {
                Assert.True(fail.ExitCode == 2, fail.ToString());
                Assert.Contains("Compare-JitSpeedup was not found", fail.StdErr);
                return;
            }
            Assert.True(fail.ExitCode == 1, fail.ToString());
            Assert.Matches(@"FAIL \w+ \S+ \(\w+\): speedup .* is under the minimum 1E\+09x", fail.StdErr);
            var pass = HostProcess.Run(dir.FullName, "-File", Script, "-MinSpeedup", "1e-9", "-MaxError", "1e9", "-OutDir", dir.FullName);
            Assert.True(pass.ExitCode == 0, pass.ToString());
        }
        finally { dir.Delete(recursive: true); }
    }
}
