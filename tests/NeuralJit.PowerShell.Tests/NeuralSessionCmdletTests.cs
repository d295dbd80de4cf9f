using System.Management.Automation;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// New-NeuralSession and Invoke-NeuralInference -Session as a user streams a sequence in chunks: the state
/// carries across calls bit for bit, -Reset starts over, and a session stays in the runspace that made it.
/// </summary>
public sealed class NeuralSessionCmdletTests : IDisposable
{
    private readonly ModuleSession _s = new();
    public void Dispose() => _s.Dispose();

    private static string FixturePath(string name) => Path.Combine(Paths.RepoRoot, "tests", "fixtures", name + ".safetensors");

    private static float[][] Outputs(IEnumerable<PSObject> results) =>
        results.Select(r => (float[])r.Properties["Output"].Value).ToArray();

    private static long[] StepNumbers(IEnumerable<PSObject> results) => results.Select(r => (long)r.Properties["Step"].Value).ToArray();

    private static bool SameBits(float[][] a, float[][] b) =>
        a.Length == b.Length && a.Zip(b).All(p => p.First.Length == p.Second.Length
            && p.First.Zip(p.Second).All(q => BitConverter.SingleToInt32Bits(q.First) == BitConverter.SingleToInt32Bits(q.Second)));

    /// <summary>
    /// Chunked session calls give the outputs of one -Model call over the whole sequence, bit for bit. The engine is
    /// process-wide, so a background compile could swap a kernel's tier between the runs: the one-call run is repeated
    /// after the chunked one, and the comparison counts only when both one-call runs agree (the tier stood still).
    /// </summary>
    [Theory]
    [InlineData("New-NeuralModel -InputSize 6 -HiddenSize 10 -OutputSize 3 -Layers 2 -Seed 7", 0)]
    [InlineData("New-NeuralModel -InputSize 5 -HiddenSize 12 -OutputSize 3 -MemorySlots 9 -MemoryWidth 4 -ReadHeads 2 -Seed 8", 0)]
    [InlineData("Import-NeuralModel -Path $fixture", 1)]
    [InlineData("Import-NeuralModel -Path $fixture", 2)]
    [InlineData("Import-NeuralModel -Path $fixture", 3)]
    public void ChunkedSessionCallsEqualOneCallOverTheWholeSequenceBitForBit(string makeModel, int fixture)
    {
        string[] fixtures = ["", "lstm1_7x13x5", "lstm2_5x11x3", "dnc_5x12x3_n9w4r2"];
        _s.Runspace.SessionStateProxy.SetVariable("fixture", fixture == 0 ? "" : FixturePath(fixtures[fixture]));
        _s.Run($$"""
            $model = {{makeModel}}
            $rng = [Random]::new(11)
            $seq = foreach ($t in 1..23) { , [float[]]@(foreach ($i in 1..$model.InputSize) { $rng.NextDouble() * 4 - 2 }) }
            """);
        for (int attempt = 0; ; attempt++)
        {
            var before = Outputs(_s.Run("Invoke-NeuralInference -Model $model -Sequence $seq"));
            var chunked = _s.Run("""
                $session = New-NeuralSession -Model $model
                $at = 0
                foreach ($n in 1, 4, 2, 7, 1, 8) {
                    Invoke-NeuralInference -Session $session -Sequence $seq[$at..($at + $n - 1)]
                    $at += $n
                }
                """);
            var after = Outputs(_s.Run("Invoke-NeuralInference -Model $model -Sequence $seq"));
            if (!SameBits(before, after))
            {
                Assert.True(attempt < 3, "The one-call outputs kept changing between runs: a kernel's tier changed every time.");
                continue;
            }
            Assert.Equal(Enumerable.Range(0, 23).Select(i => (long)i), StepNumbers(chunked));
            Assert.True(SameBits(before, Outputs(chunked)), $"{makeModel} {fixtures[fixture]}: the chunked outputs differ from one call's.");
            Assert.Equal(23L, _s.Run("$session.Steps").Single().BaseObject);
            return;
        }
    }

    [Fact]
    public void ResetStartsTheStreamOverAndResetAloneOnlyResets()
    {
        var r = _s.Run("""
            $session = New-NeuralModel 3 7 -OutputSize 2 -MemorySlots 5 -MemoryWidth 3 | New-NeuralSession
            $x = [float[]](0.5, -1, 2)
            $first = Invoke-NeuralInference -Session $session -Sequence $x, $x
            $again = $session | Invoke-NeuralInference -Reset -Sequence $x, $x
            Invoke-NeuralInference -Session $session -Reset
            $session.Steps
            $third = , $x | Invoke-NeuralInference -Session $session
            ($first[1].Output -join ',') -eq ($again[1].Output -join ',')
            ($first[0].Output -join ',') -eq ($third.Output -join ',')
            ($first[0].Output -join ',') -ne ($first[1].Output -join ',')
            $again[0].Step
            """);
        Assert.Equal([0L, true, true, true, 0L], r.Select(o => o.BaseObject));
    }

