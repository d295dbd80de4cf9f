using System.Management.Automation;

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

    public static ErrorRecord InvalidArgument(string message, string errorId, object? target, string recommendedAction) =>
        Create(new ArgumentException(message), errorId, ErrorCategory.InvalidArgument, target, recommendedAction);

    public static ErrorRecord InvalidOperation(string message, string errorId, object? target, string recommendedAction) =>
        Create(new InvalidOperationException(message), errorId, ErrorCategory.InvalidOperation, target, recommendedAction);
}
