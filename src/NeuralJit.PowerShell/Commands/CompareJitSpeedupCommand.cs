using System.Management.Automation;
using NeuralJit.Benchmarking;
using NeuralJit.Jit;
using NeuralJit.Ops;
using NeuralJit.PowerShell.Completers;

namespace NeuralJit.PowerShell.Commands;

/// <summary>Which managed tier(s) Compare-JitSpeedup measures the JIT against.</summary>
public enum SpeedupBaseline
{
    Scalar,
    ManagedSimd,
    All,
}

/// <summary>
/// Compiles the JIT kernel of each (op, dims) and measures it against a managed baseline, interleaved in
/// one run: one <see cref="SpeedupResult"/> per (op, dims, baseline). With no -Operation it measures the
/// reference shapes. Kernels are compiled in a private engine (released at the end), so the default engine's
/// code cache and profile are untouched.
/// </summary>
[Cmdlet(VerbsData.Compare, "JitSpeedup", DefaultParameterSetName = ByTime)]
[OutputType(typeof(SpeedupResult))]
public sealed class CompareJitSpeedupCommand : PSCmdlet, IDisposable
{
    private const string ByTime = "ByTime";
    private const string ByIterations = "ByIterations";

    /// <summary>What runs without -Operation (see <see cref="SpeedupBenchmark.SeedTable"/>).</summary>
    internal static IReadOnlyList<OpKey> SeedTable => SpeedupBenchmark.SeedTable;

    private readonly CancellationTokenSource _stop = new();
    private readonly List<(OpKey Key, string? Isa)> _keys = new();
    private NeuralEngine? _engine;
    private bool _sawInput;

    /// <summary>The op to measure (with -Dims); binds from Get-NeuralJitKernel and Get-NeuralHotspot objects.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(OperationCompleter))]
    public OpKind? Operation { get; set; }

    /// <summary>Sizes as the Dims column shows them: "64x64x64" (GEMM M×N×K), "512x192" (LSTM 4H×(I+H)), "256x64", "128".</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DimsCompleter))]
    public string? Dims { get; set; }

    /// <summary>Scalar (reference loops), ManagedSimd (the managed tier), or All (both; the default).</summary>
    [Parameter]
    public SpeedupBaseline Baseline { get; set; } = SpeedupBaseline.All;

    /// <summary>ISA of the JIT kernel: Avx2 or Avx512 (default: what the engine would use).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateSet("Avx2", "Avx512")]
    public string? Isa { get; set; }

    /// <summary>Time budget of one row, both sides together (default 0.08 s).</summary>
    [Parameter(ParameterSetName = ByTime)]
    [ValidateRange(0.001, 600)]
    public double Seconds { get; set; } = 0.08;

    /// <summary>Timed calls per side instead of a time budget.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByIterations)]
    [ValidateRange(1, long.MaxValue)]
    public long Iterations { get; set; }

    protected override void BeginProcessing()
    {
        if (CpuFeatures.Best == JitIsa.None)
            ThrowTerminatingError(NeuralErrors.Create(new PlatformNotSupportedException("This CPU has neither AVX2+FMA nor AVX-512: there is no JIT tier to compare."),
                "CompareJitSpeedupUnsupportedCpu", ErrorCategory.NotImplemented, CpuFeatures.Describe(), "Run on an x86-64 CPU with AVX2 and FMA."));
    }

