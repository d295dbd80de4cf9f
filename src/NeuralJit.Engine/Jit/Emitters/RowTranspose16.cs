using Iced.Intel;

namespace NeuralJit.Jit.Emitters;

/// <summary>
/// 16 rows of 16 floats transposed in 16 zmm registers (AVX-512), so that a sum over each row becomes 16 FMAs down the
/// columns with no horizontal reduction: 64 shuffles (vunpck{l,h}ps, vunpck{l,h}pd, two vshuff32x4 levels) against the
/// 2·15 shuffles and 15 adds of a <see cref="ReductionTree"/> per sum of 16 rows, so it pays from two sums up.
/// </summary>
internal static class RowTranspose16
{
    /// <summary>
    /// Loads row i from <paramref name="row"/>(i) into <paramref name="regs"/> (16) and transposes them, with one spare
    /// register: returns the registers in column order of <see cref="Column"/> (result[i] lane r = row r's element Column[i])
    /// and the register left spare (one of <paramref name="regs"/> or <paramref name="spare"/>).
    /// </summary>
    public static (Vec[] Columns, Vec Spare) Emit(KernelAssembler k, IReadOnlyList<Vec> regs, Vec spare, Func<int, AssemblerMemoryOperand> row)
    {
        if (!k.IsAvx512 || regs.Count != 16) throw new ArgumentException("Transposes 16 zmm registers.", nameof(regs));
        var a = k.Asm;
        var cur = regs.ToArray();
        for (int i = 0; i < 16; i++) k.Load(cur[i], row(i));
        var z = (Func<Vec, AssemblerRegisterZMM>)k.Z;
        foreach (var (stride, kind, lo, hi, firsts) in TransposeStages)
            foreach (int i in firsts)
            {
                // (x, y) → (low, high): the spare register takes the low half, x's register becomes the next spare.
                Vec x = cur[i], y = cur[i + stride];
                switch (kind)
                {
                    case Kind.UnpackPs: a.vunpcklps(z(spare), z(x), z(y)); a.vunpckhps(z(y), z(x), z(y)); break;
                    case Kind.UnpackPd: a.vunpcklpd(z(spare), z(x), z(y)); a.vunpckhpd(z(y), z(x), z(y)); break;
                    default: a.vshuff32x4(z(spare), z(x), z(y), lo); a.vshuff32x4(z(y), z(x), z(y), hi); break;
                }
                cur[i] = spare;
                spare = x;
            }
        return (cur, spare);
    }

    private enum Kind { UnpackPs, UnpackPd, Chunks128 }

    /// <summary>
    /// Per stage, the pairs (i, i + stride) for each first i, shuffled
    /// into (low, high) by vunpck{l,h}ps, vunpck{l,h}pd or vshuff32x4 with the immediates given.
    /// </summary>
    private static readonly (int Stride, Kind Kind, byte Lo, byte Hi, int[] Firsts)[] TransposeStages =
    {
        (1, Kind.UnpackPs, 0, 0, new[] { 0, 2, 4, 6, 8, 10, 12, 14 }),
        (2, Kind.UnpackPd, 0, 0, new[] { 0, 1, 4, 5, 8, 9, 12, 13 }),
        (4, Kind.Chunks128, 0x44, 0xEE, new[] { 0, 1, 2, 3, 8, 9, 10, 11 }),
        (8, Kind.Chunks128, 0x88, 0xDD, new[] { 0, 1, 2, 3, 4, 5, 6, 7 }),
    };

    /// <summary>The column each register of <see cref="Emit"/>'s result holds, by position (found by running <see cref="TransposeStages"/> on labels).</summary>
    public static readonly int[] Column = Columns();

    private static int[] Columns()
    {
        // Lanes as (row, element) labels; the same pairs and shuffles as the emitted code.
        var cur = Enumerable.Range(0, 16).Select(r => Enumerable.Range(0, 16).Select(e => (Row: r, El: e)).ToArray()).ToArray();
        (int, int)[] Unpack(IList<(int, int)> x, IList<(int, int)> y, bool hi, bool pairs)
        {
            // vunpck{l,h}ps per 128-bit lane: x0 y0 x1 y1 / x2 y2 x3 y3; vunpck{l,h}pd: x0 x1 y0 y1 / x2 x3 y2 y3.
            var o = new (int, int)[16];
            int b = hi ? 2 : 0;
            for (int q = 0; q < 4; q++)
            {
                int at = q * 4;
                var lane = pairs ? new[] { x[at + b], x[at + b + 1], y[at + b], y[at + b + 1] } : new[] { x[at + b], y[at + b], x[at + b + 1], y[at + b + 1] };
                lane.CopyTo(o, at);
            }
            return o;
        }
        (int, int)[] Shuf(IList<(int, int)> x, IList<(int, int)> y, int imm)
        {
            var o = new (int, int)[16];
            for (int q = 0; q < 4; q++)
            {
                int c = (imm >> (2 * q)) & 3;
                var src = q < 2 ? x : y;
                for (int f = 0; f < 4; f++) o[q * 4 + f] = src[c * 4 + f];
            }
            return o;
        }
        foreach (var (stride, kind, lo, hi, firsts) in TransposeStages)
            foreach (int i in firsts)
            {
                var x = cur[i];
                var y = cur[i + stride];
                cur[i] = kind == Kind.Chunks128 ? Shuf(x, y, lo) : Unpack(x, y, false, kind == Kind.UnpackPd);
                cur[i + stride] = kind == Kind.Chunks128 ? Shuf(x, y, hi) : Unpack(x, y, true, kind == Kind.UnpackPd);
            }
        var columns = new int[16];
        for (int i = 0; i < 16; i++)
        {
            for (int lane = 0; lane < 16; lane++)
                if (cur[i][lane].Row != lane || cur[i][lane].El != cur[i][0].El) throw new InvalidOperationException($"The transpose leaves register {i} lane {lane} with {cur[i][lane]}.");
            columns[i] = cur[i][0].El;
        }
        return columns;
    }
}
