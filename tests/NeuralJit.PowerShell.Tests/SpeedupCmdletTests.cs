using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Compare-JitSpeedup and Get-NeuralRoofline as real pipelines over the staged module (short budgets: behaviour, not speed).</summary>
public class SpeedupCmdletTests
{
    private static (Collection<PSObject> Output, List<ErrorRecord> Errors, List<ProgressRecord> Progress) Run(string script)
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(ModuleImportTests.ManifestPath());
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddScript(script);
        var output = ps.Invoke();
        return (output, ps.Streams.Error.ToList(), ps.Streams.Progress.ToList());
    }

    private static T P<T>(PSObject o, string name) => LanguagePrimitives.ConvertTo<T>(o.Properties[name].Value);

    [Fact]
    public void OneResultPerBaselineWithNumbersAsNumbersAndAProgressBarThatCompletes()
    {
        var (output, errors, progress) = Run("Compare-JitSpeedup -Operation Gemm -Dims 16x24x8 -Baseline All -Isa Avx2 -Seconds 0.01");
        Assert.Empty(errors);
        Assert.Equal(2, output.Count);
        Assert.All(output, o => Assert.Equal("NeuralJit.SpeedupResult", o.TypeNames[0]));
        Assert.Equal(new[] { "Scalar", "ManagedSimd" }, output.Select(o => P<string>(o, "Baseline")));
        foreach (var o in output)
        {
            Assert.Equal("Gemm", P<string>(o, "Operation"));
            Assert.Equal("16x24x8", P<string>(o, "Dims"));
            Assert.Equal("Avx2", P<string>(o, "Isa"));
            Assert.True(P<double>(o, "BaselineNanoseconds") > 0 && P<double>(o, "JitNanoseconds") > 0);
            Assert.Equal(P<double>(o, "BaselineNanoseconds") / P<double>(o, "JitNanoseconds"), P<double>(o, "Speedup"), 9);
            Assert.InRange(P<double>(o, "MaxAbsError"), 0, 1e-4);
            Assert.True(P<long>(o, "Iterations") > 0);
            Assert.True(P<double>(o, "PercentOfBound") > 0);
            Assert.NotNull(o.Properties["GFlops"].Value);
        }
        Assert.Contains(progress, p => p.RecordType == ProgressRecordType.Processing);
        Assert.Equal(ProgressRecordType.Completed, progress.Last().RecordType);
    }

    [Fact]
    public void SpeedupIsTheDefaultKeyProperty()
    {
        var (output, errors, _) = Run("(Compare-JitSpeedup Dense 16x8 -Baseline ManagedSimd -Iterations 5).PSStandardMembers.DefaultKeyPropertySet.ReferencedPropertyNames");
        Assert.Empty(errors);
        Assert.Equal(new[] { "Speedup" }, output.Select(o => o.BaseObject.ToString()));
    }

    [Fact]
    public void CompiledKernelsPipeInByPropertyName()
    {
        var (output, errors, _) = Run(
            "Invoke-NeuralJitCompile -Operation Gemv -Dims 24x40 | Out-Null; Get-NeuralJitKernel -Operation Gemv | Where-Object Dims -eq '24x40' | Compare-JitSpeedup -Baseline ManagedSimd -Iterations 20");
        Assert.Empty(errors);
        var r = Assert.Single(output);
        Assert.Equal("Gemv", P<string>(r, "Operation"));
        Assert.Equal("24x40", P<string>(r, "Dims"));
    }

    [Fact]
    public void WithoutOperationItMeasuresTheSeedTableWithTheLstmStepFused()
    {
        var (output, errors, _) = Run("Compare-JitSpeedup -Baseline ManagedSimd -Iterations 3");
        Assert.Empty(errors);
        Assert.Equal(new[] { "LstmStep 512x192", "DncContent 256x64", "Gemm 64x64x64", "Gemm 128x64x64", "CosineSimilarity 256x64", "EwcPenalty 128x128" },
            output.Select(o => $"{P<string>(o, "Operation")} {P<string>(o, "Dims")}"));
        // The LSTM row compares whole steps (gates + cell): both sides write c′ and h′.
        Assert.InRange(P<double>(output[0], "MaxAbsError"), 0, 1e-4);
    }

    [Fact]
    public void BadDimsAreAnInvalidArgumentErrorWithTheDimsAsTarget()
    {
        var (output, errors, _) = Run("Compare-JitSpeedup -Operation Gemm -Dims 12x");
        Assert.Empty(output);
        var e = Assert.Single(errors);
        Assert.StartsWith("CompareJitSpeedupInvalidDims", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        Assert.Equal("12x", e.TargetObject);
        Assert.False(string.IsNullOrEmpty(e.ErrorDetails.RecommendedAction));
    }

    [Fact]
    public void AnOpWithoutDefaultDimsAsksForDims()
    {
        var (output, errors, _) = Run("Compare-JitSpeedup -Operation Relu");
        Assert.Empty(output);
        var e = Assert.Single(errors);
        Assert.StartsWith("CompareJitSpeedupDimsRequired", e.FullyQualifiedErrorId);
        Assert.Contains("a length", e.ErrorDetails.RecommendedAction);
    }

    [Fact]
    public void StoppingThePipelineEndsTheMeasurement()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(ModuleImportTests.ManifestPath());
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddScript("Compare-JitSpeedup -Baseline All -Seconds 30");
        var async = ps.BeginInvoke();
        // Wait until the first row is being measured, then stop: StopProcessing cancels the interleaved loop.
        SpinWait.SpinUntil(() => ps.Streams.Progress.Any(p => p.PercentComplete >= 0 && p.StatusDescription.Contains(" vs ")), TimeSpan.FromSeconds(60));
        ps.Stop();
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        Assert.True(async.IsCompleted);
    }

    [Fact]
    public void RooflineReportsPeaksAndBandwidthsAsNumbers()
    {
        var (output, errors, _) = Run("Get-NeuralRoofline");
        Assert.Empty(errors);
        var r = Assert.Single(output);
        Assert.Equal("NeuralJit.RooflineResult", r.TypeNames[0]);
        Assert.True(P<double?>(r, "Avx2PeakGFlops") > 0);
        foreach (var name in new[] { "L1ReadGBps", "L2ReadGBps", "L3ReadGBps", "MemoryReadGBps", "L1BytesPerTick", "TscGHz",
                     "L1UpdateGBps", "L3UpdateGBps", "MemoryUpdateGBps", "L1WriteGBps", "L3WriteGBps", "MemoryWriteGBps", "L1ReadWriteGBps", "MemoryReadWriteGBps" })
            Assert.True(P<double>(r, name) > 0, name);
        Assert.True(P<long>(r, "L1DataBytes") > 0 && P<long>(r, "L2Bytes") > P<long>(r, "L1DataBytes"));
    }
}
