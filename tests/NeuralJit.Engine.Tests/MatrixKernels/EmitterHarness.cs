using System.Runtime.InteropServices;
using Iced.Intel;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests.MatrixKernels;

/// <summary>Compiles one emitter's kernel into a private code cache and runs it on fenced buffers.</summary>
internal sealed unsafe class EmitterHarness : IDisposable
{
    private readonly CodeCache _cache = new(4 << 20);

    public static JitIsa[] Isas => new[] { JitIsa.Avx2, JitIsa.Avx512 }.Where(i => i <= CpuFeatures.Best).ToArray();

    public (nint Entry, byte[] Code, int EntryOffset) Compile(IKernelEmitter emitter, OpKey key, JitIsa isa)
    {
        Assert.Null(emitter.CannotEmit(key, isa));
        var k = new KernelAssembler(isa);
        emitter.Emit(k, key);
        var asm = k.Finish();
        Assert.True(_cache.TryInstall(asm, out nint entry, out string? why), why);
        return (entry, asm.Bytes, asm.EntryOffset);
    }

    public static void Call(nint entry, KernelArgs* args) => ((delegate* unmanaged<KernelArgs*, void>)entry)(args);

    /// <summary>Decodes the code part of a kernel: every byte is a valid instruction and it ends in ret.</summary>
    public static void AssertDecodes(byte[] bytes, int entryOffset, string what)
    {
        var code = bytes.AsSpan(entryOffset).ToArray();
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(code));
        Instruction last = default;
        while (decoder.IP < (ulong)code.Length)
        {
            decoder.Decode(out var instr);
            Assert.False(instr.IsInvalid, $"{what}: invalid instruction at +{instr.IP:X}");
            last = instr;
        }
        Assert.Equal((ulong)code.Length, decoder.IP);
        Assert.Equal(Mnemonic.Ret, last.Mnemonic);
    }

    public void Dispose() => _cache.Dispose();
}

/// <summary>
/// Native floats with 16-float canaries on both sides (a kernel that reads is harmless, one that writes a
/// single element too far is caught) and a chosen misalignment from a 64-byte boundary.
/// </summary>
internal sealed unsafe class FencedBuffer : IDisposable
{
    private const int Guard = 16;
    private const uint CanaryBits = 0x7FC0DEAD; // a NaN payload no kernel produces
    private readonly float* _base;
    private readonly int _shift;

    public FencedBuffer(int length, int misalignFloats = 0)
    {
        Length = length;
        _shift = misalignFloats;
        _base = (float*)NativeMemory.AlignedAlloc((nuint)((length + 2 * Guard + 16) * 4), 64);
        var all = new Span<uint>(_base, length + 2 * Guard + 16);
        all.Fill(CanaryBits);
    }

    public int Length { get; }
    public float* Pointer => _base + Guard + _shift;
    public Span<float> Span => new(Pointer, Length);

    public void CopyFrom(ReadOnlySpan<float> data) => data.CopyTo(Span);

    public void AssertFencesIntact(string what)
    {
        var before = new Span<uint>(_base, Guard + _shift);
        var after = new Span<uint>(Pointer + Length, Guard);
        for (int i = 0; i < before.Length; i++) Assert.True(before[i] == CanaryBits, $"{what}: wrote {before.Length - i} floats before the buffer");
        for (int i = 0; i < after.Length; i++) Assert.True(after[i] == CanaryBits, $"{what}: wrote at element {Length + i} past the end (length {Length})");
    }

    public void Dispose() => NativeMemory.AlignedFree(_base);
}
