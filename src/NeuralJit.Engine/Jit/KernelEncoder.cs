using Iced.Intel;

namespace NeuralJit.Jit;

/// <summary>
/// Turns a finished kernel's instructions into bytes: [constant pool | zero padding to 64 | prologue, pool
/// address, body], position-independent (the only RIP-relative operand is the pool's lea; branches are
/// relative). It owns the branch handling: every branch is widened to rel32 so sizes are known in one pass,
/// and forward branches are patched in place once their label is placed.
/// </summary>
internal static class KernelEncoder
{
    /// <summary>Encodes the kernel into <paramref name="writer"/> (empty on entry); returns the entry offset.</summary>
    public static int Encode(Encoder encoder, ByteWriter writer, ConstantPool pool, IReadOnlyList<Instruction> prologue, IReadOnlyList<Instruction> body,
        Dictionary<ulong, int> labels, List<(Instruction Instr, int Offset, int Length)> pending, Register poolBase)
    {
        int entry = pool.Bytes > 0 ? pool.CodeOffset : 0;
        pool.WriteTo(writer);
        writer.Position = entry;
        foreach (var instr in prologue) Encode(encoder, writer, instr);
        if (pool.Bytes > 0)
            Encode(encoder, writer, Instruction.Create(Code.Lea_r64_m, poolBase, new MemoryOperand(Register.RIP, 0L))); // rip-relative to block offset 0: the pool
        EncodeBody(encoder, writer, body, labels, pending);
        return entry;
    }

    private static void Encode(Encoder encoder, ByteWriter writer, in Instruction instr)
    {
        if (!encoder.TryEncode(instr, (ulong)writer.Position, out _, out string? error))
            throw new InvalidOperationException($"Iced could not encode '{instr}': {error}");
    }

    /// <summary>
    /// One pass over the body: branches are widened to rel32 so every size is known up front, backward targets
    /// are resolved on the spot, forward ones (a jump to the exit) get a placeholder that is re-encoded, same
    /// size, once the label is placed. Labels are the instruction IPs Iced's Assembler assigns (label ids).
    /// </summary>
    private static void EncodeBody(Encoder encoder, ByteWriter writer, IReadOnlyList<Instruction> body,
        Dictionary<ulong, int> labels, List<(Instruction Instr, int Offset, int Length)> pending)
    {
        for (int i = 0; i < body.Count; i++)
        {
            var instr = body[i];
            int at = writer.Position;
            if (instr.IP != 0) labels[instr.IP] = at;
            if (instr.IsJccShortOrNear || instr.IsJmpShortOrNear)
            {
                instr.Code = instr.Code.ToNearBranch();
                ulong target = instr.NearBranch64;
                if (labels.TryGetValue(target, out int to)) instr.NearBranch64 = (ulong)to;
                else { instr.NearBranch64 = (ulong)at; pending.Add((body[i], at, 0)); }
                Encode(encoder, writer, instr);
                if (pending.Count > 0 && pending[^1].Offset == at) pending[^1] = (pending[^1].Instr, at, writer.Position - at);
            }
            else if (instr.IsIPRelativeMemoryOperand)
                throw new InvalidOperationException($"RIP-relative operand in a kernel body ('{instr}'): use k.Const/ConstVector/ConstDouble for data.");
            else Encode(encoder, writer, instr);
        }
        int end = writer.Position;
        foreach (var (original, offset, length) in pending)
        {
            var instr = original;
            instr.Code = instr.Code.ToNearBranch();
            if (!labels.TryGetValue(instr.NearBranch64, out int to)) throw new InvalidOperationException($"Branch to a label that was never placed ('{original}').");
            instr.NearBranch64 = (ulong)to;
            writer.Position = offset;
            Encode(encoder, writer, instr);
            if (writer.Position - offset != length) throw new InvalidOperationException("A patched branch changed size.");
        }
        writer.Position = end;
    }

    /// <summary>A growable byte buffer with a settable position (for the pool layout and branch patching).</summary>
    internal sealed class ByteWriter(int capacity) : CodeWriter
    {
        private byte[] _buf = new byte[Math.Max(64, capacity)];
        private int _length;
        public int Position { get; set; }
        public override void WriteByte(byte value)
        {
            if (Position >= _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, Position + 1));
            _buf[Position++] = value;
            if (Position > _length) _length = Position;
        }
        public byte[] ToArray() => _buf.AsSpan(0, _length).ToArray();

        /// <summary>Empties the buffer for the next kernel; the padding between pool and code must read as zeros again.</summary>
        public void Clear()
        {
            _buf.AsSpan(0, _length).Clear();
            _length = Position = 0;
        }
    }
}
