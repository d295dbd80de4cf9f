namespace NeuralJit.Engine.Tests.Support;

/// <summary>The instructions of a hand-written stub (bytes the engine maps as they are), for tests that pin them.</summary>
public static class StubListing
{
    /// <summary>The stub's instructions in Iced's default formatting, '|'-separated; fails on bytes that do not decode.</summary>
    public static string Of(ReadOnlySpan<byte> code, string stub)
    {
        var bytes = code.ToArray();
        var decoder = Iced.Intel.Decoder.Create(64, new Iced.Intel.ByteArrayCodeReader(bytes));
        var text = new List<string>();
        while (decoder.IP < (ulong)bytes.Length)
        {
            var instruction = decoder.Decode();
            Assert.False(instruction.IsInvalid, $"{stub}: invalid bytes at {instruction.IP}");
            text.Add(instruction.ToString());
        }
        return string.Join('|', text);
    }
}
