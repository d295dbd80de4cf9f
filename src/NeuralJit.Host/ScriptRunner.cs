using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.Host;

/// <summary>Runs scripts in the host's runspace the way pwsh's console host does: output through Out-Default, errors merged and rendered on stderr.</summary>
internal sealed class ScriptRunner
{
    private readonly Runspace _runspace;
    private readonly NeuralJitHost _host;
    private PowerShell? _current;

    public ScriptRunner(Runspace runspace, NeuralJitHost host)
    {
        _runspace = runspace;
        _host = host;
    }

    public void Stop() => _current?.BeginStop(null, null);

    /// <summary>Reports the errors of the module import (the session state's import does not throw).</summary>
    public bool CheckModuleImported(string manifest)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddCommand("Get-Module").AddParameter("Name", "NeuralJit");
        if (ps.Invoke().Count > 0) return true;
        _host.UI.WriteErrorLine($"NeuralJit.Host: the module at {manifest} could not be imported.");
        using var retry = PowerShell.Create();
        retry.Runspace = _runspace;
        retry.AddCommand("Import-Module").AddParameter("Name", manifest);
        retry.AddCommand("Out-Default");
        retry.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
        try { retry.Invoke(); } catch (RuntimeException e) { Report(e.ErrorRecord); }
        return false;
    }

    /// <summary>-Command: 0 when the last pipeline succeeded ($? of the session), else 1; <c>exit N</c> gives N.</summary>
    public int RunCommand(string script)
    {
        // $? of the script's last statement is captured inside the script: a later pipeline would see its own.
        var ok = Run(ps => ps.AddScript(FormatEachStatement(script) + "\n$global:" + SucceededVariable + " = $?"));
        if (_host.ShouldExit) return _host.ExitCode;
        if (!ok) return 1;
        return LastStatementSucceeded() ? 0 : 1;
    }

    /// <summary>
    /// Appends <c>| Out-Default</c> to each top-level pipeline of a -Command script, so every statement is
    /// formatted on its own as if typed at a prompt: in <c>Invoke-NeuralInference; Get-NeuralHotspot</c> the
    /// hotspots get their table view instead of the list the formatter falls back to for a second type in
    /// one stream. The script still runs as one script (same error and $? semantics). Scripts that do not
    /// parse are left as they are, so the engine reports the parse error.
    /// </summary>
    internal static string FormatEachStatement(string script)
    {
        var ast = System.Management.Automation.Language.Parser.ParseInput(script, out _, out var errors);
        if (errors.Length > 0 || ast.EndBlock is null || ast.BeginBlock is not null || ast.ProcessBlock is not null) return script;
        var text = new System.Text.StringBuilder(script);
        foreach (var statement in ast.EndBlock.Statements.Reverse())
        {
            if (statement is System.Management.Automation.Language.PipelineAst { Background: false } pipeline)
                text.Insert(pipeline.Extent.EndOffset, " | Out-Default");
        }
        return text.ToString();
    }

    /// <summary>
    /// -File: runs the script with its arguments (-Name value, -Name:value, -Switch, or positional values that
    /// fill $args). Exit code: N when the script ran <c>exit N</c> (seen in $LASTEXITCODE), 1 after an
    /// uncaught terminating error, else 0.
    /// </summary>
    public int RunFile(string path, IReadOnlyList<string> args)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            _host.UI.WriteErrorLine($"The argument '{path}' is not recognized as the name of a script file. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.");
            return 64;
        }
        _runspace.SessionStateProxy.SetVariable("global:LASTEXITCODE", 0);
        var ok = Run(ps => ps.AddScript(FileInvocation(full, args)));
        if (_host.ShouldExit) return _host.ExitCode;
        if (!ok) return 1;
        var code = _runspace.SessionStateProxy.GetVariable("global:LASTEXITCODE");
        return (code is PSObject p ? p.BaseObject : code) is int n ? n : 0;
    }

    /// <summary>
    /// The script text that calls <paramref name="path"/> with <paramref name="args"/> as pwsh -File does:
    /// tokens shaped like a parameter name stay names (so the binder pairs "-Name value" and sees switches),
    /// every other argument is passed as a literal string (never evaluated).
    /// </summary>
    internal static string FileInvocation(string path, IReadOnlyList<string> args)
    {
        var text = new System.Text.StringBuilder("& ").Append(Quote(path));
        foreach (var a in args)
        {
            text.Append(' ');
            var m = System.Text.RegularExpressions.Regex.Match(a, @"^-([A-Za-z_][A-Za-z0-9_]*)(:(.*))?$", System.Text.RegularExpressions.RegexOptions.Singleline);
            if (!m.Success) { text.Append(Quote(a)); continue; }
            text.Append('-').Append(m.Groups[1].Value);
            if (!m.Groups[2].Success) continue;
            var value = m.Groups[3].Value;
            text.Append(':').Append(value.ToLowerInvariant() is "$true" or "$false" ? value : Quote(value));
        }
        return text.ToString();
    }

    private static string Quote(string s) => "'" + s.Replace("'", "''").Replace("\u2018", "\u2018\u2018").Replace("\u2019", "\u2019\u2019") + "'";

    /// <summary>A prompt loop for an interactive terminal.</summary>
    public int Interactive(bool noLogo)
    {
        if (!noLogo) _host.UI.WriteLine($"NeuralJit.Host {NeuralJitHost.InformationalVersion}. Get-Command -Module NeuralJit lists the cmdlets; 'exit' quits.");
        while (!_host.ShouldExit)
        {
            string location = "";
            try
            {
                using var ps = PowerShell.Create();
                ps.Runspace = _runspace;
                location = ps.AddScript("$PWD.Path").Invoke().FirstOrDefault()?.ToString() ?? "";
            }
            catch (RuntimeException) { }
            _host.UI.Write($"NJ {location}> ");
            var line = Console.ReadLine();
            if (line is null) break;
            if (line.Trim().Length == 0) continue;
            Run(ps => ps.AddScript(line));
        }
        return _host.ShouldExit ? _host.ExitCode : 0;
    }

    /// <summary>Runs one pipeline through Out-Default; false when it ended with a terminating error.</summary>
    private bool Run(Action<PowerShell> build)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _runspace;
        build(ps);
        ps.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
        ps.AddCommand("Out-Default");
        _current = ps;
        try
        {
            ps.Invoke();
            return true;
        }
        catch (RuntimeException e)
        {
            if (_host.ShouldExit) return true;
            Report(e.ErrorRecord);
            return false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Report(new ErrorRecord(e, "NeuralJitHostUnhandledException", ErrorCategory.NotSpecified, null));
            return false;
        }
        finally
        {
            _current = null;
        }
    }

    // Out-Default sends an object to the host's error line writer when the object is marked as coming from
    // the error stream (internal PSObject.WriteStream, set when errors are merged into output). pwsh's own
    // console host marks terminating errors the same way before rendering them; there is no public API for it.
    private static readonly System.Reflection.PropertyInfo? s_writeStream =
        typeof(PSObject).GetProperty("WriteStream", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);

    /// <summary>Renders a terminating error as pwsh does (its ErrorView, with the script position) on stderr.</summary>
    private void Report(ErrorRecord record)
    {
        try
        {
            if (s_writeStream is null) throw new MissingMemberException(nameof(PSObject), "WriteStream");
            var wrapped = new PSObject(record);
            s_writeStream.SetValue(wrapped, Enum.Parse(s_writeStream.PropertyType, "Error"));
            using var ps = PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddCommand("Out-Default");
            ps.Invoke(new object[] { wrapped });
        }
        catch (Exception)
        {
            var position = record.InvocationInfo?.PositionMessage;
            _host.UI.WriteErrorLine(string.IsNullOrEmpty(position) ? record.ToString() : position + Environment.NewLine + record);
        }
    }

    private const string SucceededVariable = "__NeuralJitHostLastSucceeded";

    private bool LastStatementSucceeded()
    {
        var value = _runspace.SessionStateProxy.GetVariable("global:" + SucceededVariable);
        _runspace.SessionStateProxy.PSVariable.Remove(SucceededVariable);
        return (value is PSObject p ? p.BaseObject : value) is true;
    }
}
