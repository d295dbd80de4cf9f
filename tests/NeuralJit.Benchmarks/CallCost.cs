using System.Runtime.InteropServices;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using NeuralJit.Models;

namespace NeuralJit.Benchmarks;

/// <summary>
/// The fixed cost of an <c>Invoke-NeuralInference -Model</c> call, per model: the cmdlets run in a runspace of this
/// process (the staged module imported by its manifest, on <see cref="NeuralEngine.Default"/>, managed tier), and each
/// round times, interleaved, a do-nothing cmdlet over an empty pipeline (PowerShell's own floor), the call over an empty
/// pipeline, the call over one step, and the engine's part of a call and the step alone in C#.
/// </summary>
internal static class CallCost
{
    // Times are the pipeline thread's CPU time: on a loaded machine, wall time mostly measures the other processes.
    private const string Script = """
        param($m, $calls)
        $one = , [float[]]::new($m.InputSize)
        $empty = @()
        $t0 = [NeuralJit.Benchmarks.ThreadCpuClock]::Microseconds()
        for ($i = 0; $i -lt $calls; $i++) { $null = $empty | ForEach-Object {} }
        $t1 = [NeuralJit.Benchmarks.ThreadCpuClock]::Microseconds()
        for ($i = 0; $i -lt $calls; $i++) { $null = $empty | Invoke-NeuralInference -Model $m }
        $t2 = [NeuralJit.Benchmarks.ThreadCpuClock]::Microseconds()
        for ($i = 0; $i -lt $calls; $i++) { $null = Invoke-NeuralInference -Model $m -Sequence $one }
        $t3 = [NeuralJit.Benchmarks.ThreadCpuClock]::Microseconds()
        (($t1 - $t0) / $calls), (($t2 - $t1) / $calls), (($t3 - $t2) / $calls)
        """;

    public static void Print()
    {
        Console.WriteLine();
        var manifest = FindManifest();
        if (manifest is null)
        {
            Console.WriteLine("Cost of a call: NOT AVAILABLE — the staged module (artifacts/module/NeuralJit) was not found: dotnet build -c Release first.");
            return;
        }
        const int rounds = 60, calls = 20;
        Console.WriteLine($"Cost of an Invoke-NeuralInference -Model call (µs of thread CPU time; medians of {rounds} interleaved rounds of {calls} calls; managed tier, in a runspace of this process):");
        Console.WriteLine($"  {"model",-54} {"floor",7} {"empty",7} {"1 step",8} {"engine",8} {"new net",8} {"step",8} {"fixed",7}");
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(manifest);
        using var runspace = RunspaceFactory.CreateRunspace(iss);
        runspace.Open();
        Invoke(runspace, "Set-NeuralJitOption -Enabled $false", null);
        var engine = NeuralEngine.Default;
        // PowerShell's own first calls (its script compiler, tier-up of its binder) would land on the first model's rows.
        var first = NeuralModel.Create(new NetworkSizes(64, 128, 10), 42);
        for (int i = 0; i < 100; i++) Invoke(runspace, Script, new() { ["m"] = first, ["calls"] = calls });
        foreach (var sizes in NetworkSetup.Models)
        {
            var model = NeuralModel.Create(sizes, 42);
            var x = new float[sizes.InputSize];
            double[] floor = new double[rounds], empty = new double[rounds], oneStep = new double[rounds], call = new double[rounds], fresh = new double[rounds], step = new double[rounds];
            using var warm = model.CreateNetwork(engine);
            for (int r = -20; r < rounds; r++) // 20 rounds of warm-up, then measured
            {
                var t = Invoke(runspace, Script, new() { ["m"] = model, ["calls"] = calls });
                double t0 = ThreadCpuClock.Microseconds();
                for (int i = 0; i < calls; i++)
                {
                    var net = model.RentNetwork(engine);
                    net.Step(x);
                    model.ReturnNetwork(net);
                }
                double t1 = ThreadCpuClock.Microseconds();
                for (int i = 0; i < calls; i++) warm.Step(x);
                double t2 = ThreadCpuClock.Microseconds();
                for (int i = 0; i < calls; i++)
                {
                    using var net = model.CreateNetwork(engine);
                    net.Step(x);
                }
                double t3 = ThreadCpuClock.Microseconds();
                if (r < 0) continue;
                (floor[r], empty[r], oneStep[r]) = (t[0], t[1], t[2]);
                call[r] = (t1 - t0) / calls;
                step[r] = (t2 - t1) / calls;
                fresh[r] = (t3 - t2) / calls;
            }
            double fixedCost = NetworkSetup.Median(oneStep) - NetworkSetup.Median(step);
            Console.WriteLine($"  {sizes,-54} {NetworkSetup.Median(floor),7:N1} {NetworkSetup.Median(empty),7:N1} {NetworkSetup.Median(oneStep),8:N1} {NetworkSetup.Median(call),8:N1} {NetworkSetup.Median(fresh),8:N1} {NetworkSetup.Median(step),8:N1} {fixedCost,7:N1}");
        }
        Console.WriteLine("  floor = `@() | ForEach-Object {}` (a cmdlet over an empty pipeline); empty = `@() | Invoke-NeuralInference -Model $m`;");
        Console.WriteLine("  1 step = `Invoke-NeuralInference -Model $m -Sequence $one`; engine = the network a call runs (RentNetwork, one Step, ReturnNetwork) in C#;");
        Console.WriteLine("  new net = the same with a network made and disposed per call (CreateNetwork, one Step, Dispose: what a call did before models kept one);");
        Console.WriteLine("  step = one Step of a network that keeps running; fixed = 1 step − step: what a call costs beyond its step, which includes");
        Console.WriteLine("  clearing the model's state for its fresh start (engine − step: the N×N links and the memory, 4.3 MB at N = 1024).");
        Console.WriteLine("  Target: a call over an empty pipeline (empty) ≤ 100 µs for every model.");
    }

    private static double[] Invoke(Runspace runspace, string script, Dictionary<string, object>? parameters)
    {
        using var ps = System.Management.Automation.PowerShell.Create(runspace);
        ps.AddScript(script);
        if (parameters is not null) ps.AddParameters(parameters);
        var output = ps.Invoke();
        if (ps.HadErrors) throw new InvalidOperationException(string.Join("\n", ps.Streams.Error));
        return output.Select(o => Convert.ToDouble(o.BaseObject, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    private static string? FindManifest()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "artifacts", "module", "NeuralJit", "NeuralJit.psd1");
            if (File.Exists(p)) return p;
        }
        return null;
    }
}

/// <summary>The calling thread's CPU time (Linux: CLOCK_THREAD_CPUTIME_ID; elsewhere wall time), public for the call-cost script.</summary>
public static class ThreadCpuClock
{
    private const int ThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds; public long Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    public static double Microseconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(ThreadCpuTimeId, out var t) == 0) return t.Seconds * 1e6 + t.Nanoseconds / 1e3;
        return System.Diagnostics.Stopwatch.GetTimestamp() * 1e6 / System.Diagnostics.Stopwatch.Frequency;
    }
}
