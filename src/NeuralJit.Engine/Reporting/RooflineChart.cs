using System.Globalization;
using System.Net;
using System.Text;

namespace NeuralJit.Reporting;

/// <summary>
/// Draws a roofline as standalone SVG (no script, no external fonts or images): log-log axes of arithmetic
/// intensity (FLOP/byte) against GFLOP/s; the measured FMA peak of each ISA as a horizontal ceiling and the read
/// bandwidth of L1, L2, L3 and memory as sloped ceilings (GFLOP/s = GB/s × FLOP/byte), each labelled with its value;
/// and per kernel a hollow baseline mark, a filled JIT mark labelled "Op Dims" and an arrow from the one to the other.
/// Marks carry class names (<c>mark jit</c>, <c>mark baseline</c>, <c>ceiling</c>) and a <c>title</c> with the numbers,
/// so a browser shows them on hover and a test can count them in the DOM.
/// </summary>
public static class RooflineChart
{
    private const int Height = 540;
    private const double Left = 72, Right = 24, Top = 58, Bottom = 64;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The chart as an SVG document (<paramref name="width"/> px wide; viewBox-scaled, so it also fits a narrower page).</summary>
    public static string Render(RooflineResult roofline, IReadOnlyList<KernelPoint> points, string title, string subtitle, int width = 800)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 400);
        var ceilings = Ceilings(roofline);
        double peak = ceilings.Where(c => c.Sloped == false).Select(c => c.Value).DefaultIfEmpty(1).Max();
        var rates = points.SelectMany(p => new[] { p.BaselineGFlops, p.JitGFlops }).Where(r => r is > 0).Select(r => r!.Value).ToList();
        var intensities = points.Where(p => p.Intensity > 0).Select(p => p.Intensity).ToList();
        // Decades that hold every mark and every ridge point (where a bandwidth ceiling meets the peak).
        double ridgeMax = ceilings.Where(c => c.Sloped).Select(c => peak / c.Value).DefaultIfEmpty(10).Max();
        double xMin = Decade(Math.Min(intensities.DefaultIfEmpty(0.1).Min(), 0.1), down: true);
        double xMax = Decade(Math.Max(intensities.DefaultIfEmpty(1).Max(), ridgeMax) * 1.5, down: false);
        double yMin = Decade(Math.Min(rates.DefaultIfEmpty(1).Min(), peak / 100) * 0.8, down: true);
        double yMax = Decade(Math.Max(rates.DefaultIfEmpty(1).Max(), peak) * 1.6, down: false);
        double plotW = width - Left - Right, plotH = Height - Top - Bottom;
        double X(double v) => Left + plotW * (Math.Log10(v) - Math.Log10(xMin)) / (Math.Log10(xMax) - Math.Log10(xMin));
        double Y(double v) => Top + plotH * (1 - (Math.Log10(v) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)));

        var svg = new StringBuilder();
        svg.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"roofline\" width=\"{width}\" height=\"{Height}\" viewBox=\"0 0 {width} {Height}\" ");
        svg.Append("font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"12\" role=\"img\">\n");
        svg.Append("<title>").Append(Esc(title)).Append("</title>\n");
        svg.Append("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">")
           .Append("<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n");
        svg.Append(Inv, $"<rect width=\"{width}\" height=\"{Height}\" fill=\"#ffffff\"/>\n");
        svg.Append(Inv, $"<text x=\"{Left}\" y=\"22\" font-size=\"16\" font-weight=\"bold\" fill=\"#111\">{Esc(title)}</text>\n");
        svg.Append(Inv, $"<text x=\"{Left}\" y=\"40\" fill=\"#555\">{Esc(subtitle)}</text>\n");

        // Grid and axes: a line per decade, light minor lines at 2..9.
        svg.Append("<g class=\"grid\" stroke=\"#e6e6e6\">\n");
        foreach (var (v, major) in Ticks(xMin, xMax))
            svg.Append(Inv, $"<line x1=\"{F(X(v))}\" y1=\"{Top}\" x2=\"{F(X(v))}\" y2=\"{Top + plotH}\"{(major ? " stroke=\"#cfcfcf\"" : "")}/>\n");
        foreach (var (v, major) in Ticks(yMin, yMax))
            svg.Append(Inv, $"<line x1=\"{Left}\" y1=\"{F(Y(v))}\" x2=\"{Left + plotW}\" y2=\"{F(Y(v))}\"{(major ? " stroke=\"#cfcfcf\"" : "")}/>\n");
        svg.Append("</g>\n");
        svg.Append(Inv, $"<g class=\"axis x\"><line x1=\"{Left}\" y1=\"{Top + plotH}\" x2=\"{Left + plotW}\" y2=\"{Top + plotH}\" stroke=\"#333\"/>\n");
        foreach (var (v, major) in Ticks(xMin, xMax).Where(t => t.Major))
            svg.Append(Inv, $"<text class=\"tick\" x=\"{F(X(v))}\" y=\"{F(Top + plotH + 18)}\" text-anchor=\"middle\" fill=\"#333\">{Num(v)}</text>\n");
        svg.Append(Inv, $"<text class=\"axis-title\" x=\"{F(Left + plotW / 2)}\" y=\"{Height - 16}\" text-anchor=\"middle\" fill=\"#111\">Arithmetic intensity (FLOP/byte, log scale)</text></g>\n");
        svg.Append(Inv, $"<g class=\"axis y\"><line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotH}\" stroke=\"#333\"/>\n");
        foreach (var (v, major) in Ticks(yMin, yMax).Where(t => t.Major))
            svg.Append(Inv, $"<text class=\"tick\" x=\"{Left - 8}\" y=\"{F(Y(v) + 4)}\" text-anchor=\"end\" fill=\"#333\">{Num(v)}</text>\n");
        svg.Append(Inv, $"<text class=\"axis-title\" transform=\"translate(18 {F(Top + plotH / 2)}) rotate(-90)\" text-anchor=\"middle\" fill=\"#111\">Performance (GFLOP/s, log scale)</text></g>\n");

        // Boxes already drawn that a kernel's label must not cover: ceiling labels, marks, arrows, the legend.
        var taken = new List<Box> { new(Left + 10, Top + 10, 232, 44) };

        // Ceilings: horizontal FMA peaks, sloped bandwidths up to the highest peak.
        svg.Append(Inv, $"<clipPath id=\"plot\"><rect x=\"{Left}\" y=\"{Top}\" width=\"{F(plotW)}\" height=\"{F(plotH)}\"/></clipPath>\n");
        svg.Append("<g class=\"ceilings\" clip-path=\"url(#plot)\">\n");
        double slopeAngle = -Math.Atan2(Y(1) - Y(10), X(10) - X(1)) * 180 / Math.PI; // one decade right is one decade up
        foreach (var c in ceilings)
        {
            if (!c.Sloped)
            {
                double y = Y(c.Value);
                svg.Append(Inv, $"<g class=\"ceiling compute\" data-name=\"{Esc(c.Name)}\"><line x1=\"{Left}\" y1=\"{F(y)}\" x2=\"{Left + plotW}\" y2=\"{F(y)}\" stroke=\"{c.Colour}\" stroke-width=\"2\"/>");
                string text = $"{c.Name} {Num3(c.Value)} GFLOP/s";
                svg.Append(Inv, $"<text x=\"{F(Left + plotW - 6)}\" y=\"{F(y - 6)}\" text-anchor=\"end\" fill=\"{c.Colour}\" font-weight=\"bold\">{Esc(text)}</text></g>\n");
                taken.Add(new(Left + plotW - 6 - TextWidth(text, bold: true), y - 18, TextWidth(text, bold: true), 14));
                continue;
            }
            double xEnd = Math.Min(xMax, peak / c.Value);
            double xStart = Math.Max(xMin, yMin / c.Value);
            svg.Append(Inv, $"<g class=\"ceiling bandwidth\" data-name=\"{Esc(c.Name)}\"><line x1=\"{F(X(xStart))}\" y1=\"{F(Y(c.Value * xStart))}\" x2=\"{F(X(xEnd))}\" y2=\"{F(Y(c.Value * xEnd))}\" stroke=\"{c.Colour}\" stroke-width=\"1.6\" stroke-dasharray=\"6 3\"/>");
            // Labelled near where each line enters the plot (its left or bottom edge): lines are apart there, and kernels rarely are.
            double lx = xStart * Math.Pow(10, 0.12);
            double px = X(lx), py = Y(c.Value * lx) - 5;
            string label = $"{c.Name} {Num3(c.Value)} GB/s";
            svg.Append(Inv, $"<text x=\"{F(px)}\" y=\"{F(py)}\" fill=\"{c.Colour}\" transform=\"rotate({F(slopeAngle)} {F(px)} {F(py)})\">{Esc(label)}</text></g>\n");
            double run = TextWidth(label) * Math.Cos(slopeAngle * Math.PI / 180), rise = TextWidth(label) * Math.Sin(-slopeAngle * Math.PI / 180);
            taken.Add(new(px, py - rise - 12, run + 12, rise + 14));
        }
        svg.Append("</g>\n");

        // Kernels: baseline (hollow) → JIT (filled, labelled). Marks and arrows are drawn first, then each label at the
        // first place near its JIT mark (right, then left, stepping up and down) that covers no other label, mark or arrow.
        svg.Append("<g class=\"kernels\">\n");
        var drawn = points.Where(p => p.Intensity > 0 && (p.JitGFlops ?? p.BaselineGFlops) is not null)
            .OrderByDescending(p => p.JitGFlops ?? p.BaselineGFlops).ToList();
        foreach (var p in drawn)
        {
            double x = X(p.Intensity);
            foreach (var g in new[] { p.BaselineGFlops, p.JitGFlops }) if (g is { } v) taken.Add(new(x - 6, Y(v) - 6, 12, 12));
            if (p.BaselineGFlops is { } b0 && p.JitGFlops is { } j0) taken.Add(new(x - 2, Math.Min(Y(b0), Y(j0)), 4, Math.Abs(Y(b0) - Y(j0))));
        }
        foreach (var p in drawn)
        {
            double x = X(p.Intensity);
            svg.Append(Inv, $"<g class=\"kernel\" data-key=\"{Esc(p.Label)}\">");
            string numbers = $"{p.Label}: {Num3(p.Intensity)} FLOP/byte";
            if (p.BaselineGFlops is { } bg && p.JitGFlops is { } jg)
            {
                double y0 = Y(bg), y1 = Y(jg);
                if (Math.Abs(y1 - y0) > 9)
                {
                    double dir = Math.Sign(y1 - y0);
                    svg.Append(Inv, $"<line class=\"arrow\" x1=\"{F(x)}\" y1=\"{F(y0 + 5 * dir)}\" x2=\"{F(x)}\" y2=\"{F(y1 - 6 * dir)}\" stroke=\"#555\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>");
                }
            }
            if (p.BaselineGFlops is { } b)
                svg.Append(Inv, $"<circle class=\"mark baseline\" cx=\"{F(x)}\" cy=\"{F(Y(b))}\" r=\"4.5\" fill=\"#ffffff\" stroke=\"#666\" stroke-width=\"1.6\"><title>{Esc(numbers)}; {Esc(p.Baseline)} {Num3(b)} GFLOP/s ({Num3(p.BaselineNanoseconds!.Value)} ns)</title></circle>");
            if (p.JitGFlops is { } j)
                svg.Append(Inv, $"<circle class=\"mark jit\" cx=\"{F(x)}\" cy=\"{F(Y(j))}\" r=\"5\" fill=\"#d62728\" stroke=\"#7f1d1d\"><title>{Esc(numbers)}; JIT {Esc(p.Isa)} {Num3(j)} GFLOP/s ({Num3(p.JitNanoseconds!.Value)} ns)</title></circle>");
            double markY = Y((p.JitGFlops ?? p.BaselineGFlops)!.Value);
            var (lx, ly, anchor) = PlaceLabel(x, markY, TextWidth(p.Label), taken, Left, Left + plotW);
            if (Math.Abs(ly - 4 - markY) > 6) // moved off its mark: a leader line says whose label it is
                svg.Append(Inv, $"<line class=\"leader\" x1=\"{F(x)}\" y1=\"{F(markY)}\" x2=\"{F(anchor ? lx + 2 : lx - 2)}\" y2=\"{F(ly - 4)}\" stroke=\"#999\" stroke-width=\"0.8\"/>");
            svg.Append(Inv, $"<text class=\"label\" x=\"{F(lx)}\" y=\"{F(ly)}\"{(anchor ? " text-anchor=\"end\"" : "")} fill=\"#111\">{Esc(p.Label)}</text></g>\n");
        }
        svg.Append("</g>\n");

        // Legend, top left inside the plot.
        double gx = Left + 10, gy = Top + 10;
        svg.Append(Inv, $"<g class=\"legend\"><rect x=\"{F(gx)}\" y=\"{F(gy)}\" width=\"232\" height=\"44\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>");
        svg.Append(Inv, $"<circle cx=\"{F(gx + 12)}\" cy=\"{F(gy + 14)}\" r=\"4.5\" fill=\"#fff\" stroke=\"#666\" stroke-width=\"1.6\"/><text x=\"{F(gx + 24)}\" y=\"{F(gy + 18)}\">baseline (managed tier)</text>");
        svg.Append(Inv, $"<circle cx=\"{F(gx + 12)}\" cy=\"{F(gy + 32)}\" r=\"5\" fill=\"#d62728\" stroke=\"#7f1d1d\"/><text x=\"{F(gx + 24)}\" y=\"{F(gy + 36)}\">JIT kernel (arrow: baseline → JIT)</text></g>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private readonly record struct Box(double X, double Y, double W, double H)
    {
        public bool Overlaps(Box o) => X < o.X + o.W && o.X < X + W && Y < o.Y + o.H && o.Y < Y + H;
    }

    /// <summary>Width of 12 px sans-serif text, a little generously (DejaVu Sans averages ~0.6 em per character, bold ~0.7).</summary>
    private static double TextWidth(string s, bool bold = false) => (bold ? 8.4 : 7.4) * s.Length;

    /// <summary>
    /// Where a mark's label goes: right of the mark, then left of it, each at the mark's height and then 13, 26, … px
    /// below and above, the first spot that overlaps nothing taken and stays in the plot. Returns the text's anchor point
    /// (and whether it is anchored at its end) and takes its box.
    /// </summary>
    private static (double X, double Y, bool EndAnchor) PlaceLabel(double x, double y, double width, List<Box> taken, double left, double right)
    {
        for (int step = 0; step < 12; step++)
        {
            double dy = (step + 1) / 2 * 13 * (step % 2 == 0 ? 1 : -1);
            foreach (bool leftSide in new[] { false, true })
            {
                double bx = leftSide ? x - 9 - width : x + 9;
                var box = new Box(bx, y + dy - 9, width, 13);
                if (bx < left || bx + width > right || taken.Any(t => t.Overlaps(box))) continue;
                taken.Add(box);
                return (leftSide ? x - 9 : x + 9, y + dy + 4, leftSide);
            }
        }
        taken.Add(new Box(x + 9, y - 9, width, 13));
        return (x + 9, y + 4, false);
    }

    private sealed record Ceiling(string Name, double Value, bool Sloped, string Colour);

    private static List<Ceiling> Ceilings(RooflineResult r)
    {
        var list = new List<Ceiling>();
        if (r.Avx512PeakGFlops is > 0) list.Add(new("AVX-512 FMA peak", r.Avx512PeakGFlops.Value, false, "#1f4e9c"));
        if (r.Avx2PeakGFlops is > 0) list.Add(new("AVX2 FMA peak", r.Avx2PeakGFlops.Value, false, "#4a7fd1"));
        foreach (var (name, v, colour) in new[] { ("L1", r.L1ReadGBps, "#2e7d32"), ("L2", r.L2ReadGBps, "#8a6d00"), ("L3", r.L3ReadGBps, "#c75b00"), ("Memory", r.MemoryReadGBps, "#7b1fa2") })
            if (v > 0) list.Add(new(name, v, true, colour));
        return list;
    }

    private static double Decade(double v, bool down)
    {
        double e = Math.Log10(Math.Max(v, 1e-9));
        return Math.Pow(10, down ? Math.Floor(e) : Math.Ceiling(e));
    }

    private static IEnumerable<(double Value, bool Major)> Ticks(double min, double max)
    {
        for (double d = min; d < max * 1.0001; d *= 10)
            for (int m = 1; m <= 9; m++)
                if (d * m <= max * 1.0001) yield return (d * m, m == 1);
    }

    private static string F(double v) => v.ToString("0.#", Inv);
    private static string Num(double v) => v >= 1 ? v.ToString("#,0", Inv) : v.ToString("0.###", Inv);
    /// <summary>Three significant digits: 0.0123, 4.56, 218, 1,234.</summary>
    private static string Num3(double v) => v >= 100 ? v.ToString("#,0", Inv) : v.ToString(v >= 10 ? "0.0" : v >= 1 ? "0.00" : "0.###", Inv);
    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
