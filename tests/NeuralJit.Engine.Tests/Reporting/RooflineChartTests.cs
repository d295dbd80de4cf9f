using System.Globalization;
using System.Xml.Linq;
using NeuralJit.Ops;
using NeuralJit.Reporting;

namespace NeuralJit.Engine.Tests.Reporting;

/// <summary>The roofline SVG: well-formed, escaped, and each mark where its numbers put it relative to the ceilings.</summary>
public class RooflineChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static readonly RooflineResult Machine = new()
    {
        Avx2PeakGFlops = 100, Avx512PeakGFlops = 200,
        L1ReadGBps = 400, L2ReadGBps = 200, L3ReadGBps = 90, MemoryReadGBps = 20,
    };

    private static IEnumerable<XElement> WithClass(XElement root, string cls) =>
        root.Descendants().Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains(cls) == true);

    private static double Num(XElement e, string attribute) => double.Parse((string)e.Attribute(attribute)!, CultureInfo.InvariantCulture);

    [Fact]
    public void AKernelRunningAtACeilingIsDrawnOnIt()
    {
        // Gemm 64³: 524,288 flops over 65,536 bytes = 8 FLOP/byte. At 2,621.44 ns that is the AVX2 peak, 200 GFLOP/s at half that.
        var gemm = new KernelPoint(new OpKey(OpKind.Gemm, OpShape.ForGemm(64, 64, 64)), "Avx512", "ManagedSimd", 524_288 / 100.0, 524_288 / 200.0);
        Assert.Equal(8.0, gemm.Intensity, 3);
        var root = XDocument.Parse(RooflineChart.Render(Machine, [gemm], "t", "s")).Root!;

        double Ceiling(string name) => Num(WithClass(root, "ceiling").Single(g => (string?)g.Attribute("data-name") == name).Element(Svg + "line")!, "y1");
        var kernel = Assert.Single(WithClass(root, "kernel"));
        var marks = kernel.Elements(Svg + "circle").ToDictionary(c => (string)c.Attribute("class")!, c => Num(c, "cy"));
        Assert.Equal(Ceiling("AVX2 FMA peak"), marks["mark baseline"], 0.5);
        Assert.Equal(Ceiling("AVX-512 FMA peak"), marks["mark jit"], 0.5);
    }

    [Fact]
    public void BandwidthCeilingsRiseOneDecadePerDecadeAndStopAtThePeak()
    {
        var root = XDocument.Parse(RooflineChart.Render(Machine, [], "t", "s")).Root!;
        var peakY = Num(WithClass(root, "ceiling").Single(g => (string?)g.Attribute("data-name") == "AVX-512 FMA peak").Element(Svg + "line")!, "y1");
        var bandwidths = WithClass(root, "bandwidth").ToList();
        Assert.Equal(["L1", "L2", "L3", "Memory"], bandwidths.Select(g => (string)g.Attribute("data-name")!));
        var slopes = bandwidths.Select(g => g.Element(Svg + "line")!).Select(l => (Num(l, "y1") - Num(l, "y2")) / (Num(l, "x2") - Num(l, "x1"))).ToList();
        Assert.All(slopes, s => Assert.Equal(slopes[0], s, 2));                            // parallel in log-log (to the 0.1 px rounding)
        Assert.All(bandwidths, g => Assert.Equal(peakY, Num(g.Element(Svg + "line")!, "y2"), 0.5)); // each meets the highest peak
        Assert.Contains("L1 400 GB/s", bandwidths[0].Value);
        Assert.Contains("Memory 20.0 GB/s", bandwidths[3].Value);
    }

    [Fact]
    public void TextIsEscapedAndTheDocumentIsWellFormedWithoutScript()
    {
        var p = new KernelPoint(new OpKey(OpKind.Relu, OpShape.Vector(1024)), "Avx2", "<Scalar & co>", 300, 100);
        string text = RooflineChart.Render(Machine, [p], "a <b> & \"c\"", "<script>alert(1)</script>");
        var root = XDocument.Parse(text).Root!;
        Assert.Equal("a <b> & \"c\"", root.Element(Svg + "title")!.Value);
        Assert.Empty(root.Descendants(Svg + "script"));
        Assert.DoesNotContain("<script", text);
        Assert.Contains("<Scalar & co>", WithClass(root, "baseline").Single().Value);
    }
}
