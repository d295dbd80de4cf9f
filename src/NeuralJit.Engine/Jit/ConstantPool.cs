namespace NeuralJit.Jit;

/// <summary>
/// One kernel's constants, laid out in creation order at their natural alignment (4, 8, 32 or 64 bytes) and
/// deduplicated. The kernel addresses them as [<see cref="KernelAssembler.PoolBase"/> + offset]: the prologue
/// points that register at the pool once, so the body has no RIP-relative operands and every instruction is
/// encoded exactly once. The pool sits in front of the code, so its size decides where the code starts.
/// </summary>
internal sealed class ConstantPool
{
    private readonly List<(int Offset, uint[] Dwords)> _entries = new();
    private readonly Dictionary<uint[], int> _index = new(DwordsComparer.Instance);

    /// <summary>Bytes the constants take (0: no pool, and no pool register).</summary>
    public int Bytes { get; private set; }

    /// <summary>Where the code starts: past the pool, rounded up to 64 so the entry is aligned like the block.</summary>
    public int CodeOffset => (Bytes + 63) / 64 * 64;

    /// <summary>The offset of <paramref name="dwords"/> in the pool, adding it on first use.</summary>
    public int Offset(uint[] dwords)
    {
        if (!_index.TryGetValue(dwords, out int offset))
        {
            int size = dwords.Length * 4;
            int align = Math.Min(64, size);
            offset = (Bytes + align - 1) / align * align;
            _entries.Add((offset, dwords));
            Bytes = offset + size;
            _index[dwords] = offset;
        }
        return offset;
    }

    /// <summary>A dword replicated over <paramref name="lanes"/> lanes.</summary>
    public int Replicated(uint bits, int lanes)
    {
        var dwords = new uint[lanes];
        Array.Fill(dwords, bits);
        return Offset(dwords);
    }

    /// <summary>Writes the constants little-endian at their offsets; the gaps stay as the writer has them (zero).</summary>
    public void WriteTo(KernelEncoder.ByteWriter writer)
    {
        foreach (var (offset, dwords) in _entries)
        {
            writer.Position = offset;
            foreach (uint d in dwords) { writer.WriteByte((byte)d); writer.WriteByte((byte)(d >> 8)); writer.WriteByte((byte)(d >> 16)); writer.WriteByte((byte)(d >> 24)); }
        }
    }

    private sealed class DwordsComparer : IEqualityComparer<uint[]>
    {
        public static readonly DwordsComparer Instance = new();
        public bool Equals(uint[]? x, uint[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(uint[] a)
        {
            var h = new HashCode();
            h.Add(a.Length);
            foreach (uint d in a) h.Add(d);
            return h.ToHashCode();
        }
    }
}
