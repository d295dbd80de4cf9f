namespace NeuralJit.Host;

/// <summary>
/// Where the host finds the NeuralJit module it imports, first match wins:
/// 1. the NEURALJIT_MODULE environment variable (a .psd1 or the folder holding NeuralJit.psd1);
/// 2. Modules/NeuralJit/NeuralJit.psd1 next to the host (the build copies the staged module there);
/// 3. artifacts/module/NeuralJit/NeuralJit.psd1 in the host's folder or any parent (a repo checkout).
/// </summary>
internal static class ModuleLocator
{
    public const string EnvironmentVariable = "NEURALJIT_MODULE";

    public static string? Find(out string searched)
    {
        var tried = new List<string>();
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            var p = Directory.Exists(env) ? Path.Combine(env, "NeuralJit.psd1") : env;
            tried.Add(p);
            if (File.Exists(p)) { searched = ""; return Path.GetFullPath(p); }
        }
        var beside = Path.Combine(AppContext.BaseDirectory, "Modules", "NeuralJit", "NeuralJit.psd1");
        tried.Add(beside);
        if (File.Exists(beside)) { searched = ""; return beside; }
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "artifacts", "module", "NeuralJit", "NeuralJit.psd1");
            if (File.Exists(p)) { searched = ""; return p; }
        }
        tried.Add(Path.Combine("<each parent of " + AppContext.BaseDirectory + ">", "artifacts", "module", "NeuralJit", "NeuralJit.psd1"));
        searched = string.Join(Environment.NewLine, tried.Select(t => "  " + t));
        return null;
    }
}
