using System.Management.Automation;
using System.Reflection;
using System.Xml.Linq;

namespace NeuralJit.PowerShell.Tests;

/// <summary>The default views render through Out-Default with their headers, units and rows.</summary>
public sealed class ViewTests : IDisposable
{
    private readonly ModuleSession _s = new();
    public void Dispose() => _s.Dispose();

    private static XDocument FormatFile => XDocument.Load(Path.Combine(Paths.ModuleDir, "NeuralJit.format.ps1xml"));

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();

    [Fact]
    public void HotspotTableShowsUnitsInHeadersAndRightAlignedNumbers()
    {
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 20 -HiddenSize 12 -Steps 30");
        var text = _s.Render("Get-NeuralHotspot -Operation LstmStep -Dims 48x32");
        var lines = Lines(text);
        var header = lines[0];
        foreach (var h in new[] { "Operation", "Dims", "Calls", "Total cycles", "Avg µs", "Now µs", "Cyc/elem", "Share", "Timed", "Status" })
            Assert.True(header.Contains(h), $"header lacks '{h}':\n{text}");
        Assert.StartsWith("---", lines[1]);
        var row = lines[2];
        Assert.StartsWith("LstmStep", row);
        Assert.Contains("48x32", row);
        // Calls is right-aligned: "30" ends where the "Calls" header ends.
        int callsEnd = header.IndexOf("Calls", StringComparison.Ordinal) + "Calls".Length;
        Assert.Equal("30", row[(callsEnd - 2)..callsEnd]);
        Assert.Matches(@"\d+\.\d%", row);   // share as a percentage, only in the view
        Assert.Contains("100%", row);        // 30 calls: every one timed
        Assert.All(lines, l => Assert.True(l.Length <= 120, $"line longer than the 120-column buffer: {l}"));
    }

    [Fact]
    public void HotspotViewRendersObjectsThatCameBackFromRemoting()
    {
        _s.Run("Invoke-NeuralInference -InputSize 20 -HiddenSize 12 -Steps 5");
        var text = _s.Render("[System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize((Get-NeuralHotspot -Operation LstmStep -Dims 48x32)))");
        Assert.Contains("Total cycles", text);
        Assert.Contains("48x32", text);
    }

    [Fact]
    public void EngineListShowsClockThresholdsAndTable()
    {
        var text = _s.Render("Get-NeuralEngine");
        Assert.Matches(@"CPU features\s+: ", text);
        Assert.Matches(@"JIT ISA\s+: (None|Avx2|Avx512) \(CPU best: ", text);
        Assert.Matches(@"Clock\s+: .+ at \d+\.\d{3} GHz, (trusted|NOT trusted)", text);
        Assert.Matches(@"Candidate after\s+: 1,000 calls and 2\.0% of profiled cycles", text);
        Assert.Matches(@"Profile table\s+: 16,384 buckets x 8 ways, [\d,]+ KiB", text);
    }

    [Fact]
    public void InferenceTableShowsMicrosecondsPerStepAndTheFirstOutputs()
    {
        var text = _s.Render("Invoke-NeuralInference -InputSize 4 -HiddenSize 6 -OutputSize 7 -Steps 3");
        var lines = Lines(text);
        foreach (var h in new[] { "Step", "Steps", "Total ms", "µs/step", "Output (first 4)" }) Assert.Contains(h, lines[0]);
        Assert.Matches(@"^\s+2\s+3\s+[\d,]+\.\d{3}\s+[\d,]+\.\d{3} -?\d.*, … \(7\)$", lines[2]);
    }

    [Fact]
    public void TraceListStatesTheBufferSizeInBytes()
    {
        var text = _s.Render("Start-NeuralTrace -Capacity 1000; Stop-NeuralTrace");
        Assert.Matches(@"State\s+: Recording", text);
        Assert.Matches(@"State\s+: Stopped", text);
        Assert.Matches(@"Ring buffer\s+: 1,024 events x 32 B = 32\.0 KiB", text);
    }

    [Fact]
    public void RooflineListShowsEveryKindOfBandwidthWithin80Columns()
    {
        var text = _s.Render("Get-NeuralRoofline");
        Assert.Matches(@"MemoryReadGBps\s+: [\d,]+ \([\d.]+ B/tick\)", text);
        Assert.Matches(@"UpdateGBps\s+: L1 [\d,]+, L2 [\d,]+, L3 [\d,]+, memory [\d,]+ \(read \+ written back\)", text);
        Assert.Matches(@"WriteGBps\s+: L1 [\d,]+, L2 [\d,]+, L3 [\d,]+, memory [\d,]+ \(write only\)", text);
        Assert.Matches(@"ReadWriteGBps\s+: L1 [\d,]+, L2 [\d,]+, L3 [\d,]+, memory [\d,]+ \(half read, half written\)", text);
        Assert.All(Lines(text), l => Assert.True(l.Length <= 80, $"line longer than 80 columns: {l}"));
    }

