using System.Diagnostics;
using System.Runtime.InteropServices;

namespace NeuralJit.Benchmarks;

/// <summary>
/// LIBXSMM (Debian <c>libxsmm-dev</c> 1.17) called side by side through P/Invoke — in this benchmark only,
/// never in the engine, tests or CI. Debian ships only static archives, so when no shared library is
/// found the benchmark links one from <c>/usr/lib/libxsmm.a</c> with the system C compiler into a cache
/// directory (a one-off, ~1 s) and says so. Kernels are LIBXSMM's own JIT (column-major): the row-major
/// C[M×N] += A·B is LIBXSMM's Cᵀ += Bᵀ·Aᵀ with m = N, n = M, a = B, b = A.
/// </summary>
internal static unsafe class Libxsmm
{
    public const int ArchAvx2 = 1006;       // LIBXSMM_X86_AVX2 (libxsmm_cpuid.h)
    public const int ArchAvx512Core = 1020; // LIBXSMM_X86_AVX512_CORE

    private static delegate* unmanaged<void> s_init;
    private static delegate* unmanaged<void> s_finalize;
    private static delegate* unmanaged<int> s_getArch;
    private static delegate* unmanaged<int, void> s_setArch;
    private static delegate* unmanaged<sbyte*> s_getArchName;
    private static delegate* unmanaged<int, int, int, int*, int*, int*, float*, float*, int*, int*, nint> s_smmdispatch;

    /// <summary>Null when loaded, else why LIBXSMM is not available.</summary>
    public static string? Unavailable { get; private set; } = "not loaded";
    public static string Origin { get; private set; } = "";

    public static bool TryLoad()
    {
        nint lib = 0;
        foreach (var name in new[] { "libxsmm.so", "libxsmm.so.1", "/usr/lib/libxsmm.so", "/usr/lib/x86_64-linux-gnu/libxsmm.so.1" })
            if (NativeLibrary.TryLoad(name, out lib)) { Origin = name; break; }
        if (lib == 0)
        {
            string? shim = BuildShim(out string why);
            if (shim is null || !NativeLibrary.TryLoad(shim, out lib)) { Unavailable = why; return false; }
            Origin = $"{shim} (linked from /usr/lib/libxsmm.a)";
        }
        s_init = (delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "libxsmm_init");
        s_finalize = (delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "libxsmm_finalize");
        s_getArch = (delegate* unmanaged<int>)NativeLibrary.GetExport(lib, "libxsmm_get_target_archid");
        s_setArch = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "libxsmm_set_target_archid");
        s_getArchName = (delegate* unmanaged<sbyte*>)NativeLibrary.GetExport(lib, "libxsmm_get_target_arch");
        s_smmdispatch = (delegate* unmanaged<int, int, int, int*, int*, int*, float*, float*, int*, int*, nint>)NativeLibrary.GetExport(lib, "libxsmm_smmdispatch");
        s_init();
        Unavailable = null;
        return true;
    }

    private static string? BuildShim(out string why)
    {
        const string archive = "/usr/lib/libxsmm.a";
        if (!OperatingSystem.IsLinux()) { why = "LIBXSMM is not installed (Linux only here)"; return null; }
        if (!File.Exists(archive)) { why = "LIBXSMM is not installed (apt-get install libxsmm-dev)"; return null; }
        string dir = Path.Combine(Path.GetTempPath(), "neuraljit-bench");
        Directory.CreateDirectory(dir);
        string so = Path.Combine(dir, "libxsmm_shim.so");
        if (File.Exists(so) && File.GetLastWriteTimeUtc(so) >= File.GetLastWriteTimeUtc(archive)) { why = ""; return so; }
        var extra = File.Exists("/usr/lib/libxsmmnoblas.a") ? " /usr/lib/libxsmmnoblas.a" : "";
        try
        {
            var psi = new ProcessStartInfo("cc", $"-shared -o {so} -Wl,--whole-archive {archive}{extra} -Wl,--no-whole-archive -lpthread -lm -ldl")
            { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) { why = $"libxsmm-dev is installed but linking a shared library from it failed: {err.Trim()}"; return null; }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            why = "libxsmm-dev ships only static archives and no C compiler (cc) is here to link a shared library";
            return null;
        }
        why = "";
        return so;
    }

    /// <summary>Restarts LIBXSMM with its code registry cleared and the target capped at <paramref name="archId"/> (or its own choice when null).</summary>
    public static void Retarget(int? archId)
    {
        s_finalize();
        s_init();
        if (archId is int id) s_setArch(id);
    }

    public static string TargetArch => Marshal.PtrToStringAnsi((nint)s_getArchName()) ?? s_getArch().ToString();

    /// <summary>A row-major C[M×N] (ldc) += A[M×K] (lda) · B[K×N] (ldb) kernel, or 0 when LIBXSMM declines.</summary>
    public static nint DispatchRowMajor(int m, int n, int k, int lda, int ldb, int ldc)
    {
        int xlda = ldb, xldb = lda, xldc = ldc, flags = 0, prefetch = 0;
        float alpha = 1, beta = 1;
        return s_smmdispatch(n, m, k, &xlda, &xldb, &xldc, &alpha, &beta, &flags, &prefetch);
    }

    /// <summary>Calls a row-major kernel from <see cref="DispatchRowMajor"/>: the column-major (a, b, c) are (B, A, C).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static void Call(nint kernel, float* a, float* b, float* c) =>
        ((delegate* unmanaged[SuppressGCTransition]<float*, float*, float*, void>)kernel)(b, a, c);
}
