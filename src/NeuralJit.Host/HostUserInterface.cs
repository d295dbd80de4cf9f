using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace NeuralJit.Host;

/// <summary>
/// The host's UI: formatted output (what Out-Default renders) to stdout, errors to stderr, warnings,
/// verbose and debug lines to stdout with pwsh's prefixes, progress on stderr only when stderr is a
/// terminal. Colours (ANSI) only on a terminal and without NO_COLOR; redirected output is plain text.
/// </summary>
internal sealed class HostUserInterface : PSHostUserInterface
{
    private readonly HostRawUserInterface _raw = new();
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _outColor;
    private readonly bool _errColor;
    private readonly bool _showProgress;
    private readonly object _gate = new();
    private bool _progressShown;

    public HostUserInterface(bool nonInteractive)
    {
        _out = Console.Out;
        _err = Console.Error;
        NonInteractive = nonInteractive || Console.IsInputRedirected;
        bool colorAllowed = Environment.GetEnvironmentVariable("NO_COLOR") is null && Environment.GetEnvironmentVariable("TERM") != "dumb";
        _outColor = colorAllowed && !Console.IsOutputRedirected;
        _errColor = colorAllowed && !Console.IsErrorRedirected;
        _showProgress = !Console.IsErrorRedirected && !nonInteractive;
    }

    public bool NonInteractive { get; }

    public override PSHostRawUserInterface RawUI => _raw;

    /// <summary>Tells the formatter whether it may emit ANSI sequences ($PSStyle): only on a terminal.</summary>
    public override bool SupportsVirtualTerminal => _outColor;

