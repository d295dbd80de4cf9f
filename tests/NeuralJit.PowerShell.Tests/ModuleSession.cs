using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using System.Reflection;
using System.Security;
using System.Text;

// The cmdlets share one process-wide engine (NeuralEngine.Default): tests that count calls or reset the
// profile would see each other's work if they ran at the same time, so this assembly runs its tests one by one.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace NeuralJit.PowerShell.Tests;

/// <summary>Where things are: the staged manifest, the repository, its docs.</summary>
public static class Paths
{
    public static string Manifest => ModuleImportTests.ManifestPath();
    public static string ModuleDir => Path.GetDirectoryName(Manifest)!;

    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "NeuralJit.psd1")) && Directory.Exists(Path.Combine(d.FullName, "src"))) return d.FullName;
            throw new DirectoryNotFoundException("The repository root (NeuralJit.psd1 beside src/) was not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Docs => Path.Combine(RepoRoot, "docs");
}

/// <summary>
/// A runspace like a user's: InitialSessionState.CreateDefault2() with the staged module imported by its
/// manifest, and a PSHost whose UI captures what Out-Default renders (120 columns, no ANSI).
/// ExecutionPolicy is never set (it throws on Linux).
/// </summary>
/// <summary>
/// Sizes the code cache of the process-wide engine before any test compiles: the suite compiles far more kernels
/// (every test's shapes, both ISAs' examples) into that one engine than a session running a model does, and with the
/// default 64 KiB cache whichever test compiled last would find it full, depending on the order the tests ran in.
/// </summary>
internal static class TestProcessEngine
{
    public const int CodeCacheBytes = 4 << 20;

#pragma warning disable CA2255 // a test assembly's one-time process setup, before xunit runs any test
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void SizeTheCodeCache()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(Paths.Manifest);
        using var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddCommand("Set-NeuralJitOption").AddParameter("CodeCacheBytes", CodeCacheBytes);
        ps.Invoke();
        if (ps.HadErrors)
            throw new InvalidOperationException("Set-NeuralJitOption -CodeCacheBytes failed: " + string.Join("; ", ps.Streams.Error));
    }
}

public sealed class ModuleSession : IDisposable
{
    public CapturingHost Host { get; } = new();
    public Runspace Runspace { get; }

    /// <summary>Stops a trace left recording (the engine is process-wide, so one test's trace would reach the next).</summary>
    public const string StopTrace = "if ([NeuralJit.NeuralEngine]::Default.TraceRecording) { Stop-NeuralTrace -Confirm:$false | Out-Null }";

    private DirectoryInfo? _scratch;

    /// <summary>A session whose current location is a new temporary folder, with no trace recording; both undone on dispose.</summary>
    public static ModuleSession InScratchFolder(string prefix)
    {
        var s = new ModuleSession { _scratch = Directory.CreateTempSubdirectory(prefix) };
        s.Runspace.SessionStateProxy.Path.SetLocation(s._scratch.FullName);
        s.Run(StopTrace);
        return s;
    }

    /// <summary>The temporary folder of <see cref="InScratchFolder"/>.</summary>
    public DirectoryInfo Scratch => _scratch ?? throw new InvalidOperationException("This session has no scratch folder.");

