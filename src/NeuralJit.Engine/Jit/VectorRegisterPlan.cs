namespace NeuralJit.Jit;

/// <summary>
/// Hands out one kernel's vector registers by role and refuses to hand one out twice: taking a register
/// another role holds throws, naming both roles. Once an emitter asks <see cref="KernelAssembler.Registers"/>
/// for the plan, the assembler also refuses any register the plan did not hand out, so a stray
/// <c>new Vec(i)</c> cannot alias a live value. Registers come back with <see cref="Release"/> or at the end
/// of a <see cref="Phase"/> (e.g. a pass whose temporaries the next pass reuses).
/// </summary>
public sealed class VectorRegisterPlan
{
    private readonly string?[] _roles;
    /// <summary>A register's place in its block (−1: taken alone); kept apart from the role so taking allocates nothing.</summary>
    private readonly int[] _places;
    /// <summary>When each held register was taken (a counter), so a phase gives back exactly what it took.</summary>
    private readonly long[] _takenAt;
    private long _clock;

    internal VectorRegisterPlan(int registers)
    {
        _roles = new string?[registers];
        _places = new int[registers];
        _takenAt = new long[registers];
    }

    /// <summary>Registers in the file (16 or 32).</summary>
    public int Count => _roles.Length;

    /// <summary>Registers not held by any role.</summary>
    public int Free => _roles.Count(r => r is null);

    /// <summary>The lowest free register.</summary>
    public Vec Take(string role)
    {
        for (int i = 0; i < _roles.Length; i++)
            if (_roles[i] is null) return Hold(i, role);
        throw Exhausted(1, role);
    }

    /// <summary>The highest free register (masks and shared values sit at the top, out of the way of blocks taken from the bottom).</summary>
    public Vec TakeHighest(string role)
    {
        for (int i = _roles.Length - 1; i >= 0; i--)
            if (_roles[i] is null) return Hold(i, role);
        throw Exhausted(1, role);
    }

    /// <summary><paramref name="count"/> consecutive registers at the lowest place they fit (role[0], role[1], …).</summary>
    public Vec[] TakeBlock(int count, string role)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        for (int start = 0; start + count <= _roles.Length; start++)
        {
            int i = 0;
            while (i < count && _roles[start + i] is null) i++;
            if (i < count) { start += i; continue; }
            var block = new Vec[count];
            for (int j = 0; j < count; j++) block[j] = Hold(start + j, role, j);
            return block;
        }
        throw Exhausted(count, role);
    }

    /// <summary>Register <paramref name="index"/> exactly (where an instruction pattern or an ABI pins it).</summary>
    public Vec TakeAt(int index, string role)
    {
        if ((uint)index >= (uint)_roles.Length) throw new ArgumentOutOfRangeException(nameof(index), index, $"The file has {_roles.Length} vector registers.");
        return Hold(index, role);
    }

    /// <summary>Gives <paramref name="v"/> back; it may be taken again under another role.</summary>
    public void Release(Vec v)
    {
        if (!Holds(v)) throw new InvalidOperationException($"{v} is not held, so it cannot be released.");
        _roles[v.Index] = null;
        _takenAt[v.Index] = 0;
    }

    /// <summary>Registers taken from now until the returned scope is disposed are released then.</summary>
    public PhaseScope Phase() => new(this, _clock);

    /// <summary>The role that holds <paramref name="v"/> ("acc[2]" for the third of a block), or null.</summary>
    public string? RoleOf(Vec v) => Holds(v) ? Describe(v.Index) : null;

    public bool Holds(Vec v) => (uint)v.Index < (uint)_roles.Length && _roles[v.Index] is not null;

    private string Describe(int index) => _places[index] < 0 ? _roles[index]! : $"{_roles[index]}[{_places[index]}]";

    private Vec Hold(int index, string role, int place = -1)
    {
        if (_roles[index] is not null)
            throw new InvalidOperationException($"v{index} is already held by '{Describe(index)}'; '{role}' cannot take it too.");
        _roles[index] = role;
        _places[index] = place;
        _takenAt[index] = ++_clock;
        return new Vec(index);
    }

    private InvalidOperationException Exhausted(int count, string role) => new(
        $"No room for {count} register(s) for '{role}': held are {string.Join(", ", Enumerable.Range(0, _roles.Length).Where(i => _roles[i] is not null).Select(i => $"v{i} '{Describe(i)}'"))}.");

    /// <summary>See <see cref="Phase"/>.</summary>
    public readonly struct PhaseScope : IDisposable
    {
        private readonly VectorRegisterPlan _plan;
        private readonly long _mark;
        internal PhaseScope(VectorRegisterPlan plan, long mark) { _plan = plan; _mark = mark; }

        public void Dispose()
        {
            for (int i = 0; i < _plan._roles.Length; i++)
                if (_plan._takenAt[i] > _mark) { _plan._roles[i] = null; _plan._takenAt[i] = 0; }
        }
    }
}
