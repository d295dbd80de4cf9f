namespace NeuralJit.Ops;

/// <summary>
/// The DNC ops' managed entry points in the kernel calling convention (<see cref="OpShape"/> +
/// <see cref="KernelArgs"/>), for <see cref="ManagedKernels.Get"/>. Spans are sized from the shape as
/// documented on each <see cref="OpKind"/>, so a managed kernel never reads or writes past them.
/// </summary>
internal static unsafe class DncKernels
{
    public static bool Handles(OpKind op) => op is >= OpKind.DncInterface and <= OpKind.DncRead or OpKind.DncLinkTemporal;

    public static delegate*<in OpShape, KernelArgs*, void> Get(OpKind op, KernelTier tier) => tier switch
    {
        KernelTier.Scalar => Adapter<DncReferenceOps>.Get(op),
        KernelTier.ManagedSimd => Adapter<DncManagedOps>.Get(op),
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "Only the managed tiers have managed kernels."),
    };

    private static class Adapter<T> where T : IDncOpSet
    {
        public static delegate*<in OpShape, KernelArgs*, void> Get(OpKind op) => op switch
        {
            OpKind.DncInterface => &Interface,
            OpKind.DncUsage => &Usage,
            OpKind.DncAllocation => &Allocation,
            OpKind.DncWriteWeighting => &WriteWeighting,
            OpKind.DncWrite => &Write,
            OpKind.DncLinkUpdate => &LinkUpdate,
            OpKind.DncTemporal => &Temporal,
            OpKind.DncReadWeighting => &ReadWeighting,
            OpKind.DncRead => &Read,
            OpKind.DncLinkTemporal => &LinkTemporal,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Not a DNC op."),
        };

        private static ReadOnlySpan<float> R(float* p, int n) => new(p, n);
        private static Span<float> W(float* p, int n) => new(p, n);

        private static void Interface(in OpShape s, KernelArgs* a)
        {
            int n = DncInterfaceLayout.SizeOf(s.M, s.N);
            T.DncInterface(s.M, s.N, R(a->A, n), W(a->C, n));
        }

        private static void Usage(in OpShape s, KernelArgs* a) =>
            T.DncUsage(s.M, s.N, R(a->A, s.N), R(a->B, checked(s.N * s.M)), R(a->D, s.M), W(a->C, s.M));

        private static void Allocation(in OpShape s, KernelArgs* a) => T.DncAllocation(s.M, R(a->A, s.M), W(a->C, s.M));

        private static void WriteWeighting(in OpShape s, KernelArgs* a) =>
            T.DncWriteWeighting(s.M, R(a->A, s.M), R(a->B, s.M), a->Alpha, a->Beta, W(a->C, s.M));

        private static void Write(in OpShape s, KernelArgs* a)
        {
            int ld = s.StrideA(OpKind.DncWrite);
            T.DncWrite(s.M, s.N, W(a->A, ManagedKernels.MatrixSpan(s.M, s.N, ld)), ld, R(a->B, s.M), R(a->C, s.N), R(a->D, s.N));
        }

        private static void LinkUpdate(in OpShape s, KernelArgs* a) =>
            T.DncLinkUpdate(s.M, W(a->A, checked(s.M * s.M)), R(a->B, s.M), W(a->C, s.M));

        private static void Temporal(in OpShape s, KernelArgs* a)
        {
            int rn = checked(s.N * s.M);
            T.DncTemporal(s.M, s.N, R(a->A, checked(s.M * s.M)), R(a->B, rn), W(a->C, rn), W(a->D, rn));
        }

        /// <summary>The fused op on the managed tiers is the two ops in order (the fusion is the JIT's: one pass over L).</summary>
        private static void LinkTemporal(in OpShape s, KernelArgs* a)
        {
            int rn = checked(s.N * s.M);
            var link = W(a->A, checked(s.M * s.M));
            T.DncLinkUpdate(s.M, link, R(a->B, s.M), W(a->C, s.M));
            T.DncTemporal(s.M, s.N, link, R(a->D, rn), W(a->E, rn), W(a->F, rn));
        }

        private static void ReadWeighting(in OpShape s, KernelArgs* a)
        {
            int rn = checked(s.N * s.M);
            T.DncReadWeighting(s.M, s.N, R(a->A, rn), R(a->B, rn), R(a->C, rn), R(a->D, 3 * s.N), W(a->E, rn));
        }

        private static void Read(in OpShape s, KernelArgs* a)
        {
            int ld = s.StrideA(OpKind.DncRead);
            T.DncRead(s.M, s.N, s.K, R(a->A, ManagedKernels.MatrixSpan(s.M, s.N, ld)), ld, R(a->B, checked(s.K * s.M)), W(a->C, checked(s.K * s.N)));
        }
    }
}
