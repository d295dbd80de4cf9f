using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace NeuralJit.Models;

/// <summary>One tensor of a safetensors file, converted to fp32.</summary>
public sealed class SafeTensor
{
    public SafeTensor(string name, string dtype, long[] shape, float[] data)
    {
        Name = name; DType = dtype; Shape = shape; Data = data;
    }

    public string Name { get; }
    /// <summary>The dtype stored in the file (F32, F16, BF16 or F64); <see cref="Data"/> is always fp32.</summary>
    public string DType { get; }
    public long[] Shape { get; }
    public float[] Data { get; }
    /// <summary>Where the tensor's bytes start in the file.</summary>
    public long FileOffset { get; init; }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
/// little-endian header length N, N bytes of a UTF-8 JSON object mapping tensor names to
/// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the header) plus an
/// optional "__metadata__" object of strings, then the tensor bytes. F32, F16, BF16 and F64 are
/// converted to fp32. The reader validates everything before it reads a tensor byte, with the rules of
/// the reference implementation: the header fits in the file and is at most 100 MB; the byte ranges
/// are contiguous from 0 (no hole, no overlap) and end exactly at the end of the file; every shape's
/// element count times the dtype size equals its byte range. Anything else throws
/// <see cref="SafeTensorsFormatException"/> naming the problem, the byte offset and the tensor; no read
/// ever goes past the end of the file.
/// </summary>
public sealed class SafeTensorsFile
{
    /// <summary>The reference implementation's cap on the header (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;
    public const string MetadataKey = "__metadata__";
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly Dictionary<string, int> s_floatDtypes = new() { ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["F64"] = 8 };
    private static readonly HashSet<string> s_otherDtypes = ["BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"];

