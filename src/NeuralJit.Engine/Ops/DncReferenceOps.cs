using System.Runtime.CompilerServices;

namespace NeuralJit.Ops;

/// <summary>
/// The DNC steps written straight from the equations of Graves et al. (2016), Methods, as plain scalar
/// loops in the order the paper writes them: the oracle for the managed tier and the "Scalar" baseline.
/// </summary>
public sealed class DncReferenceOps : IDncOpSet
{
    /// <summary>oneplus(x) = 1 + log(1 + eˣ), written so large x neither overflows nor loses digits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float OnePlus(float x) => 1f + (x > 0 ? x + MathF.Log(1f + MathF.Exp(-x)) : MathF.Log(1f + MathF.Exp(x)));

    public static void DncInterface(int heads, int width, ReadOnlySpan<float> raw, Span<float> output)
    {
        var l = new DncInterfaceLayout(heads, width);
        for (int i = 0; i < l.ReadStrengths; i++) output[i] = raw[i];                         // read keys
        for (int i = 0; i < heads; i++) output[l.ReadStrengths + i] = OnePlus(raw[l.ReadStrengths + i]);
        for (int j = 0; j < width; j++) output[l.WriteKey + j] = raw[l.WriteKey + j];
        output[l.WriteStrength] = OnePlus(raw[l.WriteStrength]);
        for (int j = 0; j < width; j++) output[l.Erase + j] = ReferenceOps.Logistic(raw[l.Erase + j]);
        for (int j = 0; j < width; j++) output[l.WriteVector + j] = raw[l.WriteVector + j];
        for (int i = 0; i < heads; i++) output[l.FreeGates + i] = ReferenceOps.Logistic(raw[l.FreeGates + i]);
        output[l.AllocationGate] = ReferenceOps.Logistic(raw[l.AllocationGate]);
        output[l.WriteGate] = ReferenceOps.Logistic(raw[l.WriteGate]);
        for (int i = 0; i < heads; i++) ReadModes(raw.Slice(l.ReadModes + 3 * i, 3), output.Slice(l.ReadModes + 3 * i, 3));
    }

    /// <summary>The softmax of one head's three read modes (max-subtracted); the output may be the input.</summary>
    internal static void ReadModes(ReadOnlySpan<float> raw, Span<float> output)
    {
        float a = raw[0], b = raw[1], c = raw[2];
        float max = MathF.Max(a, MathF.Max(b, c));
        float ea = MathF.Exp(a - max), eb = MathF.Exp(b - max), ec = MathF.Exp(c - max);
        float sum = ea + eb + ec;
        output[0] = ea / sum;
        output[1] = eb / sum;
        output[2] = ec / sum;
    }

    public static void DncUsage(int slots, int heads, ReadOnlySpan<float> freeGates, ReadOnlySpan<float> readWeights, ReadOnlySpan<float> writeWeights, Span<float> usage)
    {
        for (int n = 0; n < slots; n++)
        {
            float psi = 1f;
            for (int i = 0; i < heads; i++) psi *= 1f - freeGates[i] * readWeights[i * slots + n];
            float u = usage[n], w = writeWeights[n];
            usage[n] = (u + w - u * w) * psi;
        }
    }

    public static void DncAllocation(int slots, ReadOnlySpan<float> usage, Span<float> allocation)
    {
        // φ: slot indices sorted by usage ascending, ties by index (insertion sort is stable).
        Span<int> phi = slots <= 1024 ? stackalloc int[slots] : new int[slots];
        for (int i = 0; i < slots; i++)
        {
            int j = i;
            while (j > 0 && Before(usage[i], usage[phi[j - 1]])) { phi[j] = phi[j - 1]; j--; }
            phi[j] = i;
        }
        float product = 1f;
        for (int j = 0; j < slots; j++)
        {
            float u = usage[phi[j]];
            allocation[phi[j]] = (1f - u) * product;
            product *= u;
        }
    }

    /// <summary>Strictly-before in the allocation order; NaN sorts last, so a NaN usage never reorders the rest.</summary>
    private static bool Before(float a, float b) => !float.IsNaN(a) && (float.IsNaN(b) || a < b);

    public static void DncWriteWeighting(int slots, ReadOnlySpan<float> allocation, ReadOnlySpan<float> content, float allocationGate, float writeGate, Span<float> output)
    {
        for (int n = 0; n < slots; n++)
            output[n] = writeGate * (allocationGate * allocation[n] + (1f - allocationGate) * content[n]);
    }

    public static void DncWrite(int slots, int width, Span<float> memory, int ldm, ReadOnlySpan<float> writeWeights, ReadOnlySpan<float> erase, ReadOnlySpan<float> writeVector)
    {
        for (int i = 0; i < slots; i++)
            for (int j = 0; j < width; j++)
                memory[i * ldm + j] = memory[i * ldm + j] * (1f - writeWeights[i] * erase[j]) + writeWeights[i] * writeVector[j];
    }

    public static void DncLinkUpdate(int slots, Span<float> link, ReadOnlySpan<float> writeWeights, Span<float> precedence)
    {
        for (int i = 0; i < slots; i++)
            for (int j = 0; j < slots; j++)
                link[i * slots + j] = i == j ? 0f : (1f - writeWeights[i] - writeWeights[j]) * link[i * slots + j] + writeWeights[i] * precedence[j];
        double sum = 0;
        for (int i = 0; i < slots; i++) sum += writeWeights[i];
        float keep = (float)(1.0 - sum);
        for (int i = 0; i < slots; i++) precedence[i] = keep * precedence[i] + writeWeights[i];
    }

    public static void DncTemporal(int slots, int heads, ReadOnlySpan<float> link, ReadOnlySpan<float> readWeights, Span<float> forward, Span<float> backward)
    {
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < slots; i++)
            {
                float f = 0, b = 0;
                for (int j = 0; j < slots; j++)
                {
                    f += link[i * slots + j] * readWeights[h * slots + j];
                    b += link[j * slots + i] * readWeights[h * slots + j];
                }
                forward[h * slots + i] = f;
                backward[h * slots + i] = b;
            }
    }

    public static void DncReadWeighting(int slots, int heads, ReadOnlySpan<float> backward, ReadOnlySpan<float> content, ReadOnlySpan<float> forward, ReadOnlySpan<float> modes, Span<float> output)
    {
        for (int h = 0; h < heads; h++)
            for (int n = 0; n < slots; n++)
            {
                int k = h * slots + n;
                output[k] = modes[3 * h] * backward[k] + modes[3 * h + 1] * content[k] + modes[3 * h + 2] * forward[k];
            }
    }

    public static void DncReadContent(int slots, int width, int heads, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> keys, ReadOnlySpan<float> strengths, Span<float> output)
    {
        for (int h = 0; h < heads; h++)
            ReferenceOps.DncContent(slots, width, memory, ldm, keys.Slice(h * width, width), strengths[h], output.Slice(h * slots, slots));
    }

    public static void DncRead(int slots, int width, int heads, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> readWeights, Span<float> output)
    {
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < width; j++)
            {
                float sum = 0;
                for (int n = 0; n < slots; n++) sum += readWeights[h * slots + n] * memory[n * ldm + j];
                output[h * width + j] = sum;
            }
    }
}
