using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text.Json;

namespace NeuralJit.PowerShell.Tests;

/// <summary>New-/Import-NeuralModel, Invoke-NeuralInference -Model and Measure-NeuralEwcPenalty as real pipelines in a runspace that imports the staged module.</summary>
public class NeuralModelCmdletTests
{
    private static string Fixtures
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            {
                var p = Path.Combine(d.FullName, "tests", "fixtures");
                if (File.Exists(Path.Combine(p, "make_fixtures.py"))) return p;
            }
            throw new DirectoryNotFoundException("tests/fixtures");
        }
    }

    private static (float[][] Inputs, float[][] Outputs) Expected(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures, name + ".json")));
        float[][] Rows(string key) => doc.RootElement.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray()).ToArray();
        return (Rows("inputs"), Rows("outputs"));
    }

    /// <summary>Runs <paramref name="script"/> with the module imported and <paramref name="variables"/> set; returns output and errors.</summary>
    private static (List<PSObject> Output, List<ErrorRecord> Errors) Run(string script, IDictionary? variables = null)
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule([ModuleImportTests.ManifestPath()]);
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        if (variables is not null)
            foreach (DictionaryEntry v in variables) ps.Runspace.SessionStateProxy.SetVariable((string)v.Key, v.Value);
        ps.AddScript(script);
        var output = ps.Invoke().ToList();
        return (output, ps.Streams.Error.ToList());
    }

    // The engine's types come from the staged module (this project does not reference it): read them as PSObjects.
    private static T P<T>(PSObject o, string name) => LanguagePrimitives.ConvertTo<T>(o.Properties[name].Value);
    private static string TypeName(PSObject o) => o.BaseObject.GetType().FullName!;

    private static void AssertOutputs(float[][] expected, List<PSObject> results, string what)
    {
        Assert.Equal(expected.Length, results.Count);
        for (int t = 0; t < expected.Length; t++)
        {
            Assert.Equal("NeuralJit.InferenceResult", TypeName(results[t]));
            Assert.Equal(t, P<long>(results[t], "Step"));
            var y = P<float[]>(results[t], "Output");
            Assert.Equal(expected[t].Length, y.Length);
            for (int i = 0; i < expected[t].Length; i++)
                Assert.True(Math.Abs(y[i] - expected[t][i]) <= 1e-5, $"{what} step {t} output {i}: {y[i]:R}, PyTorch {expected[t][i]:R}");
        }
    }

    /// <summary>A safetensors file of F32 tensors written by hand (the format: u64 header length, JSON, bytes).</summary>
    private static void WriteSafetensors(string path, params (string Name, int[] Shape)[] tensors)
    {
        var parts = new List<string>();
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            long bytes = 4L * shape.Aggregate(1, (a, d) => a * d);
            parts.Add($"\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        var header = System.Text.Encoding.UTF8.GetBytes("{" + string.Join(",", parts) + "}");
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)header.Length));
        f.Write(header);
        f.Write(new byte[offset]);
    }

    [Theory]
    [InlineData("lstm1_7x13x5")]
    [InlineData("lstm2_5x11x3")]
    [InlineData("lstm1_4x6x2_bf16")]
    [InlineData("dnc_5x12x3_n9w4r2")]
    public void ImportedPyTorchModelPipedToInferenceReproducesPyTorch(string name)
    {
        var (inputs, outputs) = Expected(name);
        var (o, e) = Run("Import-NeuralModel -Path $path | Invoke-NeuralInference -Sequence $s",
            new Hashtable { ["path"] = Path.Combine(Fixtures, name + ".safetensors"), ["s"] = inputs });
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        AssertOutputs(outputs, o, name);
    }

    [Fact]
    public void VectorsFromThePipelineAreOneSequenceOfTheModel()
    {
        var (inputs, outputs) = Expected("lstm2_5x11x3");
        var (o, e) = Run("$m = Import-NeuralModel $path; $s | Invoke-NeuralInference -Model $m",
            new Hashtable { ["path"] = Path.Combine(Fixtures, "lstm2_5x11x3.safetensors"), ["s"] = inputs });
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        AssertOutputs(outputs, o, "pipeline");
    }

    /// <summary>
    /// -Sequence binds an object[] of float[] (taken as they are), typed float[][], and arrays of other numbers (PowerShell's
    /// conversion) to the same steps; and each -Model call starts from a fresh state, also when it reuses the last call's network.
    /// </summary>
    [Fact]
    public void SequenceBindsEveryArrayShapeAlikeAndEachModelCallStartsFresh()
    {
        var (o, e) = Run("""
            $m = New-NeuralModel -InputSize 3 -HiddenSize 8 -OutputSize 2 -MemorySlots 5 -MemoryWidth 4 -ReadHeads 2
            $objects = foreach ($t in 0..5) { , [float[]]@(($t * 0.5), -1, ($t / 3)) }
            $typed = [float[][]]$objects
            $doubles = foreach ($v in $objects) { , [double[]]$v }
            foreach ($s in @(, $objects) + @(, $typed) + @(, $doubles) + @(, $objects)) { (Invoke-NeuralInference -Model $m -Sequence $s | ForEach-Object { $_.Output -join ',' }) -join ';' }
            """);
        Assert.Empty(e);
        Assert.Equal(4, o.Count);
        Assert.All(o, r => Assert.Equal(o[0].ToString(), r.ToString()));
    }

    [Fact]
    public void FilesFromTheFileSystemBindByFullNameAndWildcardsExpand()
    {
        var (o, e) = Run("[IO.DirectoryInfo]::new($dir).GetFiles('*.safetensors') | Import-NeuralModel", new Hashtable { ["dir"] = Fixtures });
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        Assert.Equal(Directory.GetFiles(Fixtures, "*.safetensors").Length, o.Count);
        (o, e) = Run("Import-NeuralModel \"$dir/lstm*.safetensors\"", new Hashtable { ["dir"] = Fixtures });
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        Assert.Equal(3, o.Count);
        var m = o.Single(x => P<int>(x, "Layers") == 2);
        Assert.Equal("NeuralJit.NeuralModel", TypeName(m));
        Assert.Equal((5, 11, 3, 2), (P<int>(m, "InputSize"), P<int>(m, "HiddenSize"), P<int>(m, "OutputSize"), P<int>(m, "Layers")));
    }

    [Fact]
    public void AFileNameWithWildcardCharactersIsTakenLiterally()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-literal-");
        try
        {
            var path = Path.Combine(dir.FullName, "model[1].safetensors");
            File.Copy(Path.Combine(Fixtures, "lstm1_7x13x5.safetensors"), path);
            var (o, e) = Run("Import-NeuralModel -Path $p", new Hashtable { ["p"] = path });
            Assert.True(e.Count == 0, string.Join("\n", e));
            Assert.Equal(path, P<string>(Assert.Single(o), "Source"));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void AMissingFileIsAnObjectNotFoundErrorForThatPath()
    {
        var missing = Path.Combine(Fixtures, "no-such-model.safetensors");
        var (o, e) = Run("Import-NeuralModel $p", new Hashtable { ["p"] = missing });
        Assert.Empty(o);
        var err = Assert.Single(e);
        Assert.Equal("ImportNeuralModelFileNotFound,NeuralJit.PowerShell.Commands.ImportNeuralModelCommand", err.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, err.CategoryInfo.Category);
        Assert.Equal(missing, err.TargetObject);
    }

    [Fact]
    public void ACorruptFileIsAnInvalidDataErrorNamingTheProblemWithTheFileAsTarget()
    {
        var dir = Directory.CreateTempSubdirectory("neuraljit-models-");
        try
        {
            var good = File.ReadAllBytes(Path.Combine(Fixtures, "lstm1_7x13x5.safetensors"));
            var truncated = Path.Combine(dir.FullName, "truncated.safetensors");
            File.WriteAllBytes(truncated, good.AsSpan(0, good.Length - 3).ToArray());
            var good2 = Path.Combine(dir.FullName, "good.safetensors");
            File.WriteAllBytes(good2, good);
            // The error for the bad file does not stop the good one.
            var (o, e) = Run("Import-NeuralModel $a, $b", new Hashtable { ["a"] = truncated, ["b"] = good2 });
            Assert.Single(o);
            var err = Assert.Single(e);
            Assert.StartsWith("ImportNeuralModelCorruptFile,", err.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidData, err.CategoryInfo.Category);
            Assert.Equal(truncated, Assert.IsType<FileInfo>(err.TargetObject).FullName);
            Assert.Equal("SafeTensorsFormatException", err.Exception.GetType().Name);
            Assert.Equal("OffsetsBeyondFile", P<string>(PSObject.AsPSObject(err.Exception), "Problem"));
            Assert.Contains("truncated.safetensors", err.Exception.Message);
            Assert.False(string.IsNullOrEmpty(err.ErrorDetails.RecommendedAction));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void ATensorTheModelDoesNotExpectIsALayoutErrorNamingIt()
    {
        var path = Path.GetTempFileName();
        try
        {
            WriteSafetensors(path, ("lstm.weight_ih_l0", [8, 3]), ("lstm.weight_hh_l0", [8, 2]), ("output.weight", [1, 2]), ("encoder.weight", [1]));
            var (o, e) = Run("Import-NeuralModel -Path $p", new Hashtable { ["p"] = path });
            Assert.Empty(o);
            var err = Assert.Single(e);
            Assert.StartsWith("ImportNeuralModelLayoutMismatch,", err.FullyQualifiedErrorId);
            Assert.Contains("encoder.weight", err.Exception.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ANewDncModelRunsAndItsStepsShowInTheHotspotTableWithShapes()
    {
        // Sizes no other test uses, so the shared engine's rows are ours.
        var (o, e) = Run("""
            $m = New-NeuralModel -InputSize 6 -HiddenSize 10 -OutputSize 4 -MemorySlots 23 -MemoryWidth 7 -ReadHeads 3 -Seed 5
            $r = $m | Invoke-NeuralInference -Steps 40
            $r
            Get-NeuralHotspot -Operation DncLinkTemporal, DncRead, DncWriteContent, DncUsage, DncAllocation, DncInterface, DncWriteWeighting, DncReadWeighting, DncContent |
                Where-Object { $_.Dims -like '23*' -or $_.Dims -like '3x7' }
            """);
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        var r = o[0];
        Assert.Equal((40L, 4, 23, 7, 3), (P<long>(r, "Steps"), P<float[]>(r, "Output").Length, P<int>(r, "MemorySlots"), P<int>(r, "MemoryWidth"), P<int>(r, "ReadHeads")));
        var rows = o.Skip(1).ToDictionary(h => (P<string>(h, "Operation"), P<string>(h, "Dims")), h => P<long>(h, "Calls"));
        Assert.True(rows[("DncLinkTemporal", "23x23x3")] >= 40); // the link update fused with the temporal weightings
        Assert.True(rows[("DncRead", "23x7x3")] >= 40);
        Assert.True(rows[("DncWriteContent", "23x7x3")] >= 40); // the write fused with the 3 read keys' content weightings
        Assert.True(rows[("DncContent", "23x7")] >= 40);        // the write key
        Assert.True(rows[("DncInterface", "3x7")] >= 40);
        Assert.Equal(9, rows.Count);
    }

    [Fact]
    public void NewNeuralModelReportsSizesAndRefusesHalfAMemory()
    {
        var (o, e) = Run("New-NeuralModel 3 5 -Layers 2 -OutputSize 2");
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        var m = Assert.Single(o);
        long count = 4L * 5 * 8 + 8 * 5 + 4L * 5 * 10 + 8 * 5 + 2 * 5 + 2;
        Assert.Equal(count, P<long>(m, "ParameterCount"));
        Assert.Equal(count * 4, P<long>(m, "Bytes"));
        Assert.False(P<bool>(m, "HasMemory"));
        Assert.Equal("New-NeuralModel -Seed 42", P<string>(m, "Source"));
        (o, e) = Run("New-NeuralModel 3 5 -MemorySlots 8");
        Assert.Empty(o);
        var err = Assert.Single(e);
        Assert.Equal("NewNeuralModelIncompleteMemory", err.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(ErrorCategory.InvalidArgument, err.CategoryInfo.Category);
        Assert.Contains("-MemoryWidth", err.ErrorDetails.RecommendedAction);
    }

    [Fact]
    public void WrongInputLengthAndConflictingSizesAreErrorsWithActions()
    {
        var (o, e) = Run("$m = New-NeuralModel 3 4 -OutputSize 2; ,([float[]](1, 2)) | Invoke-NeuralInference -Model $m; Invoke-NeuralInference -Model $m -Sequence @(,[float[]](1,2,3)) -InputSize 5");
        Assert.Empty(o);
        Assert.Equal(2, e.Count);
        Assert.StartsWith("InvokeNeuralInferenceWrongInputLength,", e[0].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e[0].CategoryInfo.Category);
        Assert.Equal(new float[] { 1, 2 }, e[0].TargetObject);
        Assert.Contains("3 values", e[0].ErrorDetails.RecommendedAction);
        Assert.StartsWith("InvokeNeuralInferenceModelSizeMismatch,", e[1].FullyQualifiedErrorId);
        Assert.Equal("NeuralJit.NeuralModel", e[1].TargetObject.GetType().FullName);
    }

    [Fact]
    public void OneModelRunsInParallelRunspacesWithIdenticalResults()
    {
        var (inputs, outputs) = Expected("dnc_5x12x3_n9w4r2");
        var (o, e) = Run("""
            $m = Import-NeuralModel $path
            1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:manifest
                ($using:m | Invoke-NeuralInference -Sequence $using:s)[-1]
            }
            """, new Hashtable { ["path"] = Path.Combine(Fixtures, "dnc_5x12x3_n9w4r2.safetensors"), ["s"] = inputs, ["manifest"] = ModuleImportTests.ManifestPath() });
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        Assert.Equal(4, o.Count);
        foreach (var x in o)
        {
            var y = P<float[]>(x, "Output");
            for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - outputs[^1][i]) <= 1e-5);
        }
    }

    [Fact]
    public void EwcPenaltyOfArraysAndOfAModelAgainstSafetensorsFiles()
    {
        var (o, e) = Run("Measure-NeuralEwcPenalty -Parameter 1, 2, -1 -Anchor 0, 0, -1 -Fisher 1, 0.5, 3 -Lambda 2");
        Assert.True(e.Count == 0, string.Join("\n", e.Select(x => x.ToString())));
        var r = Assert.Single(o);
        Assert.Equal(3.0, P<double>(r, "Penalty"), 12);
        Assert.Equal("Double", P<string>(r, "Accumulation"));

        (o, e) = Run("Measure-NeuralEwcPenalty -Parameter 1, 2 -Anchor 0 -Fisher 1, 1");
        Assert.Empty(o);
        Assert.StartsWith("MeasureNeuralEwcPenaltyLengthMismatch,", Assert.Single(e).FullyQualifiedErrorId);

        var dir = Directory.CreateTempSubdirectory("neuraljit-ewc-");
        try
        {
            (o, e) = Run("""
                $old = New-NeuralModel 3 4 -OutputSize 2 -Seed 1
                $old.Save("$dir/anchor.safetensors")
                # A Fisher diagonal is never negative: |θ| has the model's names and shapes.
                $fisher = [System.Collections.Generic.List[ValueTuple[string, long[], float[]]]]::new()
                foreach ($n in $old.TensorNames) {
                    $abs = [float[]]@($old.GetParameter($n) | ForEach-Object { [Math]::Abs($_) })
                    $fisher.Add([ValueTuple[string, long[], float[]]]::new($n, [long[]]$old.GetParameterShape($n), $abs))
                }
                [NeuralJit.Models.SafeTensorsFile]::Write("$dir/fisher.safetensors", $fisher, $null, 'F32')
                $old | Measure-NeuralEwcPenalty -AnchorPath "$dir/anchor.safetensors" -FisherPath "$dir/fisher.safetensors" -Lambda 10
                New-NeuralModel 3 4 -OutputSize 2 -Seed 2 | Measure-NeuralEwcPenalty -AnchorPath "$dir/anchor.safetensors" -FisherPath "$dir/fisher.safetensors"
                New-NeuralModel 3 5 -OutputSize 2 | Measure-NeuralEwcPenalty -AnchorPath "$dir/anchor.safetensors" -FisherPath "$dir/fisher.safetensors"
                """, new Hashtable { ["dir"] = dir.FullName });
            Assert.Equal(2, o.Count);
            Assert.Equal(0.0, P<double>(o[0], "Penalty"));
            Assert.NotEqual(0.0, P<double>(o[1], "Penalty"));
            var err = Assert.Single(e);
            Assert.StartsWith("MeasureNeuralEwcPenaltyLayoutMismatch,", err.FullyQualifiedErrorId);
            Assert.IsType<FileInfo>(err.TargetObject);

            // θ itself given as the Fisher diagonal (it has negative entries) is an error, not a penalty.
            (o, e) = Run("""
                $old = New-NeuralModel 3 4 -OutputSize 2 -Seed 1
                $old.Save("$dir/theta.safetensors")
                $old | Measure-NeuralEwcPenalty -AnchorPath "$dir/anchor.safetensors" -FisherPath "$dir/theta.safetensors"
                """, new Hashtable { ["dir"] = dir.FullName });
            Assert.Empty(o);
            err = Assert.Single(e);
            Assert.StartsWith("MeasureNeuralEwcPenaltyNegativeFisher,", err.FullyQualifiedErrorId);
            Assert.IsType<FileInfo>(err.TargetObject);
        }
        finally { dir.Delete(true); }
    }
}