    public ModuleSession()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(Paths.Manifest);
        Runspace = RunspaceFactory.CreateRunspace(Host, iss);
        Runspace.Open();
        using var ps = NewPowerShell();
        ps.AddScript("$PSStyle.OutputRendering = [System.Management.Automation.OutputRendering]::PlainText");
        ps.Invoke();
    }

    public System.Management.Automation.PowerShell NewPowerShell()
    {
        var ps = System.Management.Automation.PowerShell.Create();
        ps.Runspace = Runspace;
        return ps;
    }

    /// <summary>Runs a script; fails the test on any error unless <paramref name="allowErrors"/>.</summary>
    public Collection<PSObject> Run(string script, bool allowErrors = false)
    {
        using var ps = NewPowerShell();
        ps.AddScript(script);
        var result = ps.Invoke();
        if (!allowErrors && ps.Streams.Error.Count > 0)
            Assert.Fail($"The script wrote errors:\n{script}\n---\n" + string.Join("\n", ps.Streams.Error.Select(e => $"{e.FullyQualifiedErrorId}: {e}")));
        return result;
    }

    /// <summary>Runs a script and returns the errors it wrote (non-terminating) or threw (terminating).</summary>
    public List<ErrorRecord> Errors(string script)
    {
        using var ps = NewPowerShell();
        ps.AddScript(script);
        var errors = new List<ErrorRecord>();
        try { ps.Invoke(); }
        catch (RuntimeException e) { errors.Add(e.ErrorRecord); }
        errors.InsertRange(0, ps.Streams.Error);
        return errors;
    }

    /// <summary>The text Out-Default renders for the script's output, as a console user would see it.</summary>
    public string Render(string script)
    {
        Host.Clear();
        using var ps = NewPowerShell();
        ps.AddScript(script).AddCommand("Out-Default");
        ps.Invoke();
        if (ps.Streams.Error.Count > 0) Assert.Fail("Rendering wrote errors: " + string.Join("\n", ps.Streams.Error));
        return Host.Output;
    }

    public void Dispose()
    {
        if (_scratch is not null)
        {
            try { Run(StopTrace); }
            finally
            {
                Runspace.Dispose();
                _scratch.Delete(recursive: true);
            }
        }
        else Runspace.Dispose();
    }
}

/// <summary>A PSHost whose UI collects output in memory.</summary>
public sealed class CapturingHost : PSHost
{
    private readonly CapturingUI _ui = new();
    public override string Name => "NeuralJit.Tests";
    public override Version Version => new(1, 0);
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override PSHostUserInterface UI => _ui;
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override void SetShouldExit(int exitCode) { }
    public override void EnterNestedPrompt() => throw new NotSupportedException();
    public override void ExitNestedPrompt() => throw new NotSupportedException();
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }

    public string Output { get { lock (_ui.Gate) return _ui.Out.ToString(); } }
    public string ErrorOutput { get { lock (_ui.Gate) return _ui.Err.ToString(); } }
    public void Clear() { lock (_ui.Gate) { _ui.Out.Clear(); _ui.Err.Clear(); } }

    private sealed class CapturingUI : PSHostUserInterface
    {
        public readonly object Gate = new();
        public readonly StringBuilder Out = new();
        public readonly StringBuilder Err = new();
        private readonly RawUI _raw = new();
        public override PSHostRawUserInterface RawUI => _raw;
        // The engine decorates table headers with $PSStyle even with OutputRendering PlainText in a hosted
        // runspace; like pwsh with redirected output, keep the text a file would get.
        private static readonly System.Text.RegularExpressions.Regex s_ansi = new(@"\u001b\[[0-?]*[ -/]*[@-~]");
        private static string Plain(string s) => s_ansi.Replace(s, "");
        public override void Write(string value) { lock (Gate) Out.Append(Plain(value)); }
        public override void Write(ConsoleColor f, ConsoleColor b, string value) { lock (Gate) Out.Append(Plain(value)); }
        public override void WriteLine(string value) { lock (Gate) Out.Append(Plain(value)).Append('\n'); }
        public override void WriteErrorLine(string value) { lock (Gate) Err.Append(Plain(value)).Append('\n'); }
        public override void WriteDebugLine(string message) { lock (Gate) Out.Append("DEBUG: ").Append(message).Append('\n'); }
        public override void WriteVerboseLine(string message) { lock (Gate) Out.Append("VERBOSE: ").Append(message).Append('\n'); }
        public override void WriteWarningLine(string message) { lock (Gate) Out.Append("WARNING: ").Append(message).Append('\n'); }
        public override void WriteProgress(long sourceId, ProgressRecord record) { }
        public override string ReadLine() => throw new NotSupportedException("Tests never read input.");
        public override SecureString ReadLineAsSecureString() => throw new NotSupportedException();
        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) => throw new NotSupportedException("Tests never prompt.");
        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice) => throw new NotSupportedException("Tests never prompt: " + message);
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw new NotSupportedException();
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw new NotSupportedException();
    }

    private sealed class RawUI : PSHostRawUserInterface
    {
        public override ConsoleColor ForegroundColor { get; set; }
        public override ConsoleColor BackgroundColor { get; set; }
        public override Coordinates CursorPosition { get; set; }
        public override Coordinates WindowPosition { get; set; }
        public override int CursorSize { get; set; }
        public override Size BufferSize { get; set; } = new(120, 9001);
        public override Size WindowSize { get; set; } = new(120, 50);
        public override Size MaxWindowSize => WindowSize;
        public override Size MaxPhysicalWindowSize => WindowSize;
        public override bool KeyAvailable => false;
        public override string WindowTitle { get; set; } = "";
        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException();
        public override void FlushInputBuffer() { }
        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) => throw new NotSupportedException();
        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) => throw new NotSupportedException();
        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) => throw new NotSupportedException();
    }
}

