namespace NeuralJit.Jit;

/// <summary>
/// Inline exp, logistic sigmoid and tanh over whole vectors, in place, for either ISA. Each routine
/// names the temporaries it clobbers; constants come from the kernel's pool as memory operands, so
/// nothing else is reserved. Max errors measured over [−30, 30] against double-precision Math
/// (JitMathAccuracyTests pins them at 1e-7, 2e-7, 2e-7; the sweep is 2^21 evenly spaced floats; edges tested apart):
/// <list type="bullet">
/// <item><b>Exp</b>: max relative error 7.3e-8 (both ISAs; worst at x = −5.245). Saturates: x ≥ 88.73 → +∞; below −87.0
/// (AVX2) / −103.9 (AVX-512) → 0 (AVX-512 keeps subnormals through vscalefps; AVX2 flushes results
/// under 2e-38 to 0). NaN → NaN, +∞ → +∞, −∞ → 0.</item>
/// <item><b>Sigmoid</b> 1/(1+e^−x) (the logistic function, never softsign): max relative error 1.51e-7 (worst at x = −16.92).
/// −∞ → 0, +∞ → 1, NaN → NaN.</item>
/// <item><b>Tanh</b>: |x| &lt; 0.625 uses Cephes' odd polynomial x + x³·P(x²) (no cancellation near 0);
/// otherwise sign(x)·(1 − 2/(e^{2|x|}+1)). Max relative error 1.37e-7 (worst at x = −0.636, just past the switch). ±∞ → ±1, NaN → NaN.</item>
/// </list>
/// Method: Cody–Waite range reduction x = n·ln2 + r (ln2 split in two so n·ln2 is exact to ~2^-32),
/// n by the 1.5·2^23 "magic add" rounding trick, e^r by Cephes' degree-7 minimax polynomial, and 2^n by
/// vscalefps (AVX-512) or by building the exponent field (AVX2; bias 126 with doubled coefficients so
/// n = 128 still encodes, exp(88.5) stays finite). The clamp is written so a NaN input survives it.
/// </summary>
public static class MathEmitter
{
    // Cephes expf.
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private static readonly float[] ExpPoly = { 1.9875691500E-4f, 1.3981999507E-3f, 8.3334519073E-3f, 4.1665795894E-2f, 1.6666665459E-1f, 5.0000001201E-1f, 1f, 1f };
    private const float Magic = 12582912f; // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
    private const float ExpHi = 89f;
    private const float ExpLoAvx2 = -87f;    // keeps n ≥ −126 so the biased exponent never goes negative.
    private const float ExpLoAvx512 = -104f; // below the smallest subnormal: vscalefps gives 0.

    // Cephes tanhf, |x| < 0.625.
    private static readonly float[] TanhPoly = { -5.70498872745E-3f, 2.06390887954E-2f, -5.37397155531E-2f, 1.33314422036E-1f, -3.33332819422E-1f };
    private const float TanhSmall = 0.625f;

    // Cephes logf, log(1 + t) = t − t²/2 + t³·P(t) for t in [√½ − 1, √2 − 1].
    private static readonly float[] LogPoly = { 7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f, -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f };
    private const float Sqrt2 = 1.41421356f;

    public const uint SignMask = 0x80000000, AbsMask = 0x7FFFFFFF;

    /// <summary>Temporaries each routine needs besides its in/out register.</summary>
    public const int ExpTemps = 2, SigmoidTemps = 2, TanhTemps = 4, SoftplusTemps = 4;

    /// <summary>x = e^x. Clobbers t1, t2.</summary>
    public static void Exp(KernelAssembler k, Vec x, Vec t1, Vec t2)
    {
        Distinct(x, t1, t2);
        // Clamp so NaN survives: vminps/vmaxps return their second source when either is NaN.
        k.LoadConst(t1, ExpHi);
        k.Min(t1, t1, x);                                   // t1 = min(hi, x)
        k.LoadConst(t2, k.IsAvx512 ? ExpLoAvx512 : ExpLoAvx2);
        k.Max(x, t2, t1);                                   // x = max(lo, t1)
        float magic = k.IsAvx512 ? Magic : Magic + 126f;
        k.LoadConst(t1, magic);
        k.FmaAcc(t1, x, k.Const(Log2E));                    // t1 = j = x·log2e + magic (rounded to an integer)
        if (k.IsAvx512)
        {
            k.Sub(t1, t1, k.Const(magic));                  // t1 = n
            k.FnmaAcc(x, t1, k.Const(Ln2Hi));
            k.FnmaAcc(x, t1, k.Const(Ln2Lo));               // x = r
            Horner(k, t2, x, ExpPoly, 1f);                  // t2 = e^r
            k.Asm.vscalefps(k.Z(x), k.Z(t2), k.Z(t1));      // x = e^r · 2^n (handles overflow, subnormals, NaN)
        }
        else
        {
            k.Sub(t2, t1, k.Const(magic));                  // t2 = n
            k.FnmaAcc(x, t2, k.Const(Ln2Hi));
            k.FnmaAcc(x, t2, k.Const(Ln2Lo));               // x = r
            k.ShiftLeftInt32(t1, t1, 23);                   // t1 = 2^(n−1): exponent field n + 126
            Horner(k, t2, x, ExpPoly, 2f);                  // t2 = 2·e^r
            k.Mul(x, t2, t1);
        }
    }