    public override void Write(string value) { lock (_gate) { ClearProgress(); _out.Write(Plain(value, _outColor)); } }

    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value)
    {
        lock (_gate)
        {
            ClearProgress();
            _out.Write(_outColor ? Colored(foregroundColor, value) : Plain(value, false));
        }
    }

    public override void WriteLine(string value) { lock (_gate) { ClearProgress(); _out.WriteLine(Plain(value, _outColor)); } }

    public override void WriteErrorLine(string value)
    {
        lock (_gate)
        {
            ClearProgress();
            _err.WriteLine(!_errColor ? Plain(value, false) : value.Contains('\u001b') ? value : Colored(ConsoleColor.Red, value));
        }
    }

    public override void WriteWarningLine(string message) => Prefixed("WARNING: ", ConsoleColor.Yellow, message);
    public override void WriteVerboseLine(string message) => Prefixed("VERBOSE: ", ConsoleColor.Yellow, message);
    public override void WriteDebugLine(string message) => Prefixed("DEBUG: ", ConsoleColor.Yellow, message);

    private void Prefixed(string prefix, ConsoleColor color, string message)
    {
        lock (_gate)
        {
            ClearProgress();
            _out.WriteLine(_outColor ? Colored(color, prefix + message) : Plain(prefix + message, false));
        }
    }

    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        if (!_showProgress) return;
        lock (_gate)
        {
            if (record.RecordType == ProgressRecordType.Completed) { ClearProgress(); return; }
            int width = Math.Max(20, _raw.BufferSize.Width - 1);
            string pct = record.PercentComplete >= 0 ? $" {record.PercentComplete,3}%" : "";
            string line = $"{record.Activity}: {record.StatusDescription}{pct}";
            if (line.Length > width) line = line[..width];
            _err.Write("\r" + line.PadRight(width) + "\r");
            _err.Flush();
            _progressShown = true;
        }
    }

    private void ClearProgress()
    {
        if (!_progressShown) return;
        _err.Write("\r" + new string(' ', Math.Max(20, _raw.BufferSize.Width - 1)) + "\r");
        _err.Flush();
        _progressShown = false;
    }

    // CSI (colours, cursor) and OSC (hyperlinks, titles) sequences.
    private static readonly System.Text.RegularExpressions.Regex s_ansi =
        new(@"\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(\u0007|\u001b\\)", System.Text.RegularExpressions.RegexOptions.Compiled);

    /// <summary>
    /// Text without ANSI sequences unless the stream is a terminal: the engine decorates table headers
    /// ($PSStyle) for any host that it thinks renders them, so redirected output is cleaned here.
    /// </summary>
    internal static string Plain(string value, bool keepAnsi) =>
        keepAnsi || value.IndexOf('\u001b') < 0 ? value : s_ansi.Replace(value, "");

    private static string Colored(ConsoleColor color, string text)
    {
        int code = color switch
        {
            ConsoleColor.Black => 30, ConsoleColor.DarkRed => 31, ConsoleColor.DarkGreen => 32, ConsoleColor.DarkYellow => 33,
            ConsoleColor.DarkBlue => 34, ConsoleColor.DarkMagenta => 35, ConsoleColor.DarkCyan => 36, ConsoleColor.Gray => 37,
            ConsoleColor.DarkGray => 90, ConsoleColor.Red => 91, ConsoleColor.Green => 92, ConsoleColor.Yellow => 93,
            ConsoleColor.Blue => 94, ConsoleColor.Magenta => 95, ConsoleColor.Cyan => 96, _ => 97,
        };
        return $"\u001b[{code}m{text}\u001b[0m";
    }

    public override string ReadLine()
    {
        if (NonInteractive && Console.IsInputRedirected) return Console.In.ReadLine() ?? "";
        return Console.ReadLine() ?? "";
    }

    public override SecureString ReadLineAsSecureString()
    {
        RequireInteractive("read a secure string");
        var s = new SecureString();
        while (true)
        {
            var k = Console.ReadKey(intercept: true);
            if (k.Key == ConsoleKey.Enter) break;
            if (k.Key == ConsoleKey.Backspace) { if (s.Length > 0) s.RemoveAt(s.Length - 1); continue; }
            s.AppendChar(k.KeyChar);
        }
        Console.WriteLine();
        s.MakeReadOnly();
        return s;
    }

    public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions)
    {
        RequireInteractive("prompt for " + string.Join(", ", descriptions.Select(d => d.Name)));
        if (!string.IsNullOrEmpty(caption)) WriteLine(caption);
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
        var result = new Dictionary<string, PSObject>();
        foreach (var d in descriptions)
        {
            Write(d.Name + ": ");
            result[d.Name] = PSObject.AsPSObject(ReadLine());
        }
        return result;
    }

    public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
    {
        RequireInteractive("ask: " + message);
        if (!string.IsNullOrEmpty(caption)) WriteLine(caption);
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
        var hot = choices.Select(c =>
        {
            int amp = c.Label.IndexOf('&');
            return amp >= 0 && amp + 1 < c.Label.Length ? c.Label[amp + 1].ToString().ToUpperInvariant() : c.Label;
        }).ToList();
        while (true)
        {
            var parts = choices.Select((c, i) => $"[{hot[i]}] {c.Label.Replace("&", "")}");
            Write(string.Join("  ", parts) + (defaultChoice >= 0 ? $"  (default is \"{hot[defaultChoice]}\"): " : ": "));
            var answer = ReadLine().Trim();
            if (answer.Length == 0 && defaultChoice >= 0) return defaultChoice;
            int index = hot.FindIndex(h => string.Equals(h, answer, StringComparison.OrdinalIgnoreCase));
            if (index >= 0) return index;
            index = choices.ToList().FindIndex(c => string.Equals(c.Label.Replace("&", ""), answer, StringComparison.OrdinalIgnoreCase));
            if (index >= 0) return index;
        }
    }

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
        PromptForCredential(caption, message, userName, targetName, PSCredentialTypes.Default, PSCredentialUIOptions.Default);

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
        PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options)
    {
        RequireInteractive("prompt for a credential");
        if (!string.IsNullOrEmpty(message)) WriteLine(message);
        if (string.IsNullOrEmpty(userName)) { Write("User: "); userName = ReadLine(); }
        Write("Password for " + userName + ": ");
        return new PSCredential(userName, ReadLineAsSecureString());
    }

    private void RequireInteractive(string what)
    {
        if (NonInteractive)
            throw new PSInvalidOperationException($"NeuralJit.Host is running non-interactively and cannot {what}. Pass the value as a parameter (for ShouldProcess prompts, -Confirm:$false).");
    }

}
