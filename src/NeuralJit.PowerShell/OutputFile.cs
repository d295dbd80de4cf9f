using System.Management.Automation;

namespace NeuralJit.PowerShell;

/// <summary>
/// Resolves the -Path of an Export-* cmdlet to a file system path and checks it before any work: a non-file-system
/// path, a directory, a missing parent directory, an existing file under -NoClobber each give the cmdlet's own error
/// ("&lt;VerbNoun&gt;IsDirectory" …) with the path as target; null is returned after the error is written.
/// </summary>
internal static class OutputFile
{
    public static string? Resolve(PSCmdlet cmdlet, string path, bool noClobber, string example)
    {
        string idPrefix = IdPrefix(cmdlet);
        string file;
        ProviderInfo provider;
        try
        {
            file = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out provider, out _);
        }
        catch (Exception e) when (e is SessionStateException or NotSupportedException or ArgumentException)
        {
            cmdlet.WriteError(NeuralErrors.Create(e, idPrefix + "InvalidPath", ErrorCategory.InvalidArgument, path,
                $"Give -Path a file system path such as {example}."));
            return null;
        }
        if (provider.ImplementingType != typeof(Microsoft.PowerShell.Commands.FileSystemProvider))
        {
            cmdlet.WriteError(NeuralErrors.InvalidArgument(
                $"'{path}' is a {provider.Name} path; the file can only be written to the file system.", idPrefix + "NotFileSystemPath", path,
                $"Give -Path a file system path such as {example}."));
            return null;
        }
        if (Directory.Exists(file))
        {
            cmdlet.WriteError(NeuralErrors.Create(new IOException($"'{file}' is a directory; {cmdlet.MyInvocation.MyCommand.Name} writes a file."),
                idPrefix + "IsDirectory", ErrorCategory.InvalidArgument, path,
                $"Give -Path a file name, for example {System.IO.Path.Combine(path, System.IO.Path.GetFileName(example))}."));
            return null;
        }
        var dir = System.IO.Path.GetDirectoryName(file);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
        {
            cmdlet.WriteError(NeuralErrors.Create(new DirectoryNotFoundException($"The directory '{dir}' does not exist."),
                idPrefix + "DirectoryNotFound", ErrorCategory.ObjectNotFound, path,
                "Create the directory first, or choose a path in an existing directory."));
            return null;
        }
        if (noClobber && File.Exists(file))
        {
            cmdlet.WriteError(NeuralErrors.Create(new IOException($"The file '{file}' already exists and -NoClobber was given."),
                idPrefix + "FileExists", ErrorCategory.ResourceExists, path,
                "Choose another path, or leave out -NoClobber to overwrite the file."));
            return null;
        }
        return file;
    }

    /// <summary>"ExportNeuralTrace" for Export-NeuralTrace: the start of the cmdlet's error ids.</summary>
    public static string IdPrefix(PSCmdlet cmdlet) => cmdlet.MyInvocation.MyCommand.Name.Replace("-", "", StringComparison.Ordinal);

    /// <summary>The error for an I/O failure while writing (the staged file is already gone).</summary>
    public static ErrorRecord WriteFailed(PSCmdlet cmdlet, Exception e, string path) =>
        NeuralErrors.Create(e, IdPrefix(cmdlet) + "WriteFailed",
            e is UnauthorizedAccessException ? ErrorCategory.PermissionDenied : ErrorCategory.WriteError, path,
            "Check that the directory is writable and the file not open in another program, or choose another path.");
}
