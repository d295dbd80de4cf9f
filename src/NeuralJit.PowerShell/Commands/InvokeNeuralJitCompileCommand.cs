using System.Management.Automation;
using NeuralJit.Jit;
using NeuralJit.Ops;
using NeuralJit.PowerShell.Completers;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Compiles an (operation, dims) now, without waiting for the profile, and installs it where the profile
/// already runs that key with the engine's ISA. Binds Operation and Dims by property name, so
/// <c>Get-NeuralHotspot -Status Candidate | Invoke-NeuralJitCompile</c> compiles every candidate.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "NeuralJitCompile", SupportsShouldProcess = true)]
[OutputType(typeof(JitKernelInfo))]
public sealed class InvokeNeuralJitCompileCommand : PSCmdlet
{
    /// <summary>The operation to compile.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(OperationCompleter))]
    public OpKind Operation { get; set; }

    /// <summary>The shape as Get-NeuralHotspot shows it: "256x64", "64x64x64", "512x192", "128".</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DimsCompleter))]
    public string Dims { get; set; } = "";

    /// <summary>Compile for this ISA instead of the engine's (for comparisons; such a kernel is not installed).</summary>
    [Parameter]
    [ValidateSet("Avx2", "Avx512")]
    public JitIsa Isa { get; set; }

    protected override void ProcessRecord()
    {
        if (!OpKey.TryParse(Operation, Dims, out var key, out var parseError))
        {
            WriteError(NeuralErrors.InvalidArgument(parseError!, "InvokeNeuralJitCompileInvalidDims", Dims,
                "Pass -Dims as Get-NeuralHotspot shows it for this operation, e.g. 256x64."));
            return;
        }
        var engine = NeuralEngine.Default;
        JitIsa? requested = MyInvocation.BoundParameters.ContainsKey(nameof(Isa)) ? Isa : null;
        var isa = requested ?? engine.Jit.Isa;
        // Said before ShouldProcess: -WhatIf must not announce a compile that cannot happen.
        if (engine.Jit.CannotCompile(key, requested) is { } cannot)
        {
            WriteError(NeuralErrors.JitFailed(this, key, isa, cannot));
            return;
        }
        if (!ShouldProcess($"{key.Op} {key.Dims}", $"Compile for {isa}")) return;

        if (!engine.Jit.TryCompile(key, requested, out var kernel, out var failure))
        {
            WriteError(NeuralErrors.JitFailed(this, key, isa, failure!));
            return;
        }
        WriteVerbose($"{key}: compiled for {kernel!.Isa}: {kernel.Code.Length:N0} code bytes in {kernel.CompileMicroseconds:N1} µs.");
        if (kernel.Isa == engine.Jit.Isa && engine.Profile.Find(key) is { } slot && engine.Promotion.Install(slot, kernel))
            WriteVerbose($"{key}: installed; its calls now run the {kernel.Isa} kernel at 0x{(long)kernel.Entry:X}.");
        WriteObject(JitKernelInfo.From(engine, kernel));
    }
}
