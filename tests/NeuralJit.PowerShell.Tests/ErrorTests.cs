using System.Management.Automation;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// Each error the cmdlets raise has a stable id (&lt;CmdletNoun&gt;&lt;Reason&gt;), a category, the offending
/// object as target, and a RecommendedAction.
/// </summary>
public sealed class ErrorTests : IDisposable
{
    private readonly ModuleSession _s = ModuleSession.InScratchFolder("neuraljit-errors-");

    public void Dispose() => _s.Dispose();

    private ErrorRecord Single(string script)
    {
        var errors = _s.Errors(script);
        Assert.True(errors.Count == 1, $"{script}: expected one error, got {errors.Count}: {string.Join("; ", errors.Select(e => e.FullyQualifiedErrorId))}");
        return errors[0];
    }

    private void AssertError(string script, string id, ErrorCategory category, Func<object?, bool> target)
    {
        var e = Single(script);
        Assert.True(e.FullyQualifiedErrorId.StartsWith(id + ",", StringComparison.Ordinal), $"{script}: id {e.FullyQualifiedErrorId}, expected {id}");
        Assert.Equal(category, e.CategoryInfo.Category);
        var t = e.TargetObject is PSObject p ? p.BaseObject : e.TargetObject;
        Assert.True(target(t), $"{script}: target {t ?? "(null)"} ({t?.GetType().Name}) is not the offending value.");
        Assert.False(string.IsNullOrWhiteSpace(e.ErrorDetails?.RecommendedAction), $"{script}: {id} has no RecommendedAction.");
        Assert.False(string.IsNullOrWhiteSpace(e.ErrorDetails?.Message ?? e.Exception.Message));
    }

    [Fact]
    public void GetNeuralHotspotRejectsTopBelowOne() =>
        AssertError("Get-NeuralHotspot -Top 0", "GetNeuralHotspotInvalidTop", ErrorCategory.InvalidArgument, t => t is 0);

    [Fact]
    public void GetNeuralHotspotReportsAnUnknownOperationButNotAnEmptyWildcard()
    {
        AssertError("Get-NeuralHotspot -Operation Lstmgatez", "GetNeuralHotspotUnknownOperation", ErrorCategory.InvalidArgument, t => t is "Lstmgatez");
        Assert.Empty(_s.Errors("Get-NeuralHotspot -Operation Nothing*"));
    }

    [Fact]
    public void StartNeuralTraceRejectsABadCapacityAndASecondStart()
    {
        AssertError("Start-NeuralTrace -Capacity 0", "StartNeuralTraceInvalidCapacity", ErrorCategory.InvalidArgument, t => t is 0);
        AssertError("Start-NeuralTrace -Capacity -5", "StartNeuralTraceInvalidCapacity", ErrorCategory.InvalidArgument, t => t is -5);
        _s.Run("Start-NeuralTrace -Capacity 8");
        AssertError("Start-NeuralTrace -Capacity 8", "StartNeuralTraceAlreadyRecording", ErrorCategory.InvalidOperation,
            t => t?.GetType().FullName == "NeuralJit.TraceInfo");
    }

    [Fact]
    public void StopNeuralTraceWhenNothingRecords()
    {
        AssertError("Stop-NeuralTrace", "StopNeuralTraceNotRecording", ErrorCategory.InvalidOperation, t => t is not null);
    }

    [Fact]
    public void ExportNeuralTraceChecksItsPath()
    {
        _s.Run("Start-NeuralTrace -Capacity 8; Stop-NeuralTrace");
        AssertError("Export-NeuralTrace -Path ./no/such/dir/t.json", "ExportNeuralTraceDirectoryNotFound", ErrorCategory.ObjectNotFound, t => t is "./no/such/dir/t.json");
        AssertError("Export-NeuralTrace -Path Env:NEURALJIT_TRACE", "ExportNeuralTraceNotFileSystemPath", ErrorCategory.InvalidArgument, t => t is "Env:NEURALJIT_TRACE");
        AssertError("Export-NeuralTrace -Path NoSuchDrive:/t.json", "ExportNeuralTraceInvalidPath", ErrorCategory.InvalidArgument, t => t is "NoSuchDrive:/t.json");
        File.WriteAllText(Path.Combine(_s.Scratch.FullName, "exists.json"), "{}");
        AssertError("Export-NeuralTrace -Path exists.json -NoClobber", "ExportNeuralTraceFileExists", ErrorCategory.ResourceExists, t => t is "exists.json");
        Assert.Equal("{}", File.ReadAllText(Path.Combine(_s.Scratch.FullName, "exists.json")));
    }

