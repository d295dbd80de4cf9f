using System.Management.Automation;
using NeuralJit.Jit;
using NeuralJit.Profiling;

namespace NeuralJit.PowerShell.Commands;

/// <summary>Describes the engine the module uses: CPU features, the ISA the JIT would emit, the clock, thresholds and table sizes.</summary>
[Cmdlet(VerbsCommon.Get, "NeuralEngine")]
[OutputType(typeof(EngineInfo))]
public sealed class GetNeuralEngineCommand : PSCmdlet
{
    protected override void EndProcessing() => WriteObject(EngineInfo.From(NeuralEngine.Default));
}