    /// <summary>x = 1/(1+e^−x). Clobbers t1, t2.</summary>
    public static void Sigmoid(KernelAssembler k, Vec x, Vec t1, Vec t2)
    {
        k.Xor(x, x, k.ConstBits(SignMask));
        Exp(k, x, t1, t2);
        k.Add(x, x, k.Const(1f));
        k.LoadConst(t1, 1f);
        k.Div(x, t1, x);
    }

    /// <summary>x = tanh(x). Clobbers t1..t4 and, on AVX-512, k<paramref name="maskK"/> (default k7).</summary>
    public static void Tanh(KernelAssembler k, Vec x, Vec t1, Vec t2, Vec t3, Vec t4, int maskK = 7)
    {
        Distinct(x, t1, t2, t3, t4);
        // Small branch: x + x·s·P(s), s = x².
        k.Mul(t1, x, x);
        Horner(k, t2, t1, TanhPoly, 1f);
        k.Mul(t2, t2, t1);
        k.FmaHorner(t2, x, x);                              // t2 = t2·x + x
        // Large branch: sign(x)·(1 − 2/(e^{2|x|}+1)).
        k.And(t1, x, k.ConstBits(AbsMask));
        k.Add(t1, t1, t1);
        Exp(k, t1, t3, t4);
        k.Add(t1, t1, k.Const(1f));
        k.LoadConst(t3, 2f);
        k.Div(t3, t3, t1);
        k.LoadConst(t1, 1f);
        k.Sub(t1, t1, t3);
        k.And(t3, x, k.ConstBits(SignMask));
        k.Or(t1, t1, t3);
        // Select: |x| < 0.625 (false for NaN, so NaN takes the large branch, which keeps it).
        k.And(t3, x, k.ConstBits(AbsMask));
        var mask = new MaskReg(maskK, t4);
        k.CompareLess(mask, t3, k.Const(TanhSmall));
        k.Blend(x, t1, t2, mask);
    }

    /// <summary>
    /// x = softplus(x) = log(1 + eˣ), as max(x, 0) + log(1 + e^−|x|) so large |x| neither overflows nor loses x:
    /// the log's argument z = 1 + e^−|x| is in [1, 2], split as m·2^e (e = 1 when z &gt; √2) and log(m) taken by
    /// Cephes' logf polynomial. NaN → NaN, +∞ → +∞, −∞ → 0. Clobbers t1..t4 and, on AVX-512, k<paramref name="maskK"/>.
    /// </summary>
    public static void Softplus(KernelAssembler k, Vec x, Vec t1, Vec t2, Vec t3, Vec t4, int maskK = 7)
    {
        Distinct(x, t1, t2, t3, t4);
        k.And(t1, x, k.ConstBits(AbsMask));
        k.Xor(t1, t1, k.ConstBits(SignMask));              // −|x|
        Exp(k, t1, t2, t3);
        k.Add(t1, t1, k.Const(1f));                         // z ∈ [1, 2]
        var big = new MaskReg(maskK, t4);
        k.LoadConst(t2, Sqrt2);
        k.CompareLess(big, t2, t1);                         // z > √2 (false for NaN)
        k.Mul(t3, t1, k.Const(0.5f));
        k.Blend(t1, t1, t3, big);                           // m = z or z/2, exact
        k.Zero(t2);
        k.LoadConst(t3, 1f);
        k.Blend(t2, t2, t3, big);                           // e
        k.Sub(t1, t1, k.Const(1f));                         // t = m − 1 ∈ (−0.29, 0.414], exact
        k.Mul(t3, t1, t1);
        Horner(k, t4, t1, LogPoly, 1f);
        k.Mul(t4, t4, t1);
        k.Mul(t4, t4, t3);                                  // t³·P(t)
        k.FmaAcc(t4, t2, k.Const(Ln2Lo));
        k.FmaAcc(t4, t3, k.Const(-0.5f));
        k.Add(t1, t1, t4);
        k.FmaAcc(t1, t2, k.Const(Ln2Hi));                   // log z
        k.Zero(t2);
        k.Max(x, t2, x);                                    // max(x, 0); NaN stays (second source)
        k.Add(x, x, t1);
    }

    /// <summary>acc = polynomial(x) with coefficients highest degree first, all scaled by <paramref name="scale"/> (exact for powers of two).</summary>
    private static void Horner(KernelAssembler k, Vec acc, Vec x, float[] coefficients, float scale)
    {
        k.LoadConst(acc, coefficients[0] * scale);
        for (int i = 1; i < coefficients.Length; i++) k.FmaHorner(acc, x, k.Const(coefficients[i] * scale));
    }

    private static void Distinct(params Vec[] regs)
    {
        for (int i = 0; i < regs.Length; i++)
            for (int j = i + 1; j < regs.Length; j++)
                if (regs[i] == regs[j]) throw new ArgumentException($"Math temporaries must be distinct registers ({regs[i]} used twice).");
    }
}
