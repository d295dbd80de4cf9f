namespace NeuralJit.Ops;

/// <summary>
/// Where each part of the DNC interface vector ξ lives (Graves et al. 2016, Methods, "Interface
/// parameters"), for R read heads of width W: [read keys R·W | read strengths R | write key W |
/// write strength 1 | erase W | write vector W | free gates R | allocation gate 1 | write gate 1 |
/// read modes 3R], Ξ = R·W + 3W + 5R + 3 floats. Read modes are (backward, content, forward) per head.
/// </summary>
public readonly record struct DncInterfaceLayout(int ReadHeads, int Width)
{
    public int ReadKeys => 0;
    public int ReadStrengths => ReadHeads * Width;
    public int WriteKey => ReadStrengths + ReadHeads;
    public int WriteStrength => WriteKey + Width;
    public int Erase => WriteStrength + 1;
    public int WriteVector => Erase + Width;
    public int FreeGates => WriteVector + Width;
    public int AllocationGate => FreeGates + ReadHeads;
    public int WriteGate => AllocationGate + 1;
    public int ReadModes => WriteGate + 1;
    /// <summary>Ξ, the length of the interface vector.</summary>
    public int Size => ReadModes + 3 * ReadHeads;

    /// <summary>Ξ for <paramref name="readHeads"/> heads of width <paramref name="width"/>.</summary>
    public static int SizeOf(int readHeads, int width) => checked(readHeads * width + 3 * width + 5 * readHeads + 3);
}
