using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace NeuralJit.Ops;

/// <summary>
/// The DNC steps on the managed tier: row-wise <see cref="Vector{T}"/> loops and TensorPrimitives where
/// the work is a vector op, a key sort for the allocation order. Same results as <see cref="DncReferenceOps"/>
/// up to float reassociation in the dot products and sums (element-wise steps are computed with the
/// same operations in the same order, so they agree exactly).
/// </summary>
public sealed class DncManagedOps : IDncOpSet
{
    private const int StackFloats = 1024;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncInterface(int heads, int width, ReadOnlySpan<float> raw, Span<float> output)
    {
        var l = new DncInterfaceLayout(heads, width);
        raw[..l.ReadStrengths].CopyTo(output);
        for (int i = 0; i < heads; i++) output[l.ReadStrengths + i] = DncReferenceOps.OnePlus(raw[l.ReadStrengths + i]);
        raw.Slice(l.WriteKey, width).CopyTo(output.Slice(l.WriteKey, width));
        output[l.WriteStrength] = DncReferenceOps.OnePlus(raw[l.WriteStrength]);
        for (int j = 0; j < width; j++) output[l.Erase + j] = ReferenceOps.Logistic(raw[l.Erase + j]);
        raw.Slice(l.WriteVector, width).CopyTo(output.Slice(l.WriteVector, width));
        for (int i = 0; i < heads + 2; i++) output[l.FreeGates + i] = ReferenceOps.Logistic(raw[l.FreeGates + i]); // free, allocation, write gates
        for (int i = 0; i < heads; i++) DncReferenceOps.ReadModes(raw.Slice(l.ReadModes + 3 * i, 3), output.Slice(l.ReadModes + 3 * i, 3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncUsage(int slots, int heads, ReadOnlySpan<float> freeGates, ReadOnlySpan<float> readWeights, ReadOnlySpan<float> writeWeights, Span<float> usage)
    {
        Span<float> psi = slots <= StackFloats ? stackalloc float[slots] : new float[slots];
        psi.Fill(1f);
        for (int i = 0; i < heads; i++)
        {
            var f = new Vector<float>(freeGates[i]);
            var w = readWeights.Slice(i * slots, slots);
            int n = 0;
            for (; n <= slots - Vector<float>.Count; n += Vector<float>.Count)
            {
                var p = Load(psi, n) * (Vector<float>.One - f * Load(w, n));
                p.CopyTo(psi[n..]);
            }
            for (; n < slots; n++) psi[n] *= 1f - freeGates[i] * w[n];
        }
        int k = 0;
        for (; k <= slots - Vector<float>.Count; k += Vector<float>.Count)
        {
            Vector<float> u = Load(usage, k), ww = Load(writeWeights, k);
            ((u + ww - u * ww) * Load(psi, k)).CopyTo(usage[k..]);
        }
        for (; k < slots; k++) usage[k] = (usage[k] + writeWeights[k] - usage[k] * writeWeights[k]) * psi[k];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncAllocation(int slots, ReadOnlySpan<float> usage, Span<float> allocation)
    {
        // One 64-bit key per slot: the usage's bits made monotonic (a total order, NaN last) above the index,
        // so one unstable sort gives "usage ascending, ties by index" — the reference's stable order.
        Span<ulong> keys = slots <= StackFloats ? stackalloc ulong[slots] : new ulong[slots];
        for (int i = 0; i < slots; i++) keys[i] = ((ulong)OrderedBits(usage[i]) << 32) | (uint)i;
        keys.Sort();
        float product = 1f;
        for (int j = 0; j < slots; j++)
        {
            int slot = (int)(keys[j] & 0xFFFFFFFF);
            float u = usage[slot];
            allocation[slot] = (1f - u) * product;
            product *= u;
        }
    }

    /// <summary>Maps a float to an unsigned key with the same order (−∞ … +∞), every NaN above +∞.</summary>
    private static uint OrderedBits(float x)
    {
        if (float.IsNaN(x)) return uint.MaxValue;
        if (x == 0) x = 0; // −0 and +0 tie, as in the reference's comparison
        uint b = BitConverter.SingleToUInt32Bits(x);
        return (b & 0x80000000u) != 0 ? ~b : b | 0x80000000u;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncWriteWeighting(int slots, ReadOnlySpan<float> allocation, ReadOnlySpan<float> content, float allocationGate, float writeGate, Span<float> output)
    {
        var ga = new Vector<float>(allocationGate);
        var gc = new Vector<float>(1f - allocationGate);
        var gw = new Vector<float>(writeGate);
        int n = 0;
        for (; n <= slots - Vector<float>.Count; n += Vector<float>.Count)
            (gw * (ga * Load(allocation, n) + gc * Load(content, n))).CopyTo(output[n..]);
        for (; n < slots; n++) output[n] = writeGate * (allocationGate * allocation[n] + (1f - allocationGate) * content[n]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncWrite(int slots, int width, Span<float> memory, int ldm, ReadOnlySpan<float> writeWeights, ReadOnlySpan<float> erase, ReadOnlySpan<float> writeVector)
    {
        for (int i = 0; i < slots; i++)
        {
            var row = memory.Slice(i * ldm, width);
            float wi = writeWeights[i];
            var w = new Vector<float>(wi);
            int j = 0;
            for (; j <= width - Vector<float>.Count; j += Vector<float>.Count)
                (Load(row, j) * (Vector<float>.One - w * Load(erase, j)) + w * Load(writeVector, j)).CopyTo(row[j..]);
            for (; j < width; j++) row[j] = row[j] * (1f - wi * erase[j]) + wi * writeVector[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncLinkUpdate(int slots, Span<float> link, ReadOnlySpan<float> writeWeights, Span<float> precedence)
    {
        for (int i = 0; i < slots; i++)
        {
            var row = link.Slice(i * slots, slots);
            float wi = writeWeights[i];
            var keep = new Vector<float>(1f - wi);
            var w = new Vector<float>(wi);
            int j = 0;
            for (; j <= slots - Vector<float>.Count; j += Vector<float>.Count)
                ((keep - Load(writeWeights, j)) * Load(row, j) + w * Load(precedence, j)).CopyTo(row[j..]);
            for (; j < slots; j++) row[j] = (1f - wi - writeWeights[j]) * row[j] + wi * precedence[j];
            row[i] = 0f;
        }
        double sum = 0;
        for (int i = 0; i < slots; i++) sum += writeWeights[i];
        float k = (float)(1.0 - sum);
        var kv = new Vector<float>(k);
        int n = 0;
        for (; n <= slots - Vector<float>.Count; n += Vector<float>.Count)
            (kv * Load(precedence, n) + Load(writeWeights, n)).CopyTo(precedence[n..]);
        for (; n < slots; n++) precedence[n] = k * precedence[n] + writeWeights[n];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncTemporal(int slots, int heads, ReadOnlySpan<float> link, ReadOnlySpan<float> readWeights, Span<float> forward, Span<float> backward)
    {
        backward[..(heads * slots)].Clear();
        // One pass over L: row n gives forward[h, n] = L[n,:]·w_h and adds w_h[n]·L[n,:] to backward[h].
        for (int n = 0; n < slots; n++)
        {
            var row = link.Slice(n * slots, slots);
            for (int h = 0; h < heads; h++)
            {
                var w = readWeights.Slice(h * slots, slots);
                forward[h * slots + n] = Dot(row, w);
                MulAdd(w[n], row, backward.Slice(h * slots, slots));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncReadWeighting(int slots, int heads, ReadOnlySpan<float> backward, ReadOnlySpan<float> content, ReadOnlySpan<float> forward, ReadOnlySpan<float> modes, Span<float> output)
    {
        for (int h = 0; h < heads; h++)
        {
            int o = h * slots;
            float pb = modes[3 * h], pc = modes[3 * h + 1], pf = modes[3 * h + 2];
            Vector<float> vb = new(pb), vc = new(pc), vf = new(pf);
            int n = 0;
            for (; n <= slots - Vector<float>.Count; n += Vector<float>.Count)
                (vb * Load(backward, o + n) + vc * Load(content, o + n) + vf * Load(forward, o + n)).CopyTo(output[(o + n)..]);
            for (; n < slots; n++) output[o + n] = pb * backward[o + n] + pc * content[o + n] + pf * forward[o + n];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncReadContent(int slots, int width, int heads, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> keys, ReadOnlySpan<float> strengths, Span<float> output)
    {
        for (int h = 0; h < heads; h++)
            ManagedSimdOps.DncContent(slots, width, memory, ldm, keys.Slice(h * width, width), strengths[h], output.Slice(h * slots, slots));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DncRead(int slots, int width, int heads, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> readWeights, Span<float> output)
    {
        output[..(heads * width)].Clear();
        for (int n = 0; n < slots; n++)
        {
            var row = memory.Slice(n * ldm, width);
            for (int h = 0; h < heads; h++) MulAdd(readWeights[h * slots + n], row, output.Slice(h * width, width));
        }
    }

    /// <summary>x·y. Not TensorPrimitives.Dot: that assembly ships as IL only, so a fresh process would run it as tier-0 code for its first steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        var acc = Vector<float>.Zero;
        int j = 0;
        for (; j <= x.Length - Vector<float>.Count; j += Vector<float>.Count) acc += Load(x, j) * Load(y, j);
        float sum = Vector.Sum(acc);
        for (; j < x.Length; j++) sum += x[j] * y[j];
        return sum;
    }

    /// <summary>y += a·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MulAdd(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        var av = new Vector<float>(a);
        int j = 0;
        for (; j <= x.Length - Vector<float>.Count; j += Vector<float>.Count)
            (Load(y, j) + av * Load(x, j)).CopyTo(y[j..]);
        for (; j < x.Length; j++) y[j] += a * x[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ReadOnlySpan<float> s, int i) => new(s[i..]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(Span<float> s, int i) => new(s[i..]);
}
