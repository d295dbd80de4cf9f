using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text;

namespace NeuralJit.Host;

/// <summary>
/// A small console host over the PowerShell engine (System.Management.Automation) with the NeuralJit
/// module imported, for machines without pwsh. Command line and exit codes follow pwsh:
/// <c>-Command</c> exits 0 when the last pipeline succeeded ($?) and 1 otherwise; <c>-File</c> exits 0
/// unless the script runs <c>exit N</c> (then N) or stops on a terminating error (then 1).
/// </summary>
public static class Program
{
    private const string Usage = """
        Usage: NeuralJit.Host [-NoProfile] [-NoLogo] [-NonInteractive]
                              [-Command] '<script>' | -Command - | -File <path.ps1> [args...]
               NeuralJit.Host -Help | -Version

          -Command, -c   Runs the script text (all remaining arguments, joined by spaces). '-' reads it from stdin.
          -File, -f      Runs a script file; the remaining arguments bind to its parameters (-Name value) or $args.
          -NonInteractive  Never prompts; a prompt (such as -Confirm) becomes an error.
          -NoProfile, -NoLogo  Accepted for pwsh compatibility (no profile is ever loaded).
        With no script, reads commands from stdin when it is redirected, else runs an interactive prompt.
        The NeuralJit module is imported first: $env:NEURALJIT_MODULE, else Modules/NeuralJit next to this host,
        else artifacts/module/NeuralJit in a parent folder.
        Exit codes: 0 success; 1 failure (-Command: last pipeline failed; any uncaught terminating error);
        N from 'exit N'; 64 bad command line.
        """;

    public static int Main(string[] args)
    {
        Console.OutputEncoding = new UTF8Encoding(false);
        Options options;
        try { options = Options.Parse(args); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"NeuralJit.Host: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 64;
        }
        if (options.Help) { Console.WriteLine(Usage); return 0; }
        if (options.Version) { Console.WriteLine($"NeuralJit.Host {NeuralJitHost.InformationalVersion} (PowerShell {PSVersionInfo()})"); return 0; }

        if (options.File is not null && !File.Exists(options.File))
        {
            Console.Error.WriteLine($"The argument '{options.File}' is not recognized as the name of a script file. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.");
            return 64;
        }

        var manifest = ModuleLocator.Find(out var searched);
        if (manifest is null)
        {
            Console.Error.WriteLine("NeuralJit.Host: the NeuralJit module was not found. Build it with `dotnet build -c Release`, or set " +
                                    $"{ModuleLocator.EnvironmentVariable}. Looked in:{Environment.NewLine}{searched}");
            return 1;
        }

        var host = new NeuralJitHost(options.NonInteractive);
        var iss = InitialSessionState.CreateDefault2();
        // Never set iss.ExecutionPolicy: it throws PlatformNotSupportedException on Linux.
        iss.ImportPSModule(manifest);
        using var runspace = RunspaceFactory.CreateRunspace(host, iss);
        runspace.Open();
        if (!host.UI.SupportsVirtualTerminal) PlainText(runspace);
        var runner = new ScriptRunner(runspace, host);
        if (!runner.CheckModuleImported(manifest)) return 1;

        Console.CancelKeyPress += (_, e) => { e.Cancel = true; runner.Stop(); };

        if (options.File is not null) return runner.RunFile(options.File, options.FileArgs);
        if (options.Command is not null)
            return runner.RunCommand(options.Command == "-" ? Console.In.ReadToEnd() : options.Command);
        if (Console.IsInputRedirected) return runner.RunCommand(Console.In.ReadToEnd());
        return runner.Interactive(options.NoLogo);
    }

    /// <summary>Redirected output (or NO_COLOR) gets plain text: no ANSI sequences from $PSStyle in tables and errors.</summary>
    private static void PlainText(Runspace runspace)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = runspace;
        ps.AddScript("$PSStyle.OutputRendering = [System.Management.Automation.OutputRendering]::PlainText");
        ps.Invoke();
    }

    private static string PSVersionInfo() => typeof(PSObject).Assembly.GetName().Version?.ToString(3) ?? "?";
}

/// <summary>The parsed command line.</summary>
internal sealed class Options
{
    public string? Command { get; private set; }
    public string? File { get; private set; }
    public List<string> FileArgs { get; } = [];
    public bool NonInteractive { get; private set; }
    public bool NoLogo { get; private set; }
    public bool Help { get; private set; }
    public bool Version { get; private set; }

    // pwsh accepts any unambiguous prefix of its parameter names; these are the ones we support.
    private static bool Is(string arg, string name, int minLength)
    {
        var a = arg.TrimStart('-', '/');
        if (arg.Length == a.Length || a.Length < minLength) return false;
        return name.StartsWith(a, StringComparison.OrdinalIgnoreCase);
    }

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a is "-?" or "/?" or "-h" or "--help" || Is(a, "Help", 2)) { o.Help = true; continue; }
            if (Is(a, "Version", 1) || a == "--version") { o.Version = true; continue; }
            if (Is(a, "NoProfile", 3)) continue;
            if (Is(a, "NoLogo", 3)) { o.NoLogo = true; continue; }
            if (Is(a, "NonInteractive", 4)) { o.NonInteractive = true; continue; }
            if (Is(a, "Command", 1))
            {
                if (i + 1 >= args.Length) throw new ArgumentException("-Command needs a script.");
                o.Command = string.Join(' ', args[(i + 1)..]);
                return o;
            }
            if (Is(a, "File", 1))
            {
                if (i + 1 >= args.Length) throw new ArgumentException("-File needs the path of a script.");
                o.File = args[i + 1];
                o.FileArgs.AddRange(args[(i + 2)..]);
                return o;
            }
            if (a.StartsWith('-')) throw new ArgumentException($"Unknown option '{a}'.");
            // Like pwsh: the first argument that is not an option is the script file.
            o.File = a;
            o.FileArgs.AddRange(args[(i + 1)..]);
            return o;
        }
        return o;
    }
}
