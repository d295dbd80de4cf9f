using System.Text.Json;

namespace NeuralJit.Engine.Tests;

/// <summary>Paths of the committed fixtures (tests/fixtures, made by make_fixtures.py with PyTorch).</summary>
internal static class TestFiles
{
    public static string Fixtures
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            {
                var p = Path.Combine(d.FullName, "tests", "fixtures");
                if (File.Exists(Path.Combine(p, "make_fixtures.py"))) return p;
            }
            throw new DirectoryNotFoundException("tests/fixtures was not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Fixture(string name) => Path.Combine(Fixtures, name);

    /// <summary>The inputs and PyTorch's outputs stored beside a fixture.</summary>
    public static (float[][] Inputs, float[][] Outputs) Expected(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture(name + ".json")));
        float[][] Rows(string key) => doc.RootElement.GetProperty(key).EnumerateArray()
            .Select(r => r.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray()).ToArray();
        return (Rows("inputs"), Rows("outputs"));
    }
}

/// <summary>A read-only stream over bytes that fails the test if anyone asks for a byte past the end.</summary>
internal sealed class GuardedStream(byte[] data) : Stream
{
    private long _pos;
    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => data.Length;
    public override long Position { get => _pos; set => _pos = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value)); }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length > 0 && _pos + buffer.Length > data.Length)
            throw new InvalidOperationException($"Read of {buffer.Length} bytes at {_pos} goes past the end ({data.Length}).");
        data.AsSpan((int)_pos, buffer.Length).CopyTo(buffer);
        _pos += buffer.Length;
        return buffer.Length;
    }
    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _pos + offset, _ => data.Length + offset };
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
