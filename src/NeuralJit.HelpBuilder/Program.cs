using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Xml;
using Markdig;
using Markdig.Extensions.Tables;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace NeuralJit.HelpBuilder;

/// <summary>
/// Builds PowerShell help from markdown in platyPS's schema (what `New-MarkdownHelp` writes), since
/// platyPS itself is not available here:
///   docs/Verb-Noun.md   → one command entry each in &lt;out&gt;/NeuralJit.PowerShell.dll-Help.xml (MAML)
///   docs/about_*.md     → &lt;out&gt;/about_*.help.txt (plain text, 80 columns)
/// A parameter's accepted values come from the built module assembly (<see cref="AcceptedValues"/>), never from the
/// markdown, so a new enum member (an operation) reaches every page that takes it with no doc edit.
/// Problems in a file are printed as MSBuild warnings (file: warning NJHELP: …); the tests of
/// NeuralJit.PowerShell.Tests decide what is required (every cmdlet, every parameter, examples that run).
/// Usage: NeuralJit.HelpBuilder &lt;docs folder&gt; &lt;output folder&gt; [module assembly]
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("Usage: NeuralJit.HelpBuilder <docs folder> <output folder> [module assembly]");
            return 64;
        }
        string docs = args[0], output = args[1];
        string? assembly = args.Length > 2 ? args[2] : null;
        string helpFile = (assembly is null ? "NeuralJit.PowerShell.dll" : Path.GetFileName(assembly)) + "-Help.xml";
        var accepted = assembly is null ? new() : AcceptedValues.Read(assembly);
        Directory.CreateDirectory(output);
        var pipeline = new MarkdownPipelineBuilder().UseYamlFrontMatter().UsePipeTables().Build();

        var commands = new List<CommandHelp>();
        foreach (var file in Directory.GetFiles(docs, "*.md").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            var doc = Markdown.Parse(File.ReadAllText(file), pipeline);
            if (name.StartsWith("about_", StringComparison.OrdinalIgnoreCase))
            {
                File.WriteAllText(Path.Combine(output, name + ".help.txt"), AboutText.Render(name, doc), new UTF8Encoding(false));
                continue;
            }
            if (!name.Contains('-')) continue; // README.md and other prose
            var help = CommandHelp.Parse(doc, name, w => Console.WriteLine($"{file}: warning NJHELP: {w}"));
            commands.Add(help);
        }
        var path = Path.Combine(output, helpFile);
        Maml.Write(path, commands, accepted);
        Console.WriteLine($"NeuralJit.HelpBuilder: {commands.Count} commands -> {path}");
        return 0;
    }
}

/// <summary>
/// What each cmdlet parameter accepts, read from the built module assembly as platyPS reads command metadata:
/// a [ValidateSet]'s values, else the names of an enum type (T, T? or T[]).
/// </summary>
internal static class AcceptedValues
{
    public static Dictionary<string, string[]> Read(string assemblyPath)
    {
        var path = Path.GetFullPath(assemblyPath);
        var dir = Path.GetDirectoryName(path)!;
        // The module's own dependencies (the engine, Iced) load from beside it; System.Management.Automation is this tool's.
        AssemblyLoadContext.Default.Resolving += (context, name) =>
            File.Exists(Path.Combine(dir, name.Name + ".dll")) ? context.LoadFromAssemblyPath(Path.Combine(dir, name.Name + ".dll")) : null;
        var result = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in AssemblyLoadContext.Default.LoadFromAssemblyPath(path).GetExportedTypes())
        {
            if (type.GetCustomAttribute<CmdletAttribute>() is not { } cmdlet) continue;
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.IsDefined(typeof(ParameterAttribute), true)))
                if (Of(p) is { } values) result[Key($"{cmdlet.VerbName}-{cmdlet.NounName}", p.Name)] = values;
        }
        return result;
    }

    public static string Key(string command, string parameter) => command + " -" + parameter;

    private static string[]? Of(PropertyInfo p)
    {
        if (p.GetCustomAttribute<ValidateSetAttribute>() is { } set) return set.ValidValues.ToArray();
        var t = p.PropertyType.IsArray ? p.PropertyType.GetElementType()! : p.PropertyType;
        t = Nullable.GetUnderlyingType(t) ?? t;
        return t.IsEnum ? Enum.GetNames(t) : null;
    }
}

