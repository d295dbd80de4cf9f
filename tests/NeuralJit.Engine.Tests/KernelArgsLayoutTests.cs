using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NeuralJit.Ops;

namespace NeuralJit.Engine.Tests;

/// <summary><see cref="KernelArgs.Offsets"/> is where the fields are: emitted code reads and writes at these offsets.</summary>
public unsafe class KernelArgsLayoutTests
{
    private static IEnumerable<FieldInfo> Fields => typeof(KernelArgs).GetFields(BindingFlags.Public | BindingFlags.Instance);

    private static int OffsetOf(string field) =>
        (int)typeof(KernelArgs.Offsets).GetField(field, BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;

    [Fact]
    public void EveryFieldHasAnOffsetAndNothingElseDoes()
    {
        var offsets = typeof(KernelArgs.Offsets).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => f.Name).Order();
        Assert.Equal(Fields.Select(f => f.Name).Append("Size").Order(), offsets);
    }

    /// <summary>A value written through the struct's field is read back at the published offset, field by field.</summary>
    [Fact]
    public void EachOffsetAddressesItsField()
    {
        foreach (var field in Fields)
        {
            var args = new KernelArgs();
            var bytes = new Span<byte>(&args, sizeof(KernelArgs));
            int at = OffsetOf(field.Name);
            int size = field.FieldType == typeof(double) || field.FieldType.IsPointer ? 8 : 4;
            Assert.True(at >= 0 && at + size <= sizeof(KernelArgs), $"{field.Name} at {at} (+{size}) lies outside the {sizeof(KernelArgs)}-byte struct");
            object marker = field.FieldType.IsPointer ? Pointer.Box((void*)0x1122_3344_5566_7788, field.FieldType)
                : field.FieldType == typeof(double) ? -1.25e-300 : (object)3.75f;
            object boxed = args;
            field.SetValue(boxed, marker);
            args = (KernelArgs)boxed;
            ulong read = size == 8 ? MemoryMarshal.Read<ulong>(bytes[at..]) : MemoryMarshal.Read<uint>(bytes[at..]);
            ulong expected = field.FieldType.IsPointer ? 0x1122_3344_5566_7788UL
                : field.FieldType == typeof(double) ? BitConverter.DoubleToUInt64Bits(-1.25e-300) : BitConverter.SingleToUInt32Bits(3.75f);
            Assert.True(expected == read, $"{field.Name}: wrote 0x{expected:X}, read 0x{read:X} at offset {at}");
            Assert.True(at % size == 0, $"{field.Name} at {at} is not {size}-byte aligned (a vector broadcast or qword load would split)");
        }
        Assert.Equal(Unsafe.SizeOf<KernelArgs>(), KernelArgs.Offsets.Size);
    }
}
