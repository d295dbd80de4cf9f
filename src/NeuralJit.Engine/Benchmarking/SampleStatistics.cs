namespace NeuralJit.Benchmarking;

/// <summary>
/// Summary of one side's samples (nanoseconds per call, one sample per timed batch): median, min,
/// quartiles, mean, and BenchmarkDotNet's "Error" — half the 99.9% confidence interval of the mean
/// (Student's t). Like BenchmarkDotNet, the mean, standard deviation and Error are computed without the
/// upper outliers (beyond Tukey's fence Q3 + 1.5 × IQR: a batch that lost the core to another process);
/// <see cref="Outliers"/> counts them and the median and quartiles use every sample.
/// </summary>
public sealed class SampleStatistics
{
    private SampleStatistics() { }

    public int Count { get; private init; }
    public double Median { get; private init; }
    public double Min { get; private init; }
    public double Max { get; private init; }
    public double Mean { get; private init; }
    public double StandardDeviation { get; private init; }
    public double Q1 { get; private init; }
    public double Q3 { get; private init; }
    public double Iqr => Q3 - Q1;
    /// <summary>Half-width of the 99.9% confidence interval of the mean.</summary>
    public double Error999 { get; private init; }
    public int Outliers { get; private init; }

    public static SampleStatistics From(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("At least one sample is needed.", nameof(samples));
        var s = samples.ToArray();
        Array.Sort(s);
        int n = s.Length;
        double q1 = Quantile(s, 0.25), q3 = Quantile(s, 0.75);
        double hi = q3 + 1.5 * (q3 - q1);
        var kept = s.Where(x => x <= hi).ToArray();
        int nk = kept.Length;
        double mean = kept.Average();
        double var = nk > 1 ? kept.Sum(x => (x - mean) * (x - mean)) / (nk - 1) : 0;
        double sd = Math.Sqrt(var);
        return new SampleStatistics
        {
            Count = n,
            Median = Quantile(s, 0.5),
            Min = s[0],
            Max = s[^1],
            Mean = mean,
            StandardDeviation = sd,
            Q1 = q1,
            Q3 = q3,
            Error999 = nk > 1 ? StudentT999(nk - 1) * sd / Math.Sqrt(nk) : double.NaN,
            Outliers = n - nk,
        };
    }

    /// <summary>Linear interpolation between order statistics (type 7, what R and NumPy use by default).</summary>
    public static double Quantile(double[] sorted, double p)
    {
        if (sorted.Length == 1) return sorted[0];
        double h = (sorted.Length - 1) * p;
        int i = (int)Math.Floor(h);
        if (i >= sorted.Length - 1) return sorted[^1];
        return sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]);
    }

    private static readonly double[] T999Table =
    [
        double.NaN, 636.619, 31.599, 12.924, 8.610, 6.869, 5.959, 5.408, 5.041, 4.781, 4.587,
        4.437, 4.318, 4.221, 4.140, 4.073, 4.015, 3.965, 3.922, 3.883, 3.850,
    ];

    /// <summary>Two-sided 99.9% quantile of Student's t (0.9995 one-sided) for <paramref name="df"/> degrees of freedom.</summary>
    public static double StudentT999(int df)
    {
        if (df <= 0) return double.NaN;
        if (df < T999Table.Length) return T999Table[df];
        // Cornish–Fisher expansion around the normal quantile; within 0.1% of the exact value for df > 20.
        const double z = 3.2905267314919255;
        double v = df, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
        return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
    }
}
