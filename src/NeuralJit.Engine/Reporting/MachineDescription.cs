using System.Runtime.InteropServices;

namespace NeuralJit.Reporting;

/// <summary>The processor's marketing name, for report headers: /proc/cpuinfo's "model name" on Linux, the environment on Windows.</summary>
public static class MachineDescription
{
    private static readonly Lazy<string> s_cpu = new(ReadCpuName);

    public static string CpuName => s_cpu.Value;

    private static string ReadCpuName()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and > 0)
                        return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.GetEnvironmentVariable("PROCESSOR_IDENTIFIER") ?? RuntimeInformation.ProcessArchitecture + " (model unknown)";
    }
}
