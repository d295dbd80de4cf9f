using System.Buffers.Binary;
using System.Text;
using NeuralJit.Models;

namespace NeuralJit.Engine.Tests;

public class SafeTensorsTests
{
    private static byte[] Write(IEnumerable<(string, long[], float[])> tensors, Dictionary<string, string>? meta = null, string dtype = "F32")
    {
        var ms = new MemoryStream();
        SafeTensorsFile.Write(ms, tensors, meta, dtype);
        return ms.ToArray();
    }

    /// <summary>A file with a hand-written header (padded like the reference writer) and <paramref name="data"/> bytes.</summary>
    private static byte[] Raw(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var f = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(f, (ulong)h.Length);
        h.CopyTo(f, 8);
        return f;
    }

    private static SafeTensorsFormatException Bad(byte[] file) =>
        Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(new GuardedStream(file), "test.safetensors"));

    private static readonly (string, long[], float[])[] Sample =
    [
        ("a", [2, 3], [1, 2, 3, 4, 5, 6]),
        ("b", [3], [-1.5f, 0.25f, 1e-3f]),
        ("empty", [0, 4], []),
        ("scalar", [], [42]),
    ];

    [Theory]
    [InlineData("F32", 0)]
    [InlineData("F64", 0)]
    [InlineData("F16", 1e-3)]
    [InlineData("BF16", 8e-3)]
    public void WrittenFilesReadBackWithShapesMetadataAndValues(string dtype, double relTol)
    {
        var file = Write(Sample, new() { ["k"] = "v", ["dnc.memory_slots"] = "9" }, dtype);
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(file) % 8); // header padded to 8 bytes
        var st = SafeTensorsFile.Read(new GuardedStream(file));
        Assert.Equal("v", st.Metadata["k"]);
        Assert.Equal(4, st.Tensors.Count);
        foreach (var (name, shape, data) in Sample)
        {
            var t = st.ByName[name];
            Assert.Equal(dtype, t.DType);
            Assert.Equal(shape, t.Shape);
            Assert.Equal(data.Length, t.Data.Length);
            for (int i = 0; i < data.Length; i++) Assert.True(Math.Abs(t.Data[i] - data[i]) <= relTol * Math.Abs(data[i]), $"{name}[{i}] = {t.Data[i]}, wrote {data[i]}");
        }
    }

    [Theory]
    [InlineData("F32")]
    [InlineData("F16")]
    public void TensorsLargerThanOneReadChunkComeBackWhole(string dtype)
    {
        var big = Enumerable.Range(0, 200_003).Select(i => (float)(i % 1000)).ToArray();
        var st = SafeTensorsFile.Read(new GuardedStream(Write([("small", [2], [1, 2]), ("big", [200_003], big), ("tail", [1], [7])], dtype: dtype)));
        Assert.Equal(big, st.ByName["big"].Data);
        Assert.Equal([7f], st.ByName["tail"].Data);
    }

    [Fact]
    public void HalfAndBfloatDecodeExactBitPatterns()
    {
        // F16 0x3C00 = 1, 0xC000 = −2, 0x7C00 = +∞; BF16 0x3F80 = 1, 0xC0A0 = −5.
        var f16 = Raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 6);
        int d = f16.Length - 6;
        BinaryPrimitives.WriteUInt16LittleEndian(f16.AsSpan(d), 0x3C00);
        BinaryPrimitives.WriteUInt16LittleEndian(f16.AsSpan(d + 2), 0xC000);
        BinaryPrimitives.WriteUInt16LittleEndian(f16.AsSpan(d + 4), 0x7C00);
        Assert.Equal([1f, -2f, float.PositiveInfinity], SafeTensorsFile.Read(new GuardedStream(f16)).ByName["h"].Data);
        var bf = Raw("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
        d = bf.Length - 4;
        BinaryPrimitives.WriteUInt16LittleEndian(bf.AsSpan(d), 0x3F80);
        BinaryPrimitives.WriteUInt16LittleEndian(bf.AsSpan(d + 2), 0xC0A0);
        Assert.Equal([1f, -5f], SafeTensorsFile.Read(new GuardedStream(bf)).ByName["b"].Data);
    }

    public static TheoryData<string, string, int> Malformed() => new()
    {
        { "HeaderNotJson", "{\"a\":{\"dtype\":\"F32\",", 0 },
        { "HeaderNotJsonObject", "[1,2,3]", 0 },
        { "HeaderNotJson", "{}x", 0 },
        { "HeaderNotJsonObject", " {}", 0 },
        { "DuplicateName", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8 },
        { "UnknownDtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4 },
        { "UnsupportedDtype", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8 },
        { "SizeMismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4 },
        { "SizeMismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4 },
        { "OffsetsBeyondFile", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4 },
        { "OffsetsBeyondFile", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9223372036854775803,9223372036854775807]}}", 4 },
        { "BadOffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4 },
        { "BadOffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4 },
        { "OverlappingTensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12 },
        { "GapBetweenTensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12 },
        { "GapBetweenTensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8 },
        { "TrailingBytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 7 },
        { "BadTensorEntry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4 },
        { "BadTensorEntry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4 },
        { "BadTensorEntry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4 },
        { "BadTensorEntry", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4 },
        { "BadTensorEntry", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4 },
        { "BadTensorEntry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4 },
        { "BadTensorEntry", "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4 },
        { "BadTensorEntry", "{\"a\":[1,2]}", 4 },
        { "BadMetadata", "{\"__metadata__\":{\"k\":1}}", 0 },
        { "BadMetadata", "{\"__metadata__\":[\"k\"]}", 0 },
    };

    [Theory, MemberData(nameof(Malformed))]
    public void MalformedHeadersNameTheProblem(string problem, string header, int dataBytes)
    {
        var e = Bad(Raw(header, dataBytes));
        Assert.Equal(problem, e.Problem);
        Assert.Contains("test.safetensors", e.Message);
        Assert.False(string.IsNullOrWhiteSpace(e.Detail));
    }

    [Fact]
    public void InvalidUtf8InTheHeaderIsAFormatErrorAtItsByte()
    {
        var file = Raw("{\"ab\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0);
        file[8 + 3] = 0xCF; // a lead byte followed by an ASCII byte
        var e = Bad(file);
        Assert.Equal("HeaderNotUtf8", e.Problem);
        Assert.Equal(11, e.Offset);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRefusedBeforeAnythingIsRead()
    {
        var file = Write(Sample);
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)file.Length); // one past what follows the length field
        Assert.Equal("HeaderLengthBeyondFile", Bad(file).Problem);
        BinaryPrimitives.WriteUInt64LittleEndian(file, ulong.MaxValue);
        Assert.Equal("HeaderLengthBeyondFile", Bad(file).Problem);
        Assert.Equal("FileTooShort", Bad([1, 0, 0]).Problem);
        var tiny = new byte[9];
        tiny[0] = 1;
        Assert.Equal("HeaderTooSmall", Bad(tiny).Problem);
    }

    [Fact]
    public void OffsetsAndErrorPositionsPointIntoTheFile()
    {
        var e = Bad(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12));
        Assert.Equal("b", e.TensorName);
        long headerEnd = 8 + "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}".Length;
        Assert.Equal(headerEnd + 4, e.Offset); // where the hole starts
        Assert.Contains("tensor 'b'", e.Message);
    }

    [Fact]
    public void EveryTruncationOfAGoodFileIsAFormatError()
    {
        var file = Write(Sample, new() { ["m"] = "x" });
        for (int len = 0; len < file.Length; len++)
        {
            var cut = file.AsSpan(0, len).ToArray();
            var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(new GuardedStream(cut)));
            Assert.False(string.IsNullOrEmpty(e.Problem), $"length {len}");
        }
        Assert.Equal(4, SafeTensorsFile.Read(new GuardedStream(file)).Tensors.Count);
    }

    [Fact]
    public void EveryDigitOfTheHeaderChangedGivesAFormatErrorOrAConsistentFile()
    {
        // Flip each digit of the header (shapes, offsets, metadata) to every other digit: the result either
        // still tiles the data exactly (then it reads) or is refused with a format error — nothing else.
        var model = NeuralModel.Create(new NetworkSizes(3, 2, 2), 1);
        var ms = new MemoryStream();
        SafeTensorsFile.Write(ms, NeuralNetwork.ParameterShapes(model.GetSizes()).Select(p => (p.Name, p.Shape.Select(d => (long)d).ToArray(), model.GetParameter(p.Name)!)));
        var file = ms.ToArray();
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        int read = 0, refused = 0;
        for (int i = 8; i < 8 + headerLength; i++)
        {
            if (file[i] < '0' || file[i] > '9') continue;
            for (byte digit = (byte)'0'; digit <= '9'; digit++)
            {
                if (digit == file[i]) continue;
                var m = (byte[])file.Clone();
                m[i] = digit;
                try
                {
                    var st = SafeTensorsFile.Read(new GuardedStream(m));
                    read++;
                    try { NeuralModel.FromTensors(st.ByName, st.Metadata, "mutant"); }
                    catch (ModelLayoutException) { }
                }
                catch (SafeTensorsFormatException) { refused++; }
            }
        }
        Assert.True(refused > 100, $"only {refused} mutants refused");
    }

    [Fact]
    public void TheHeaderLengthFieldChangedAnyWayIsRefusedOrConsistent()
    {
        var file = Write(Sample);
        for (int bit = 0; bit < 64; bit++)
        {
            var m = (byte[])file.Clone();
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(m) ^ (1UL << bit);
            BinaryPrimitives.WriteUInt64LittleEndian(m, n);
            Bad(m);
        }
    }

    [Fact]
    public void RandomByteFlipsNeverCrashHangOrReadPastTheEnd()
    {
        // Bounded fuzz: 3,000 mutants of a real model file (1–4 bytes changed, biased to the header where
        // parsing happens). Every outcome is a model, a SafeTensorsFormatException or a ModelLayoutException.
        var sizes = new NetworkSizes(3, 4, 2, 2) { MemorySlots = 5, MemoryWidth = 3, ReadHeads = 1 };
        var path = Path.GetTempFileName();
        try
        {
            NeuralModel.Create(sizes, 7).Save(path);
            var file = File.ReadAllBytes(path);
            int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
            var rng = new Random(12345);
            int models = 0, format = 0, layout = 0;
            for (int iter = 0; iter < 3000; iter++)
            {
                var m = (byte[])file.Clone();
                int flips = 1 + rng.Next(4);
                for (int k = 0; k < flips; k++)
                {
                    int at = rng.Next(2) == 0 ? rng.Next(headerEnd) : rng.Next(m.Length);
                    m[at] = rng.Next(3) == 0 ? (byte)rng.Next(256) : (byte)(m[at] ^ (1 << rng.Next(8)));
                }
                try
                {
                    var st = SafeTensorsFile.Read(new GuardedStream(m), "fuzz");
                    var model = NeuralModel.FromTensors(st.ByName, st.Metadata, "fuzz");
                    using var engine = new NeuralEngine(new EngineOptions { JitEnabled = false, ProfilingEnabled = false });
                    using var net = model.CreateNetwork(engine);
                    net.Step(new float[model.InputSize]);
                    models++;
                }
                catch (SafeTensorsFormatException) { format++; }
                catch (ModelLayoutException) { layout++; }
            }
            Assert.True(format > 500, $"format errors {format}, layout {layout}, models {models}");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
