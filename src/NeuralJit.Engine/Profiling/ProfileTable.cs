using NeuralJit.Ops;

namespace NeuralJit.Profiling;

/// <summary>
/// The engine's profile: a hashed table of 16,384 buckets × 8 ways keyed by (op, shape). A bucket is
/// one 64-byte cache line of eight 64-bit key hashes (0 = empty way), so a lookup touches one line;
/// the slot objects sit in a parallel array. Lookups happen when a model resolves its slots, never per
/// call. When all 8 ways of a bucket are taken, the key goes to an overflow map, counted in
/// <see cref="OverflowKeys"/>: nothing is dropped, it is only slower to find.
/// </summary>
public sealed class ProfileTable
{
    public const int DefaultBuckets = 16_384;
    public const int Ways = 8;

    private readonly ulong[] _tags;
    private readonly OpSlot?[] _slots;
    private readonly Dictionary<OpKey, OpSlot> _overflow = new();
    private readonly List<OpSlot> _all = new();
    private readonly object _gate = new();
    private readonly Func<OpKey, ulong> _hash;

    public ProfileTable(int buckets = DefaultBuckets, Func<OpKey, ulong>? hash = null)
    {
        if (buckets <= 0 || (buckets & (buckets - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(buckets), buckets, "Bucket count must be a positive power of two.");
        Buckets = buckets;
        _tags = new ulong[buckets * Ways];
        _slots = new OpSlot?[buckets * Ways];
        _hash = hash ?? (k => k.Hash);
    }

    public int Buckets { get; }
    /// <summary>Keys that found all 8 ways of their bucket taken and live in the overflow map.</summary>
    public int OverflowKeys { get { lock (_gate) return _overflow.Count; } }
    public int Count { get { lock (_gate) return _all.Count; } }

    /// <summary>Bytes of the table itself: the tag array (8 B a way) plus the slot reference array.</summary>
    public long TableBytes => (long)_tags.Length * sizeof(ulong) + (long)_slots.Length * IntPtr.Size;

    /// <summary>The slot of <paramref name="key"/>, created by <paramref name="create"/> on first sight.</summary>
    public OpSlot GetOrAdd(OpKey key, Func<OpKey, OpSlot> create)
    {
        ulong tag = _hash(key);
        if (tag == 0) tag = 1;
        int bucket = (int)(tag & (ulong)(Buckets - 1)) * Ways;
        lock (_gate)
        {
            for (int w = 0; w < Ways; w++)
            {
                int i = bucket + w;
                if (_tags[i] == tag && _slots[i]!.Key == key) return _slots[i]!;
            }
            if (_overflow.TryGetValue(key, out var found)) return found;
            var slot = create(key);
            _all.Add(slot);
            for (int w = 0; w < Ways; w++)
            {
                int i = bucket + w;
                if (_tags[i] == 0)
                {
                    _slots[i] = slot;
                    _tags[i] = tag;
                    return slot;
                }
            }
            _overflow.Add(key, slot);
            return slot;
        }
    }

    /// <summary>The slot of <paramref name="key"/> if the table has seen it.</summary>
    public OpSlot? Find(OpKey key)
    {
        lock (_gate) return _all.Find(s => s.Key == key);
    }

    /// <summary>Every slot, in the order first seen.</summary>
    public IReadOnlyList<OpSlot> Slots { get { lock (_gate) return _all.ToArray(); } }

    public void Reset()
    {
        foreach (var s in Slots) s.Reset();
    }
}
