using System.Globalization;
using System.Management.Automation.Host;
using System.Reflection;

namespace NeuralJit.Host;

/// <summary>The PSHost: identity, culture, the console UI, and the exit code that <c>exit N</c> sets.</summary>
internal sealed class NeuralJitHost : PSHost
{
    private readonly HostUserInterface _ui;

    public NeuralJitHost(bool nonInteractive) => _ui = new HostUserInterface(nonInteractive);

    public override string Name => "NeuralJit.Host";
    public override Version Version { get; } = typeof(NeuralJitHost).Assembly.GetName().Version ?? new Version(0, 1);
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override PSHostUserInterface UI => _ui;
    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    /// <summary>True once a script ran <c>exit</c>; <see cref="ExitCode"/> is its argument.</summary>
    public bool ShouldExit { get; private set; }
    public int ExitCode { get; private set; }

    public override void SetShouldExit(int exitCode)
    {
        ShouldExit = true;
        ExitCode = exitCode;
    }

    public override void EnterNestedPrompt() => throw new NotSupportedException("NeuralJit.Host has no nested prompt.");
    public override void ExitNestedPrompt() => throw new NotSupportedException("NeuralJit.Host has no nested prompt.");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }

    public static string InformationalVersion =>
        typeof(NeuralJitHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
