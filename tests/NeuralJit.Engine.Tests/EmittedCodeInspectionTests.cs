using Iced.Intel;
using NeuralJit.Engine.Tests.MatrixKernels;
using NeuralJit.Engine.Tests.Support;
using NeuralJit.Jit;
using NeuralJit.Ops;
using static Iced.Intel.AssemblerRegisters;

namespace NeuralJit.Engine.Tests;

/// <summary>
/// Every kernel of the conformance shapes, in both ISAs whatever this CPU runs, is emitted (never installed),
/// decoded and walked by <see cref="KernelInspector"/>: ISA forms, k-mask tails, extents, outputs stored,
/// calling convention. On an AVX2-only CPU (or under NEURALJIT_MAX_ISA=Avx2) this is how AVX-512 code is checked.
/// </summary>
public class EmittedCodeInspectionTests
{
    public static TheoryData<OpKind, JitIsa> EmittedOps()
    {
        var data = new TheoryData<OpKind, JitIsa>();
        foreach (var e in KernelEmitters.All)
            foreach (var op in e.Ops)
                foreach (var isa in new[] { JitIsa.Avx2, JitIsa.Avx512 })
                    data.Add(op, isa);
        return data;
    }

    /// <summary>The shapes the conformance tests run, per op, cut to what a walk can cover in well under a second.</summary>
    private static IEnumerable<OpShape> ConformanceShapes(OpKind op, int seed) => op switch
    {
        OpKind.Gemm => GemmKernelTests.Shapes(24, seed).Where(s => (long)s.M * s.N * s.K <= 1_500_000),
        OpKind.LstmGates or OpKind.LstmStep => MatVecKernelTests.LstmShapes(12, seed),
        OpKind.Gemv or OpKind.Dense => JitConformance.Shapes(op, 40, seed).Append(OpShape.Matrix(301, 150, 157)),
        _ => JitConformance.Shapes(op, 40, seed),
    };

    [Theory]
    [MemberData(nameof(EmittedOps))]
    public void EveryConformanceKernelPassesInspectionInBothIsas(OpKind op, JitIsa isa)
    {
        var emitter = KernelEmitters.For(op)!;
        int kernels = 0, masked = 0;
        foreach (var shape in ConformanceShapes(op, 9000 + (int)op).Distinct())
        {
            var key = new OpKey(op, shape);
            try { NeuralEngine.ValidateShape(op, shape); } catch (ArgumentException) { continue; }
            if (emitter.CannotEmit(key, isa) is not null) continue;
            var k = new KernelAssembler(isa);
            emitter.Emit(k, key);
            var assembled = k.Finish();
            var operands = Extents(key);
            // β ≠ 0 and β = 0 take different paths in the matrix kernels (C read or not).
            foreach (float beta in new[] { 0.75f, 0f })
            {
                var report = KernelInspector.Inspect($"{key} on {isa}", assembled.Bytes, assembled.EntryOffset, isa, operands, beta: beta);
                var problems = report.Problems.Where(p => !DataDependentByDesign(op, p)).ToList();
                Assert.True(problems.Count == 0, report.ToString());
                if (beta != 0) masked += report.MaskedAccesses;
            }
            kernels++;
        }
        Assert.True(kernels >= 8, $"{op} on {isa}: only {kernels} kernels inspected");
        if (isa == JitIsa.Avx512) Assert.True(masked > 0, $"{op}: no k-masked access in {kernels} AVX-512 kernels, though the sweep has tails");
    }

    /// <summary>
    /// DncAllocation addresses its histograms, sorted items and outputs through the usages' sort order (a radix sort above
    /// DncAllocationEmitter's counting threshold, ranks up to it): the walk does not model data, so it checks the vector key pass (the ISA-specific part)
    /// and the code's extents up to the first data-dependent branch, but cannot see which outputs the permuted stores
    /// reach; JitDncTests runs the kernels on fenced buffers and checks every output.
    /// </summary>
    private static bool DataDependentByDesign(OpKind op, string problem) =>
        op == OpKind.DncAllocation && (problem.Contains("depends on data the walk does not model") || problem.Contains("a branch on flags the walk does not know")
            || problem.Contains("of output C never stored"));

    /// <summary>The op's operands as its descriptor states them, with the elements each output must store (its rows, not their padding).</summary>
    internal static IReadOnlyList<KernelInspector.OperandExtent> Extents(OpKey key) =>
        key.Spec.Operands.Select(o =>
        {
            var extent = o.Extent(key.Shape);
            return new KernelInspector.OperandExtent(o.Field.ToString(), extent.Floats, o.IsRead, o.IsWritten, i => i % extent.Stride < extent.Cols);
        }).ToList();

