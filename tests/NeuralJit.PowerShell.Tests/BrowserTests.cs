using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// The roofline SVG and the HTML report rendered by a real browser (headless Chromium): the DOM it builds has the chart's
/// axes and ceilings, one baseline and one JIT mark per kernel, the tables' rows; and its screenshot shows them.
/// Chromium missing fails these tests with how to install it (tools/install-chromium.sh), unless NEURALJIT_SKIP_BROWSER_TESTS=1.
/// </summary>
public sealed class BrowserTests : IDisposable
{
    private readonly ModuleSession _s = ModuleSession.InScratchFolder("neuraljit-browser-");

    public void Dispose() => _s.Dispose();

    // Known numbers, so the test checks drawing, not benchmark timing: three kernels, each JIT faster than its baseline.
    private const string Rows = """
        $rows = @(
            [pscustomobject]@{ Operation = 'Gemm'; Dims = '64x64x64'; Isa = 'Avx512'; Baseline = 'ManagedSimd'; BaselineNanoseconds = 12000; JitNanoseconds = 3900; MaxAbsError = 2e-6; Bound = 'Compute'; PercentOfBound = 41 }
            [pscustomobject]@{ Operation = 'Relu'; Dims = '4096'; Isa = 'Avx512'; Baseline = 'ManagedSimd'; BaselineNanoseconds = 900; JitNanoseconds = 300; MaxAbsError = 0; Bound = 'L1'; PercentOfBound = 77 }
            [pscustomobject]@{ Operation = 'LstmStep'; Dims = '512x192'; Isa = 'Avx512'; Baseline = 'Scalar'; BaselineNanoseconds = 40000; JitNanoseconds = 4800; MaxAbsError = 5e-7; Bound = 'L2'; PercentOfBound = 52 }
        )
        """;
    private static readonly string[] Kernels = ["Gemm 64x64x64", "Relu 4096", "LstmStep 512x192"];

    [Fact]
    public void RooflineSvgHasAxesCeilingsAndTwoMarksAndAnArrowPerKernelAndIsDrawn()
    {
        if (HeadlessChromium.OptedOut()) return;
        _s.Run(Rows + "\n$rows | Export-NeuralRoofline -Path roofline.svg");
        string file = Path.Combine(_s.Scratch.FullName, "roofline.svg");

        var svg = XDocument.Parse(HeadlessChromium.DumpDom(file)).Root!;
        XNamespace ns = "http://www.w3.org/2000/svg";
        IEnumerable<XElement> WithClass(string cls) => svg.Descendants().Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains(cls) == true);
        Assert.Equal("800", (string?)svg.Attribute("width"));
        Assert.Empty(svg.Descendants(ns + "script"));
        var xAxis = Assert.Single(WithClass("axis"), e => (string?)e.Attribute("class") == "axis x");
        var yAxis = Assert.Single(WithClass("axis"), e => (string?)e.Attribute("class") == "axis y");
        Assert.Contains("Arithmetic intensity (FLOP/byte", xAxis.Elements(ns + "text").Last().Value);
        Assert.Contains("GFLOP/s", yAxis.Elements(ns + "text").Last().Value);
        Assert.True(xAxis.Elements(ns + "text").Count(t => (string?)t.Attribute("class") == "tick") >= 3, "the x axis has at least 3 decade labels");
        Assert.True(yAxis.Elements(ns + "text").Count(t => (string?)t.Attribute("class") == "tick") >= 3, "the y axis has at least 3 decade labels");

        var roofline = _s.Run("Get-NeuralRoofline").Single();
        int peaks = new[] { "Avx2PeakGFlops", "Avx512PeakGFlops" }.Count(p => roofline.Properties[p].Value is double v && v > 0);
        Assert.Equal(peaks, WithClass("compute").Count());
        var bandwidths = WithClass("bandwidth").Select(g => g.Value).ToList();
        Assert.Equal(4, bandwidths.Count);
        Assert.Contains(bandwidths, t => t.StartsWith("L1 ", StringComparison.Ordinal) && t.EndsWith(" GB/s", StringComparison.Ordinal));
        Assert.Contains(bandwidths, t => t.StartsWith("Memory ", StringComparison.Ordinal));

        var kernels = WithClass("kernel").ToList();
        Assert.Equal(Kernels.Order(), kernels.Select(k => (string)k.Attribute("data-key")!).Order());
        foreach (var k in kernels)
        {
            var jit = Assert.Single(k.Elements(ns + "circle"), c => (string?)c.Attribute("class") == "mark jit");
            var baseline = Assert.Single(k.Elements(ns + "circle"), c => (string?)c.Attribute("class") == "mark baseline");
            Assert.True(double.Parse((string)jit.Attribute("cy")!) < double.Parse((string)baseline.Attribute("cy")!), $"{k.Attribute("data-key")}: the faster JIT mark is higher");
            Assert.Equal((string)jit.Attribute("cx")!, (string)baseline.Attribute("cx")!);   // same op, same intensity
            Assert.Single(k.Elements(ns + "line"), l => (string?)l.Attribute("class") == "arrow");
            Assert.Equal((string)k.Attribute("data-key")!, k.Elements(ns + "text").Single(t => (string?)t.Attribute("class") == "label").Value);
        }