    public static IEnumerable<object[]> OutputTypes => ModuleSurface.OutputTypeNames;

    /// <summary>The view and serialization tests find output types through [OutputType]: a cmdlet without it would escape them.</summary>
    [Fact]
    public void EveryCmdletDeclaresItsOutputType()
    {
        var missing = ModuleSurface.Cmdlets.Where(c => c.OutputType.Count == 0).Select(c => c.Name).ToList();
        Assert.True(missing.Count == 0, "Cmdlets without [OutputType]: " + string.Join(", ", missing));
    }

    [Theory]
    [MemberData(nameof(OutputTypes))]
    public void EveryOutputTypeHasADefaultViewThatRendersItsLabels(string typeName)
    {
        var view = FormatFile.Descendants("View").FirstOrDefault(v => v.Descendants("TypeName").Any(t => t.Value == typeName));
        Assert.True(view is not null, $"{typeName} is an [OutputType] of an exported cmdlet but has no <View> in NeuralJit.format.ps1xml.");
        Assert.True(view!.Descendants("TypeName").Any(t => t.Value == "Deserialized." + typeName),
            $"The view of {typeName} should also select Deserialized.{typeName} so remoting results render the same.");

        // Render an instance (default-constructed, or made by the module's cmdlet): a broken view (bad XML, script error) shows here.
        var type = ModuleSurface.OutputType(typeName);
        var instance = ModuleSurface.Sample(type, _s);
        _s.Host.Clear();
        using var ps = _s.NewPowerShell();
        ps.AddCommand("Out-Default");
        ps.Invoke(new[] { instance });
        Assert.Empty(ps.Streams.Error);
        var text = _s.Host.Output;
        if (view.Element("TableControl") is { } table)
        {
            var labels = table.Descendants("TableColumnHeader").Select(h => h.Element("Label")?.Value).Where(l => l is not null).ToList();
            var headerLine = Lines(text).FirstOrDefault() ?? "";
            foreach (var label in labels) Assert.True(headerLine.Contains(label!), $"{typeName}: header '{label}' missing in\n{text}");
        }
        else if (view.Element("ListControl") is { } list)
        {
            foreach (var item in list.Descendants("ListItem"))
            {
                var label = item.Element("Label")?.Value ?? item.Element("PropertyName")!.Value;
                Assert.Matches(@"(?m)^" + System.Text.RegularExpressions.Regex.Escape(label) + @"\s*:", text);
            }
        }
        else Assert.Fail($"{typeName}: the view is neither a table nor a list.");
    }

    [Theory]
    [MemberData(nameof(OutputTypes))]
    public void ViewsNameOnlyPropertiesThatExist(string typeName)
    {
        var type = ModuleSurface.OutputType(typeName);
        var names = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => p.Name).ToHashSet();
        var views = FormatFile.Descendants("View").Where(v => v.Descendants("TypeName").Any(t => t.Value == typeName));
        foreach (var p in views.SelectMany(v => v.Descendants("PropertyName")))
            Assert.True(names.Contains(p.Value), $"The view of {typeName} names the property '{p.Value}', which {typeName} does not have.");
    }

    /// <summary>The types file's property sets name real properties of module types (a typo would silently show nothing).</summary>
    [Fact]
    public void TypesFilePropertySetsNameExistingProperties()
    {
        var types = XDocument.Load(Path.Combine(Paths.ModuleDir, "NeuralJit.types.ps1xml"));
        var problems = new List<string>();
        foreach (var t in types.Root!.Elements("Type"))
        {
            var name = t.Element("Name")!.Value;
            _ = ModuleSurface.Cmdlets; // the module's assemblies are loaded
            var type = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(name)).FirstOrDefault(x => x is not null);
            if (type is null) { problems.Add($"types.ps1xml extends {name}, which is not a type of the module."); continue; }
            foreach (var p in t.Descendants("ReferencedProperties").Elements("Name"))
                if (type.GetProperty(p.Value) is null) problems.Add($"{name} has no property '{p.Value}' (named in types.ps1xml).");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