/// <summary>What the module exports, read from the imported module: its cmdlets and their output types.</summary>
public static class ModuleSurface
{
    private static readonly Lazy<(List<CmdletInfo> Cmdlets, List<Type> OutputTypes)> s_surface = new(() =>
    {
        using var session = new ModuleSession();
        var cmdlets = session.Run("Get-Command -Module NeuralJit -CommandType Cmdlet").Select(o => (CmdletInfo)o.BaseObject).OrderBy(c => c.Name).ToList();
        var types = cmdlets.SelectMany(c => c.OutputType).Select(t => t.Type).Where(t => t is not null && t != typeof(void)).Distinct().OrderBy(t => t!.FullName).ToList();
        return (cmdlets, types!);
    });

    public static IReadOnlyList<CmdletInfo> Cmdlets => s_surface.Value.Cmdlets;
    public static IEnumerable<object[]> CmdletNames => Cmdlets.Select(c => new object[] { c.Name });

    /// <summary>The [OutputType] types of all exported cmdlets that belong to the module (namespace NeuralJit…).</summary>
    public static IReadOnlyList<Type> OutputTypes => s_surface.Value.OutputTypes.Where(t => t.FullName!.StartsWith("NeuralJit", StringComparison.Ordinal)).ToList();
    public static IEnumerable<object[]> OutputTypeNames => OutputTypes.Select(t => new object[] { t.FullName! });

    public static Type OutputType(string fullName) => OutputTypes.Single(t => t.FullName == fullName);

    /// <summary>
    /// How to obtain a real instance of output types that are handles rather than plain records (no parameterless
    /// constructor): the module's own cmdlet that makes one.
    /// </summary>
    private static readonly Dictionary<string, string> s_sampleScripts = new(StringComparer.Ordinal)
    {
        ["NeuralJit.NeuralModel"] = "New-NeuralModel -InputSize 2 -HiddenSize 3",
        ["NeuralJit.NeuralSession"] = "New-NeuralModel -InputSize 2 -HiddenSize 3 | New-NeuralSession",
    };

    /// <summary>
    /// An instance of <paramref name="type"/>: default-constructed for plain records, otherwise what the cmdlet in
    /// <see cref="s_sampleScripts"/> returns. Fails for a type without either, so no output type escapes the tests.
    /// </summary>
    public static object Sample(Type type, ModuleSession? session)
    {
        if (type.GetConstructor(Type.EmptyTypes) is not null) return Activator.CreateInstance(type)!;
        Assert.NotNull(session);
        Assert.True(s_sampleScripts.TryGetValue(type.FullName!, out var script),
            $"{type.FullName} has no parameterless constructor: add the cmdlet that makes one to ModuleSurface.Sample.");
        var instance = Assert.Single(session!.Run(script!)).BaseObject;
        Assert.IsType(type, instance);
        return instance;
    }

    public static readonly HashSet<string> CommonParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable", "WarningVariable",
        "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable",
    };
}