        var png = HeadlessChromium.Screenshot(file, Path.Combine(_s.Scratch.FullName, "roofline.png"), 820, 560);
        Assert.Equal(820, png.Width);
        AssertDrawn(png, "roofline");
        Assert.True(png.Count(0xd6, 0x27, 0x28) >= 3 * 40, $"the three red JIT marks are visible ({png.Count(0xd6, 0x27, 0x28)} red pixels)");
    }

    [Fact]
    public void ReportHasTheMachineTheChartAndOneRowPerSpeedupHotspotAndKernelAndIsDrawn()
    {
        if (HeadlessChromium.OptedOut()) return;
        _s.Run("Reset-NeuralProfile -Confirm:$false; Invoke-NeuralInference -InputSize 8 -HiddenSize 8 -OutputSize 3 -Steps 50 | Out-Null");
        int kernels = _s.Run("@(Get-NeuralJitKernel).Count").Single().BaseObject is int n ? n : -1;
        _s.Run(Rows + "\n$rows | Export-NeuralReport -Path report.html -Title 'Browser test'");
        string file = Path.Combine(_s.Scratch.FullName, "report.html");
        string raw = File.ReadAllText(file);
        Assert.DoesNotMatch(@"<script|\s(src|href)=", raw);   // self-contained: nothing to fetch, nothing to run

        string dom = HeadlessChromium.DumpDom(file);
        Assert.Contains("<title>Browser test</title>", dom);
        Assert.Equal(9, BodyRows(dom, "machine").Count);
        Assert.Contains(BodyRows(dom, "machine"), r => r.Contains("<th>FMA peak</th>") && r.Contains("GFLOP/s"));

        var speedups = BodyRows(dom, "speedups");
        Assert.Equal(3, speedups.Count);
        Assert.Contains(speedups, r => r.Contains("<td>LstmStep</td><td>512x192</td>") && r.Contains("8.33x") && r.Contains("52%"));

        // The profile's keys: the LSTM step and the dense head.
        var hotspots = BodyRows(dom, "hotspots");
        var keys = _s.Run("Get-NeuralHotspot | ForEach-Object { '<td>{0}</td><td>{1}</td>' -f $_.Operation, $_.Dims }").Select(o => (string)o.BaseObject).ToList();
        Assert.Equal(keys.Count, hotspots.Count);
        Assert.Equal(2, keys.Count);
        foreach (var key in keys) Assert.Contains(hotspots, r => r.Contains(key));
        Assert.Contains(hotspots, r => r.Contains("<td>LstmStep</td><td>32x16</td>"));
        Assert.Contains(hotspots, r => r.Contains("<td>Dense</td><td>3x8</td>"));
        Assert.All(hotspots, r => Assert.Matches("class=\"bar\"><span style=\"width:[0-9.]+%\">", r));

        if (kernels > 0)
        {
            var rows = BodyRows(dom, "kernels");
            Assert.Equal(kernels, rows.Count);
            Assert.All(rows, r => Assert.Matches("<details><summary>[0-9,]+ instructions at 0x[0-9A-F]+</summary><pre>", r));
        }
        else Assert.Contains("No kernel has been compiled", dom);

        int svgStart = dom.IndexOf("<svg", StringComparison.Ordinal);
        Assert.True(svgStart > 0, "the roofline chart is inline");
        string chart = dom[svgStart..dom.IndexOf("</svg>", svgStart, StringComparison.Ordinal)];
        Assert.Equal(3, Regex.Count(chart, "class=\"mark jit\""));
        Assert.Equal(3, Regex.Count(chart, "class=\"mark baseline\""));

        var png = HeadlessChromium.Screenshot(file, Path.Combine(_s.Scratch.FullName, "report.png"), 1100, 1800);
        AssertDrawn(png, "report");
        Assert.True(png.Count(0x5b, 0x8d, 0xef, 10) > 200, "the share and % of bound bars are drawn");
    }

    /// <summary>The &lt;tr&gt; rows of the body of the table with this id, as dumped HTML.</summary>
    private static List<string> BodyRows(string dom, string id)
    {
        var table = Regex.Match(dom, $"<table id=\"{id}\"[^>]*>.*?<tbody>(.*?)</tbody>", RegexOptions.Singleline);
        Assert.True(table.Success, $"the table '{id}' with a tbody is in the page");
        return Regex.Matches(table.Groups[1].Value, "<tr>.*?</tr>", RegexOptions.Singleline).Select(m => m.Value).ToList();
    }

    /// <summary>Not blank: many colours, and a real share of the pixels is not background white.</summary>
    private static void AssertDrawn(PngImage png, string what)
    {
        int white = png.Count(255, 255, 255, 0);
        double inked = 1 - (double)white / (png.Width * png.Height);
        Assert.True(inked > 0.03, $"the {what} screenshot is {inked:P1} non-white: blank");
        Assert.True(png.DistinctColours() > 50, $"the {what} screenshot has only {png.DistinctColours()} colours");
    }
}