/// <summary>Plain text of inline markdown and of blocks, as help shows it.</summary>
internal static class MdText
{
    public static string Inline(ContainerInline? inline)
    {
        if (inline is null) return "";
        var sb = new StringBuilder();
        foreach (var i in inline) Append(sb, i);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, Inline i)
    {
        switch (i)
        {
            case LiteralInline l: sb.Append(l.Content.ToString()); break;
            case CodeInline c: sb.Append(c.Content); break;
            case LineBreakInline: sb.Append(' '); break;
            case HtmlEntityInline e: sb.Append(e.Transcoded.ToString()); break;
            case LinkInline link:
                foreach (var child in link) Append(sb, child);
                break;
            case ContainerInline container:
                foreach (var child in container) Append(sb, child);
                break;
        }
    }

    public static string Code(LeafBlock code) => code.Lines.ToString().TrimEnd();

    /// <summary>Paragraphs of a run of blocks; list items become "- item" paragraphs, code blocks their text.</summary>
    public static List<string> Paragraphs(IEnumerable<Block> blocks)
    {
        var list = new List<string>();
        foreach (var b in blocks) AddParagraphs(list, b, "");
        return list;
    }

    private static void AddParagraphs(List<string> list, Block b, string prefix)
    {
        switch (b)
        {
            case ParagraphBlock p: list.Add(prefix + Inline(p.Inline).Trim()); break;
            case FencedCodeBlock f: list.Add(Code(f)); break;
            case CodeBlock c: list.Add(Code(c)); break;
            case ListBlock l:
                int n = 1;
                foreach (var item in l.OfType<ListItemBlock>())
                {
                    string bullet = l.IsOrdered ? $"{n++}. " : "- ";
                    bool first = true;
                    foreach (var child in item)
                    {
                        AddParagraphs(list, child, first ? bullet : "  ");
                        first = false;
                    }
                }
                break;
            case Table t: list.Add(string.Join("\n", TableRows(t).Select(r => string.Join(" | ", r)))); break;
            case QuoteBlock q:
                foreach (var child in q) AddParagraphs(list, child, prefix);
                break;
        }
    }

    public static List<string[]> TableRows(Table t) =>
        t.OfType<TableRow>().Select(r => r.OfType<TableCell>()
            .Select(c => string.Join(" ", c.OfType<ParagraphBlock>().Select(p => Inline(p.Inline).Trim()))).ToArray()).ToList();
}

internal sealed class ParameterHelp
{
    public string Name = "";
    public List<string> Description = [];
    public List<ParameterSetInfo> Sets = [];
    public string Type => Sets.FirstOrDefault()?.Type ?? "Object";
}

/// <summary>One yaml block of a parameter (platyPS writes one per group of parameter sets with the same attributes).</summary>
internal sealed class ParameterSetInfo
{
    public string Type = "Object";
    public List<string> SetNames = ["(All)"];
    public string Aliases = "";
    public bool Required;
    public string Position = "Named";
    public string DefaultValue = "None";
    public string PipelineInput = "False";
    public bool Wildcards;
    public bool ListsAcceptedValues;

    public bool AppliesTo(string set) => SetNames.Any(s => s is "(All)" or "__AllParameterSets" || string.Equals(s, set, StringComparison.OrdinalIgnoreCase));

