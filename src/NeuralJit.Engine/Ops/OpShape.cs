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

    /// <summary>Row stride of A for ops that read a matrix A.</summary>
    public int StrideA(OpKind op) => Lda != 0 ? Lda : op switch
    {
        OpKind.Gemm => K,
        OpKind.LstmGates => N + K,
        _ => N,
    };

    public int StrideB => Ldb != 0 ? Ldb : N;
    public int StrideC => Ldc != 0 ? Ldc : N;
}

/// <summary>An (op, shape) pair: the unit the profiler counts and the JIT compiles.</summary>
public readonly record struct OpKey(OpKind Op, OpShape Shape)
{
    /// <summary>Work units of one call, for cycles-per-element: multiply-adds for matrix ops, elements otherwise.</summary>
    public long Elements => Op switch
    {
        OpKind.Gemm => (long)Shape.M * Shape.N * Shape.K,
        OpKind.Gemv or OpKind.Dense or OpKind.CosineSimilarity or OpKind.DncContent => (long)Shape.M * Shape.N,
        OpKind.LstmGates => (long)Shape.M * (Shape.N + Shape.K),
        OpKind.EwcPenalty => (long)Shape.M * Math.Max(1, Shape.N),
        OpKind.DncInterface => (long)Shape.M * Shape.N + 3L * Shape.N + 5L * Shape.M + 3,
        OpKind.DncUsage or OpKind.DncWrite or OpKind.DncReadWeighting => (long)Shape.M * Shape.N,
        OpKind.DncLinkUpdate => (long)Shape.M * Shape.M,
        OpKind.DncTemporal => (long)Shape.M * Shape.M * Shape.N,
        OpKind.DncLinkTemporal => (long)Shape.M * Shape.M * (Shape.N + 1),
        OpKind.DncRead => (long)Shape.M * Shape.N * Shape.K,
        _ => Shape.M,
    };

    /// <summary>How an op's shape is written as dims; <see cref="Dims"/> and <see cref="TryParse"/> both go through it.</summary>
    private enum DimsForm
    {
        /// <summary>"M": vectors (N and K unused).</summary>
        Length,
        /// <summary>"MxN": matrix ops (rows × cols, or slots × heads/width for the DNC ops).</summary>
        Matrix,
        /// <summary>"MxNxK": GEMM (M×N×K) and DncRead (slots × width × heads).</summary>
        Triple,
        /// <summary>"(4·hidden)x(input+hidden)": LstmGates (M = 4K, N = input, K = hidden).</summary>
        Lstm,
        /// <summary>"M", or "MxN" when N ≠ 0: EwcPenalty over M parameters or an M×N tensor.</summary>
        LengthOrMatrix,
        /// <summary>"MxM": DncLinkUpdate (the N×N link matrix).</summary>
        Square,
        /// <summary>"MxMxN": DncTemporal and DncLinkTemporal (the N×N link matrix × R heads).</summary>
        SquareByN,
    }

    private static DimsForm FormOf(OpKind op) => op switch
    {
        OpKind.Gemm or OpKind.DncRead => DimsForm.Triple,
        OpKind.LstmGates => DimsForm.Lstm,
        OpKind.Gemv or OpKind.Dense or OpKind.CosineSimilarity or OpKind.DncContent
            or OpKind.DncInterface or OpKind.DncUsage or OpKind.DncWrite or OpKind.DncReadWeighting => DimsForm.Matrix,
        OpKind.EwcPenalty => DimsForm.LengthOrMatrix,
        OpKind.DncLinkUpdate => DimsForm.Square,
        OpKind.DncTemporal or OpKind.DncLinkTemporal => DimsForm.SquareByN,
        _ => DimsForm.Length,
    };

    /// <summary>
    /// Human dims as users read them: "64x64x64" for GEMM, "512x192" for LSTM gates, "256x64" for matrix ops,
    /// "16x16" for DncLinkUpdate, "16x16x2" for DncTemporal, "128" for vectors; "/ldA,B,C" follows custom leading dims.
    /// </summary>
    public string Dims
    {
        get
        {
            var s = Shape;
            string core = FormOf(Op) switch
            {
                DimsForm.Triple => $"{s.M}x{s.N}x{s.K}",
                DimsForm.Lstm => $"{s.M}x{s.N + s.K}",
                DimsForm.Matrix => $"{s.M}x{s.N}",
                DimsForm.LengthOrMatrix when s.N != 0 => $"{s.M}x{s.N}",
                DimsForm.Square => $"{s.M}x{s.M}",
                DimsForm.SquareByN => $"{s.M}x{s.M}x{s.N}",
                _ => $"{s.M}",
            };
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
        var form = FormOf(op);
        string expected = form switch
        {
            DimsForm.Triple when op == OpKind.Gemm => "MxNxK (e.g. 64x64x64)",
            DimsForm.Triple => "slotsxwidthxheads (e.g. 16x8x2)",
            DimsForm.Lstm => "(4·hidden)x(input+hidden) (e.g. 512x192)",
            DimsForm.Matrix when op is OpKind.DncInterface => "headsxwidth (e.g. 2x8)",
            DimsForm.Matrix when op is OpKind.DncUsage or OpKind.DncReadWeighting => "slotsxheads (e.g. 16x2)",
            DimsForm.Matrix when op is OpKind.DncWrite => "slotsxwidth (e.g. 16x8)",
            DimsForm.Matrix => "rowsxcols (e.g. 256x64)",
            DimsForm.LengthOrMatrix => "rowsxcols or a parameter count (e.g. 128x128 or 1000000)",
            DimsForm.Square => "slotsxslots (e.g. 16x16)",
            DimsForm.SquareByN => "slotsxslotsxheads (e.g. 16x16x2)",
            _ => "a length (e.g. 128)",
        };
        error = $"'{dims}' is not dims for {op}: expected {expected}, optionally followed by /ldA,B,C.";
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
        OpShape shape;
        switch (form)
        {
            case DimsForm.Triple when v.Length == 3: shape = new OpShape(v[0], v[1], v[2], lda, ldb, ldc); break;
            case DimsForm.Lstm when v.Length == 2:
                if (v[0] % 4 != 0 || v[1] < v[0] / 4) { error = $"'{dims}': LstmGates rows must be 4·hidden and columns input+hidden ≥ hidden."; return false; }
                shape = new OpShape(v[0], v[1] - v[0] / 4, v[0] / 4, lda, ldb, ldc); break;
            case DimsForm.Matrix when v.Length == 2: shape = new OpShape(v[0], v[1], 0, lda, ldb, ldc); break;
            case DimsForm.LengthOrMatrix when v.Length is 1 or 2:
                if (v.Length == 2 && v[1] == 0) return false; // "Mx0" is written "M"
                shape = new OpShape(v[0], v.Length == 2 ? v[1] : 0, 0, lda, ldb, ldc); break;
            case DimsForm.Square when v.Length == 2:
                if (v[0] != v[1]) { error = $"'{dims}': the {op} link matrix is square: expected slotsxslots (e.g. 16x16)."; return false; }
                shape = new OpShape(v[0], 0, 0, lda, ldb, ldc); break;
            case DimsForm.SquareByN when v.Length == 3:
                if (v[0] != v[1]) { error = $"'{dims}': the {op} link matrix is square: expected slotsxslotsxheads (e.g. 16x16x2)."; return false; }
                shape = new OpShape(v[0], v[2], 0, lda, ldb, ldc); break;
            case DimsForm.Length when v.Length == 1: shape = new OpShape(v[0], 0, 0, lda, ldb, ldc); break;
            default: return false;
        }
        key = new OpKey(op, shape);
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

    public override string ToString() => $"{Op} {Dims}";
}
