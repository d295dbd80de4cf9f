using System.Management.Automation;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Tab completion of -Operation and -Dims, through the engine's own CommandCompletion (what TabExpansion2 calls).</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly ModuleSession _s = new();
    public void Dispose() => _s.Dispose();

    private List<string> Complete(string input)
    {
        using var ps = _s.NewPowerShell();
        var result = CommandCompletion.CompleteInput(input, input.Length, null, ps);
        return result.CompletionMatches.Select(m => m.CompletionText).ToList();
    }

    [Fact]
    public void OperationCompletesOpKindsByPrefix()
    {
        Assert.Equal(["LstmCell", "LstmGates", "LstmStep"], Complete("Get-NeuralHotspot -Operation Lstm"));
        Assert.Equal(["LstmCell", "LstmGates", "LstmStep"], Complete("Get-NeuralHotspot -Operation lstm"));
    }

    [Fact]
    public void OperationCompletesWildcardPatterns()
    {
        Assert.Equal(["CosineSimilarity"], Complete("Get-NeuralHotspot -Operation *Sim*"));
        Assert.Equal(["Sigmoid", "Softmax"], Complete("Get-NeuralHotspot -Operation S*m*"));
        Assert.Equal(["Softmax", "Softsign"], Complete("Get-NeuralHotspot -Operation So?t*"));
    }

    [Fact]
    public void OperationKeepsTheQuoteTheUserOpened()
    {
        Assert.Equal(["'Gemm'", "'Gemv'"], Complete("Get-NeuralHotspot -Operation 'Gem"));
        Assert.Equal(["\"Gemm\"", "\"Gemv\""], Complete("Get-NeuralHotspot -Operation \"Gem"));
    }

    [Fact]
    public void TabExpansion2CompletesOperationToo()
    {
        var result = _s.Run("(TabExpansion2 -inputScript 'Get-NeuralHotspot -Operation Den' -cursorColumn 32).CompletionMatches.CompletionText");
        Assert.Equal(["Dense"], result.Select(o => o.ToString()));
    }

    [Fact]
    public void DimsCompletesTheShapesSeenForTheBoundOperation()
    {
        // Only this test's shapes: the engine is shared by the test process, and the completer offers shapes with calls.
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 11 -HiddenSize 5 -OutputSize 3 -Steps 3");
        var step = Complete("Get-NeuralHotspot -Operation LstmStep -Dims ");
        Assert.Contains("20x16", step);                             // 4·5 x (11+5)
        Assert.DoesNotContain("3x5", step);                         // the Dense head's shape is not a LstmStep shape
        Assert.Contains("3x5", Complete("Get-NeuralHotspot -Operation Dense -Dims "));
        Assert.Equal(["20x16"], Complete("Get-NeuralHotspot -Operation LstmStep -Dims 20x1"));
        Assert.Equal(["'20x16'"], Complete("Get-NeuralHotspot -Operation LstmStep -Dims '20x1"));
        // With a wildcard operation, shapes of every matching op.
        var any = Complete("Get-NeuralHotspot -Operation *e* -Dims ");
        Assert.Contains("20x16", any);                              // LstmStep
        Assert.Contains("3x5", any);                                // Dense
    }

    [Fact]
    public void CompareJitSpeedupDimsAlsoCompletesItsBuiltInTargets()
    {
        var gemm = Complete("Compare-JitSpeedup -Operation Gemm -Dims ");
        Assert.Contains("64x64x64", gemm);
        Assert.Contains("128x64x64", gemm);
        Assert.DoesNotContain("512x192", gemm);                     // a LstmGates target, not a Gemm one
        Assert.Equal(["128x64x64"], Complete("Compare-JitSpeedup -Operation Gemm -Dims 128"));
        Assert.Contains("512x192", Complete("Compare-JitSpeedup -Dims "));
    }

    [Fact]
    public void EveryOperationAndDimsParameterOfEveryCmdletHasTheCompleter()
    {
        var problems = new List<string>();
        foreach (var c in ModuleSurface.Cmdlets)
        {
            foreach (var (name, completer) in new[] { ("Operation", "OperationCompleter"), ("Dims", "DimsCompleter") })
            {
                if (!c.Parameters.TryGetValue(name, out var p)) continue;
                var attr = p.Attributes.OfType<ArgumentCompleterAttribute>().FirstOrDefault();
                if (attr?.Type?.Name != completer)
                    problems.Add($"{c.Name} -{name} has no [ArgumentCompleter(typeof(NeuralJit.PowerShell.Completers.{completer}))].");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