    protected override void ProcessRecord()
    {
        if (Operation is not OpKind op)
        {
            if (Dims is null) return;
            _sawInput = true; // input that failed must not fall back to measuring all the reference shapes
            WriteError(NeuralErrors.Create(new ArgumentException("-Dims needs -Operation: dims mean different things for different ops."),
                    "CompareJitSpeedupDimsWithoutOperation", ErrorCategory.InvalidArgument, Dims, "Add -Operation (for example -Operation Gemm -Dims 64x64x64)."));
            return;
        }
        _sawInput = true;
        if (Dims is null)
        {
            var defaults = SeedTable.Where(k => k.Op == op).ToArray();
            if (defaults.Length == 0)
            {
                OpKey.TryParse(op, "", out _, out string? expected); // the message says which form the op's dims take
                WriteError(NeuralErrors.Create(new ArgumentException($"{op} has no default dims among the reference shapes: give -Dims."),
                    "CompareJitSpeedupDimsRequired", ErrorCategory.InvalidArgument, op, $"Add -Dims: {expected}"));
                return;
            }
            _keys.AddRange(defaults.Select(k => (k, Isa)));
            return;
        }
        string? why = null;
        if (OpKey.TryParse(op, Dims, out var key, out why))
        {
            try { NeuralEngine.ValidateShape(op, key.Shape); }
            catch (ArgumentException e) { why = e.Message; }
        }
        if (why is not null)
        {
            WriteError(NeuralErrors.Create(new ArgumentException(why), "CompareJitSpeedupInvalidDims", ErrorCategory.InvalidArgument, Dims, "Give -Dims as the Dims column of Get-NeuralHotspot shows them for this op."));
            return;
        }
        try { MemoryBudget.Check(key); }
        catch (MemoryBudgetException e)
        {
            WriteError(NeuralErrors.Create(e, "CompareJitSpeedupTooLarge", ErrorCategory.LimitsExceeded, key.ToString(),
                $"Measure smaller dims: a benchmark's operands may take at most {MemoryBudget.Bytes(e.LimitBytes)} (and no more than the machine has free)."));
            return;
        }
        double flops = key.Spec.Flops(key.Shape);
        if (flops > SpeedupBenchmark.MaxCallFlops)
        {
            var e = new ArgumentOutOfRangeException($"One call of {key} is {flops:G3} flops, over the {SpeedupBenchmark.MaxCallFlops:G3} a measured call may take (a call runs to its end before a stop request is seen).", (Exception?)null);
            WriteError(NeuralErrors.Create(e, "CompareJitSpeedupTooLarge", ErrorCategory.LimitsExceeded, key.ToString(),
                "Measure smaller dims (GEMM up to about 1700x1700x1700)."));
            return;
        }
        _keys.Add((key, Isa));
    }