    public static ParameterSetInfo Parse(string yaml)
    {
        var p = new ParameterSetInfo();
        foreach (var raw in yaml.Split('\n'))
        {
            int colon = raw.IndexOf(':');
            if (colon < 0) continue;
            string key = raw[..colon].Trim(), value = raw[(colon + 1)..].Trim();
            switch (key)
            {
                case "Type": p.Type = value; break;
                case "Parameter Sets": p.SetNames = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList(); break;
                case "Aliases": p.Aliases = value; break;
                case "Required": p.Required = value.StartsWith("True", StringComparison.OrdinalIgnoreCase); break;
                case "Position": p.Position = value.Length == 0 ? "Named" : value; break;
                case "Default value": p.DefaultValue = value.Length == 0 ? "None" : value; break;
                case "Accept pipeline input": p.PipelineInput = value.Length == 0 ? "False" : value; break;
                case "Accept wildcard characters": p.Wildcards = value.StartsWith("True", StringComparison.OrdinalIgnoreCase); break;
                case "Accepted values": p.ListsAcceptedValues = true; break;
            }
        }
        if (p.SetNames.Count == 0) p.SetNames = ["(All)"];
        return p;
    }
}

internal sealed class ExampleHelp
{
    public string Title = "";
    public string Code = "";
    public List<string> Remarks = [];
}

internal sealed class TypeHelp
{
    public string Name = "";
    public List<string> Description = [];
}

/// <summary>One cmdlet's help as the platyPS markdown lays it out.</summary>
internal sealed class CommandHelp
{
    public string Name = "";
    public string Synopsis = "";
    public List<string> Description = [];
    public List<(string Set, string Text)> Syntax = [];
    public List<ExampleHelp> Examples = [];
    public List<ParameterHelp> Parameters = [];
    public List<TypeHelp> Inputs = [];
    public List<TypeHelp> Outputs = [];
    public List<string> Notes = [];
    public List<(string Text, string Uri)> Links = [];

    public static CommandHelp Parse(MarkdownDocument doc, string fileName, Action<string> warn)
    {
        var help = new CommandHelp { Name = fileName };
        var blocks = doc.Where(b => b is not Markdig.Extensions.Yaml.YamlFrontMatterBlock).ToList();
        var h1 = blocks.OfType<HeadingBlock>().FirstOrDefault(h => h.Level == 1);
        if (h1 is null) warn("no '# Verb-Noun' heading");
        else
        {
            help.Name = MdText.Inline(h1.Inline).Trim();
            if (help.Name != fileName) warn($"the heading '{help.Name}' does not match the file name '{fileName}'");
        }

        foreach (var (title, section) in Sections(blocks, 2))
        {
            switch (title.ToUpperInvariant())
            {
                case "SYNOPSIS": help.Synopsis = string.Join(" ", MdText.Paragraphs(section)); break;
                case "DESCRIPTION": help.Description = MdText.Paragraphs(section); break;
                case "SYNTAX":
                    foreach (var (set, body) in Sections(section, 3))
                    {
                        var code = body.OfType<CodeBlock>().FirstOrDefault();
                        help.Syntax.Add((set, code is null ? "" : MdText.Code(code)));
                    }
                    break;
                case "EXAMPLES":
                    foreach (var (exTitle, body) in Sections(section, 3))
                    {
                        var codes = body.OfType<CodeBlock>().ToList();
                        if (codes.Count == 0) warn($"example '{exTitle}' has no code block");
                        help.Examples.Add(new ExampleHelp
                        {
                            Title = exTitle,
                            Code = string.Join("\n", codes.Select(MdText.Code)),
                            Remarks = MdText.Paragraphs(body.Where(b => b is not CodeBlock)),
                        });
                    }
                    break;
                case "PARAMETERS":
                    foreach (var (pTitle, body) in Sections(section, 3))
                    {
                        if (pTitle.Equals("CommonParameters", StringComparison.OrdinalIgnoreCase)) continue;
                        if (!pTitle.StartsWith('-')) { warn($"parameter heading '{pTitle}' does not start with '-'"); continue; }
                        var p = new ParameterHelp
                        {
                            Name = pTitle[1..].Trim(),
                            Description = MdText.Paragraphs(body.Where(b => !(b is FencedCodeBlock f && f.Info == "yaml"))),
                        };
                        p.Sets = body.OfType<FencedCodeBlock>().Where(f => f.Info == "yaml").Select(f => ParameterSetInfo.Parse(MdText.Code(f))).ToList();
                        if (p.Sets.Count == 0) { warn($"parameter -{p.Name} has no yaml block"); p.Sets.Add(new ParameterSetInfo()); }
                        if (p.Sets.Any(s => s.ListsAcceptedValues))
                            warn($"parameter -{p.Name} lists 'Accepted values' by hand: remove the line, the help takes them from the parameter's type or [ValidateSet]");
                        help.Parameters.Add(p);
                    }
                    break;
                case "INPUTS": help.Inputs = Types(section); break;
                case "OUTPUTS": help.Outputs = Types(section); break;
                case "NOTES": help.Notes = MdText.Paragraphs(section); break;
                case "RELATED LINKS":
                    foreach (var link in section.OfType<ParagraphBlock>().SelectMany(p => p.Inline?.Descendants<LinkInline>() ?? []))
                        help.Links.Add((MdText.Inline(link).Trim(), link.Url ?? ""));
                    break;
                default: warn($"unknown section '## {title}'"); break;
            }
        }
        if (help.Synopsis.Length == 0) warn("no SYNOPSIS");
        return help;
    }

