using System.Management.Automation;

namespace NeuralJit.PowerShell;

/// <summary>
/// Frees the default engine's executable memory when the module is removed. The engine is shared by every
/// runspace of the process (a binary module's statics are), so imports are counted and only the removal of the
/// last one disposes it: removing the module in one runspace never unmaps code another runspace may be running.
/// </summary>
public sealed class ModuleLifetime : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static int s_imports;

    public void OnImport() => Interlocked.Increment(ref s_imports);

    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        if (Interlocked.Decrement(ref s_imports) == 0) NeuralEngine.ResetDefault();
    }
}
