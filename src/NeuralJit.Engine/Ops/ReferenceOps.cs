using System.Runtime.CompilerServices;

namespace NeuralJit.Ops;

/// <summary>
/// The oracle: every op as the plainest scalar loop that is obviously right, accumulating in float in
/// the textbook order (double where <see cref="OpKind"/> says so). Tests compare every other tier to
/// this; Compare-JitSpeedup reports it as the "Scalar" baseline.
/// </summary>
public sealed partial class ReferenceOps : IOpSet
{
    /// <summary>Added to the product of norms in cosine similarity, so a zero row gives 0, not NaN.</summary>
    public const float CosineEpsilon = 1e-6f;

    public static void Gemm(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++) sum += a[i * lda + p] * b[p * ldb + j];
                // beta == 0 overwrites C (BLAS convention): NaN already in C does not leak through.
                c[i * ldc + j] = beta == 0 ? alpha * sum : alpha * sum + beta * c[i * ldc + j];
            }
    }

    public static void Gemv(int m, int n, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> x, float beta, Span<float> y)
    {
        for (int i = 0; i < m; i++)
        {
            float sum = 0;
            for (int j = 0; j < n; j++) sum += a[i * lda + j] * x[j];
            y[i] = beta == 0 ? alpha * sum : alpha * sum + beta * y[i];
        }
    }

    public static void Dense(int m, int n, ReadOnlySpan<float> w, int ldw, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y)
    {
        for (int i = 0; i < m; i++)
        {
            float sum = 0;
            for (int j = 0; j < n; j++) sum += w[i * ldw + j] * x[j];
            y[i] = sum + bias[i];
        }
    }

    public static void LstmGates(int gates, int input, int hidden, ReadOnlySpan<float> w, int ldw, ReadOnlySpan<float> x, ReadOnlySpan<float> h, ReadOnlySpan<float> bias, Span<float> output)
    {
        for (int r = 0; r < gates; r++)
        {
            float sum = 0;
            for (int j = 0; j < input; j++) sum += w[r * ldw + j] * x[j];
            for (int j = 0; j < hidden; j++) sum += w[r * ldw + input + j] * h[j];
            output[r] = sum + bias[r];
        }
    }

    public static void LstmCell(int hidden, ReadOnlySpan<float> gates, Span<float> c, Span<float> h)
    {
        for (int j = 0; j < hidden; j++)
        {
            float i = Logistic(gates[j]);
            float f = Logistic(gates[hidden + j]);
            float g = MathF.Tanh(gates[2 * hidden + j]);
            float o = Logistic(gates[3 * hidden + j]);
            float cNew = f * c[j] + i * g;
            c[j] = cNew;
            h[j] = o * MathF.Tanh(cNew);
        }
    }

    public static void CosineSimilarity(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, Span<float> output)
    {
        float keyNorm2 = 0;
        for (int j = 0; j < width; j++) keyNorm2 += key[j] * key[j];
        for (int i = 0; i < rows; i++)
        {
            float dot = 0, rowNorm2 = 0;
            for (int j = 0; j < width; j++)
            {
                float v = memory[i * ldm + j];
                dot += v * key[j];
                rowNorm2 += v * v;
            }
            output[i] = dot / (MathF.Sqrt(rowNorm2) * MathF.Sqrt(keyNorm2) + CosineEpsilon);
        }
    }

    public static void DncContent(int rows, int width, ReadOnlySpan<float> memory, int ldm, ReadOnlySpan<float> key, float strength, Span<float> output)
    {
        CosineSimilarity(rows, width, memory, ldm, key, output);
        for (int i = 0; i < rows; i++) output[i] *= strength;
        Softmax(output[..rows], output[..rows]);
    }

    public static double EwcPenalty(ReadOnlySpan<float> theta, ReadOnlySpan<float> anchor, ReadOnlySpan<float> fisher, float lambda)
    {
        double sum = 0;
        for (int i = 0; i < theta.Length; i++)
        {
            double d = (double)theta[i] - anchor[i];
            sum += fisher[i] * d * d;
        }
        return lambda / 2.0 * sum;
    }

    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = Logistic(x[i]);
    }

    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = MathF.Tanh(x[i]);
    }

    public static void Relu(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = float.IsNaN(x[i]) ? float.NaN : x[i] > 0 ? x[i] : 0f;
    }

    public static void Softsign(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] / (1 + MathF.Abs(x[i]));
    }

    public static void Softmax(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length == 0) return;
        float max = float.NegativeInfinity;
        for (int i = 0; i < x.Length; i++) max = MathF.Max(max, x[i]); // MathF.Max propagates NaN
        float sum = 0;
        for (int i = 0; i < x.Length; i++) { y[i] = MathF.Exp(x[i] - max); sum += y[i]; }
        for (int i = 0; i < x.Length; i++) y[i] /= sum;
    }

    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        for (int i = 0; i < a.Length; i++) y[i] = a[i] + b[i];
    }

    public static void Mul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        for (int i = 0; i < a.Length; i++) y[i] = a[i] * b[i];
    }

    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += alpha * x[i];
    }

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>The logistic sigmoid 1/(1+e^−x), written so it never overflows for large |x|.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Logistic(float x) => x >= 0 ? 1f / (1f + MathF.Exp(-x)) : MathF.Exp(x) / (1f + MathF.Exp(x));
}
