using System.Collections.Concurrent;
using System.Management.Automation;
using NeuralJit.Jit;

namespace NeuralJit.PowerShell;

/// <summary>
/// Tells a cmdlet's user what the tiering does while the cmdlet runs: the engine raises its events on any thread
/// (background compiles included), this queues them, and <see cref="Flush"/> writes them on the pipeline thread,
/// the only thread that may write to the streams: warnings to the warning stream, the rest to -Verbose. It hears the
/// warnings raised while no cmdlet listened (see <see cref="NeuralEngine.Tiering"/>) when it subscribes.
/// </summary>
internal sealed class TieringNarrator : IDisposable
{
    private readonly Cmdlet _cmdlet;
    private readonly NeuralEngine _engine;
    private readonly ConcurrentQueue<TieringEvent> _events = new();
    private readonly Action<TieringEvent> _handler;

    public TieringNarrator(Cmdlet cmdlet, NeuralEngine engine)
    {
        _cmdlet = cmdlet;
        _engine = engine;
        _handler = _events.Enqueue;
        engine.Tiering += _handler;
    }

    /// <summary>Writes what happened since the last flush. Call on the pipeline thread only.</summary>
    public void Flush()
    {
        while (_events.TryDequeue(out var e))
        {
            if (e.Kind == TieringEventKind.Warning) _cmdlet.WriteWarning(e.Message);
            else _cmdlet.WriteVerbose(e.Message);
        }
    }

    /// <summary>Flushes, then says which compiles are still running when the cmdlet is done with the engine.</summary>
    public void Finish()
    {
        Flush();
        long pending = _engine.Promotion.Pending;
        if (pending > 0)
            _cmdlet.WriteVerbose($"{pending:N0} compile(s) still running in the background: Get-NeuralJitKernel lists them when they finish.");
    }

    /// <summary>Stops listening; warnings it never wrote (the cmdlet was stopped) go back to the engine for the next cmdlet.</summary>
    public void Dispose()
    {
        _engine.Tiering -= _handler;
        _engine.ReturnUnheard(_events);
        _events.Clear();
    }
}
