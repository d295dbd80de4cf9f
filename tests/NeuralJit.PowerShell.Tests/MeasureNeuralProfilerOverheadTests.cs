using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.PowerShell.Tests;

public class MeasureNeuralProfilerOverheadTests
{
    private static System.Management.Automation.PowerShell Session()
    {
        var ps = System.Management.Automation.PowerShell.Create(InitialSessionState.CreateDefault2());
        ps.AddCommand("Import-Module").AddParameter("Name", ModuleImportTests.ManifestPath()).Invoke();
        ps.Commands.Clear();
        return ps;
    }

    [Fact]
    public void ReturnsOneTypedResultWithExactCountsAndConsistentMedians()
    {
        using var ps = Session();
        ps.AddScript("Measure-NeuralProfilerOverhead -Steps 20 -Rounds 3");
        var output = ps.Invoke();
        Assert.False(ps.HadErrors, string.Join("\n", ps.Streams.Error));
        var o = Assert.Single(output);
        Assert.Equal("NeuralJit.ProfilerOverheadResult", o.BaseObject.GetType().FullName);
        T P<T>(string name) => (T)o.Properties[name].Value;
        Assert.Equal((20, 3, 2), (P<int>("Steps"), P<int>("Rounds"), P<int>("CallsPerStep"))); // the LSTM step and the head
        Assert.True(P<bool>("CountsExact"));
        Assert.Equal(20L * 3 * 2, P<long>("ProfiledCalls"));
        Assert.True(P<double>("NanosecondsPerStepOn") > 0 && P<double>("NanosecondsPerStepOff") > 0);
        Assert.InRange(P<double>("Ratio"), P<double>("MinRatio"), P<double>("MaxRatio"));
        Assert.Equal((P<double>("Ratio") - 1) * 100, P<double>("OverheadPercent"), 9);
        Assert.InRange(P<double>("MeasuredCallFraction"), 0, 1);
        Assert.StartsWith("LSTM 64→128", P<string>("Model"));
    }

    [Fact]
    public void RejectsNonPositiveSteps()
    {
        using var ps = Session();
        ps.AddScript("Measure-NeuralProfilerOverhead -Steps 0");
        var output = ps.Invoke();
        Assert.Empty(output);
        var error = Assert.Single(ps.Streams.Error);
        Assert.StartsWith("ParameterArgumentValidationError", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
    }
}