    /// <summary>A session made in one runspace, stepped from another: the module's error, and the session is left as it was.</summary>
    [Fact]
    public void ASessionFromAnotherRunspaceIsRefusedWithTheModulesError()
    {
        var session = _s.Run("$session = New-NeuralModel 2 4 | New-NeuralSession; Invoke-NeuralInference -Session $session -Sequence @(, [float[]](1, 2)) | Out-Null; $session").Single();
        using var other = new ModuleSession();
        other.Runspace.SessionStateProxy.SetVariable("session", session);
        var errors = other.Errors("Invoke-NeuralInference -Session $session -Sequence @(, [float[]](1, 2))");
        var e = Assert.Single(errors);
        Assert.Equal("InvokeNeuralInferenceSessionOtherRunspace,NeuralJit.PowerShell.Commands.InvokeNeuralInferenceCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidOperation, e.CategoryInfo.Category);
        Assert.Same(session.BaseObject, e.TargetObject);
        Assert.Contains("New-NeuralSession", e.ErrorDetails.RecommendedAction);
        Assert.Contains($"runspace {_s.Runspace.Id}", e.Exception.Message);
        Assert.Equal(1L, _s.Run("$session.Steps").Single().BaseObject);
        // The other runspace makes its own session over the same model, and runs it.
        var own = other.Run("$own = New-NeuralSession -Model $session.GetModel(); Invoke-NeuralInference -Session $own -Sequence @(, [float[]](1, 2)) | ForEach-Object Step");
        Assert.Equal(0L, Assert.Single(own).BaseObject);
    }

    /// <summary>A pipeline that feeds a session's own results back into it finds the session busy: one call steps a session at a time.</summary>
    [Fact]
    public void ASessionBeingSteppedRefusesANestedCall()
    {
        var errors = _s.Errors("""
            $session = New-NeuralModel 2 4 | New-NeuralSession
            Invoke-NeuralInference -Session $session -Sequence @(, [float[]](1, 2)) |
                ForEach-Object { Invoke-NeuralInference -Session $session -Sequence @(, [float[]](3, 4)) }
            """);
        var e = Assert.Single(errors);
        Assert.StartsWith("InvokeNeuralInferenceSessionInUse,", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceBusy, e.CategoryInfo.Category);
        Assert.Equal(1L, _s.Run("$session.Steps").Single().BaseObject);
    }

    [Fact]
    public void AWrongLengthStepIsAnErrorAndNotAStep()
    {
        var errors = _s.Errors("$session = New-NeuralModel 3 4 | New-NeuralSession; Invoke-NeuralInference -Session $session -Sequence ([float[]](1, 2, 3)), ([float[]](1, 2)), ([float[]](4, 5, 6)) | Out-Null");
        var e = Assert.Single(errors);
        Assert.StartsWith("InvokeNeuralInferenceWrongInputLength,", e.FullyQualifiedErrorId);
        Assert.Contains("Time step 1 ", e.Exception.Message);
        Assert.Equal(2L, _s.Run("$session.Steps").Single().BaseObject);
        var mismatch = Assert.Single(_s.Errors("Invoke-NeuralInference -Session $session -HiddenSize 9 -Sequence @(, [float[]](1, 2, 3))"));
        Assert.StartsWith("InvokeNeuralInferenceModelSizeMismatch,", mismatch.FullyQualifiedErrorId);
    }

    [Fact]
    public void SessionTableFitsEightyColumnsWithStepsStateAndRunspace()
    {
        var text = _s.Render("""
            $session = New-NeuralModel 64 128 -OutputSize 10 -MemorySlots 256 -MemoryWidth 64 -ReadHeads 4 | New-NeuralSession
            Invoke-NeuralInference -Session $session -Sequence @(, [float[]]::new(64)) | Out-Null
            $session
            """);
        var lines = text.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();
        Assert.Matches(@"^\s*Id\s+Steps\s+State KiB\s+Runspace\s+Model$", lines[0]);
        // State: 256 KiB of links, 64 KiB of memory, the weightings and the LSTM state.
        Assert.Matches($@"^\s*\d+\s+1\s+3\d\d\.\d\s+{_s.Runspace.Id}\s+LSTM 64→128×1 \+ DNC 256×64, 4 read heads", lines[2]);
        // Id, Steps, State KiB and Runspace take 35 columns: the model's description starts there and has 45 columns of an 80-column console.
        Assert.Equal(35, lines[2].IndexOf("LSTM", StringComparison.Ordinal));
        Assert.True(lines[0].Length <= 80, lines[0]);
    }
}
