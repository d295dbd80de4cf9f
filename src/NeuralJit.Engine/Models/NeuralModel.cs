using System.Globalization;
using NeuralJit.Models;
using NeuralJit.Ops;

namespace NeuralJit;

/// <summary>
/// A network's parameters and sizes, as <c>New-NeuralModel</c> and <c>Import-NeuralModel</c> return it.
/// Immutable once built: several runspaces and threads may run it at once, because every run builds its
/// own <see cref="NeuralNetwork"/> (its own state and step buffers) with <see cref="CreateNetwork"/>, over
/// one read-only copy of the weights laid out for the kernels (<see cref="Weights"/>, made on first use).
/// Parameter names follow PyTorch's state_dict (see <see cref="NeuralNetwork"/>); memory sizes travel in
/// the safetensors <c>__metadata__</c> as <see cref="MemorySlotsKey"/>, <see cref="MemoryWidthKey"/> and
/// <see cref="ReadHeadsKey"/>.
/// </summary>
public sealed class NeuralModel
{
    /// <summary>Metadata key for N, the DNC's memory slots (required with memory: no tensor's shape carries it).</summary>
    public const string MemorySlotsKey = "dnc.memory_slots";
    /// <summary>Metadata key for W, the DNC's memory width (optional: checked against, or derived from, the shapes).</summary>
    public const string MemoryWidthKey = "dnc.memory_width";
    /// <summary>Metadata key for R, the DNC's read heads (optional: checked against, or derived from, the shapes).</summary>
    public const string ReadHeadsKey = "dnc.read_heads";

    /// <summary>Largest N accepted: the link matrix is N² floats (1 GiB at 16,384).</summary>
    public const int MaxMemorySlots = 16384;

    private readonly IReadOnlyDictionary<string, float[]> _parameters;

