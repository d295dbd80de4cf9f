using System.Globalization;
using NeuralJit.Benchmarking;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit;

/// <summary>
/// What a network or a benchmark will allocate, computed in checked 64-bit arithmetic from all its sizes together
/// before anything is allocated, and checked against <see cref="MaxBytes"/> and the memory the machine has free.
/// Every path that builds a network (random, New-NeuralModel, Import-NeuralModel, a run of a model) and every
/// benchmark workload goes through <see cref="Check(NetworkSizes)"/> or <see cref="Check(OpKey)"/>, so a size that
/// would overflow an int or exhaust the machine is an error naming the sizes and the bytes, never a crash or a swap storm.
/// </summary>
public static class MemoryBudget
{
    /// <summary>
    /// The most one network (parameters + state) or one benchmark's operands may take: 1 GiB. It keeps every buffer
    /// far below 2³¹ floats, and refuses the sizes that only a typo or a hostile file asks for (a 16,384-slot DNC's
    /// link matrix alone is 1 GiB and makes each step take seconds).
    /// </summary>
    public const long MaxBytes = 1L << 30;

    /// <summary>
    /// The most one time step of a network may cost: 2³⁰ flops, about a tenth of a second on the managed tier of one
    /// AVX2 core. A step is not interrupted half-way (its state would be left half-updated), so this bound is what keeps
    /// Ctrl+C within a second. Memory alone does not bound it: each DNC read head adds a pass over the link matrix and the memory.
    /// </summary>
    public const double MaxStepFlops = 1L << 30;

    /// <summary>Parameter and state bytes of a network of <paramref name="s"/>, as <see cref="NeuralNetwork"/> allocates them (fp32).</summary>
    /// <exception cref="OverflowException">The sizes do not fit 64 bits (the caller reports them as too large).</exception>
    public static (long ParameterBytes, long StateBytes) NetworkBytes(NetworkSizes s)
    {
        checked
        {
            long i = s.InputSize, h = s.HiddenSize, o = s.OutputSize, layers = s.Layers;
            long n = s.MemorySlots, w = s.MemoryWidth, r = s.ReadHeads;
            long read = s.HasMemory ? r * w : 0;
            long xi = s.HasMemory ? r * w + 3 * w + 5 * r + 3 : 0;
            long g = 4 * h;
            // LSTM: [W_ih | W_hh] and both biases per layer; the first layer also sees the read vectors.
            long parameters = g * (i + read + h) + 2 * g + (layers - 1) * (g * (h + h) + 2 * g);
            parameters += xi * h + xi;                       // interface (0 without memory)
            parameters += o * (h + read) + o;                // output head
            // Per layer: gates, c, h, h'; the step's input; the head's input and output.
            long state = layers * (g + 3 * h) + (i + read) + (h + read) + o;
            if (s.HasMemory)
                state += 2 * xi + n * w + 5 * n + n * n + 4 * r * n + r * w; // ξ (projected, squashed), M, u, a, c_w, w_w, p, L, 4 R×N weightings, r
            return (4 * parameters, 4 * state);
        }
    }

    /// <summary>
    /// fp32 flops of one time step of a network of <paramref name="s"/>, from the descriptors' cost models of the ops
    /// the step runs: the LSTM layers, the interface, the ops DncMemory resolves (a test holds the two lists together), the head.
    /// Call it on sizes that passed the byte budget: every dimension then fits an int.
    /// </summary>
    public static double StepFlops(NetworkSizes s)
    {
        static double F(OpKind op, OpShape shape) => OpSpecs.For(op).Flops(shape);
        int g = checked(4 * s.HiddenSize);
        double flops = F(OpKind.LstmStep, new OpShape(g, checked(s.InputSize + s.ReadSize), s.HiddenSize))
                     + (s.Layers - 1) * F(OpKind.LstmStep, new OpShape(g, s.HiddenSize, s.HiddenSize))
                     + F(OpKind.Dense, OpShape.Matrix(s.OutputSize, s.HeadInputSize));
        if (!s.HasMemory) return flops;
        int n = s.MemorySlots, w = s.MemoryWidth, r = s.ReadHeads;
        return flops
            + F(OpKind.Dense, OpShape.Matrix(s.InterfaceSize, s.HiddenSize))
            + F(OpKind.DncInterface, new OpShape(r, w))
            + F(OpKind.DncUsage, new OpShape(n, r))
            + F(OpKind.DncAllocation, OpShape.Vector(n))
            + F(OpKind.DncContent, OpShape.Matrix(n, w))
            + F(OpKind.DncWriteWeighting, OpShape.Vector(n))
            + F(OpKind.DncWriteContent, new OpShape(n, w, r))
            + F(OpKind.DncLinkTemporal, new OpShape(n, r))
            + F(OpKind.DncReadWeighting, new OpShape(n, r))
            + F(OpKind.DncRead, new OpShape(n, w, r));
    }

