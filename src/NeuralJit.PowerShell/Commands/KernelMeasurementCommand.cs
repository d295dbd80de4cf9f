using System.Management.Automation;
using NeuralJit.Ops;
using NeuralJit.PowerShell.Completers;
using NeuralJit.Reporting;

namespace NeuralJit.PowerShell.Commands;

/// <summary>
/// What Export-NeuralRoofline and Export-NeuralReport share: Compare-JitSpeedup results bound from the pipeline by
/// property name (so <c>Import-Csv ci-gate.csv</c> rows bind too), collected per input; with no input, the kernels of the
/// current profile instead. A row whose Operation or Dims does not parse is this cmdlet's non-terminating error.
/// </summary>
public abstract class KernelMeasurementCommand : PSCmdlet, IDisposable
{
    /// <summary>The file to write (relative paths resolve against the current location).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    public string Path { get; set; } = "";

    /// <summary>The operation of a measured kernel (Compare-JitSpeedup's Operation).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(OperationCompleter))]
    public string? Operation { get; set; }

    /// <summary>The shape of a measured kernel (Compare-JitSpeedup's Dims).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(DimsCompleter))]
    public string? Dims { get; set; }

    /// <summary>The ISA of the JIT kernel.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Isa { get; set; }

    /// <summary>The bound Isa as the enum results carry; None when the row names no ISA this module knows.</summary>
    private protected JitIsa BoundIsa => Enum.TryParse<JitIsa>(Isa, ignoreCase: true, out var isa) ? isa : JitIsa.None;

    /// <summary>The baseline tier measured against the JIT (Scalar or ManagedSimd).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Baseline { get; set; }

    /// <summary>The baseline's median nanoseconds per call.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double BaselineNanoseconds { get; set; }

    /// <summary>The JIT kernel's median nanoseconds per call.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double JitNanoseconds { get; set; }

    /// <summary>A title for the chart or report.</summary>
    [Parameter]
    public string? Title { get; set; }

    /// <summary>Do not overwrite an existing file.</summary>
    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    /// <summary>Return the written file.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private protected readonly List<SpeedupResult> Measured = [];
    private protected readonly List<KernelPoint> MeasuredPoints = [];
    private protected readonly CancellationTokenSource Stop = new();
    private string IdPrefix => OutputFile.IdPrefix(this);

    protected override void StopProcessing() => Stop.Cancel();

    /// <summary>PowerShell disposes a cmdlet when its pipeline ends.</summary>
    public void Dispose()
    {
        Stop.Dispose();
        GC.SuppressFinalize(this);
    }

    protected override void ProcessRecord()
    {
        if (Operation is null && Dims is null) return; // no pipeline row: the profile is used at the end
        if (!Enum.TryParse<OpKind>(Operation, ignoreCase: true, out var op) || !Enum.IsDefined(op)
            || !OpKey.TryParse(op, Dims, out var key, out var why))
        {
            string what = Enum.TryParse<OpKind>(Operation, true, out _) ? $"Dims '{Dims}' do not describe a {Operation} shape" : $"'{Operation}' is not an operation";
            WriteError(NeuralErrors.InvalidArgument($"{what}; the row is left out.", IdPrefix + "InvalidKernel", $"{Operation} {Dims}",
                "Pipe Compare-JitSpeedup results (or rows with its Operation, Dims, BaselineNanoseconds and JitNanoseconds)."));
            return;
        }
        MeasuredPoints.Add(new KernelPoint(key, Isa ?? "", Baseline ?? "baseline",
            BaselineNanoseconds > 0 ? BaselineNanoseconds : null, JitNanoseconds > 0 ? JitNanoseconds : null));
        Measured.Add(ToResult(key));
    }

    /// <summary>The bound row as a SpeedupResult (the report's table reads the extra properties its subclass binds).</summary>
    private protected virtual SpeedupResult ToResult(OpKey key) => new()
    {
        Operation = key.Op, Dims = key.Dims, Isa = BoundIsa, Baseline = Baseline ?? "",
        BaselineNanoseconds = BaselineNanoseconds, JitNanoseconds = JitNanoseconds,
        Speedup = JitNanoseconds > 0 ? BaselineNanoseconds / JitNanoseconds : 0,
    };

    /// <summary>
    /// The piped kernels, or with no input the profile's keys at the tier each runs on now, timed by that tier's calls only
    /// (a key promoted mid-run averages its managed and JIT calls in AvgNanoseconds); a key none of whose current calls was
    /// timed yet is left out.
    /// </summary>
    private protected IReadOnlyList<KernelPoint> Points(IReadOnlyList<HotspotRecord> hotspots)
    {
        if (MeasuredPoints.Count > 0 || MyInvocation.ExpectingInput) return MeasuredPoints;
        var points = new List<KernelPoint>();
        foreach (var h in hotspots)
        {
            if (!OpKey.TryParse(h.Operation, h.Dims, out var key, out _) || h.TierAvgNanoseconds is not { } ns) continue;
            bool jit = h.Tier != HotspotTier.Managed;
            points.Add(new KernelPoint(key, h.Tier.ToString(), "ManagedSimd", jit ? null : ns, jit ? ns : null));
        }
        return points;
    }

    /// <summary>The measured roofline (cached for the process; the first use measures for seconds).</summary>
    private protected RooflineResult? MeasureRoofline()
    {
        if (Platform.CpuFeatures.Best == Platform.JitIsa.None)
        {
            WriteError(NeuralErrors.Create(new PlatformNotSupportedException("The roofline loops need an x86-64 CPU with AVX2 and FMA."),
                IdPrefix + "UnsupportedCpu", ErrorCategory.NotImplemented, Platform.CpuFeatures.Describe(), "Run on an x86-64 CPU with AVX2 and FMA."));
            return null;
        }
        return Benchmarking.Roofline.Cached;
    }

    /// <summary>Writes <paramref name="text"/> through a staged file (nothing left behind on failure), with ShouldProcess and -PassThru.</summary>
    private protected void WriteOutput(string what, Func<string> text)
    {
        if (OutputFile.Resolve(this, Path, NoClobber, Example) is not { } file) return;
        if (!ShouldProcess(file, $"Write {what}")) return;
        try
        {
            string content = text();
            StagedFile.Write(file, overwrite: !NoClobber, stream =>
            {
                using var w = new StreamWriter(stream, new System.Text.UTF8Encoding(false));
                w.Write(content);
                return 0;
            });
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(OutputFile.WriteFailed(this, e, Path));
            return;
        }
        if (PassThru) WriteObject(new FileInfo(file));
    }

    /// <summary>A file name to suggest in errors ("./roofline.svg").</summary>
    private protected abstract string Example { get; }
}
