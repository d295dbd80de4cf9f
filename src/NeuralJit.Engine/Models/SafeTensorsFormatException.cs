namespace NeuralJit.Models;

/// <summary>
/// A safetensors file that cannot be read as one: what is wrong (<see cref="Problem"/>, a stable
/// identifier such as <c>HeaderLengthBeyondFile</c>), where (<see cref="Offset"/>, a byte offset in the
/// file, and <see cref="TensorName"/> when one tensor is at fault) and in which file (<see cref="FilePath"/>).
/// </summary>
public sealed class SafeTensorsFormatException : FormatException
{
    public SafeTensorsFormatException(string problem, string message, string? filePath = null, long? offset = null, string? tensorName = null, Exception? inner = null)
        : base(Compose(message, filePath, offset, tensorName), inner)
    {
        Problem = problem;
        FilePath = filePath;
        Offset = offset;
        TensorName = tensorName;
        Detail = message;
    }

    /// <summary>A stable name for the kind of problem (for scripts and tests).</summary>
    public string Problem { get; }
    public string? FilePath { get; }
    /// <summary>Byte offset in the file where the problem is, when it has one.</summary>
    public long? Offset { get; }
    public string? TensorName { get; }
    /// <summary>The message without the file and position.</summary>
    public string Detail { get; }

    private static string Compose(string message, string? path, long? offset, string? tensor)
    {
        var where = new List<string>();
        if (tensor is not null) where.Add($"tensor '{tensor}'");
        if (offset is not null) where.Add($"byte {offset}");
        string prefix = path is null ? "" : $"{path}: ";
        return where.Count == 0 ? prefix + message : $"{prefix}{message} ({string.Join(", ", where)})";
    }
}

/// <summary>
/// A well-formed safetensors file whose tensors do not make the model: a missing or unexpected tensor,
/// a wrong rank, shapes that disagree with each other, or metadata that contradicts them.
/// </summary>
public sealed class ModelLayoutException : FormatException
{
    public ModelLayoutException(string problem, string message, string? tensorName = null, string? filePath = null)
        : base(filePath is null ? message : $"{filePath}: {message}")
    {
        Problem = problem;
        TensorName = tensorName;
        FilePath = filePath;
        Detail = message;
    }

    /// <summary>MissingTensor, UnexpectedTensor, WrongRank, ShapeMismatch, BadMetadata.</summary>
    public string Problem { get; }
    public string? TensorName { get; }
    public string? FilePath { get; }
    public string Detail { get; }

    internal ModelLayoutException WithFile(string? path) => path is null ? this : new(Problem, Detail, TensorName, path);
}
