using System.Management.Automation;

namespace NeuralJit.PowerShell;

/// <summary>
/// Binds the usual -Sequence argument, an object[] whose items are all float[] (what <c>foreach { , [float[]]… }</c> or
/// <c>, $x</c> makes), to float[][] by taking the same arrays, as PowerShell's own conversion does, without its
/// per-element conversion cost (most of a one-step call's binding). Anything else goes on to PowerShell's conversion as it is.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class TimeStepsTransformationAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        if ((inputData is PSObject p ? p.BaseObject : inputData) is not object[] items) return inputData;
        var steps = new float[items.Length][];
        for (int i = 0; i < items.Length; i++)
        {
            if ((items[i] is PSObject q ? q.BaseObject : items[i]) is not float[] x) return inputData;
            steps[i] = x;
        }
        return steps;
    }
}
