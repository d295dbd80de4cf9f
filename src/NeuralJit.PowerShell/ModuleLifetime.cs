using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace NeuralJit.PowerShell;

/// <summary>
/// Frees the default engine's executable memory when the module is removed. The engine is shared by every
/// runspace of the process (a binary module's statics are), so imports are counted per runspace and only the last
/// one's going disposes it: removing the module in one runspace never unmaps code another runspace may be running.
/// A runspace that closes without Remove-Module (every ForEach-Object -Parallel runspace does) gives its imports
/// back when it closes, so it cannot keep the engine alive after the session that made it removes the module.
/// </summary>
public sealed class ModuleLifetime : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static readonly object s_gate = new();
    private static readonly Dictionary<Runspace, int> s_imports = new(ReferenceEqualityComparer.Instance);
    /// <summary>Imports made where no runspace was current (counted, given back only by Remove-Module).</summary>
    private static int s_unowned;

    public void OnImport()
    {
        NeuralEngine.WarmUpInBackground(); // a script's first Invoke-NeuralInference usually follows the import within a second
        var runspace = Runspace.DefaultRunspace;
        lock (s_gate)
        {
            if (runspace is null) { s_unowned++; return; }
            if (s_imports.TryGetValue(runspace, out int n)) { s_imports[runspace] = n + 1; return; }
            s_imports[runspace] = 1;
            runspace.StateChanged += OnRunspaceStateChanged;
        }
    }

    public void OnRemove(PSModuleInfo psModuleInfo) => Release(Runspace.DefaultRunspace, closing: false);

    private static void OnRunspaceStateChanged(object? sender, RunspaceStateEventArgs e)
    {
        if (sender is Runspace runspace && e.RunspaceStateInfo.State is RunspaceState.Closed or RunspaceState.Broken)
            Release(runspace, closing: true);
    }

    /// <summary>One import of <paramref name="runspace"/> goes (all of them when it closes); the last import anywhere disposes the engine.</summary>
    private static void Release(Runspace? runspace, bool closing)
    {
        lock (s_gate)
        {
            if (runspace is not null && s_imports.TryGetValue(runspace, out int n))
            {
                if (closing || n == 1)
                {
                    s_imports.Remove(runspace);
                    runspace.StateChanged -= OnRunspaceStateChanged;
                }
                else s_imports[runspace] = n - 1;
            }
            else if (!closing && s_unowned > 0) s_unowned--;
            else return;
            // Under the lock: an import racing with the last removal gets either the old engine before it is counted out, or a fresh one.
            if (s_imports.Count == 0 && s_unowned == 0) NeuralEngine.ResetDefault();
        }
    }
}
