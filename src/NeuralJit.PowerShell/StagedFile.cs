namespace NeuralJit.PowerShell;

/// <summary>
/// Writes a file through a temporary sibling renamed into place on success, so a reader never sees a partial file
/// and a failed or stopped write (an exception from the writer, Ctrl+C) leaves nothing behind and the old file intact.
/// </summary>
internal static class StagedFile
{
    public static T Write<T>(string path, bool overwrite, Func<Stream, T> write)
    {
        string temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? ".",
            $".{System.IO.Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            T result;
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                result = write(stream);
            File.Move(temp, path, overwrite);
            return result;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
