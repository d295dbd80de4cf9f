using System.Reflection;
using System.Runtime.Loader;
using NeuralJit.Benchmarking;
using NeuralJit.Models;

namespace NeuralJit.Benchmarks;

/// <summary>
/// Another build of the engine (a directory holding its NeuralJit.Engine.dll, e.g. a copy of an earlier benchmark
/// build) loaded beside this one in an <see cref="AssemblyLoadContext"/> of its own, so a change is measured against what
/// it changes side by side in one process: the host's load moves both alike, which timings from two runs cannot show.
/// Only public API that has not changed is used (engine options, a random network, its slots' compilation, a step).
/// </summary>
internal sealed class ForeignBuild
{
    private delegate ReadOnlySpan<float> StepFunction(ReadOnlySpan<float> x);

    private readonly Assembly _engine;

    public string Directory { get; }

    public ForeignBuild(string directory)
    {
        Directory = Path.GetFullPath(directory);
        string dll = Path.Combine(Directory, "NeuralJit.Engine.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"--compare: no NeuralJit.Engine.dll in {Directory}.", dll);
        var context = new AssemblyLoadContext($"compare {Directory}");
        // Its dependencies (Iced, System.Numerics.Tensors) from its own directory, so both builds use their own.
        context.Resolving += (c, name) => File.Exists(Path.Combine(Directory, name.Name + ".dll")) ? c.LoadFromAssemblyPath(Path.Combine(Directory, name.Name + ".dll")) : null;
        _engine = context.LoadFromAssemblyPath(dll);
    }

    /// <summary>The DNC step of that build: its engine and a random network of <paramref name="sizes"/> (the seed and input of <see cref="NetworkStep"/>), every slot compiled for <paramref name="isa"/>.</summary>
    public IBenchmarkSubject Step(NetworkSizes sizes, Platform.JitIsa isa) => new ForeignStep(this, sizes, isa);

    private Type TypeOf(string name) => _engine.GetType(name, throwOnError: true)!;

    /// <summary>Sets a property of that build's object; an enum value by name (its enum type is that build's own).</summary>
    private static void Set(object target, string name, object value)
    {
        var property = target.GetType().GetProperty(name)!;
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        property.SetValue(target, type.IsEnum ? Enum.Parse(type, value.ToString()!) : value);
    }

    private sealed class ForeignStep : IBenchmarkSubject
    {
        private readonly StepFunction _step;
        private readonly float[] _x;

        public ForeignStep(ForeignBuild build, NetworkSizes sizes, Platform.JitIsa isa)
        {
            var options = Activator.CreateInstance(build.TypeOf("NeuralJit.EngineOptions"))!;
            Set(options, "JitEnabled", false);
            Set(options, "IsaCap", isa);
            Set(options, "SynchronousCompilation", true);
            Set(options, "CodeCacheBytes", 4 << 20);
            var engine = Activator.CreateInstance(build.TypeOf("NeuralJit.NeuralEngine"), options, null, null)!;
            var foreignSizes = Activator.CreateInstance(build.TypeOf("NeuralJit.Models.NetworkSizes"), sizes.InputSize, sizes.HiddenSize, sizes.OutputSize, sizes.Layers)!;
            Set(foreignSizes, "MemorySlots", sizes.MemorySlots);
            Set(foreignSizes, "MemoryWidth", sizes.MemoryWidth);
            Set(foreignSizes, "ReadHeads", sizes.ReadHeads);
            var network = build.TypeOf("NeuralJit.Models.NeuralNetwork").GetMethod("CreateRandom")!.Invoke(null, [engine, foreignSizes, NetworkStep.NetworkSeed])!;
            var profile = engine.GetType().GetProperty("Profile")!.GetValue(engine)!;
            var promotion = engine.GetType().GetProperty("Promotion")!.GetValue(engine)!;
            var compile = promotion.GetType().GetMethod("CompileAndInstall")!;
            foreach (var slot in (System.Collections.IEnumerable)profile.GetType().GetProperty("Slots")!.GetValue(profile)!)
                compile.Invoke(promotion, [slot]);   // null where that build has no emitter: the slot stays managed, as in NetworkStep
            var stepMethod = network.GetType().GetMethods().Single(m => m.Name == "Step" && m.GetParameters() is [{ ParameterType: var p }] && p == typeof(ReadOnlySpan<float>));
            _step = stepMethod.CreateDelegate<StepFunction>(network);
            _x = NetworkStep.Input(sizes.InputSize);
        }

        public void Run(long calls)
        {
            for (long i = 0; i < calls; i++) _step(_x);
        }
    }
}