    private static List<TypeHelp> Types(List<Block> section) =>
        Sections(section, 3).Select(t => new TypeHelp { Name = t.Title, Description = MdText.Paragraphs(t.Body) }).ToList();

    /// <summary>The blocks under each heading of <paramref name="level"/>, up to the next heading of that level or higher.</summary>
    public static List<(string Title, List<Block> Body)> Sections(IEnumerable<Block> blocks, int level)
    {
        var result = new List<(string, List<Block>)>();
        List<Block>? current = null;
        foreach (var b in blocks)
        {
            if (b is HeadingBlock h && h.Level <= level)
            {
                if (h.Level == level)
                {
                    current = [];
                    result.Add((MdText.Inline(h.Inline).Trim(), current));
                }
                else current = null;
                continue;
            }
            current?.Add(b);
        }
        return result;
    }
}

/// <summary>Writes MAML as Get-Help reads it (the layout platyPS's New-ExternalHelp produces).</summary>
internal static class Maml
{
    private const string Msh = "http://msh";
    private const string MamlNs = "http://schemas.microsoft.com/maml/2004/10";
    private const string CommandNs = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private const string DevNs = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static void Write(string path, IEnumerable<CommandHelp> commands, IReadOnlyDictionary<string, string[]> accepted)
    {
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) };
        using var w = XmlWriter.Create(path, settings);
        w.WriteStartDocument();
        w.WriteStartElement("helpItems", Msh);
        w.WriteAttributeString("schema", "maml");
        foreach (var c in commands) Command(w, c, accepted);
        w.WriteEndElement();
        w.WriteEndDocument();
    }

    private static void Command(XmlWriter w, CommandHelp c, IReadOnlyDictionary<string, string[]> accepted)
    {
        string[]? Values(ParameterHelp p) => accepted.GetValueOrDefault(AcceptedValues.Key(c.Name, p.Name));
        w.WriteStartElement("command", "command", CommandNs);
        w.WriteAttributeString("xmlns", "maml", null, MamlNs);
        w.WriteAttributeString("xmlns", "dev", null, DevNs);
        w.WriteStartElement("command", "details", CommandNs);
        w.WriteElementString("command", "name", CommandNs, c.Name);
        var dash = c.Name.IndexOf('-');
        w.WriteElementString("command", "verb", CommandNs, dash > 0 ? c.Name[..dash] : c.Name);
        w.WriteElementString("command", "noun", CommandNs, dash > 0 ? c.Name[(dash + 1)..] : "");
        Description(w, [c.Synopsis]);
        w.WriteEndElement();
        Description(w, c.Description);

        w.WriteStartElement("command", "syntax", CommandNs);
        var sets = c.Syntax.Count > 0 ? c.Syntax.Select(s => s.Set).ToList() : ["__AllParameterSets"];
        foreach (var set in sets)
        {
            w.WriteStartElement("command", "syntaxItem", CommandNs);
            w.WriteElementString("maml", "name", MamlNs, c.Name);
            foreach (var p in c.Parameters)
            {
                var info = p.Sets.FirstOrDefault(s => s.AppliesTo(set));
                if (info is not null) Parameter(w, p, info, Values(p), inSyntax: true);
            }
            w.WriteEndElement();
        }
        w.WriteEndElement();

        w.WriteStartElement("command", "parameters", CommandNs);
        foreach (var p in c.Parameters) Parameter(w, p, p.Sets[0], Values(p), inSyntax: false);
        w.WriteEndElement();

        TypeList(w, "inputTypes", "inputType", c.Inputs);
        TypeList(w, "returnValues", "returnValue", c.Outputs);

        w.WriteStartElement("maml", "alertSet", MamlNs);
        w.WriteStartElement("maml", "alert", MamlNs);
        foreach (var para in c.Notes) w.WriteElementString("maml", "para", MamlNs, para);
        w.WriteEndElement();
        w.WriteEndElement();

        w.WriteStartElement("command", "examples", CommandNs);
        foreach (var e in c.Examples)
        {
            w.WriteStartElement("command", "example", CommandNs);
            w.WriteElementString("maml", "title", MamlNs, $"-------------------------- {e.Title} --------------------------");
            w.WriteElementString("dev", "code", DevNs, e.Code);
            w.WriteStartElement("dev", "remarks", DevNs);
            foreach (var para in e.Remarks) w.WriteElementString("maml", "para", MamlNs, para);
            w.WriteEndElement();
            w.WriteEndElement();
        }
        w.WriteEndElement();

        w.WriteStartElement("command", "relatedLinks", CommandNs);
        foreach (var (text, uri) in c.Links)
        {
            w.WriteStartElement("maml", "navigationLink", MamlNs);
            w.WriteElementString("maml", "linkText", MamlNs, text);
            w.WriteElementString("maml", "uri", MamlNs, uri.EndsWith(".md", StringComparison.OrdinalIgnoreCase) ? "" : uri);
            w.WriteEndElement();
        }
        w.WriteEndElement();
        w.WriteEndElement();
    }

    private static void Description(XmlWriter w, IEnumerable<string> paragraphs)
    {
        w.WriteStartElement("maml", "description", MamlNs);
        foreach (var para in paragraphs) w.WriteElementString("maml", "para", MamlNs, para);
        w.WriteEndElement();
    }

    private static void Parameter(XmlWriter w, ParameterHelp p, ParameterSetInfo info, string[]? acceptedValues, bool inSyntax)
    {
        bool isSwitch = info.Type.Equals("SwitchParameter", StringComparison.OrdinalIgnoreCase);
        w.WriteStartElement("command", "parameter", CommandNs);
        w.WriteAttributeString("required", info.Required ? "true" : "false");
        w.WriteAttributeString("variableLength", info.Type.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false");
        w.WriteAttributeString("globbing", info.Wildcards ? "true" : "false");
        w.WriteAttributeString("pipelineInput", info.PipelineInput);
        w.WriteAttributeString("position", info.Position.Equals("Named", StringComparison.OrdinalIgnoreCase) ? "named" : info.Position);
        w.WriteAttributeString("aliases", info.Aliases.Length == 0 ? "none" : info.Aliases);
        w.WriteElementString("maml", "name", MamlNs, p.Name);
        Description(w, p.Description);
        if (acceptedValues is not null)
        {
            // Get-Help prints these in the syntax as -Name {A | B}.
            w.WriteStartElement("command", "parameterValueGroup", CommandNs);
            foreach (var v in acceptedValues)
            {
                w.WriteStartElement("command", "parameterValue", CommandNs);
                w.WriteAttributeString("required", "false");
                w.WriteAttributeString("command", "variableLength", CommandNs, "false");
                w.WriteString(v);
                w.WriteEndElement();
            }
            w.WriteEndElement();
        }
        if (!isSwitch || !inSyntax)
        {
            w.WriteStartElement("command", "parameterValue", CommandNs);
            w.WriteAttributeString("required", isSwitch ? "false" : "true");
            w.WriteAttributeString("variableLength", "false");
            w.WriteString(info.Type);
            w.WriteEndElement();
        }
        w.WriteStartElement("dev", "type", DevNs);
        w.WriteElementString("maml", "name", MamlNs, info.Type);
        w.WriteElementString("maml", "uri", MamlNs, "");
        w.WriteEndElement();
        w.WriteElementString("dev", "defaultValue", DevNs, info.DefaultValue);
        w.WriteEndElement();
    }

    private static void TypeList(XmlWriter w, string listName, string itemName, List<TypeHelp> types)
    {
        w.WriteStartElement("command", listName, CommandNs);
        foreach (var t in types)
        {
            w.WriteStartElement("command", itemName, CommandNs);
            w.WriteStartElement("dev", "type", DevNs);
            w.WriteElementString("maml", "name", MamlNs, t.Name);
            w.WriteEndElement();
            Description(w, t.Description);
            w.WriteEndElement();
        }
        w.WriteEndElement();
    }
}

