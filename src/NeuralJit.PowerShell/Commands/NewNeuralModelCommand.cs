using System.Management.Automation;
using NeuralJit.Models;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// Creates a <see cref="NeuralModel"/> with PyTorch's default initialisation drawn from a seed: LSTM
/// layers, an optional DNC memory (-MemorySlots, -MemoryWidth, -ReadHeads) and a Linear head.
/// </summary>
[Cmdlet(VerbsCommon.New, "NeuralModel")]
[OutputType(typeof(NeuralModel))]
public sealed class NewNeuralModelCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0)] [ValidateRange(1, 1 << 20)] public int InputSize { get; set; }
    [Parameter(Mandatory = true, Position = 1)] [ValidateRange(1, 1 << 16)] public int HiddenSize { get; set; }
    [Parameter] [ValidateRange(1, 64)] public int Layers { get; set; } = 1;
    [Parameter] [ValidateRange(1, 1 << 20)] public int OutputSize { get; set; } = 10;
    [Parameter] [ValidateRange(1, NeuralModel.MaxMemorySlots)] public int MemorySlots { get; set; }
    [Parameter] [ValidateRange(1, 1 << 16)] public int MemoryWidth { get; set; }
    [Parameter] [ValidateRange(1, 256)] public int ReadHeads { get; set; }
    [Parameter] public int Seed { get; set; } = 42;

    protected override void EndProcessing()
    {
        bool slots = MyInvocation.BoundParameters.ContainsKey(nameof(MemorySlots));
        bool width = MyInvocation.BoundParameters.ContainsKey(nameof(MemoryWidth));
        bool heads = MyInvocation.BoundParameters.ContainsKey(nameof(ReadHeads));
        if (slots != width || (heads && !slots))
        {
            string missing = !slots ? "-MemorySlots" : "-MemoryWidth";
            var e = new ArgumentException($"A DNC memory needs both -MemorySlots and -MemoryWidth (-ReadHeads defaults to 1); {missing} is missing.");
            ThrowTerminatingError(NeuralErrors.Create(e, "NewNeuralModelIncompleteMemory", ErrorCategory.InvalidArgument,
                MyInvocation.BoundParameters, $"Add {missing}, or leave out every memory parameter for a plain LSTM."));
        }
        var sizes = new NetworkSizes(InputSize, HiddenSize, OutputSize, Layers)
        {
            MemorySlots = slots ? MemorySlots : 0,
            MemoryWidth = slots ? MemoryWidth : 0,
            ReadHeads = slots ? (heads ? ReadHeads : 1) : 0,
        };
        NeuralModel model;
        try { model = NeuralModel.Create(sizes, Seed); }
        catch (MemoryBudgetException e)
        {
            ThrowTerminatingError(NeuralErrors.Create(e, "NewNeuralModelTooLarge", ErrorCategory.LimitsExceeded, sizes,
                NeuralErrors.TooLargeAction(e, $"Use smaller sizes: a model's parameters and state (a DNC's N×N link matrix included) may take at most {MemoryBudget.Bytes(e.LimitBytes)}.")));
            return;
        }
        WriteObject(model);
    }
}
