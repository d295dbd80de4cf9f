using System.Management.Automation;
using System.Management.Automation.Runspaces;

// Minimal first cut: runs -Command with the module imported. Being replaced by the full host.
var iss = InitialSessionState.CreateDefault2();
var dir = AppContext.BaseDirectory;
string? manifest = null;
for (var d = new DirectoryInfo(dir); d != null; d = d.Parent)
{
    var p = Path.Combine(d.FullName, "artifacts", "module", "NeuralJit", "NeuralJit.psd1");
    if (File.Exists(p)) { manifest = p; break; }
}
if (manifest != null) iss.ImportPSModule(manifest);
using var ps = PowerShell.Create(iss);
ps.AddScript(args.Length > 1 && args[0] == "-Command" ? args[1] : "Get-NeuralEngine");
foreach (var o in ps.Invoke()) Console.WriteLine(string.Join(" ", o.Properties.Select(p => $"{p.Name}={p.Value}")));
foreach (var e in ps.Streams.Error) Console.Error.WriteLine(e);
return ps.HadErrors ? 1 : 0;
