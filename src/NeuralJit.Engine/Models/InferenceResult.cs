namespace NeuralJit;

/// <summary>
/// What <c>Invoke-NeuralInference</c> returns: one summary for a timed run of many steps, or one
/// object per time step of a sequence (then <see cref="Step"/> is that step's index and
/// <see cref="Steps"/> is 1).
/// </summary>
public sealed class InferenceResult
{
    /// <summary>Index of this step in its sequence (0-based); for a timed run, the number of steps − 1.</summary>
    public long Step { get; init; }
    public long Steps { get; init; }
    public long TotalNanoseconds { get; init; }
    public double NanosecondsPerStep { get; init; }
    /// <summary>The network's output after the (last) step.</summary>
    public float[] Output { get; init; } = [];
    public int InputSize { get; init; }
    public int HiddenSize { get; init; }
    public int OutputSize { get; init; }
    public int Layers { get; init; }
    /// <summary>DNC memory slots N (0 for a plain LSTM network).</summary>
    public int MemorySlots { get; init; }
    /// <summary>DNC memory width W (0 for a plain LSTM network).</summary>
    public int MemoryWidth { get; init; }
    /// <summary>DNC read heads R (0 for a plain LSTM network).</summary>
    public int ReadHeads { get; init; }
    public string Model { get; init; } = "";

    public override string ToString() => $"Step {Step}: [{string.Join(", ", Output.Take(4).Select(v => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)))}{(Output.Length > 4 ? ", …" : "")}]";
}
