using System.Management.Automation;
using NeuralJit.Jit;
using NeuralJit.Ops;

namespace NeuralJit.PowerShell;

/// <summary>
/// Builds the module's error records: a stable id &lt;CmdletNoun&gt;&lt;Reason&gt;, a category, the offending
/// object as target, and ErrorDetails whose RecommendedAction says what to do next.
/// </summary>
internal static class NeuralErrors
{
    /// <summary>The error record; its ErrorDetails message is <paramref name="details"/>, or the exception's message when null.</summary>
    public static ErrorRecord Create(Exception exception, string errorId, ErrorCategory category, object? target, string recommendedAction, string? details = null) =>
        new(exception, errorId, category, target)
        {
            ErrorDetails = new ErrorDetails(details ?? exception.Message) { RecommendedAction = recommendedAction },
        };

    /// <summary>
    /// What to do about a network the budget refused: <paramref name="bytesAction"/> when its bytes were too many,
    /// else how to make one time step cheaper.
    /// </summary>
    public static string TooLargeAction(MemoryBudgetException e, string bytesAction) => e.StepFlops is null ? bytesAction
        : $"Use fewer DNC read heads or memory slots (each read head is a pass over the N×N link matrix and the N×W memory): one time step may take at most {MemoryBudget.MaxStepFlops / 1e9:N1} GFLOP.";

    public static ErrorRecord InvalidArgument(string message, string errorId, object? target, string recommendedAction) =>
        Create(new ArgumentException(message), errorId, ErrorCategory.InvalidArgument, target, recommendedAction);

    /// <summary>
    /// The error for a key the JIT did not compile: id &lt;VerbNoun of <paramref name="cmdlet"/>&gt;&lt;failure kind&gt;, the key as
    /// target, and per kind the one category and recommended action every cmdlet uses.
    /// </summary>
    public static ErrorRecord JitFailed(PSCmdlet cmdlet, OpKey key, JitIsa isa, JitFailure failure)
    {
        string cmdletNoun = cmdlet.MyInvocation.MyCommand.Name.Replace("-", "", StringComparison.Ordinal);
        var (category, action) = failure.Kind switch
        {
            // Every OpKind has an emitter for both ISAs (KernelEmitters checks OpSpec.HasEmitter at start-up), so only an op added without one gets here.
            JitFailureKind.NoEmitter => (ErrorCategory.NotImplemented, "No emitter in this build handles the operation (it was added with OpSpec.HasEmitter = false): its keys run on the managed tier until one is written."),
            JitFailureKind.IsaUnavailable => (ErrorCategory.NotEnabled, "Pass an -Isa this CPU has (Get-NeuralEngine shows BestIsa). A cap of None (Set-NeuralJitOption -Isa None, NEURALJIT_MAX_ISA=None) holds once a compile was tried: start a new session without it."),
            JitFailureKind.InvalidDims => (ErrorCategory.InvalidArgument, "Pass dims that satisfy the operation's contract, as Get-NeuralHotspot shows them."),
            JitFailureKind.UnsupportedShape => (ErrorCategory.InvalidArgument, "The JIT declines this shape (its strides or size exceed what the emitter encodes); it runs on the managed tier."),
            JitFailureKind.CacheFull => (ErrorCategory.LimitsExceeded, "Raise the cache with Set-NeuralJitOption -CodeCacheBytes in a new session, or compile fewer shapes."),
            JitFailureKind.NoExecutableMemory => (ErrorCategory.ResourceUnavailable, "The OS refuses executable memory (SELinux execmem, PaX): the managed tier stays in use."),
            _ => throw new ArgumentOutOfRangeException(nameof(failure), failure.Kind, "No error mapping for this failure kind."),
        };
        return Create(new JitCompilationException(key, isa, failure), cmdletNoun + failure.Kind, category, key, action,
            details: $"{key} was not compiled for {isa}: {failure.Message}");
    }

    public static ErrorRecord InvalidOperation(string message, string errorId, object? target, string recommendedAction) =>
        Create(new InvalidOperationException(message), errorId, ErrorCategory.InvalidOperation, target, recommendedAction);
}
