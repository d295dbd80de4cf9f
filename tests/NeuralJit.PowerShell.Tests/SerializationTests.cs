using System.Collections;
using System.Management.Automation;
using System.Reflection;

namespace NeuralJit.PowerShell.Tests;

/// <summary>
/// Every output type survives PSSerializer (what Invoke-Command remoting and jobs use) with its property
/// names and types: numbers stay numbers, so a fleet's results still sort numerically; enums (Operation, Status, Tier, Isa) come
/// back as their names, so the views and string comparisons read them as before.
/// </summary>
public sealed class SerializationTests
{
    public static IEnumerable<object[]> OutputTypes => ModuleSurface.OutputTypeNames;

    private static readonly HashSet<Type> SafeScalars =
    [
        typeof(string), typeof(bool), typeof(byte), typeof(short), typeof(int), typeof(long), typeof(float), typeof(double),
        typeof(decimal), typeof(DateTime), typeof(TimeSpan), typeof(Guid), typeof(char), typeof(uint), typeof(ulong), typeof(ushort), typeof(sbyte),
    ];

    /// <summary>A distinct, non-default sample value of a property type.</summary>
    private static object? Sample(Type t, int seed)
    {
        var u = Nullable.GetUnderlyingType(t);
        if (u is not null) return Sample(u, seed);
        if (t == typeof(string)) return $"s{seed} \"quoted\" <x>";
        if (t.IsEnum) { var values = Enum.GetValues(t); return values.GetValue(Math.Min(seed, values.Length - 1)); }
        if (t == typeof(bool)) return true;
        if (t == typeof(DateTime)) return new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddSeconds(seed);
        if (t == typeof(TimeSpan)) return TimeSpan.FromMilliseconds(1234 + seed);
        if (t == typeof(Guid)) return Guid.NewGuid();
        if (t == typeof(char)) return 'x';
        if (t.IsPrimitive || t == typeof(decimal)) return Convert.ChangeType(seed + 3, t);
        if (t.IsArray && SafeScalars.Contains(t.GetElementType()!))
        {
            var a = Array.CreateInstance(t.GetElementType()!, 3);
            for (int i = 0; i < 3; i++) a.SetValue(Sample(t.GetElementType()!, seed + i), i);
            return a;
        }
        return null;
    }

    private static bool IsStringDictionary(Type t) => typeof(IDictionary).IsAssignableFrom(t) && typeof(IDictionary<string, string>).IsAssignableFrom(t);

    [Theory]
    [MemberData(nameof(OutputTypes))]
    public void RoundTripsThroughPSSerializerWithPropertyNamesAndTypes(string typeName)
    {
        var type = ModuleSurface.OutputType(typeName);
        // Plain records are default-constructed and filled below; handles (NeuralModel) come from the module's cmdlet.
        using var session = type.GetConstructor(Type.EmptyTypes) is null ? new ModuleSession() : null;
        var instance = ModuleSurface.Sample(type, session);
        var props = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0).ToList();
        int seed = 1;
        foreach (var p in props)
        {
            var t = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            bool safe = SafeScalars.Contains(t) || t.IsEnum || (t.IsArray && SafeScalars.Contains(t.GetElementType()!)) || IsStringDictionary(t);
            Assert.True(safe, $"{typeName}.{p.Name} is a {p.PropertyType.Name}: output objects carry numbers, strings, booleans, dates, enums, arrays of them or string-to-string dictionaries, so remoting keeps them.");
            if (p.CanWrite) p.SetValue(instance, Sample(p.PropertyType, seed++));
        }

        var xml = PSSerializer.Serialize(instance);
        var back = Assert.IsType<PSObject>(PSSerializer.Deserialize(xml));
        Assert.Contains("Deserialized." + typeName, back.TypeNames);
        foreach (var p in props)
        {
            var original = p.GetValue(instance);
            var prop = back.Properties[p.Name];
            Assert.True(prop is not null, $"{typeName}.{p.Name} is missing after deserialization.");
            var value = prop!.Value is PSObject pso ? pso.BaseObject : prop.Value;
            if (original is null) { Assert.Null(value); continue; }
            if (original is Enum)
            {
                Assert.True(value is string name && name == original.ToString(), $"{typeName}.{p.Name} = {original} came back as '{value}'.");
                continue;
            }
            if (IsStringDictionary(original.GetType()))
            {
                // PSSerializer turns an IDictionary into a Hashtable: the entries, strings both, must all come back.
                var expected = (IDictionary<string, string>)original;
                var table = Assert.IsAssignableFrom<IDictionary>(value);
                Assert.Equal(expected.Count, table.Count);
                foreach (var (k, v) in expected)
                {
                    var got = table[k] is PSObject x ? x.BaseObject : table[k];
                    Assert.True(got is string sv && sv == v, $"{typeName}.{p.Name}[{k}] = '{v}' came back as '{got}'.");
                }
                continue;
            }
            if (original is Array array)
            {
                var items = Assert.IsAssignableFrom<IEnumerable>(value).Cast<object>().Select(o => o is PSObject x ? x.BaseObject : o).ToList();
                Assert.Equal(array.Length, items.Count);
                for (int i = 0; i < array.Length; i++)
                {
                    Assert.IsType(array.GetValue(i)!.GetType(), items[i]);
                    Assert.Equal(array.GetValue(i), items[i]);
                }
                continue;
            }
            Assert.True(original.GetType() == value!.GetType(), $"{typeName}.{p.Name}: {original.GetType().Name} came back as {value.GetType().Name}.");
            Assert.Equal(original, value);
        }
    }
}
