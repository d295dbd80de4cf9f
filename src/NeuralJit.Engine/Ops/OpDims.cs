using System.Globalization;

namespace NeuralJit.Ops;

/// <summary>
/// Reads the "Dims" text users see (<see cref="OpKey.Dims"/>: "64x64x64" for GEMM as M×N×K, "512x192" for
/// LSTM gates as 4H×(I+H), "256x64" for matrix–vector ops, "128" for vectors, optionally followed by
/// "/ld{lda},{ldb},{ldc}") back into a shape, so objects from Get-NeuralHotspot or Get-NeuralJitKernel
/// can be piped by property name. Round-trips: <c>Parse(op, new OpKey(op, s).Dims) == s</c>.
/// </summary>
public static class OpDims
{
    public static bool TryParse(OpKind op, string? text, out OpShape shape, out string error)
    {
        shape = default;
        error = "";
        if (string.IsNullOrWhiteSpace(text)) { error = "Dims is empty."; return false; }
        string core = text.Trim();
        int lda = 0, ldb = 0, ldc = 0;
        int slash = core.IndexOf('/');
        if (slash >= 0)
        {
            string ld = core[(slash + 1)..];
            core = core[..slash];
            if (!ld.StartsWith("ld", StringComparison.OrdinalIgnoreCase)) { error = $"'{text}': expected '/ld<lda>,<ldb>,<ldc>' after the sizes."; return false; }
            var parts = ld[2..].Split(',');
            if (parts.Length != 3 || !Int(parts[0], out lda) || !Int(parts[1], out ldb) || !Int(parts[2], out ldc)) { error = $"'{text}': the leading dimensions must be three integers."; return false; }
        }
        var f = core.Split('x', 'X', '×');
        var n = new int[f.Length];
        for (int i = 0; i < f.Length; i++)
            if (!Int(f[i], out n[i]) || n[i] <= 0) { error = $"'{text}': '{f[i]}' is not a positive integer."; return false; }

        int want = op switch
        {
            OpKind.Gemm => 3,
            OpKind.LstmGates or OpKind.Gemv or OpKind.Dense or OpKind.CosineSimilarity or OpKind.DncContent => 2,
            OpKind.EwcPenalty => n.Length is 1 or 2 ? n.Length : 2,
            _ => 1,
        };
        if (n.Length != want)
        {
            error = $"{op} takes {Describe(op)}; '{text}' has {n.Length} number(s).";
            return false;
        }
        switch (op)
        {
            case OpKind.Gemm: shape = new OpShape(n[0], n[1], n[2], lda, ldb, ldc); break;
            case OpKind.LstmGates:
                if (n[0] % 4 != 0 || n[1] <= n[0] / 4) { error = $"LstmGates dims are 4H x (I+H): '{text}' has no hidden size H = {n[0]}/4 smaller than {n[1]}."; return false; }
                int h = n[0] / 4;
                shape = new OpShape(n[0], n[1] - h, h, lda, ldb, ldc);
                break;
            case OpKind.Gemv or OpKind.Dense or OpKind.CosineSimilarity or OpKind.DncContent: shape = new OpShape(n[0], n[1], 0, lda, ldb, ldc); break;
            case OpKind.EwcPenalty: shape = n.Length == 2 ? new OpShape(n[0], n[1]) : new OpShape(n[0]); break;
            default: shape = new OpShape(n[0]); break;
        }
        try { NeuralEngine.ValidateShape(op, shape); }
        catch (ArgumentException e) { error = e.Message; return false; }
        return true;
    }

    /// <summary>The expected form of Dims for <paramref name="op"/>, for error messages.</summary>
    public static string Describe(OpKind op) => op switch
    {
        OpKind.Gemm => "MxNxK (e.g. 64x64x64)",
        OpKind.LstmGates => "4H x (I+H) (e.g. 512x192 for 64 inputs, 128 hidden)",
        OpKind.Gemv or OpKind.Dense or OpKind.CosineSimilarity or OpKind.DncContent => "rows x columns (e.g. 256x64)",
        OpKind.EwcPenalty => "rows x columns or a parameter count (e.g. 128x128 or 1000000)",
        _ => "a length (e.g. 128)",
    };

    private static bool Int(string s, out int v) => int.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out v);
}
