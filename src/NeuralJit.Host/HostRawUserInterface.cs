using System.Management.Automation.Host;

namespace NeuralJit.Host;

/// <summary>
/// The console as PowerShell's formatter sees it. Only the buffer width matters to Out-Default: the
/// console's width on a terminal, 120 columns when output is redirected (a file or a pipe has no width).
/// </summary>
internal sealed class HostRawUserInterface : PSHostRawUserInterface
{
    public const int RedirectedWidth = 120;
    private readonly bool _redirected = Console.IsOutputRedirected;
    private Size? _bufferSize;
    private string _title = "NeuralJit";

    private static int ConsoleWidth()
    {
        try { int w = Console.WindowWidth; return w > 0 ? w : RedirectedWidth; }
        catch (IOException) { return RedirectedWidth; }
    }

    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

    public override Size BufferSize
    {
        get => _bufferSize ?? new Size(_redirected ? RedirectedWidth : ConsoleWidth(), 9001);
        set => _bufferSize = value;
    }

    public override Coordinates CursorPosition
    {
        get
        {
            if (_redirected) return new Coordinates(0, 0);
            try { var (l, t) = Console.GetCursorPosition(); return new Coordinates(l, t); }
            catch (IOException) { return new Coordinates(0, 0); }
        }
        set
        {
            if (_redirected) return;
            try { Console.SetCursorPosition(value.X, value.Y); } catch (IOException) { }
        }
    }

    public override int CursorSize { get; set; } = 25;
    public override Coordinates WindowPosition { get; set; }

    public override Size WindowSize
    {
        get => new(BufferSize.Width, _redirected ? 50 : SafeHeight());
        set { }
    }

    private static int SafeHeight()
    {
        try { return Math.Max(1, Console.WindowHeight); } catch (IOException) { return 50; }
    }

    public override Size MaxWindowSize => WindowSize;
    public override Size MaxPhysicalWindowSize => WindowSize;
    public override string WindowTitle { get => _title; set => _title = value; }

    public override bool KeyAvailable => !Console.IsInputRedirected && Console.KeyAvailable;

    public override KeyInfo ReadKey(ReadKeyOptions options)
    {
        if (Console.IsInputRedirected) throw new InvalidOperationException("ReadKey needs an interactive console; input is redirected.");
        var k = Console.ReadKey((options & ReadKeyOptions.NoEcho) != 0);
        return new KeyInfo((int)k.Key, k.KeyChar, ControlKeyStates.NumLockOn, (options & ReadKeyOptions.IncludeKeyUp) == 0);
    }

    public override void FlushInputBuffer() { }

    // Buffer cell access is for full-screen hosts (PSReadLine, Out-GridView style UIs): not supported here.
    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException("NeuralJit.Host does not give access to the screen buffer.");
    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) => throw new NotSupportedException("NeuralJit.Host does not give access to the screen buffer.");
    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) => throw new NotSupportedException("NeuralJit.Host does not give access to the screen buffer.");
    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) => throw new NotSupportedException("NeuralJit.Host does not give access to the screen buffer.");
}
