using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// Every cmdlet, present and future: a static look at the module assembly's IL. A method that creates an
/// ErrorRecord must also set ErrorDetails.RecommendedAction (NeuralErrors.Create does both), and every
/// error-id literal next to it must start with the Verb+Noun of an exported cmdlet.
/// </summary>
public sealed class ErrorHygieneTests
{
    private sealed record MethodIl(string Name, byte[] Il);

    private static (List<MethodIl> Methods, MetadataReader Md, PEReader Pe) Load()
    {
        var pe = new PEReader(File.OpenRead(Path.Combine(Paths.ModuleDir, "NeuralJit.PowerShell.dll")));
        var md = pe.GetMetadataReader();
        var methods = new List<MethodIl>();
        foreach (var typeHandle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(typeHandle);
            foreach (var mh in type.GetMethods())
            {
                var m = md.GetMethodDefinition(mh);
                if (m.RelativeVirtualAddress == 0) continue;
                var body = pe.GetMethodBody(m.RelativeVirtualAddress);
                methods.Add(new MethodIl($"{md.GetString(type.Name)}.{md.GetString(m.Name)}", body.GetILBytes()!));
            }
        }
        return (methods, md, pe);
    }

    private static HashSet<int> MemberRefTokens(MetadataReader md, string typeName, string memberName)
    {
        var set = new HashSet<int>();
        foreach (var h in md.MemberReferences)
        {
            var r = md.GetMemberReference(h);
            if (md.GetString(r.Name) != memberName || r.Parent.Kind != HandleKind.TypeReference) continue;
            if (md.GetString(md.GetTypeReference((TypeReferenceHandle)r.Parent).Name) == typeName) set.Add(MetadataTokens.GetToken(h));
        }
        return set;
    }

    /// <summary>Tokens that follow the given opcode byte (a byte scan: a false match of a specific token is vanishingly unlikely).</summary>
    private static IEnumerable<int> Operands(byte[] il, byte opcode)
    {
        for (int i = 0; i + 4 < il.Length; i++)
            if (il[i] == opcode) yield return BitConverter.ToInt32(il, i + 1);
    }

    [Fact]
    public void EveryErrorRecordGetsARecommendedActionAndAnIdNamingAnExportedCmdlet()
    {
        var (methods, md, pe) = Load();
        using var _ = pe;
        var ctor = MemberRefTokens(md, "ErrorRecord", ".ctor");
        var setAction = MemberRefTokens(md, "ErrorDetails", "set_RecommendedAction");
        Assert.NotEmpty(ctor);
        var helperTokens = md.TypeDefinitions.Select(md.GetTypeDefinition).Where(t => md.GetString(t.Name) == "NeuralErrors")
            .SelectMany(t => t.GetMethods()).Select(h => MetadataTokens.GetToken(h)).ToHashSet();
        var prefixes = ModuleSurface.Cmdlets.Select(c => c.Name.Replace("-", "")).ToList();
        var verbs = ModuleSurface.Cmdlets.Select(c => c.Verb).Distinct().ToList();

        var problems = new List<string>();
        var ids = new HashSet<string>();
        int creators = 0;
        foreach (var m in methods)
        {
            bool creates = Operands(m.Il, 0x73).Any(ctor.Contains);                       // newobj ErrorRecord
            bool usesHelper = Operands(m.Il, 0x28).Any(helperTokens.Contains);             // call NeuralErrors.*
            if (!creates && !usesHelper) continue;
            creators++;
            if (creates && !Operands(m.Il, 0x6F).Concat(Operands(m.Il, 0x28)).Any(setAction.Contains))
                problems.Add($"{m.Name} creates an ErrorRecord without setting ErrorDetails.RecommendedAction.");
            foreach (var token in Operands(m.Il, 0x72))                                    // ldstr
            {
                if ((token >> 24) != 0x70) continue;
                string s;
                try { s = md.GetUserString(MetadataTokens.UserStringHandle(token & 0xFFFFFF)); } catch (BadImageFormatException) { continue; }
                if (!Regex.IsMatch(s, "^[A-Z][a-z]+[A-Z][A-Za-z0-9]+$")) continue;
                if (!verbs.Any(v => s.StartsWith(v, StringComparison.Ordinal) && char.IsUpper(s[v.Length]))) continue;
                ids.Add(s);
                if (!prefixes.Any(p => s.StartsWith(p, StringComparison.Ordinal) && s.Length > p.Length))
                    problems.Add($"{m.Name}: error id '{s}' does not start with the Verb+Noun of an exported cmdlet ({string.Join(", ", prefixes)}).");
            }
        }
        Assert.True(creators > 0, "no method creates errors: the scan is broken");
        Assert.Contains("GetNeuralHotspotInvalidTop", ids);   // the scan sees the ids it checks
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
