using System.Management.Automation;
using NeuralJit.Models;

namespace NeuralJit.PowerShell;

/// <summary>Resolving PowerShell paths to model files, and turning what goes wrong into ErrorRecords whose target is the file.</summary>
internal static class ModelFiles
{
    /// <summary>The Verb+Noun of <paramref name="cmdlet"/> ("ImportNeuralModel"): the prefix of the error ids it writes.</summary>
    public static string ErrorPrefix(Cmdlet cmdlet)
    {
        var attribute = (CmdletAttribute)Attribute.GetCustomAttribute(cmdlet.GetType(), typeof(CmdletAttribute))!;
        return attribute.VerbName + attribute.NounName;
    }

    /// <summary>
    /// The file-system paths <paramref name="path"/> resolves to (wildcards expand; PSPath from Get-ChildItem works),
    /// or an ErrorRecord with id <c>{Verb}{Noun}FileNotFound</c> / <c>{Verb}{Noun}NotAFile</c> of <paramref name="cmdlet"/>.
    /// </summary>
    public static (IReadOnlyList<string> Paths, ErrorRecord? Error) Resolve(PSCmdlet cmdlet, string path)
    {
        string errorPrefix = ErrorPrefix(cmdlet);
        try
        {
            // A file whose name holds wildcard characters ('model[1].safetensors') is taken as it is.
            string literal = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out ProviderInfo literalProvider, out _);
            if (literalProvider.Name == "FileSystem" && File.Exists(literal))
                return NotRegular(errorPrefix, literal) is { } notRegular ? ([], notRegular) : ([literal], null);
            var resolved = cmdlet.GetResolvedProviderPathFromPSPath(path, out ProviderInfo provider);
            if (provider.Name != "FileSystem")
                return ([], NeuralErrors.Create(new ArgumentException($"'{path}' is on the {provider.Name} provider, not a file."), errorPrefix + "NotAFile",
                    ErrorCategory.InvalidArgument, path, "Give the path of a .safetensors file on the file system."));
            var files = new List<string>();
            foreach (var p in resolved)
            {
                if (Directory.Exists(p))
                    return ([], NeuralErrors.Create(new ArgumentException($"'{p}' is a directory, not a safetensors file."), errorPrefix + "NotAFile",
                        ErrorCategory.InvalidArgument, p, "Give the path of a .safetensors file, or pipe the files in: Get-ChildItem *.safetensors | Import-NeuralModel."));
                if (NotRegular(errorPrefix, p) is { } error) return ([], error);
                files.Add(p);
            }
            return (files, null);
        }
        catch (ItemNotFoundException e)
        {
            return ([], NeuralErrors.Create(e, errorPrefix + "FileNotFound", ErrorCategory.ObjectNotFound, path, "Check the path; Get-ChildItem *.safetensors lists the files here."));
        }
        catch (System.Management.Automation.DriveNotFoundException e)
        {
            return ([], NeuralErrors.Create(e, errorPrefix + "FileNotFound", ErrorCategory.ObjectNotFound, path, "Check the drive in the path."));
        }
    }

    /// <summary>
    /// An error for a FIFO, socket or device: opening a FIFO blocks until a writer comes (a read that Ctrl+C cannot
    /// stop) and a device never ends, so only regular files are opened.
    /// </summary>
    private static ErrorRecord? NotRegular(string errorPrefix, string file)
    {
        var kind = FileKinds.Of(file);
        if (kind is FileKind.Regular or FileKind.Unknown or FileKind.Missing) return null;
        return NeuralErrors.Create(new ArgumentException($"'{file}' is a {kind.ToString().ToLowerInvariant()}, not a regular file."), errorPrefix + "NotAFile",
            ErrorCategory.InvalidArgument, file, "Give the path of a .safetensors file; to read from a pipe or device, save it to a file first.");
    }

    /// <summary>Runs <paramref name="read"/> on <paramref name="file"/>, mapping format, layout and I/O failures to an ErrorRecord targeting the file.</summary>
    public static (T? Value, ErrorRecord? Error) Read<T>(Cmdlet cmdlet, string file, Func<string, T> read) where T : class
    {
        string errorPrefix = ErrorPrefix(cmdlet);
        var target = new FileInfo(file);
        try
        {
            return (read(file), null);
        }
        catch (SafeTensorsFormatException e)
        {
            return (null, NeuralErrors.Create(e, errorPrefix + "CorruptFile", ErrorCategory.InvalidData, target,
                $"The file is damaged or is not a safetensors file ({e.Problem}). Export it again, e.g. with safetensors.torch.save_file(model.state_dict(), path)."));
        }
        catch (ModelLayoutException e)
        {
            return (null, NeuralErrors.Create(e, errorPrefix + "LayoutMismatch", ErrorCategory.InvalidData, target,
                "Save the state_dict of a module with self.lstm = nn.LSTM(...) and self.output = nn.Linear(...) (plus self.interface = nn.Linear(hidden, Ξ) and the dnc.* __metadata__ for a DNC); see Get-Help Import-NeuralModel -Full."));
        }
        catch (MemoryBudgetException e)
        {
            return (null, NeuralErrors.Create(e, errorPrefix + "TooLarge", ErrorCategory.LimitsExceeded, target,
                NeuralErrors.TooLargeAction(e, $"The model's sizes (tensor shapes and __metadata__ such as {NeuralModel.MemorySlotsKey}) ask for more than {MemoryBudget.Bytes(e.LimitBytes)}: check the file, or save a smaller model.")));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (null, NeuralErrors.Create(e, errorPrefix + "FileNotFound", ErrorCategory.ObjectNotFound, file, "Check the path."));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, NeuralErrors.Create(e, errorPrefix + "ReadFailed", ErrorCategory.ReadError, target, "Check that the file is readable and not locked by another process."));
        }
    }
}
