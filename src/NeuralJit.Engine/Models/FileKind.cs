using System.Runtime.InteropServices;

namespace NeuralJit.Models;

/// <summary>What a path names, as stat(2) says (following symbolic links).</summary>
public enum FileKind
{
    /// <summary>The OS or architecture gives no way to tell here (only Linux x86-64 is asked).</summary>
    Unknown,
    Missing,
    Regular,
    Directory,
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
}

/// <summary>
/// The kind of a file without opening it: .NET reports a FIFO or a device as an ordinary file, and opening a FIFO
/// blocks until a writer appears, so a reader must ask first.
/// </summary>
public static unsafe class FileKinds
{
    private const int StatBufferBytes = 256;   // struct stat is 144 bytes on x86-64 glibc; room to spare
    private const int ModeOffset = 24;         // st_mode follows st_dev, st_ino and st_nlink (8 bytes each) on x86-64

    public static FileKind Of(string path)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return FileKind.Unknown;
        byte* buf = stackalloc byte[StatBufferBytes];
        int rc;
        try { rc = Stat(path, buf); }
        catch (EntryPointNotFoundException) { rc = XStat(1, path, buf); } // glibc before 2.33 exports only __xstat
        if (rc != 0) return Marshal.GetLastPInvokeError() == 2 ? FileKind.Missing : FileKind.Unknown; // ENOENT
        uint mode = *(uint*)(buf + ModeOffset) & 0xF000;
        return mode switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            _ => FileKind.Unknown,
        };
    }

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buf);

    [DllImport("libc", EntryPoint = "__xstat", SetLastError = true)]
    private static extern int XStat(int version, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buf);
}
