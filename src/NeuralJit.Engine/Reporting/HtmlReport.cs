using System.Globalization;
using System.Net;
using System.Text;

namespace NeuralJit.Reporting;

/// <summary>What one report shows; every part may be empty except the machine.</summary>
public sealed class ReportContent
{
    public string Title { get; init; } = "NeuralJit report";
    public required EngineInfo Engine { get; init; }
    public required RooflineResult Roofline { get; init; }
    public IReadOnlyList<HotspotRecord> Hotspots { get; init; } = [];
    public IReadOnlyList<JitKernelInfo> Kernels { get; init; } = [];
    public IReadOnlyList<SpeedupResult> Speedups { get; init; } = [];
    /// <summary>The roofline's marks: the speedup rows when there are any, else the profile.</summary>
    public IReadOnlyList<KernelPoint> Points { get; init; } = [];
    public DateTime GeneratedUtc { get; init; } = DateTime.UtcNow;
}

/// <summary>
/// One self-contained HTML file (inline CSS and SVG; no script, no fonts, nothing fetched): the machine and its roofline
/// numbers, the roofline chart, the speedup table with ratios, errors and % of bound, the hotspot table with share bars,
/// and the compiled kernels with their disassembly folded in &lt;details&gt;. Tables carry ids (<c>speedups</c>,
/// <c>hotspots</c>, <c>kernels</c>, <c>machine</c>) and one &lt;tr&gt; per row in &lt;tbody&gt;, so tests count them in the DOM.
/// </summary>
public static class HtmlReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Write(TextWriter w, ReportContent c, CancellationToken cancellation = default)
    {
        var e = c.Engine;
        var r = c.Roofline;
        w.Write("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        w.Write("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        w.Write($"<title>{Esc(c.Title)}</title>\n<style>\n{Css}</style>\n</head>\n<body>\n");
        w.Write($"<h1>{Esc(c.Title)}</h1>\n<p class=\"sub\">Generated {c.GeneratedUtc:yyyy-MM-dd HH:mm:ss} UTC by NeuralJit {Esc(typeof(HtmlReport).Assembly.GetName().Version?.ToString() ?? "")}</p>\n");

        w.Write("<h2>Machine</h2>\n<table id=\"machine\" class=\"kv\"><tbody>\n");
        Row(w, "CPU", MachineDescription.CpuName);
        Row(w, "Features", e.CpuFeatures);
        Row(w, "JIT ISA", $"{e.JitIsa} (best {e.BestIsa})");
        Row(w, "Clock", $"{e.ClockSource}, TSC {e.ClockFrequencyHz / 1e9:0.000} GHz{(e.ClockTrusted ? "" : " (not trusted: " + e.ClockTrustReason + ")")}");
        Row(w, "Logical processors", Environment.ProcessorCount.ToString(Inv));
        Row(w, "OS / runtime", $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription} / {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
        Row(w, "FMA peak", $"AVX2 {G(r.Avx2PeakGFlops)} GFLOP/s, AVX-512 {G(r.Avx512PeakGFlops)} GFLOP/s");
        Row(w, "Read bandwidth", $"L1 {r.L1ReadGBps:0} GB/s ({Kib(r.L1DataBytes)}), L2 {r.L2ReadGBps:0} GB/s ({Kib(r.L2Bytes)}), L3 {r.L3ReadGBps:0} GB/s ({Kib(r.L3Bytes)}), memory {r.MemoryReadGBps:0} GB/s");
        Row(w, "Code cache", $"{e.CodeCacheUsedBytes:N0} of {e.CodeCacheBytes:N0} bytes in use, {e.JitKernels} kernels ({e.CodeCacheMode})");
        w.Write("</tbody></table>\n");

        w.Write("<h2>Roofline</h2>\n<div class=\"chart\">\n");
        w.Write(RooflineChart.Render(r, c.Points, "Roofline", $"{MachineDescription.CpuName}; ceilings measured by Get-NeuralRoofline"));
        w.Write("</div>\n");

        w.Write("<h2>JIT speedup</h2>\n");
        if (c.Speedups.Count == 0) w.Write("<p class=\"none\">No Compare-JitSpeedup results were given (pipe them in: <code>Compare-JitSpeedup | Export-NeuralReport -Path report.html</code>).</p>\n");
        else
        {
            w.Write("<table id=\"speedups\"><thead><tr><th>Operation</th><th>Dims</th><th>ISA</th><th>Baseline</th><th class=\"n\">Baseline ns</th><th class=\"n\">JIT ns</th><th class=\"n\">Speedup</th><th class=\"n\">Max abs error</th><th>Bound</th><th>% of bound</th></tr></thead><tbody>\n");
            foreach (var s in c.Speedups)
            {
                cancellation.ThrowIfCancellationRequested();
                w.Write($"<tr><td>{Esc(s.Operation)}</td><td>{Esc(s.Dims)}</td><td>{Esc(s.Isa)}</td><td>{Esc(s.Baseline)}</td>");
                w.Write($"<td class=\"n\">{Ns(s.BaselineNanoseconds)}{Err(s.BaselineErrorNanoseconds)}</td><td class=\"n\">{Ns(s.JitNanoseconds)}{Err(s.JitErrorNanoseconds)}</td>");
                w.Write($"<td class=\"n {(s.Speedup >= 1 ? "good" : "bad")}\">{s.Speedup.ToString("0.00", Inv)}x</td><td class=\"n\">{s.MaxAbsError.ToString("G3", Inv)}</td><td>{Esc(s.Bound)}</td>");
                w.Write($"<td>{Bar(s.PercentOfBound, $"{s.PercentOfBound.ToString("0", Inv)}%")}</td></tr>\n");
            }
            w.Write("</tbody></table>\n<p class=\"legend\">ns: median time per call ± half the 99.9% confidence interval; Speedup = baseline ns / JIT ns, "
                + "measured interleaved in one run; Max abs error: largest |baseline − JIT| over the outputs; % of bound: the roofline bound "
                + "(compute at the FMA peak, or operand bytes at the bandwidth of the level they fit in) / JIT ns.</p>\n");
        }

        w.Write("<h2>Hotspots</h2>\n");
        if (c.Hotspots.Count == 0) w.Write("<p class=\"none\">The profile is empty: run a model (Invoke-NeuralInference) before the report.</p>\n");
        else
        {
            w.Write("<table id=\"hotspots\"><thead><tr><th>Operation</th><th>Dims</th><th>Tier</th><th>Status</th><th class=\"n\">Calls</th><th class=\"n\">Avg ns</th><th class=\"n\">Now ns</th><th class=\"n\">Total ticks</th><th>Share</th></tr></thead><tbody>\n");
            foreach (var h in c.Hotspots)
            {
                cancellation.ThrowIfCancellationRequested();
                w.Write($"<tr><td>{Esc(h.Operation)}</td><td>{Esc(h.Dims)}</td><td>{Esc(h.Tier)}</td><td>{Esc(h.Status)}</td><td class=\"n\">{h.Calls:N0}</td>");
                w.Write($"<td class=\"n\">{Ns(h.AvgNanoseconds)}</td><td class=\"n\">{(h.TierAvgNanoseconds is { } now ? Ns(now) : "")}</td><td class=\"n\">{h.TotalCycles:N0}{(h.CyclesEstimated ? "*" : "")}</td><td>{Bar(100 * h.Share, $"{100 * h.Share:0.0}%")}</td></tr>\n");
            }
            w.Write("</tbody></table>\n<p class=\"legend\">Avg ns: every call since the profile was reset; Now ns: the calls of the tier the key runs on now (since its kernel was installed). Total ticks: TSC ticks (a constant-rate reference clock, not core cycles) spent in the key; * scaled up from sampled calls. Share: of all profiled ticks.</p>\n");
        }

        w.Write("<h2>Compiled kernels</h2>\n");
        if (c.Kernels.Count == 0) w.Write("<p class=\"none\">No kernel has been compiled in this session.</p>\n");
        else
        {
            w.Write("<table id=\"kernels\"><thead><tr><th>Kernel</th><th>ISA</th><th class=\"n\">Code bytes</th><th class=\"n\">Compile µs</th><th class=\"n\">Calls</th><th>Installed</th><th>Disassembly</th></tr></thead><tbody>\n");
            foreach (var k in c.Kernels)
            {
                cancellation.ThrowIfCancellationRequested();
                w.Write($"<tr><td>{Esc(k.Operation)} {Esc(k.Dims)}</td><td>{Esc(k.Isa)}</td><td class=\"n\">{k.CodeBytes:N0}</td><td class=\"n\">{k.CompileMicroseconds.ToString("0.0", Inv)}</td>");
                w.Write($"<td class=\"n\">{k.Calls:N0}</td><td>{(k.Installed ? "yes" : "no")}</td><td>");
                int lines = k.Disassembly?.Count(ch => ch == '\n') ?? 0;
                if (k.Disassembly is { } asm) w.Write($"<details><summary>{lines:N0} instructions at {Esc(k.Address)}</summary><pre>{Esc(asm)}</pre></details>");
                w.Write("</td></tr>\n");
            }
            w.Write("</tbody></table>\n");
        }
        w.Write("</body>\n</html>\n");
    }

    private const string Css = """
        body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; margin: 24px auto; max-width: 1100px; color: #111; padding: 0 16px; }
        h1 { margin-bottom: 0; } .sub { color: #555; margin-top: 4px; }
        h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
        table { border-collapse: collapse; font-size: 13px; }
        th, td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
        th { background: #f4f4f4; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        .kv th { width: 160px; }
        .good { color: #1b5e20; font-weight: bold; } .bad { color: #b71c1c; font-weight: bold; }
        .bar { position: relative; width: 160px; height: 16px; background: #f0f0f0; }
        .bar span { position: absolute; left: 0; top: 0; bottom: 0; background: #5b8def; }
        .bar em { position: absolute; left: 6px; top: 0; font-style: normal; font-size: 12px; line-height: 16px; }
        .err { color: #777; font-size: 11px; } .legend, .none { color: #555; font-size: 12px; max-width: 900px; }
        pre { font-size: 11px; background: #fafafa; border: 1px solid #eee; padding: 8px; max-height: 420px; overflow: auto; }
        .chart svg { max-width: 100%; height: auto; border: 1px solid #eee; }
        """;

    private static void Row(TextWriter w, string key, string value) => w.Write($"<tr><th>{Esc(key)}</th><td>{Esc(value)}</td></tr>\n");
    private static string Bar(double percent, string text)
    {
        double width = double.IsFinite(percent) ? Math.Clamp(percent, 0, 100) : 0;
        return $"<div class=\"bar\"><span style=\"width:{width.ToString("0.#", Inv)}%\"></span><em>{Esc(text)}</em></div>";
    }
    private static string Ns(double ns) => ns >= 100 ? ns.ToString("#,0", Inv) : ns.ToString("0.0", Inv);
    private static string Err(double ns) => ns > 0 && double.IsFinite(ns) ? $" <span class=\"err\">± {Ns(ns)}</span>" : "";
    private static string G(double? v) => v is { } x ? x.ToString("0.0", Inv) : "n/a";
    private static string Kib(long bytes) => bytes >= 1 << 20 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";
    private static string Esc(string s) => WebUtility.HtmlEncode(s);
    private static string Esc<T>(T value) where T : struct, Enum => WebUtility.HtmlEncode(value.ToString());
}
