// Compiled by tests/pester/Browser.Tests.ps1 with Add-Type: decoding a screenshot pixel by pixel is too slow in script.
using System;
using System.IO;
using System.IO.Compression;
using System.Linq;

namespace NeuralJit.Tests;

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

    /// <summary>Share of pixels that are not pure white (the page background).</summary>
    public double InkedShare() => 1 - (double)Count(255, 255, 255, 0) / (Width * Height);

    public int DistinctColours() => Enumerable.Range(0, _rgb.Length / 3).Select(i => (_rgb[3 * i] << 16) | (_rgb[3 * i + 1] << 8) | _rgb[3 * i + 2]).Distinct().Count();

    public static PngImage Read(string path)
    {
        var data = File.ReadAllBytes(path);
        if (!data.AsSpan(0, 8).SequenceEqual(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 })) throw new InvalidDataException($"{path} is not a PNG");
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
                if (body[8] != 8 || body[12] != 0) throw new NotSupportedException($"{path}: only 8-bit non-interlaced PNGs are read here");
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