    /// <summary>Bytes of the operands of a benchmark of <paramref name="key"/> (see <see cref="OpWorkload.OperandFloats"/>).</summary>
    /// <exception cref="OverflowException">The sizes do not fit 64 bits.</exception>
    public static long OperandBytes(OpKey key) => checked(4 * OpWorkload.OperandFloats(key));

    /// <summary>Throws <see cref="MemoryBudgetException"/> when a network of <paramref name="sizes"/> would exceed the budget.</summary>
    public static void Check(NetworkSizes sizes)
    {
        long parameters, state;
        try { (parameters, state) = NetworkBytes(sizes); }
        catch (OverflowException) { throw new MemoryBudgetException(sizes.ToString(), null, $"{sizes} needs more than 2⁶³ bytes", MaxBytes, null); }
        Require(sizes.ToString(), sizes, parameters, state, $"{Bytes(parameters)} of parameters and {Bytes(state)} of state");
        double flops = StepFlops(sizes);
        if (flops > MaxStepFlops)
            throw new MemoryBudgetException(sizes.ToString(), sizes,
                $"one time step of {sizes} is {flops / 1e9:N1} GFLOP, over the limit of {MaxStepFlops / 1e9:N1} GFLOP a step may take (a step runs to its end, so this keeps a stop within a second)",
                MaxBytes, null) { StepFlops = flops };
    }

    /// <summary>Throws <see cref="MemoryBudgetException"/> when the operands of a benchmark of <paramref name="key"/> would exceed the budget.</summary>
    public static void Check(OpKey key)
    {
        long bytes;
        try { bytes = OperandBytes(key); }
        catch (OverflowException) { throw new MemoryBudgetException(key.ToString(), key, $"the operands of {key} need more than 2⁶³ bytes", MaxBytes, null); }
        Require(key.ToString(), key, bytes, 0, "operands: inputs once, outputs per side");
    }

    private static void Require(string what, object sizes, long parameterBytes, long stateBytes, string breakdown)
    {
        long total = parameterBytes + stateBytes;
        if (total > MaxBytes)
            throw new MemoryBudgetException(what, sizes, $"{what} needs {total:N0} bytes ({Bytes(total)}: {breakdown}), over the limit of {Bytes(MaxBytes)}", MaxBytes, total);
        long? free = AvailableBytes();
        if (free is long f && total > f)
            throw new MemoryBudgetException(what, sizes, $"{what} needs {total:N0} bytes ({Bytes(total)}: {breakdown}), more than the {Bytes(f)} this machine has available", MaxBytes, total) { AvailableBytes = f };
    }

    /// <summary>Memory the OS could give this process now (Linux MemAvailable; elsewhere what the GC saw free at its last collection), or null.</summary>
    public static long? AvailableBytes()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/meminfo"))
                {
                    if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kb)) return kb * 1024;
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        var info = GC.GetGCMemoryInfo();
        return info.TotalAvailableMemoryBytes > 0 ? Math.Max(0, info.TotalAvailableMemoryBytes - info.MemoryLoadBytes) : null;
    }

    /// <summary>"1.5 GiB", "640 KiB", "12 bytes".</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.#} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.#} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes} bytes",
    };
}

/// <summary>A network or benchmark that would take more memory than <see cref="MemoryBudget"/> allows: nothing was allocated.</summary>
public sealed class MemoryBudgetException : Exception
{
    public MemoryBudgetException(string what, object? sizes, string message, long limitBytes, long? requiredBytes)
        : base(message + ". Nothing was allocated.")
    {
        What = what;
        Sizes = sizes;
        LimitBytes = limitBytes;
        RequiredBytes = requiredBytes;
    }

    /// <summary>The network or (op, dims) refused, as text.</summary>
    public string What { get; }
    /// <summary>The <see cref="NetworkSizes"/> or <see cref="OpKey"/> refused.</summary>
    public object? Sizes { get; }
    public long LimitBytes { get; }
    /// <summary>Bytes it would need, or null when that does not fit 64 bits.</summary>
    public long? RequiredBytes { get; }
    /// <summary>Set when the machine's free memory, not the limit, refused it.</summary>
    public long? AvailableBytes { get; init; }
    /// <summary>Flops of one time step, when that (not memory) is what exceeded the budget.</summary>
    public double? StepFlops { get; init; }
}
