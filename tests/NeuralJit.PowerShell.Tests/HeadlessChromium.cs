using System.Diagnostics;
using System.IO.Compression;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// Headless Chromium for the browser tests: dumps a page's DOM after rendering and takes screenshots, each run in a
/// fresh profile folder with networking, sync and updates off. Found as $NEURALJIT_CHROMIUM, else chromium or
/// chromium-browser on PATH. Missing, it fails the test with how to install it, unless NEURALJIT_SKIP_BROWSER_TESTS=1.
/// </summary>
public static class HeadlessChromium
{
    public const string SkipVariable = "NEURALJIT_SKIP_BROWSER_TESTS";

    /// <summary>True when the tests were told to skip the browser (the caller returns at once); fails when Chromium is missing.</summary>
    public static bool OptedOut()
    {
        if (Environment.GetEnvironmentVariable(SkipVariable) == "1") return true;
        if (Executable is null)
            Assert.Fail("Chromium is not installed, so the browser tests cannot run. Install it with tools/install-chromium.sh " +
                $"(as root on Debian/Ubuntu: apt-get update && apt-get install -y chromium), or set {SkipVariable}=1 to skip these tests.");
        return false;
    }

    public static string? Executable { get; } = Find();

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("NEURALJIT_CHROMIUM") is { Length: > 0 } set) return File.Exists(set) ? set : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in new[] { "chromium", "chromium-browser" })
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    /// <summary>The DOM of <paramref name="file"/> after Chromium loaded and rendered it (its serialisation).</summary>
    public static string DumpDom(string file) => Run("--dump-dom", new Uri(file).AbsoluteUri).StdOut;

    /// <summary>A PNG screenshot of <paramref name="file"/> in a window of the given size, decoded.</summary>
    public static PngImage Screenshot(string file, string png, int width, int height)
    {
        Run($"--screenshot={png}", $"--window-size={width},{height}", "--hide-scrollbars", new Uri(file).AbsoluteUri);
        Assert.True(File.Exists(png), $"Chromium wrote no screenshot to {png}");
        return PngImage.Read(png);
    }

    private static (string StdOut, string StdErr) Run(params string[] args)
    {
        var profile = Directory.CreateTempSubdirectory("neuraljit-chromium-");
        try
        {
            var psi = new ProcessStartInfo(Executable!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}" }.Concat(args))
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(90)))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"Chromium {string.Join(' ', args)} did not finish in 90 s.");
            }
            Assert.True(p.ExitCode == 0, $"Chromium {string.Join(' ', args)} exited with {p.ExitCode}:\n{stderr.Result}");
            return (stdout.Result, stderr.Result);
        }
        finally { profile.Delete(recursive: true); }
    }
}

/// <summary>A decoded 8-bit RGB or RGBA PNG (what Chromium's screenshots are): enough to ask whether anything was drawn.</summary>
public sealed class PngImage
{
    public int Width { get; private init; }
    public int Height { get; private init; }
    private byte[] _rgb = [];

    public (byte R, byte G, byte B) this[int x, int y] => (_rgb[3 * (y * Width + x)], _rgb[3 * (y * Width + x) + 1], _rgb[3 * (y * Width + x) + 2]);

    /// <summary>Pixels within <paramref name="tolerance"/> of a colour in every channel.</summary>
    public int Count(byte r, byte g, byte b, int tolerance = 24)
    {
        int n = 0;
        for (int i = 0; i < _rgb.Length; i += 3)
            if (Math.Abs(_rgb[i] - r) <= tolerance && Math.Abs(_rgb[i + 1] - g) <= tolerance && Math.Abs(_rgb[i + 2] - b) <= tolerance) n++;
        return n;
    }

    public int DistinctColours() => Enumerable.Range(0, _rgb.Length / 3).Select(i => (_rgb[3 * i] << 16) | (_rgb[3 * i + 1] << 8) | _rgb[3 * i + 2]).Distinct().Count();

    public static PngImage Read(string path)
    {
        var data = File.ReadAllBytes(path);
        Assert.True(data.AsSpan(0, 8).SequenceEqual(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }), $"{path} is not a PNG");
        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int pos = 8; pos < data.Length;)
        {
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(data, pos + 4, 4);
            var body = data.AsSpan(pos + 8, length);
            if (type == "IHDR")
            {
                width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(body);
                height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                Assert.True(body[8] == 8 && body[12] == 0, $"{path}: only 8-bit non-interlaced PNGs are read here");
                channels = body[9] switch { 2 => 3, 6 => 4, var t => throw new NotSupportedException($"PNG colour type {t}") };
            }
            else if (type == "IDAT") idat.Write(body);
            else if (type == "IEND") break;
            pos += 12 + length;
        }
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        int stride = width * channels;
        var raw = new byte[height * (stride + 1)];
        z.ReadExactly(raw);
        var pixels = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (stride + 1)];
            for (int i = 0; i < stride; i++)
            {
                int a = i >= channels ? pixels[y * stride + i - channels] : 0;
                int b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
                int c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] : 0;
                int v = raw[y * (stride + 1) + 1 + i];
                pixels[y * stride + i] = (byte)(filter switch
                {
                    0 => v, 1 => v + a, 2 => v + b, 3 => v + (a + b) / 2,
                    4 => v + Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG filter {filter}"),
                });
            }
        }
        var rgb = new byte[width * height * 3];
        for (int p = 0; p < width * height; p++)
            for (int k = 0; k < 3; k++) rgb[3 * p + k] = pixels[p * channels + k];
        return new PngImage { Width = width, Height = height, _rgb = rgb };
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
