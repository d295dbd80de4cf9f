using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.PowerShell.Tests;

/// <summary>Get-NeuralJitKernel, Invoke-NeuralJitCompile and Set-NeuralJitOption run as real pipelines over the staged module.</summary>
public class JitCmdletTests
{
    private static (Collection<PSObject> Output, List<ErrorRecord> Errors) Run(string script)
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(ModuleImportTests.ManifestPath());
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddScript(script);
        var output = ps.Invoke();
        return (output, ps.Streams.Error.ToList());
    }

    /// <summary>The module initializer sized the shared engine's code cache before any test compiled (see TestProcessEngine).</summary>
    [Fact]
    public void TheSharedEngineHasTheCodeCacheTheSuiteSized()
    {
        var (output, errors) = Run("Get-NeuralEngine");
        Assert.Empty(errors);
        Assert.Equal(TestProcessEngine.CodeCacheBytes, (int)Assert.Single(output).Properties["CodeCacheBytes"].Value);
    }

    [Fact]
    public void InvokeNeuralJitCompileReturnsTheKernelAndGetNeuralJitKernelListsIt()
    {
        var (output, errors) = Run("Invoke-NeuralJitCompile -Operation Sigmoid -Dims 61; Get-NeuralJitKernel -Operation Sigmoid");
        Assert.Empty(errors);
        var compiled = output[0];
        Assert.Equal("NeuralJit.JitKernelInfo", compiled.TypeNames[0]);
        Assert.Equal("Sigmoid", compiled.Properties["Operation"].Value?.ToString()); // an OpKind, printed as its name
        Assert.Equal("61", compiled.Properties["Dims"].Value);
        Assert.True((int)compiled.Properties["CodeBytes"].Value > 0);
        Assert.True((double)compiled.Properties["CompileMicroseconds"].Value > 0);
        Assert.StartsWith("0x", (string)compiled.Properties["Address"].Value);
        Assert.Contains(output.Skip(1), o => (string)o.Properties["Dims"].Value == "61");
    }

    [Fact]
    public void OperationAndDimsBindFromThePipelineByPropertyName()
    {
        var (output, errors) = Run(
            "[pscustomobject]@{ Operation = 'DncContent'; Dims = '16x9' }, [pscustomobject]@{ Operation = 'Softmax'; Dims = '33' } | Invoke-NeuralJitCompile");
        Assert.Empty(errors);
        Assert.Equal(new[] { "DncContent 16x9", "Softmax 33" }, output.Select(o => $"{o.Properties["Operation"].Value} {o.Properties["Dims"].Value}"));
    }

    [Fact]
    public void HotspotsPipeIntoTheCompiler()
    {
        // Every hotspot of an LSTM run becomes a kernel or an error that says why not (a full code cache, say, keeps a key managed).
        var (output, errors) = Run(
            "Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 8 -HiddenSize 8 -Steps 5 | Out-Null; @(Get-NeuralHotspot).Count; Get-NeuralHotspot | Invoke-NeuralJitCompile");
        int hotspots = (int)output[0].BaseObject;
        Assert.True(hotspots >= 2);
        Assert.Equal(hotspots, output.Count - 1 + errors.Count);
        Assert.All(errors, e => Assert.StartsWith("InvokeNeuralJitCompile", e.FullyQualifiedErrorId));
        Assert.DoesNotContain(errors, e => e.FullyQualifiedErrorId.StartsWith("InvokeNeuralJitCompileInvalidDims", StringComparison.Ordinal));
    }

    /// <summary>
    /// Every DNC op has an emitter: the model's DNC hotspot rows (Dims is Parse's inverse) pipe into the compiler and
    /// each becomes a kernel; -WhatIf compiles none of them.
    /// </summary>
    [Fact]
    public void DncHotspotsPipeIntoTheCompiler()
    {
        var (output, errors) = Run("""
            Reset-NeuralProfile -Confirm:$false
            New-NeuralModel -InputSize 3 -HiddenSize 4 -MemorySlots 5 -MemoryWidth 2 -ReadHeads 1 | Invoke-NeuralInference -Steps 2 | Out-Null
            $dnc = @(Get-NeuralHotspot -Operation Dnc*)
            $dnc.Count
            @($dnc | Invoke-NeuralJitCompile -WhatIf).Count
            $dnc | Invoke-NeuralJitCompile
            """);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.ToString())));
        int rows = (int)output[0].BaseObject;
        Assert.Equal(9, rows);                                   // DncInterface … DncRead, with DncLinkTemporal for the link update and temporal weightings
        Assert.Equal(0, (int)output[1].BaseObject);
        var kernels = output.Skip(2).ToList();
        Assert.Equal(rows, kernels.Count);
        Assert.All(kernels, k => Assert.StartsWith("Dnc", k.Properties["Operation"].Value.ToString()));
    }

    /// <summary>
    /// A key compiled mid-run: Calls and AvgNanoseconds go on over both tiers, TierCalls and TierAvgNanoseconds count
    /// only the calls of the kernel installed now, and Export-NeuralRoofline places the key by those.
    /// </summary>
    [Fact]
    public void AKeyCompiledMidRunReportsItsJitCallsApartFromTheTotals()
    {
        var (output, errors) = Run("""
            Reset-NeuralProfile -Confirm:$false
            Set-NeuralJitOption -CallThreshold 1000000
            try {
                Invoke-NeuralInference -InputSize 13 -HiddenSize 7 -Steps 40 | Out-Null
                $managed = Get-NeuralHotspot -Operation LstmStep -Dims 28x20
                Invoke-NeuralJitCompile -Operation LstmStep -Dims 28x20 | Out-Null
                $installed = Get-NeuralHotspot -Operation LstmStep -Dims 28x20
                Invoke-NeuralInference -InputSize 13 -HiddenSize 7 -Steps 25 | Out-Null
                $jit = Get-NeuralHotspot -Operation LstmStep -Dims 28x20
                $managed, $installed, $jit
                $svg = [IO.Path]::Combine([IO.Path]::GetTempPath(), "tier-$PID-$([guid]::NewGuid()).svg")
                Export-NeuralRoofline -Path $svg
                [IO.File]::ReadAllText($svg); [IO.File]::Delete($svg)
            }
            finally { Set-NeuralJitOption -CallThreshold 1000 }
            """);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.ToString())));
        long Long(PSObject o, string p) => Convert.ToInt64(o.Properties[p].Value);
        double? Ns(PSObject o) => o.Properties["TierAvgNanoseconds"].Value as double?;
        var (managed, installed, jit) = (output[0], output[1], output[2]);
        Assert.Equal("Managed", managed.Properties["Tier"].Value.ToString());
        Assert.Equal((40L, 40L), (Long(managed, "Calls"), Long(managed, "TierCalls")));
        Assert.NotNull(Ns(managed));
        Assert.Equal((40L, 0L), (Long(installed, "Calls"), Long(installed, "TierCalls")));
        Assert.Null(Ns(installed));                                // no call of the kernel timed yet
        Assert.Equal("Jit", jit.Properties["Status"].Value.ToString());
        Assert.Equal((65L, 25L), (Long(jit, "Calls"), Long(jit, "TierCalls")));
        Assert.NotNull(Ns(jit));
        Assert.NotEqual(Ns(jit), (double)jit.Properties["AvgNanoseconds"].Value);
        // The chart's mark for the key is the kernel's own time: its title gives the ns of the tier's calls.
        string svg = (string)output[3].BaseObject;
        var title = System.Text.RegularExpressions.Regex.Match(svg, @"class=""mark jit""[^>]*><title>LstmStep 28x20:[^<]*\(([\d.,]+) ns\)</title>");
        Assert.True(title.Success, svg);
        double ns = Ns(jit)!.Value;
        string expected = ns >= 100 ? ns.ToString("#,0", System.Globalization.CultureInfo.InvariantCulture)
            : ns.ToString(ns >= 10 ? "0.0" : ns >= 1 ? "0.00" : "0.###", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(expected, title.Groups[1].Value);
    }

    /// <summary>-WhatIf announces only a compile that can happen: a shape the emitter declines is its error, as without it.</summary>
    [Fact]
    public void WhatIfWritesTheErrorOfACompileThatCannotHappen()
    {
        var (output, errors) = Run("""
            Invoke-NeuralJitCompile -Operation LstmStep -Dims 32768x32768 -WhatIf
            Invoke-NeuralJitCompile -Operation Relu -Dims 1237 -WhatIf
            @(Get-NeuralJitKernel -Operation Relu | Where-Object Dims -eq '1237').Count
            """);
        var e = Assert.Single(errors);
        Assert.Equal("InvokeNeuralJitCompileUnsupportedShape,NeuralJit.PowerShell.Commands.InvokeNeuralJitCompileCommand", e.FullyQualifiedErrorId);
        Assert.Contains("2 GiB", e.Exception.Message);
        Assert.Equal(0, (int)Assert.Single(output).BaseObject);     // -WhatIf compiled nothing
    }

    /// <summary>-FlushDenormals shows in Get-NeuralEngine and in a run's -Verbose, and goes back off.</summary>
    [Fact]
    public void FlushDenormalsIsReportedWhileOnAndTurnsOff()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(ModuleImportTests.ManifestPath());
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddScript("""
            (Set-NeuralJitOption -FlushDenormals $true -PassThru).FlushDenormals
            try { Invoke-NeuralInference -InputSize 5 -HiddenSize 6 -Steps 3 -Verbose | Out-Null }
            finally { (Set-NeuralJitOption -FlushDenormals $false -PassThru).FlushDenormals }
            Invoke-NeuralInference -InputSize 5 -HiddenSize 6 -Steps 3 -Verbose | Out-Null
            """);
        var output = ps.Invoke();
        Assert.Empty(ps.Streams.Error);
        Assert.Equal(new object[] { true, false }, output.Select(o => o.BaseObject));
        var flushed = ps.Streams.Verbose.Where(v => v.Message.Contains("subnormal floats flushed to zero", StringComparison.Ordinal)).ToList();
        Assert.Single(flushed);                                    // the first run only
    }

    [Fact]
    public void BadDimsAreAnInvalidArgumentErrorWithTheDimsAsTarget()
    {
        var (output, errors) = Run("Invoke-NeuralJitCompile -Operation Gemm -Dims 12x");
        Assert.Empty(output);
        var e = Assert.Single(errors);
        Assert.StartsWith("InvokeNeuralJitCompileInvalidDims", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        Assert.Equal("12x", e.TargetObject);
        Assert.False(string.IsNullOrEmpty(e.ErrorDetails.RecommendedAction));
    }

    [Fact]
    public void WhatIfCompilesNothing()
    {
        var (output, errors) = Run("Invoke-NeuralJitCompile -Operation Relu -Dims 4093 -WhatIf; @(Get-NeuralJitKernel -Operation Relu | Where-Object Dims -eq '4093').Count");
        Assert.Empty(errors);
        Assert.Equal(0, (int)output.Last().BaseObject);
    }

    [Fact]
    public void DisassembleShowsIntelSyntax()
    {
        var (output, errors) = Run("Invoke-NeuralJitCompile Tanh 40 | Out-Null; Get-NeuralJitKernel -Operation Tanh -Disassemble | Where-Object Dims -eq '40' | ForEach-Object Disassembly");
        Assert.Empty(errors);
        var text = (string)output.Single().BaseObject;
        Assert.Contains("vzeroupper", text);
        Assert.Contains("ret", text);
    }

    [Fact]
    public void SetNeuralJitOptionRefusesAnotherIsaOnceKernelsExistAndHonoursWhatIf()
    {
        // BestIsa is the module's effective view of the CPU (NEURALJIT_MAX_ISA included).
        var (output, errors) = Run(@"
            (Get-NeuralEngine).BestIsa
            Invoke-NeuralJitCompile Relu 5 | Out-Null
            $before = (Get-NeuralEngine).CallThreshold
            Set-NeuralJitOption -CallThreshold 7 -WhatIf
            (Get-NeuralEngine).CallThreshold -eq $before
            Set-NeuralJitOption -Isa None
            if ((Get-NeuralEngine).BestIsa -eq 'Avx512') { Set-NeuralJitOption -Isa Avx2 } else { Set-NeuralJitOption -Isa Avx512 }
            (Get-NeuralEngine).JitIsa
            Set-NeuralJitOption -ShareThreshold (Get-NeuralEngine).ShareThreshold -PassThru | ForEach-Object JitKernels");
        bool avx512 = output[0].BaseObject.ToString() == "Avx512";
        Assert.Contains(output[0].BaseObject.ToString(), new[] { "Avx2", "Avx512" });
        Assert.True((bool)output[1].BaseObject);
        Assert.Equal(output[0].BaseObject, output[2].BaseObject);
        Assert.True((int)output[3].BaseObject >= 1);
        Assert.Equal(2, errors.Count);
        Assert.StartsWith("SetNeuralJitOptionIsaFixed", errors[0].FullyQualifiedErrorId);
        // Narrowing a fixed AVX-512 engine is refused; asking an AVX2-only CPU for AVX-512 says the CPU lacks it.
        Assert.StartsWith(avx512 ? "SetNeuralJitOptionIsaFixed" : "SetNeuralJitOptionIsaUnavailable", errors[1].FullyQualifiedErrorId);
        if (!avx512) Assert.Equal(ErrorCategory.NotEnabled, errors[1].CategoryInfo.Category);
    }

    [Fact]
    public void TheKernelTableRendersAndSurvivesSerialization()
    {
        var (output, errors) = Run(@"
            $k = Invoke-NeuralJitCompile Softsign 19
            $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($k))
            $back.PSObject.TypeNames[0]
            $back.CodeBytes -eq $k.CodeBytes
            $k | Out-Default
            $back | Out-Default");
        Assert.Empty(errors);
        Assert.Equal("Deserialized.NeuralJit.JitKernelInfo", output[0].BaseObject);
        Assert.True((bool)output[1].BaseObject);
    }
}
