namespace NeuralJit.Ops;

/// <summary>
/// The sizes of one op call: what a JIT kernel is specialised for and what keys the profile.
/// M, N, K and the leading dimensions mean what <see cref="OpKind"/> says for each op; unused
/// fields are 0 (a leading dimension of 0 means "tight").
/// </summary>
public readonly record struct OpShape(int M, int N = 0, int K = 0, int Lda = 0, int Ldb = 0, int Ldc = 0)
{
    public static OpShape Vector(int length) => new(length);
    public static OpShape Matrix(int rows, int cols, int lda = 0) => new(rows, cols, 0, lda);
    public static OpShape ForGemm(int m, int n, int k, int lda = 0, int ldb = 0, int ldc = 0) => new(m, n, k, lda, ldb, ldc);

    /// <summary>Row stride of A for ops that read a matrix A: Lda, or the op's row length when Lda is 0.</summary>
    public int StrideA(OpKind op) => Lda != 0 ? Lda : OpSpecs.For(op).RowLengthA(this);

    public int StrideB => Ldb != 0 ? Ldb : N;
    public int StrideC => Ldc != 0 ? Ldc : N;
}

/// <summary>An (op, shape) pair: the unit the profiler counts and the JIT compiles.</summary>
public readonly record struct OpKey(OpKind Op, OpShape Shape)
{
    /// <summary>The op's descriptor.</summary>
    public OpSpec Spec => OpSpecs.For(Op);

    /// <summary>Work units of one call, for cycles-per-element: multiply-adds for matrix ops, elements otherwise.</summary>
    public long Elements => Spec.Elements(Shape);

    /// <summary>
    /// Human dims as users read them: "64x64x64" for GEMM, "512x192" for LSTM gates, "256x64" for matrix ops,
    /// "16x16" for DncLinkUpdate, "16x16x2" for DncTemporal, "128" for vectors; "/ldA,B,C" follows custom leading dims.
    /// </summary>
    public string Dims
    {
        get
        {
            var s = Shape;
            string core = Spec.FormatDims(s);
            bool customLd = s.Lda != 0 || s.Ldb != 0 || s.Ldc != 0;
            return customLd ? $"{core}/ld{s.Lda},{s.Ldb},{s.Ldc}" : core;
        }
    }

    /// <summary>
    /// The key whose <see cref="Dims"/> is <paramref name="dims"/> for <paramref name="op"/>: the exact inverse of Dims
    /// for every op ("64x64x64" for Gemm, "512x192" for LstmGates (hidden = rows/4), "256x64" for matrix ops,
    /// "16x16" for DncLinkUpdate, "16x16x2" for DncTemporal, "128" for vectors, optionally followed by "/ldA,B,C").
    /// EwcPenalty "N" parses as N×0 (N parameters), "MxN" as an M×N tensor.
    /// </summary>
    /// <exception cref="FormatException">The text is not dims for this op.</exception>
    public static OpKey Parse(OpKind op, string dims) =>
        TryParse(op, dims, out var key, out var error) ? key : throw new FormatException(error);

    /// <summary>Like <see cref="Parse"/>, returning false with a message that says what was expected.</summary>
    public static bool TryParse(OpKind op, string? dims, out OpKey key, out string? error)
    {
        key = default;
        var spec = OpSpecs.For(op);
        error = $"'{dims}' is not dims for {op}: expected {spec.DimsHint}, optionally followed by /ldA,B,C.";
        if (string.IsNullOrWhiteSpace(dims)) return false;
        var text = dims.Trim();
        int lda = 0, ldb = 0, ldc = 0;
        int slash = text.IndexOf('/');
        if (slash >= 0)
        {
            var ld = text[(slash + 1)..];
            if (!ld.StartsWith("ld", StringComparison.OrdinalIgnoreCase)) return false;
            var parts = ld[2..].Split(',');
            if (parts.Length != 3 || !Number(parts[0], out lda) || !Number(parts[1], out ldb) || !Number(parts[2], out ldc)) return false;
            text = text[..slash];
        }
        var nums = text.Split('x', 'X', '×');
        var v = new int[nums.Length];
        for (int i = 0; i < nums.Length; i++)
            if (!Number(nums[i], out v[i])) return false;
        if (!spec.TryShapeOf(v, out var shape, out string? why))
        {
            if (why is not null) error = $"'{dims}': {why}";
            return false;
        }
        key = new OpKey(op, shape with { Lda = lda, Ldb = ldb, Ldc = ldc });
        error = null;
        return true;
    }

    private static bool Number(string text, out int value) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);

    /// <summary>A 64-bit mix of the key (never 0, so 0 can mark an empty way in the profile table).</summary>
    public ulong Hash
    {
        get
        {
            var s = Shape;
            ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)Op;
            h = Mix(h, (uint)s.M); h = Mix(h, (uint)s.N); h = Mix(h, (uint)s.K);
            h = Mix(h, (uint)s.Lda); h = Mix(h, (uint)s.Ldb); h = Mix(h, (uint)s.Ldc);
            return h == 0 ? 1 : h;
        }
    }

    private static ulong Mix(ulong h, uint v)
    {
        h ^= v + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
        h ^= h >> 33; h *= 0xFF51AFD7ED558CCDUL; h ^= h >> 33;
        return h;
    }

    public override string ToString() => Enum.IsDefined(Op) ? $"{Op} {Dims}" : $"{Op} {Shape}";
}
