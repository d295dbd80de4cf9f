using System.Management.Automation;

namespace NeuralJit.PowerShell.Tests;

/// <summary>The pipelines the module is meant to be used in, run as a user writes them.</summary>
public sealed class PipelineTests : IDisposable
{
    private readonly ModuleSession _s = new();
    public void Dispose() => _s.Dispose();

    [Fact]
    public void HotspotsFilterByShareWithWhereObject()
    {
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 32 -HiddenSize 64 -Steps 50");
        var rows = _s.Run("Get-NeuralHotspot | Where-Object Share -gt 0.1");
        Assert.NotEmpty(rows);
        Assert.All(rows, r => Assert.True((double)r.Properties["Share"].Value > 0.1));
        Assert.Contains(rows, r => r.Properties["Operation"].Value?.ToString() == "LstmStep" && (string)r.Properties["Dims"].Value == "256x96");
        var all = _s.Run("Get-NeuralHotspot");
        Assert.Equal(all.Count(r => (double)r.Properties["Share"].Value > 0.1), rows.Count);
    }

    [Fact]
    public void LongInferenceStopsWhenThePipelineIsStopped()
    {
        using var ps = _s.NewPowerShell();
        ps.AddCommand("Invoke-NeuralInference").AddParameter("InputSize", 8).AddParameter("HiddenSize", 8).AddParameter("Steps", long.MaxValue / 2);
        var output = new PSDataCollection<PSObject>();
        var async = ps.BeginInvoke<PSObject, PSObject>(null, output);
        Thread.Sleep(300);
        ps.Stop();
        Assert.True(async.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(60)), "Invoke-NeuralInference did not stop.");
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        Assert.Empty(output);   // a stopped run returns no half-measured summary
    }

    [Fact]
    public void CandidatesPipeIntoInvokeNeuralJitCompile()
    {
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 16 -HiddenSize 32 -Steps 1500");
        var candidates = _s.Run("Get-NeuralHotspot -Status Candidate, Jit").Select(r => $"{r.Properties["Operation"].Value} {r.Properties["Dims"].Value}").ToList();
        Assert.NotEmpty(candidates);
        _s.Run("Get-NeuralHotspot -Status Candidate | Invoke-NeuralJitCompile");
        _s.Run("Invoke-NeuralInference -InputSize 16 -HiddenSize 32 -Steps 1");
        var jit = _s.Run("Get-NeuralHotspot -Status Jit").Select(r => $"{r.Properties["Operation"].Value} {r.Properties["Dims"].Value}").ToList();
        foreach (var c in candidates) Assert.Contains(c, jit);
    }

    /// <summary>
    /// Tier and every ISA an output record carries are enums, never free strings, that Where-Object compares with
    /// their names (tests/pester/Pipelines.Tests.ps1 sorts, exports and converts them to JSON).
    /// </summary>
    [Fact]
    public void TierAndIsaAreEnumsThatWhereObjectComparesWithNames()
    {
        foreach (var type in ModuleSurface.OutputTypes)
            foreach (var p in type.GetProperties().Where(p => p.Name == "Tier" || p.Name.EndsWith("Isa", StringComparison.Ordinal)))
                Assert.True(p.PropertyType.IsEnum, $"{type.Name}.{p.Name} is a {p.PropertyType.Name}, not an enum.");

        var isa = _s.Run("(Get-NeuralEngine).JitIsa").Single().ToString();
        if (isa == "None") return;   // no JIT on this CPU: every row is Managed
        // Shapes of this test only (the engine is shared by the whole test process): LstmStep 92x34.
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 11 -HiddenSize 23 -Steps 3 | Out-Null; " +
               "Get-NeuralHotspot -Operation LstmStep -Dims 92x34 | Invoke-NeuralJitCompile | Out-Null");
        Assert.Equal("LstmStep", _s.Run($"(Get-NeuralHotspot | Where-Object Tier -eq '{isa}').Operation").Single().ToString());
        Assert.NotEmpty(_s.Run("Get-NeuralHotspot | Where-Object Tier -eq 'Managed'"));   // the Dense head
        Assert.Equal("LstmStep", _s.Run($"(Get-NeuralJitKernel | Where-Object {{ $_.Isa -eq '{isa}' -and $_.Dims -eq '92x34' }}).Operation").Single().ToString());
    }

    [Fact]
    public void KernelsPipeIntoCompareJitSpeedup()
    {
        // Shapes of this test only (the engine is shared by the whole test process): InputSize 13 / HiddenSize 29 appear nowhere else.
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 13 -HiddenSize 29 -Steps 1500; " +
               "Get-NeuralHotspot -Status Candidate | Invoke-NeuralJitCompile");
        const string Mine = "$mine = Get-NeuralHotspot | ForEach-Object { \"$($_.Operation) $($_.Dims)\" }; " +
                            "$kernels = Get-NeuralJitKernel | Where-Object { $mine -contains \"$($_.Operation) $($_.Dims)\" }; ";
        var kernels = _s.Run(Mine + "$kernels");
        Assert.NotEmpty(kernels);
        var results = _s.Run(Mine + "$kernels | Compare-JitSpeedup -Seconds 0.01");
        // The default -Baseline All measures each kernel against both managed tiers: two rows per kernel.
        Assert.Equal(2 * kernels.Count, results.Count);
        foreach (var k in kernels)
        {
            var rows = results.Where(r => Equals(r.Properties["Operation"].Value, k.Properties["Operation"].Value) && Equals(r.Properties["Dims"].Value, k.Properties["Dims"].Value)).ToList();
            Assert.Equal(["ManagedSimd", "Scalar"], rows.Select(r => (string)r.Properties["Baseline"].Value).Order());
        }
        foreach (var r in results)
        {
            Assert.IsType<double>(r.Properties["Speedup"].Value);
            Assert.False(string.IsNullOrEmpty((string)r.Properties["Dims"].Value));
        }
    }
}