    private SafeTensorsFile(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata, long headerLength, long fileLength, string? path)
    {
        Tensors = tensors;
        Metadata = metadata;
        HeaderLength = headerLength;
        FileLength = fileLength;
        FilePath = path;
        ByName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The tensors in file order (by offset).</summary>
    public IReadOnlyList<SafeTensor> Tensors { get; }
    public IReadOnlyDictionary<string, SafeTensor> ByName { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public long HeaderLength { get; }
    public long FileLength { get; }
    public string? FilePath { get; }

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static SafeTensorsFile Read(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(fs, path);
    }

    /// <summary>Reads and validates a seekable stream of a whole file; <paramref name="name"/> names it in errors.</summary>
    public static SafeTensorsFile Read(Stream stream, string? name = null)
    {
        if (!stream.CanSeek) throw new ArgumentException("The stream must be seekable (its length bounds every read).", nameof(stream));
        long fileLength = stream.Length;
        stream.Position = 0;
        Exception Fail(string problem, string message, long? offset = null, string? tensor = null, Exception? inner = null) =>
            new SafeTensorsFormatException(problem, message, name, offset, tensor, inner);

        if (fileLength < 8) throw Fail("FileTooShort", $"The file has {fileLength} bytes; a safetensors file starts with an 8-byte header length.", 0);
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > (ulong)(fileLength - 8))
            throw Fail("HeaderLengthBeyondFile", $"The header length {n} runs past the end of the file ({fileLength - 8} bytes follow the length field).", 0);
        if (n > MaxHeaderLength) throw Fail("HeaderTooLarge", $"The header length {n} is over the {MaxHeaderLength}-byte limit.", 0);
        if (n < 2) throw Fail("HeaderTooSmall", $"The header length {n} cannot hold a JSON object.", 0);
        long headerLength = (long)n;
        long dataStart = 8 + headerLength;
        long dataLength = fileLength - dataStart;

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        if (header[0] != (byte)'{') throw Fail("HeaderNotJsonObject", $"The header does not start with '{{' (found byte 0x{header[0]:X2}).", 8);

        try
        {
            s_strictUtf8.GetCharCount(header);
        }
        catch (DecoderFallbackException e)
        {
            throw Fail("HeaderNotUtf8", "The header is not valid UTF-8.", 8 + Math.Max(0, e.Index), inner: e);
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            long? at = e.LineNumber == 0 && e.BytePositionInLine is long p ? 8 + p : null;
            throw Fail("HeaderNotJson", $"The header is not valid JSON: {e.Message}", at, inner: e);
        }

        var entries = new List<(string Name, string DType, long[] Shape, long Begin, long End, int ElementSize)>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Fail("HeaderNotJsonObject", "The header is JSON but not an object.", 8);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string tname = prop.Name;
                if (!seen.Add(tname)) throw Fail("DuplicateName", $"The header names '{tname}' twice.", 8, tname);
                if (tname == MetadataKey)
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Fail("BadMetadata", "__metadata__ must be an object of strings.", 8);
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Fail("BadMetadata", $"__metadata__ value '{m.Name}' is {m.Value.ValueKind}, not a string.", 8);
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Fail("BadMetadata", $"__metadata__ names '{m.Name}' twice.", 8);
                    }
                    continue;
                }
                entries.Add(ParseEntry(tname, prop.Value, dataLength, Fail));
            }
        }

        // The byte ranges must tile the data region: sorted by begin, each starts where the last ended.
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long cursor = 0;
        string? previous = null;
        foreach (var e in ordered)
        {
            if (e.Begin < cursor)
                throw Fail("OverlappingTensors", $"The bytes [{e.Begin}, {e.End}) overlap '{previous}', which ends at {cursor}.", dataStart + e.Begin, e.Name);
            if (e.Begin > cursor)
                throw Fail("GapBetweenTensors", $"The bytes [{cursor}, {e.Begin}) before this tensor belong to no tensor.", dataStart + cursor, e.Name);
            cursor = e.End;
            previous = e.Name;
        }
        if (cursor != dataLength)
            throw Fail("TrailingBytes", $"The tensors end at data byte {cursor} but the file has {dataLength} data bytes after the header.", dataStart + cursor);

        // Every range is now known to lie inside the file: read each tensor in bounded chunks and convert.
        var tensors = new List<SafeTensor>(ordered.Count);
        const int ChunkElements = 1 << 16;
        var buffer = new byte[ChunkElements * 8];
        foreach (var e in ordered)
        {
            var data = new float[(e.End - e.Begin) / e.ElementSize];
            stream.Position = dataStart + e.Begin;
            for (int at = 0; at < data.Length; at += ChunkElements)
            {
                int count = Math.Min(ChunkElements, data.Length - at);
                var bytes = buffer.AsSpan(0, count * e.ElementSize);
                stream.ReadExactly(bytes);
                Convert(e.DType, bytes, data.AsSpan(at, count));
            }
            tensors.Add(new SafeTensor(e.Name, e.DType, e.Shape, data) { FileOffset = dataStart + e.Begin });
        }
        return new SafeTensorsFile(tensors, metadata, headerLength, fileLength, name);
    }

    private static (string, string, long[], long, long, int) ParseEntry(string name, JsonElement v, long dataLength,
        Func<string, string, long?, string?, Exception?, Exception> fail)
    {
        Exception F(string problem, string message) => fail(problem, message, 8, name, null);
        if (v.ValueKind != JsonValueKind.Object) throw F("BadTensorEntry", $"The entry is {v.ValueKind}, not an object with dtype, shape and data_offsets.");
        string? dtype = null; long[]? shape = null; long[]? offsets = null;
        foreach (var p in v.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype":
                    if (dtype is not null) throw F("BadTensorEntry", "dtype appears twice.");
                    if (p.Value.ValueKind != JsonValueKind.String) throw F("BadTensorEntry", $"dtype is {p.Value.ValueKind}, not a string.");
                    dtype = p.Value.GetString()!;
                    break;
                case "shape":
                    if (shape is not null) throw F("BadTensorEntry", "shape appears twice.");
                    shape = Integers(p.Value, "shape", F);
                    break;
                case "data_offsets":
                    if (offsets is not null) throw F("BadTensorEntry", "data_offsets appears twice.");
                    offsets = Integers(p.Value, "data_offsets", F);
                    break;
                default:
                    throw F("BadTensorEntry", $"The entry has an unknown field '{p.Name}'.");
            }
        }
        if (dtype is null) throw F("BadTensorEntry", "The entry has no dtype.");
        if (shape is null) throw F("BadTensorEntry", "The entry has no shape.");
        if (offsets is null) throw F("BadTensorEntry", "The entry has no data_offsets.");
        if (!s_floatDtypes.TryGetValue(dtype, out int size))
            throw s_otherDtypes.Contains(dtype)
                ? F("UnsupportedDtype", $"The dtype {dtype} is not a floating-point type this engine converts (F32, F16, BF16, F64).")
                : F("UnknownDtype", $"The dtype '{dtype}' is not a safetensors dtype.");
        if (offsets.Length != 2) throw F("BadOffsets", $"data_offsets has {offsets.Length} numbers; it must be [begin, end].");
        long begin = offsets[0], end = offsets[1];
        if (end < begin) throw F("BadOffsets", $"data_offsets [{begin}, {end}] ends before it begins.");
        if (end > dataLength) throw F("OffsetsBeyondFile", $"data_offsets [{begin}, {end}] run past the end of the file ({dataLength} data bytes).");
        long elements = 1;
        try
        {
            foreach (long d in shape) elements = checked(elements * d);
            long expectedBytes = checked(elements * size);
            if (expectedBytes != end - begin)
                throw F("SizeMismatch", $"The shape [{string.Join(", ", shape)}] of {dtype} needs {expectedBytes} bytes but data_offsets [{begin}, {end}] span {end - begin}.");
        }
        catch (OverflowException)
        {
            throw F("SizeMismatch", $"The shape [{string.Join(", ", shape)}] overflows a 64-bit element count.");
        }
        if (elements > Array.MaxLength) throw F("TensorTooLarge", $"The tensor has {elements} elements, more than one array can hold.");
        return (name, dtype, shape, begin, end, size);
    }

    private static long[] Integers(JsonElement v, string field, Func<string, string, Exception> fail)
    {
        if (v.ValueKind != JsonValueKind.Array) throw fail("BadTensorEntry", $"{field} is {v.ValueKind}, not an array of integers.");
        var list = new long[v.GetArrayLength()];
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long x) || x < 0)
                throw fail("BadTensorEntry", $"{field}[{i}] is {e.GetRawText()}, not a non-negative integer.");
            list[i++] = x;
        }
        return list;
    }

    private static void Convert(string dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dtype)
        {
            case "F32":
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case "F16":
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case "BF16":
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            case "F64":
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
                break;
            default:
                throw new InvalidOperationException(dtype); // unreachable: validated in ParseEntry
        }
    }

    /// <summary>
    /// Writes tensors (in the given order, contiguous) and metadata as a safetensors file. The header is
    /// padded with spaces to a multiple of 8 bytes, as the reference writer does, so the data is aligned.
    /// <paramref name="dtype"/> is F32, F16, BF16 (round to nearest even) or F64.
    /// </summary>
    public static void Write(Stream stream, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, string dtype = "F32")
    {
        if (!s_floatDtypes.TryGetValue(dtype, out int size)) throw new ArgumentException($"Cannot write dtype '{dtype}'.", nameof(dtype));
        var list = tensors.ToList();
        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, shape, data) in list)
            {
                long elements = shape.Aggregate(1L, (a, d) => checked(a * d));
                if (elements != data.Length) throw new ArgumentException($"Tensor '{name}' has {data.Length} values but its shape [{string.Join(", ", shape)}] has {elements}.", nameof(tensors));
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (long d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + elements * size);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += elements * size;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < pad; i++) json.WriteByte((byte)' ');
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)json.Length);
        stream.Write(len);
        json.Position = 0;
        json.CopyTo(stream);
        var buf = new byte[size * 1024];
        foreach (var (_, _, data) in list)
        {
            for (int start = 0; start < data.Length; start += 1024)
            {
                int count = Math.Min(1024, data.Length - start);
                for (int i = 0; i < count; i++) Encode(dtype, data[start + i], buf.AsSpan(i * size));
                stream.Write(buf, 0, count * size);
            }
        }
    }

    /// <summary>Writes a safetensors file at <paramref name="path"/> (see <see cref="Write(Stream, IEnumerable{ValueTuple{string, long[], float[]}}, IReadOnlyDictionary{string, string}?, string)"/>).</summary>
    public static void Write(string path, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, string dtype = "F32")
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Write(fs, tensors, metadata, dtype);
    }

    private static void Encode(string dtype, float v, Span<byte> dst)
    {
        switch (dtype)
        {
            case "F32": BinaryPrimitives.WriteSingleLittleEndian(dst, v); break;
            case "F16": BinaryPrimitives.WriteHalfLittleEndian(dst, (Half)v); break;
            case "F64": BinaryPrimitives.WriteDoubleLittleEndian(dst, v); break;
            case "BF16":
                uint bits = BitConverter.SingleToUInt32Bits(v);
                ushort bf = float.IsNaN(v) ? (ushort)((bits >> 16) | 0x40) : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
                BinaryPrimitives.WriteUInt16LittleEndian(dst, bf);
                break;
        }
    }
}