    [Theory]
    [InlineData("Export-NeuralRoofline", "svg")]
    [InlineData("Export-NeuralReport", "html")]
    public void ExportPicturesCheckTheirPathAndWriteNothingOnError(string cmdlet, string ext)
    {
        string id = cmdlet.Replace("-", "");
        Directory.CreateDirectory(Path.Combine(_s.Scratch.FullName, "adir"));
        AssertError($"{cmdlet} -Path adir", id + "IsDirectory", ErrorCategory.InvalidArgument, t => t is "adir");
        AssertError($"{cmdlet} -Path ./no/such/dir/x.{ext}", id + "DirectoryNotFound", ErrorCategory.ObjectNotFound, t => Equals(t, $"./no/such/dir/x.{ext}"));
        AssertError($"{cmdlet} -Path Env:NEURALJIT_PICTURE", id + "NotFileSystemPath", ErrorCategory.InvalidArgument, t => t is "Env:NEURALJIT_PICTURE");
        File.WriteAllText(Path.Combine(_s.Scratch.FullName, $"exists.{ext}"), "old");
        AssertError($"{cmdlet} -Path exists.{ext} -NoClobber", id + "FileExists", ErrorCategory.ResourceExists, t => Equals(t, $"exists.{ext}"));
        Assert.Equal("old", File.ReadAllText(Path.Combine(_s.Scratch.FullName, $"exists.{ext}")));
        Assert.Equal([$"exists.{ext}"], Directory.EnumerateFiles(_s.Scratch.FullName).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("Export-NeuralRoofline", "svg")]
    [InlineData("Export-NeuralReport", "html")]
    public void ExportPicturesReportABadRowAndDrawTheOthers(string cmdlet, string ext)
    {
        var errors = _s.Errors($$"""
            @([pscustomobject]@{ Operation = 'Relu'; Dims = '1024'; BaselineNanoseconds = 300; JitNanoseconds = 100 },
              [pscustomobject]@{ Operation = 'Nope'; Dims = '8'; BaselineNanoseconds = 3; JitNanoseconds = 1 },
              [pscustomobject]@{ Operation = 'Gemm'; Dims = '8x8'; BaselineNanoseconds = 3; JitNanoseconds = 1 },
              [pscustomobject]@{ Operation = 'Sigmoid'; Dims = '64'; BaselineNanoseconds = 90; JitNanoseconds = 30 }) | {{cmdlet}} -Path out.{{ext}}
            """);
        string id = cmdlet.Replace("-", "") + "InvalidKernel";
        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.StartsWith(id + ",", e.FullyQualifiedErrorId));
        Assert.Equal(["Nope 8", "Gemm 8x8"], errors.Select(e => (string)e.TargetObject));
        string text = File.ReadAllText(Path.Combine(_s.Scratch.FullName, $"out.{ext}"));
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(text, "class=\"mark jit\""));
        Assert.Contains("data-key=\"Relu 1024\"", text);
        Assert.Contains("data-key=\"Sigmoid 64\"", text);
    }

    [Theory]
    [InlineData("-InputSize 0", "InvokeNeuralInferenceInvalidInputSize", 0L)]
    [InlineData("-InputSize -3", "InvokeNeuralInferenceInvalidInputSize", -3L)]
    [InlineData("-HiddenSize 0", "InvokeNeuralInferenceInvalidHiddenSize", 0L)]
    [InlineData("-HiddenSize -1", "InvokeNeuralInferenceInvalidHiddenSize", -1L)]
    [InlineData("-OutputSize 0", "InvokeNeuralInferenceInvalidOutputSize", 0L)]
    [InlineData("-Layers 0", "InvokeNeuralInferenceInvalidLayers", 0L)]
    [InlineData("-Steps 0", "InvokeNeuralInferenceInvalidSteps", 0L)]
    [InlineData("-Steps -10", "InvokeNeuralInferenceInvalidSteps", -10L)]
    public void InvokeNeuralInferenceRejectsSizesBelowOne(string arguments, string id, long value) =>
        AssertError($"Invoke-NeuralInference {arguments}", id, ErrorCategory.InvalidArgument, t => Convert.ToInt64(t) == value);

    [Fact]
    public void InvokeNeuralInferenceReportsEachTimeStepOfTheWrongLength()
    {
        using var ps = _s.NewPowerShell();
        ps.AddScript("Invoke-NeuralInference -InputSize 3 -HiddenSize 4 -Sequence @([float[]](1,2,3), [float[]](1,2), [float[]](4,5,6))");
        var results = ps.Invoke();
        Assert.Equal(2, results.Count);                 // the bad step is skipped, the others run
        var e = Assert.Single(ps.Streams.Error);
        Assert.StartsWith("InvokeNeuralInferenceWrongInputLength,", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        var target = Assert.IsType<float[]>(e.TargetObject is PSObject p ? p.BaseObject : e.TargetObject);
        Assert.Equal([1f, 2f], target);
        Assert.Contains("3", e.ErrorDetails.RecommendedAction);

        using var piped = _s.NewPowerShell();
        piped.AddScript(",[float[]](1,2,3,4) | Invoke-NeuralInference -InputSize 3 -HiddenSize 2");
        Assert.Empty(piped.Invoke());
        Assert.StartsWith("InvokeNeuralInferenceWrongInputLength,", Assert.Single(piped.Streams.Error).FullyQualifiedErrorId);
    }
}