    protected override void EndProcessing()
    {
        if (!_sawInput) _keys.AddRange(SeedTable.Select(k => (k, Isa)));
        var work = new List<(OpKey Key, JitIsa Isa)>();
        foreach (var (key, isaName) in _keys)
        {
            var isa = isaName is null ? NeuralEngine.Default.Jit.Isa : Enum.Parse<JitIsa>(isaName, ignoreCase: true);
            if (isa == JitIsa.None || isa > CpuFeatures.Best)
            {
                WriteError(NeuralErrors.Create(new PlatformNotSupportedException($"This CPU does not support {isaName ?? isa.ToString()} (it has: {CpuFeatures.Describe()})."),
                    "CompareJitSpeedupIsaUnsupported", ErrorCategory.InvalidArgument, isaName ?? isa.ToString(), $"Use -Isa {CpuFeatures.Best}."));
                continue;
            }
            if (!work.Contains((key, isa))) work.Add((key, isa));
        }
        if (work.Count == 0) return;

        var tiers = Baseline switch
        {
            SpeedupBaseline.Scalar => new[] { KernelTier.Scalar },
            SpeedupBaseline.ManagedSimd => new[] { KernelTier.ManagedSimd },
            _ => new[] { KernelTier.Scalar, KernelTier.ManagedSimd },
        };
        var budget = ParameterSetName == ByIterations ? new BenchmarkBudget(TimeSpan.FromSeconds(600), Iterations) : new BenchmarkBudget(TimeSpan.FromSeconds(Seconds));

        // A fresh record each time: hosts may keep the records they were given.
        WriteProgress(new ProgressRecord(1, "Compare-JitSpeedup", "Measuring the roofline (once per session)"));
        int total = work.Count * tiers.Length, done = 0;
        try
        {
            var roofline = Roofline.GetCached(_stop.Token);
            WriteVerbose($"Roofline of this machine (measured once per session): FMA peak AVX2 {roofline.Avx2PeakGFlops:N1}" +
                (roofline.Avx512PeakGFlops is double p512 ? $", AVX-512 {p512:N1}" : "") + " GFLOP/s; " +
                $"read L1 {roofline.L1ReadGBps:N0}, L2 {roofline.L2ReadGBps:N0}, L3 {roofline.L3ReadGBps:N0}, memory {roofline.MemoryReadGBps:N0} GB/s.");
            string measure = budget.Iterations is long n ? $"{n:N0} calls a side" : $"about {budget.Time.TotalSeconds:0.###} s";
            _engine = new NeuralEngine(new EngineOptions { JitEnabled = false, ProfilingEnabled = false, CodeCacheBytes = 4 << 20, SynchronousCompilation = true });
            foreach (var (key, isa) in work)
            {
                var kernel = Compile(key, isa);
                foreach (var tier in tiers)
                {
                    if (_stop.IsCancellationRequested) return;
                    WriteProgress(new ProgressRecord(1, "Compare-JitSpeedup", $"{key} ({isa}) vs {tier}") { PercentComplete = 100 * done / total });
                    done++;
                    if (kernel is null) continue;
                    WriteVerbose($"{key} ({isa}) vs {tier}: timing both sides interleaved, {measure}.");
                    SpeedupResult result;
                    try { result = SpeedupBenchmark.Compare(kernel, tier, budget, roofline, _stop.Token); }
                    catch (ArgumentOutOfRangeException e) when (budget.Iterations is not null)
                    {
                        WriteError(NeuralErrors.Create(e, "CompareJitSpeedupTooManyIterations", ErrorCategory.LimitsExceeded, Iterations,
                            "Give fewer -Iterations, or use -Seconds to measure for a time instead of a call count.", details: $"{key} vs {tier}: {e.Message}"));
                        continue;
                    }
                    WriteVerbose($"{key} ({isa}) vs {tier}: medians {result.BaselineNanoseconds:N0} ns and {result.JitNanoseconds:N0} ns, {result.Speedup:N2}x; " +
                        $"{result.PercentOfBound:N0}% of the {result.Bound} bound; largest difference {result.MaxAbsError:G3}.");
                    WriteObject(result);
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (ExecutableMemoryException e)
        {
            ThrowTerminatingError(NeuralErrors.Create(e, "CompareJitSpeedupExecutableMemoryDenied", ErrorCategory.PermissionDenied, null,
                "The OS refuses executable memory (SELinux execmem, PaX): allow it for this process to run JIT kernels."));
        }
        finally
        {
            if (!_stop.IsCancellationRequested)
            {
                WriteProgress(new ProgressRecord(1, "Compare-JitSpeedup", "Done") { PercentComplete = 100, RecordType = ProgressRecordType.Completed });
            }
            _engine?.Dispose();
            _engine = null;
        }
    }

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>PowerShell disposes a cmdlet when its pipeline ends, even one that threw or was stopped.</summary>
    public void Dispose()
    {
        _engine?.Dispose();
        _engine = null;
        _stop.Dispose();
    }

    /// <summary>The kernel for (key, isa), or null after writing an error saying why there is none.</summary>
    private JitKernel? Compile(OpKey key, JitIsa isa)
    {
        var kernel = KernelSource.Compile(_engine!, key, isa, out var failure);
        if (kernel is not null)
        {
            WriteVerbose($"{key}: compiled for {kernel.Isa}: {kernel.Code.Length:N0} code bytes in {kernel.CompileMicroseconds:N1} µs.");
            return kernel;
        }
        WriteError(NeuralErrors.JitFailed(this, key, isa, failure!));
        return null;
    }
}