/// <summary>Renders an about_ topic (platyPS about schema) as the plain text Get-Help shows: 80 columns, sections in capitals.</summary>
internal static class AboutText
{
    private const int Width = 80;

    public static string Render(string name, MarkdownDocument doc)
    {
        var sb = new StringBuilder();
        sb.Append("TOPIC\n    ").Append(name.ToLowerInvariant()).Append("\n\n");
        foreach (var b in doc)
        {
            switch (b)
            {
                case HeadingBlock { Level: 1 }: break; // the topic name, written above
                case Markdig.Extensions.Yaml.YamlFrontMatterBlock: break;
                case HeadingBlock { Level: 2 } h: sb.Append(MdText.Inline(h.Inline).Trim().ToUpperInvariant()).Append('\n'); break;
                case HeadingBlock h: sb.Append("    ").Append(MdText.Inline(h.Inline).Trim().ToUpperInvariant()).Append("\n\n"); break;
                case ParagraphBlock p: Wrap(sb, MdText.Inline(p.Inline).Trim(), "    ", "    "); sb.Append('\n'); break;
                case CodeBlock c:
                    foreach (var line in MdText.Code(c).Split('\n')) sb.Append("        ").Append(line.TrimEnd()).Append('\n');
                    sb.Append('\n');
                    break;
                case ListBlock l:
                    int n = 1;
                    foreach (var item in l.OfType<ListItemBlock>())
                    {
                        string bullet = l.IsOrdered ? $"{n++}. " : "- ";
                        var text = string.Join(" ", MdText.Paragraphs(item));
                        Wrap(sb, text, "    " + bullet, "    " + new string(' ', bullet.Length));
                    }
                    sb.Append('\n');
                    break;
                case Table t: TableText(sb, MdText.TableRows(t)); sb.Append('\n'); break;
                case ThematicBreakBlock: break;
                default:
                    foreach (var para in MdText.Paragraphs([b])) { Wrap(sb, para, "    ", "    "); sb.Append('\n'); }
                    break;
            }
        }
        return sb.ToString().TrimEnd() + "\n";
    }

    private static void Wrap(StringBuilder sb, string text, string firstIndent, string indent)
    {
        var line = new StringBuilder(firstIndent);
        bool empty = true;
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > Width)
            {
                sb.Append(line.ToString().TrimEnd()).Append('\n');
                line.Clear().Append(indent);
                empty = true;
            }
            if (!empty) line.Append(' ');
            line.Append(word);
            empty = false;
        }
        sb.Append(line.ToString().TrimEnd()).Append('\n');
    }

    private static void TableText(StringBuilder sb, List<string[]> rows)
    {
        if (rows.Count == 0) return;
        int cols = rows.Max(r => r.Length);
        var widths = Enumerable.Range(0, cols).Select(i => rows.Max(r => i < r.Length ? r[i].Length : 0)).ToArray();
        for (int r = 0; r < rows.Count; r++)
        {
            sb.Append("    ").Append(string.Join("  ", Enumerable.Range(0, cols).Select(i => (i < rows[r].Length ? rows[r][i] : "").PadRight(widths[i]))).TrimEnd()).Append('\n');
            if (r == 0) sb.Append("    ").Append(string.Join("  ", widths.Select(wd => new string('-', wd)))).Append('\n');
        }
    }
}
