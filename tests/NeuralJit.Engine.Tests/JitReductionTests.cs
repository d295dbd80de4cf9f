using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary>Dot, Softmax, EwcPenalty, CosineSimilarity and DncContent JIT kernels against the reference, both ISAs.</summary>
public class JitReductionTests
{
    public static TheoryData<JitIsa> Isas => JitTestEngine.Isas;

    // Float sums in a different order than the reference: both are within ~n·2^-24 of Σ|terms|; n ≤ 300.
    private static readonly OpTolerance DotTol = new(1e-30, 0, MagnitudeFactor: 2e-5);
    // The stated EWC bound is 7.7e-7 of λ/2·Σ|Fᵢ|dᵢ² (the reference sums in double); 1e-6 pins it.
    private static readonly OpTolerance EwcTol = new(1e-30, 0, MagnitudeFactor: 1e-6);
    // Softmax outputs are in [0, 1]: exp error 7.3e-8 relative, the sum's rounding n·2^-24 in both implementations.
    private static readonly OpTolerance SoftmaxTol = new(1e-7, 2e-5);
    // Cosine outputs are in [−1, 1]: dot and norms rounded in different orders over ≤ 300 products.
    private static readonly OpTolerance CosineTol = new(3e-6, 1e-5);
    // DNC: cosine error ×β (≤ 8) in the exponent, then softmax.
    private static readonly OpTolerance DncTol = new(1e-6, 1e-4);

    [Theory, MemberData(nameof(Isas))]
    public void DotIsWithinSummationRounding(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.Dot, isa, DotTol, 120, 61);
        JitTestEngine.Sweep(OpKind.Dot, isa, DotTol, 30, 62, InputKind.Special);
    }

    [Theory, MemberData(nameof(Isas))]
    public void SoftmaxMatchesTheReference(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.Softmax, isa, SoftmaxTol, 120, 71, range: 20);
        JitTestEngine.Sweep(OpKind.Softmax, isa, SoftmaxTol, 40, 72, InputKind.Special, range: 5);
    }

    [Theory, MemberData(nameof(Isas))]
    public void EwcPenaltyIsWithinTheStatedBound(JitIsa isa)
    {
        // Fisher values are non-negative, as EWC's are.
        JitTestEngine.Sweep(OpKind.EwcPenalty, isa, EwcTol, 80, 81, fill: (f, r) => f == "C" ? (float)r.NextDouble() : (float)(r.NextDouble() * 2 - 1));
        JitTestEngine.Sweep(OpKind.EwcPenalty, isa, EwcTol, 30, 82, InputKind.Special);
    }

    [Theory, MemberData(nameof(Isas))]
    public void EwcOverAMillionParametersIsWithinTheBound(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        var kernel = engine.Jit.Compile(new OpKey(OpKind.EwcPenalty, OpShape.Matrix(1000, 1000)), isa);
        JitConformance.Check(kernel, EwcTol, 83, Placement.Unaligned, fill: (f, r) => f == "C" ? (float)r.NextDouble() : (float)(r.NextDouble() * 2 - 1));
    }

    [Theory, MemberData(nameof(Isas))]
    public void CosineSimilarityMatchesTheReference(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.CosineSimilarity, isa, CosineTol, 120, 91);
        JitTestEngine.Sweep(OpKind.CosineSimilarity, isa, CosineTol, 30, 92, InputKind.Special);
    }

    [Theory, MemberData(nameof(Isas))]
    public void DncContentMatchesTheReference(JitIsa isa)
    {
        JitTestEngine.Sweep(OpKind.DncContent, isa, DncTol, 120, 101);
        JitTestEngine.Sweep(OpKind.DncContent, isa, DncTol, 30, 102, InputKind.Special);
    }

    /// <summary>
    /// Shapes that take CosineEmitter's L-row tree groups: whole groups only (64×16), groups then 4-row groups and
    /// single rows (71×16, 77×24), a column tail (37×20), rows narrower than a vector (40×5), the widest key kept in
    /// AVX-512 registers (48×130) and a row stride past the width (50×16, lda 19); random and special inputs.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public void CosineTreeGroupsMatchTheReference(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        int seed = 111;
        foreach (var op in new[] { OpKind.CosineSimilarity, OpKind.DncContent })
            foreach (var shape in new[] { OpShape.Matrix(64, 16), OpShape.Matrix(71, 16), OpShape.Matrix(77, 24), OpShape.Matrix(37, 20),
                OpShape.Matrix(40, 5), OpShape.Matrix(48, 130), OpShape.Matrix(50, 16, 19) })
                foreach (var inputs in new[] { InputKind.Random, InputKind.Special })
                {
                    var kernel = engine.Jit.Compile(new OpKey(op, shape), isa);
                    JitConformance.Check(kernel, op == OpKind.DncContent ? DncTol : CosineTol, seed, JitConformance.PlacementFor(seed), inputs);
                    seed++;
                }
    }

    /// <summary>
    /// β = 60, every row opposite the key (score −60) but one equal to it (+60), in every position: exp(120) overflows
    /// unless the softmax subtracts the max over all of the tree groups' lanes and the rows after them.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    public unsafe void DncContentSubtractsTheMaxOfEveryRow(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        foreach (var (m, w) in new[] { (64, 16), (71, 16), (23, 8) })
        {
            var kernel = engine.Jit.Compile(new OpKey(OpKind.DncContent, OpShape.Matrix(m, w)), isa);
            var key = Enumerable.Range(0, w).Select(i => 1f + i % 3).ToArray();
            var expected = new float[m];
            var actual = new float[m];
            for (int top = 0; top < m; top++)
            {
                var memory = new float[m * w];
                for (int r = 0; r < m; r++)
                    for (int j = 0; j < w; j++) memory[r * w + j] = r == top ? key[j] : -key[j];
                ReferenceOps.DncContent(m, w, memory, w, key, 60f, expected);
                fixed (float* pm = memory, pk = key, pc = actual)
                {
                    var a = new KernelArgs { A = pm, B = pk, C = pc, Alpha = 60f };
                    ((delegate* unmanaged<KernelArgs*, void>)kernel.Entry)(&a);
                }
                for (int r = 0; r < m; r++)
                    Assert.True(Math.Abs(actual[r] - expected[r]) <= 1e-6, $"DncContent {m}x{w} on {isa}, the key's row {top}: c[{r}] = {actual[r]}, expected {expected[r]}");
            }
        }
    }

    [Theory, MemberData(nameof(Isas))]
    public void EveryReductionKernelDecodes(JitIsa isa)
    {
        using var engine = JitTestEngine.Create();
        foreach (var key in new[]
        {
            new OpKey(OpKind.Dot, OpShape.Vector(77)), new OpKey(OpKind.Softmax, OpShape.Vector(256)),
            new OpKey(OpKind.EwcPenalty, OpShape.Matrix(128, 128)), new OpKey(OpKind.CosineSimilarity, OpShape.Matrix(256, 64)),
            new OpKey(OpKind.DncContent, OpShape.Matrix(131, 300, 307)),
        })
            JitTestEngine.AssertDecodes(engine.Jit.Compile(key, isa));
    }
}
