using System.Reflection;
using System.Reflection.Emit;

namespace NeuralJit.Engine.Tests.Architecture;

/// <summary>
/// The engine's folders are layers: a namespace may use only the namespaces below it. The references are read from
/// the compiled assembly (signatures, base types, locals and every token in every method body), so a use through the
/// implicitly visible parent namespace counts as much as one through a using. Platform and Ops are layered; the
/// profiler, the JIT tier and the engine still use each other (promotion runs from the slot through the engine into
/// the compiler), which these tests do not yet hold.
/// </summary>
public class NamespaceLayerTests
{
    private static readonly Assembly Engine = typeof(NeuralEngine).Assembly;

    /// <summary>Which of our namespaces each of our namespaces uses.</summary>
    internal static Dictionary<string, SortedSet<string>> Dependencies()
    {
        var deps = new Dictionary<string, SortedSet<string>>();
        foreach (var type in Engine.GetTypes())
        {
            string from = Layer(type);
            if (!deps.TryGetValue(from, out var set)) deps[from] = set = new SortedSet<string>(StringComparer.Ordinal);
            void Use(Type? t)
            {
                while (t is { HasElementType: true }) t = t.GetElementType();
                if (t is null) return;
                if (t.IsGenericType && !t.IsGenericTypeDefinition) foreach (var a in t.GetGenericArguments()) Use(a);
                if (t.Assembly == Engine && !t.IsGenericParameter) set.Add(Layer(t));
            }
            Use(type.BaseType);
            foreach (var i in type.GetInterfaces()) Use(i);
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var f in type.GetFields(all)) Use(f.FieldType);
            foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                if (m is MethodInfo mi) Use(mi.ReturnType);
                foreach (var p in m.GetParameters()) Use(p.ParameterType);
                var body = m.GetMethodBody();
                if (body is null) continue;
                foreach (var l in body.LocalVariables) Use(l.LocalType);
                foreach (var token in Tokens(body.GetILAsByteArray()!))
                {
                    try
                    {
                        var member = type.Module.ResolveMember(token, type.IsGenericType ? type.GetGenericArguments() : null,
                            m.IsGenericMethod ? m.GetGenericArguments() : null);
                        Use(member as Type ?? member?.DeclaringType);
                    }
                    catch (ArgumentException) { } // a token of a signature or string: not a member
                }
            }
        }
        deps.Remove("");
        foreach (var (k, v) in deps) { v.Remove(k); v.Remove(""); } // "": the compiler's <PrivateImplementationDetails>
        return deps;
    }

    /// <summary>The namespace a type belongs to as a layer (nested and compiler-generated types count as their outer type's).</summary>
    private static string Layer(Type t)
    {
        while (t.DeclaringType is { } outer) t = outer;
        return t.Namespace ?? "";
    }

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    private static IEnumerable<int> Tokens(byte[] il)
    {
        for (int i = 0; i < il.Length;)
        {
            short code = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = s_opCodes[code];
            switch (op.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineType or OperandType.InlineTok:
                    yield return BitConverter.ToInt32(il, i); i += 4; break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + 4 * BitConverter.ToInt32(il, i); break;
                default: i += 4; break;
            }
        }
    }

    public static TheoryData<string, string[]> Layers => new()
    {
        { "NeuralJit.Platform", [] },
        { "NeuralJit.Ops", ["NeuralJit.Platform"] },
        { "NeuralJit.Jit.Emitters", ["NeuralJit.Jit", "NeuralJit.Ops", "NeuralJit.Platform"] },
    };

    [Theory, MemberData(nameof(Layers))]
    public void ALayerUsesOnlyTheLayersBelowIt(string layer, string[] below)
    {
        var deps = Dependencies();
        Assert.True(deps.ContainsKey(layer), $"no types in {layer}: the scan is broken");
        var above = deps[layer].Except(below).ToList();
        Assert.True(above.Count == 0, $"{layer} uses {string.Join(", ", above)}, which are not below it");
    }

    [Fact]
    public void TheScanSeesReferencesInMethodBodies()
    {
        var deps = Dependencies();
        Assert.Contains("NeuralJit.Platform", deps["NeuralJit.Ops"]);      // ManagedSimdOps reads CpuFeatures in a static initializer
        Assert.Contains("NeuralJit.Profiling", deps["NeuralJit.Models"]);   // LstmLayer calls OpSlot.Invoke
    }
}