    private NeuralModel(NetworkSizes sizes, IReadOnlyDictionary<string, float[]> parameters, string source, string dtype,
        long? fileBytes, IReadOnlyDictionary<string, string> metadata)
    {
        Sizes = sizes;
        _parameters = parameters;
        Source = source;
        DType = dtype;
        FileBytes = fileBytes;
        _metadata = new Dictionary<string, string>(metadata, StringComparer.Ordinal);
        ParameterCount = parameters.Values.Sum(p => (long)p.Length);
        _names = NeuralNetwork.ParameterShapes(sizes).Select(p => p.Name).Where(parameters.ContainsKey).ToArray();
        _weights = new Lazy<NetworkWeights>(() => new NetworkWeights(Sizes, _parameters), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    private readonly Lazy<NetworkWeights> _weights;

    /// <summary>The weights as the kernels read them, laid out once and shared (read-only) by every network of this model.</summary>
    internal NetworkWeights Weights => _weights.Value;

    public int InputSize => Sizes.InputSize;
    public int HiddenSize => Sizes.HiddenSize;
    public int OutputSize => Sizes.OutputSize;
    public int Layers => Sizes.Layers;
    public bool HasMemory => Sizes.HasMemory;
    /// <summary>N (0 without memory).</summary>
    public int MemorySlots => Sizes.MemorySlots;
    /// <summary>W (0 without memory).</summary>
    public int MemoryWidth => Sizes.MemoryWidth;
    /// <summary>R (0 without memory).</summary>
    public int ReadHeads => Sizes.ReadHeads;
    public long ParameterCount { get; }
    /// <summary>Bytes of the parameters as the engine holds them (fp32).</summary>
    public long Bytes => ParameterCount * sizeof(float);
    /// <summary>The file it was imported from, or how it was generated.</summary>
    public string Source { get; }
    /// <summary>The dtype(s) of the file's tensors (F32, F16, BF16, F64), "F32" for a generated model.</summary>
    public string DType { get; }
    /// <summary>The file's size, or null for a generated model.</summary>
    public long? FileBytes { get; }
    private readonly string[] _names;

    /// <summary>The parameter names, in state_dict order (a copy: the model itself never changes).</summary>
    public string[] TensorNames => (string[])_names.Clone();
    internal IReadOnlyList<string> Names => _names;
    /// <summary>The file's <c>__metadata__</c> (for a generated model: the memory sizes it would save).</summary>
    public Dictionary<string, string> Metadata => new(_metadata, StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata;
    /// <summary>e.g. "LSTM 7→13×1 + Dense→5".</summary>
    public string Description => Sizes.ToString();

    internal NetworkSizes Sizes { get; }
    public NetworkSizes GetSizes() => Sizes;

    /// <summary>A fresh network (own zeroed state, the shared <see cref="Weights"/>) on <paramref name="engine"/>'s slots.</summary>
    public NeuralNetwork CreateNetwork(NeuralEngine engine) => new(engine, Weights);

    // The network the last finished call gave back: the next call on the same engine zeroes and reuses its state instead
    // of allocating it again (a DNC's link matrix is N² floats: fresh pages fault in on the first step).
    private NeuralNetwork? _idleNetwork;

    /// <summary>
    /// A network with a fresh (zeroed) state for one call, as <see cref="CreateNetwork"/> makes: the one the last call
    /// gave back (<see cref="ReturnNetwork"/>) when it runs on <paramref name="engine"/>, else a new one.
    /// </summary>
    /// <exception cref="MemoryBudgetException">A new network would exceed the memory budget.</exception>
    public NeuralNetwork RentNetwork(NeuralEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var idle = Interlocked.Exchange(ref _idleNetwork, null);
        if (idle is not null)
        {
            if (ReferenceEquals(idle.Engine, engine))
            {
                idle.ResetState();
                return idle;
            }
            idle.Dispose(); // made on an engine since replaced (the module was removed and imported again)
        }
        return CreateNetwork(engine);
    }

    /// <summary>Gives back a network from <see cref="RentNetwork"/> when its call is done; the caller must not use it again.</summary>
    public void ReturnNetwork(NeuralNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!ReferenceEquals(network.Weights, Weights)) throw new ArgumentException("The network runs another model's weights.", nameof(network));
        Interlocked.Exchange(ref _idleNetwork, network)?.Dispose(); // keep one: calls on one model rarely overlap
    }

    /// <summary>The tensors holding NaN or ±∞, with how many such values each: any of them makes the outputs NaN.</summary>
    public IReadOnlyList<(string Tensor, int Count)> NonFiniteTensors() =>
        _names.Select(n => (Tensor: n, Count: _parameters[n].Count(v => !float.IsFinite(v)))).Where(x => x.Count > 0).ToList();

    /// <summary>A copy of one parameter (row-major), or null if the model has no such tensor.</summary>
    public float[]? GetParameter(string name) => _parameters.TryGetValue(name, out var p) ? (float[])p.Clone() : null;

    /// <summary>The shape of a parameter, or null.</summary>
    public int[]? GetParameterShape(string name) =>
        _parameters.ContainsKey(name) ? NeuralNetwork.ParameterShapes(Sizes).First(p => p.Name == name).Shape : null;

    internal ReadOnlySpan<float> Parameter(string name) => _parameters[name];

    /// <summary>PyTorch-style random initialisation from a seed (see <see cref="NeuralNetwork.RandomParameters"/>).</summary>
    public static NeuralModel Create(NetworkSizes sizes, int seed)
    {
        var p = NeuralNetwork.RandomParameters(sizes, seed);
        string src = $"New-NeuralModel -Seed {seed}";
        return new NeuralModel(sizes, p, src, "F32", null, MemoryMetadata(sizes));
    }

    private static Dictionary<string, string> MemoryMetadata(NetworkSizes s) => !s.HasMemory ? new() : new()
    {
        [MemorySlotsKey] = s.MemorySlots.ToString(CultureInfo.InvariantCulture),
        [MemoryWidthKey] = s.MemoryWidth.ToString(CultureInfo.InvariantCulture),
        [ReadHeadsKey] = s.ReadHeads.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Writes the model as a safetensors file with PyTorch's names and the memory sizes in <c>__metadata__</c>.</summary>
    public void Save(string path, string dtype = "F32")
    {
        var shapes = NeuralNetwork.ParameterShapes(Sizes).Where(p => _parameters.ContainsKey(p.Name));
        var meta = Metadata;
        foreach (var (k, v) in MemoryMetadata(Sizes)) meta[k] = v;
        SafeTensorsFile.Write(path, shapes.Select(p => (p.Name, p.Shape.Select(d => (long)d).ToArray(), _parameters[p.Name])), meta, dtype);
    }

    /// <summary>Reads a safetensors file and builds the model its tensors describe.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is not a valid safetensors file.</exception>
    /// <exception cref="ModelLayoutException">The tensors do not form an LSTM (+ DNC) + Linear model.</exception>
    public static NeuralModel Load(string path)
    {
        var full = Path.GetFullPath(path);
        var file = SafeTensorsFile.Read(full);
        try
        {
            return FromTensors(file.ByName, file.Metadata, full, file.FileLength);
        }
        catch (ModelLayoutException e)
        {
            throw e.WithFile(full);
        }
    }

    /// <summary>
    /// Builds a model from named tensors: layer count and sizes from the shapes of <c>lstm.weight_ih_l{k}</c>,
    /// <c>lstm.weight_hh_l{k}</c>, <c>output.weight</c> and (with memory) <c>interface.weight</c>; memory slots from
    /// <paramref name="metadata"/>. Every tensor must be used and every needed one present, with consistent shapes.
    /// </summary>
    public static NeuralModel FromTensors(IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata,
        string source, long? fileBytes = null)
    {
        SafeTensor Need(string name) => tensors.TryGetValue(name, out var t) ? t
            : throw new ModelLayoutException("MissingTensor", $"The tensor '{name}' is missing.", name);
        static long[] Rank(SafeTensor t, int rank) => t.Shape.Length == rank ? t.Shape
            : throw new ModelLayoutException("WrongRank", $"'{t.Name}' has shape {t.ShapeText}; expected {rank} dimension{(rank == 1 ? "" : "s")}.", t.Name);
        static ModelLayoutException Mismatch(SafeTensor t, string expected) =>
            new("ShapeMismatch", $"'{t.Name}' has shape {t.ShapeText}; {expected}.", t.Name);

        var hh0 = Need("lstm.weight_hh_l0");
        var hhShape = Rank(hh0, 2);
        long hidden = hhShape[1];
        if (hidden <= 0 || hhShape[0] != 4 * hidden) throw Mismatch(hh0, $"expected [4·H, H] with H = {hidden}");
        long gates = 4 * hidden;
        int layers = 0;
        while (tensors.ContainsKey($"lstm.weight_ih_l{layers}") || tensors.ContainsKey($"lstm.weight_hh_l{layers}")) layers++;

        long controllerInput = 0;
        for (int k = 0; k < layers; k++)
        {
            var ih = Need($"lstm.weight_ih_l{k}");
            var ihShape = Rank(ih, 2);
            if (ihShape[0] != gates) throw Mismatch(ih, $"expected {gates} rows (4·H, H = {hidden} from lstm.weight_hh_l0)");
            if (k == 0) controllerInput = ihShape[1];
            else if (ihShape[1] != hidden) throw Mismatch(ih, $"expected [{gates}, {hidden}]: layer {k} takes the {hidden}-wide h of layer {k - 1}");
            if (controllerInput <= 0) throw Mismatch(ih, "the input size must be positive");
            var hh = Need($"lstm.weight_hh_l{k}");
            var hhk = Rank(hh, 2);
            if (hhk[0] != gates || hhk[1] != hidden) throw Mismatch(hh, $"expected [{gates}, {hidden}]");
            bool hasBi = tensors.ContainsKey($"lstm.bias_ih_l{k}"), hasBh = tensors.ContainsKey($"lstm.bias_hh_l{k}");
            if (hasBi != hasBh) Need(hasBi ? $"lstm.bias_hh_l{k}" : $"lstm.bias_ih_l{k}"); // PyTorch has both or neither
            foreach (var b in new[] { $"lstm.bias_ih_l{k}", $"lstm.bias_hh_l{k}" })
                if (tensors.TryGetValue(b, out var bt) && (Rank(bt, 1)[0] != gates)) throw Mismatch(bt, $"expected [{gates}]");
        }

        var ow = Need("output.weight");
        var owShape = Rank(ow, 2);
        long output = owShape[0], headInput = owShape[1];
        if (output <= 0) throw Mismatch(ow, "the output size must be positive");
        if (tensors.TryGetValue("output.bias", out var ob) && Rank(ob, 1)[0] != output) throw Mismatch(ob, $"expected [{output}] (the rows of output.weight)");

        int slots = 0, width = 0, heads = 0;
        long readSize = 0;
        if (tensors.TryGetValue("interface.weight", out var iw))
        {
            var iwShape = Rank(iw, 2);
            if (iwShape[1] != hidden) throw Mismatch(iw, $"expected {hidden} columns (H): the interface is projected from the last layer's h");
            long xi = iwShape[0];
            if (tensors.TryGetValue("interface.bias", out var ib) && Rank(ib, 1)[0] != xi) throw Mismatch(ib, $"expected [{xi}] (the rows of interface.weight)");
            readSize = headInput - hidden;
            if (readSize <= 0) throw Mismatch(ow, $"with a DNC memory the output layer sees [h; read vectors], so it needs more than H = {hidden} columns");
            slots = MetaInt(metadata, MemorySlotsKey, MaxMemorySlots) ?? throw new ModelLayoutException("BadMetadata",
                $"A model with interface.weight needs __metadata__ '{MemorySlotsKey}' (the number of memory slots, which no tensor shape carries).", MemorySlotsKey);
            int? metaWidth = MetaInt(metadata, MemoryWidthKey), metaHeads = MetaInt(metadata, ReadHeadsKey);
            var candidates = new List<(int R, int W)>();
            for (long r = 1; r <= readSize; r++)
                if (readSize % r == 0 && DncInterfaceLayout.SizeOf((int)r, (int)(readSize / r)) == xi
                    && (metaHeads is null || metaHeads == r) && (metaWidth is null || metaWidth == readSize / r))
                    candidates.Add(((int)r, (int)(readSize / r)));
            if (candidates.Count == 0)
                throw Mismatch(iw, $"no read heads R and width W{(metaHeads is null && metaWidth is null ? "" : $" (metadata: R = {metaHeads?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}, W = {metaWidth?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"})")} give both R·W = {readSize} (output.weight columns − H) and Ξ = R·W + 3W + 5R + 3 = {xi}");
            if (candidates.Count > 1)
                throw new ModelLayoutException("BadMetadata", $"The shapes fit several (R, W): {string.Join(", ", candidates)}; set __metadata__ '{ReadHeadsKey}'.", ReadHeadsKey);
            (heads, width) = candidates[0];
        }
        else
        {
            if (tensors.ContainsKey("interface.bias")) Need("interface.weight");
            if (MetaInt(metadata, MemorySlotsKey) is not null) Need("interface.weight");
            if (headInput != hidden) throw Mismatch(ow, $"expected {hidden} columns (H = {hidden} from lstm.weight_hh_l0)");
        }
        long input = controllerInput - readSize;
        if (input <= 0)
            throw Mismatch(Need("lstm.weight_ih_l0"), $"the controller takes [x; read vectors], so it needs more than R·W = {readSize} columns");
        if (input > int.MaxValue || hidden > int.MaxValue / 8 || output > int.MaxValue)
            throw new ModelLayoutException("ShapeMismatch", "The sizes are too large for this engine.");

        var sizes = new NetworkSizes((int)input, (int)hidden, (int)output, layers) { MemorySlots = slots, MemoryWidth = width, ReadHeads = heads };
        MemoryBudget.Check(sizes); // before the copies below, and before any run allocates the state (a DNC's N² link matrix)
        var expected = NeuralNetwork.ParameterShapes(sizes).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in tensors.Keys.Order(StringComparer.Ordinal))
            if (!expected.Contains(name))
            {
                string hint = name.Contains("_reverse", StringComparison.Ordinal) ? " (bidirectional LSTMs are not supported)"
                    : name.Contains("weight_hr", StringComparison.Ordinal) ? " (LSTMs with proj_size are not supported)"
                    : "";
                throw new ModelLayoutException("UnexpectedTensor", $"The tensor '{name}' is not part of an LSTM{(sizes.HasMemory ? " + DNC" : "")} + Linear model{hint}.", name);
            }

        // Copies: the model must not change when the caller reuses its tensors.
        var parameters = tensors.ToDictionary(t => t.Key, t => (float[])t.Value.Data.Clone(), StringComparer.Ordinal);
        string dtype = string.Join(",", tensors.Values.Select(t => t.DType).Distinct().Order(StringComparer.Ordinal));
        return new NeuralModel(sizes, parameters, source, dtype.Length == 0 ? "F32" : dtype, fileBytes, metadata);
    }

    private static int? MetaInt(IReadOnlyDictionary<string, string> metadata, string key, int max = 1 << 24)
    {
        if (!metadata.TryGetValue(key, out var s)) return null;
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v <= 0 || v > max)
            throw new ModelLayoutException("BadMetadata", $"__metadata__ '{key}' is '{s}'; expected an integer from 1 to {max}.", key);
        return v;
    }

    public override string ToString() => $"{Description} ({ParameterCount:N0} parameters, {Source})";
}