    // ---- the inspector itself: each kind of fault it exists to find, planted in a hand-written kernel ----

    private static KernelInspector.Report InspectHandWritten(JitIsa isa, Action<KernelAssembler> body, int length = 20)
    {
        var k = new KernelAssembler(isa);
        body(k);
        var assembled = k.Finish();
        var operands = new[] { new KernelInspector.OperandExtent("A", length, true, false), new KernelInspector.OperandExtent("C", length, false, true) };
        return KernelInspector.Inspect("hand-written", assembled.Bytes, assembled.EntryOffset, isa, operands);
    }

    /// <summary>C[0..20) = A[0..20) with a 16-lane body and a 4-lane k-mask tail.</summary>
    private static void CopyTwenty(KernelAssembler k, int tailLanes = 4, int storeOffset = 0)
    {
        k.LoadPointer(rax, KernelArgs.Offsets.A);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        var tail = k.CreateTailMask(tailLanes, new Vec(15));
        k.Load(new Vec(0), __[rax]);
        k.Store(__[rcx + storeOffset], new Vec(0));
        k.LoadTail(new Vec(1), __[rax + 64], tail);
        k.StoreTail(__[rcx + 64 + storeOffset], new Vec(1), tail);
    }

    [Fact]
    public void TheInspectorPassesACorrectKernel()
    {
        var r = InspectHandWritten(JitIsa.Avx512, k => CopyTwenty(k));
        Assert.Empty(r.Problems);
        Assert.Equal(2, r.MaskedAccesses);
    }

    [Fact]
    public void TheInspectorFindsATailMaskOneLaneTooWide()
    {
        var r = InspectHandWritten(JitIsa.Avx512, k => CopyTwenty(k, tailLanes: 5));
        Assert.Contains(r.Problems, p => p.Contains("run past its extent") && p.Contains(" of A "));
    }

    [Fact]
    public void TheInspectorFindsAStoreToAnInputAndAnOutputLeftUnwritten()
    {
        var r = InspectHandWritten(JitIsa.Avx512, k =>
        {
            k.LoadPointer(rax, KernelArgs.Offsets.A);
            k.Load(new Vec(0), __[rax]);
            k.Store(__[rax], new Vec(0));
        });
        Assert.Contains(r.Problems, p => p.Contains("stores to A, which is an input"));
        Assert.Contains(r.Problems, p => p.Contains("20 element(s) of output C never stored"));
    }

    [Fact]
    public void TheInspectorFindsAvx512FormsInAvx2CodeAndAnUnrestoredRegister()
    {
        var r = InspectHandWritten(JitIsa.Avx2, k =>
        {
            k.Asm.vaddps(zmm1, zmm2, zmm3);
            k.Asm.mov(rbx, 5); // callee-saved, not declared with UseCalleeSaved
            CopyTwentyAvx2(k);
        });
        Assert.Contains(r.Problems, p => p.Contains("needs AVX512F"));
        Assert.Contains(r.Problems, p => p.Contains("callee-saved RBX not restored"));
    }

    [Fact]
    public void TheInspectorFindsAnAddressThatDependsOnData()
    {
        var r = InspectHandWritten(JitIsa.Avx512, k =>
        {
            k.LoadPointer(rax, KernelArgs.Offsets.A);
            k.Asm.vmovd(ecx, xmm0); // an index taken from vector data
            k.Asm.vmovss(xmm1, __dword_ptr[rax + rcx * 4]);
            CopyTwenty(k);
        });
        Assert.Contains(r.Problems, p => p.Contains("depends on data"));
    }

    [Fact]
    public void TheInspectorFindsARetWithoutVzeroupper()
    {
        var a = new Assembler(64);
        a.ret();
        var writer = new CodeWriterImpl();
        a.Assemble(writer, 0);
        var r = KernelInspector.Inspect("bare ret", writer.ToArray(), 0, JitIsa.Avx2, []);
        Assert.Contains(r.Problems, p => p.Contains("without vzeroupper"));
    }

    private static void CopyTwentyAvx2(KernelAssembler k)
    {
        k.LoadPointer(rax, KernelArgs.Offsets.A);
        k.LoadPointer(rcx, KernelArgs.Offsets.C);
        for (int i = 0; i < 2; i++) { k.Load(new Vec(0), __[rax + 32 * i]); k.Store(__[rcx + 32 * i], new Vec(0)); }
        var tail = k.CreateTailMask(4, new Vec(15));
        k.LoadTail(new Vec(1), __[rax + 64], tail);
        k.StoreTail(__[rcx + 64], new Vec(1), tail);
    }

    private sealed class CodeWriterImpl : CodeWriter
    {
        private readonly List<byte> _bytes = new();
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => _bytes.ToArray();
    }
}
