using System.Management.Automation;
using NeuralJit.Ops;
using NeuralJit.PowerShell.Completers;

namespace NeuralJit.PowerShell.Commands;

/// <summary>The kernels the JIT compiled in this session: size, compile time, calls, address, and on request the Intel-syntax listing.</summary>
[Cmdlet(VerbsCommon.Get, "NeuralJitKernel")]
[OutputType(typeof(JitKernelInfo))]
public sealed class GetNeuralJitKernelCommand : PSCmdlet
{
    /// <summary>The type name the -Disassemble output carries first (NeuralJit.format.ps1xml has its view).</summary>
    public const string DisassemblyTypeName = "NeuralJit.JitKernelInfo#Disassembly";

    /// <summary>Only kernels of these operations.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(OperationCompleter))]
    public OpKind[]? Operation { get; set; }

    /// <summary>Add the disassembly (Intel syntax, decoded by Iced) as the Disassembly property.</summary>
    [Parameter]
    public SwitchParameter Disassemble { get; set; }

    protected override void ProcessRecord()
    {
        var engine = NeuralEngine.Default;
        foreach (var kernel in engine.Jit.Kernels)
        {
            if (Operation is { Length: > 0 } && Array.IndexOf(Operation, kernel.Key.Op) < 0) continue;
            var info = JitKernelInfo.From(engine, kernel, Disassemble.IsPresent);
            if (!Disassemble) { WriteObject(info); continue; }
            // A type name of its own selects the listing view: the code shows without Format-List or Select-Object.
            var o = PSObject.AsPSObject(info);
            o.TypeNames.Insert(0, DisassemblyTypeName);
            WriteObject(o);
        }
    }
}
