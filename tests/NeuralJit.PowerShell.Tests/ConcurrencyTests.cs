namespace NeuralJit.PowerShell.Tests;

/// <summary>The engine is process-wide: runspaces of ForEach-Object -Parallel profile into the same table and lose no call.</summary>
public sealed class ConcurrencyTests : IDisposable
{
    private readonly ModuleSession _s = new();
    public void Dispose() => _s.Dispose();

    [Fact]
    public void ParallelRunspacesKeepExactCallCounts()
    {
        _s.Runspace.SessionStateProxy.SetVariable("manifest", Paths.Manifest);
        _s.Run("Reset-NeuralProfile -Confirm:$false");
        var errors = _s.Run("""
            1..6 | ForEach-Object -ThrottleLimit 6 -Parallel {
                Import-Module $using:manifest
                $r = Invoke-NeuralInference -InputSize 13 -HiddenSize 6 -OutputSize 3 -Layers 2 -Steps 250 -Seed $_
                if ($r.Steps -ne 250) { "runspace $_ ran $($r.Steps) steps" }
            }
            """);
        Assert.Empty(errors);
        long Calls(string op, string dims) =>
            Convert.ToInt64(_s.Run($"(Get-NeuralHotspot -Operation {op} -Dims {dims}).Calls").Single().BaseObject);
        // One LstmStep per layer per step, on the managed and the JIT tier alike (the JIT swaps the kernel, not the op).
        Assert.Equal(6 * 250, Calls("LstmStep", "24x19"));      // layer 0: 4·6 x (13+6)
        Assert.Equal(6 * 250, Calls("LstmStep", "24x12"));      // layer 1: 4·6 x (6+6)
        Assert.Equal(6 * 250, Calls("Dense", "3x6"));
        Assert.Empty(_s.Run("Get-NeuralHotspot -Operation LstmGates, LstmCell"));
    }
}
