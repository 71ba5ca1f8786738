using Fadump.Tools.Collector;
using System.Globalization;
using Fadump.Formats.Compression;

namespace Fadump.Tools.Service;

/// <summary>
/// Parses a kdump.conf <c>core_collector</c> line (<c>makedumpfile -l --message-level 7 -d 31</c>; or <c>cp</c>,
/// <c>cp --sparse=always</c>, <c>scp</c>: see <see cref="CoreCollectorProgram"/>). makedumpfile's options are read the way
/// makedumpfile's getopt_long reads them: clustered short flags (<c>-lF</c>), attached or separate
/// arguments (<c>-d31</c>, <c>-d 31</c>), <c>--long=value</c> or <c>--long value</c>. The line is split on
/// blanks without quoting, as kdump-utils expands an unquoted $CORE_COLLECTOR. The dump file names are
/// added by the service, so positional arguments are errors.
/// </summary>
public static class CoreCollectorParser
{
    private const int MaxDumpLevel = 31;
    private const int MaxThreads = 4096;

    /// <summary>Long options that only tune makedumpfile's own memory use or I/O: accepted and ignored.</summary>
    private static readonly HashSet<string> IgnoredLongWithValue = new(StringComparer.Ordinal) { "cyclic-buffer", "work-dir" };

    private static readonly HashSet<string> IgnoredLongFlags = new(StringComparer.Ordinal) { "non-mmap", "non-cyclic" };

    /// <exception cref="FormatException">The line is not a makedumpfile invocation this service can honour.</exception>
    public static CoreCollectorOptions Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            throw new FormatException("core_collector is empty");
        }

        string program = words[0];
        if (Names(program, "cp"))
        {
            return ParseCp(words);
        }

        if (Names(program, "scp"))
        {
            // kdump-utils runs "scp -q $_ssh_opts /proc/vmcore ..." from the first word alone (${CORE_COLLECTOR%%[[:blank:]]*}).
            return new CoreCollectorOptions { Program = CoreCollectorProgram.Scp, DumpLevel = 0, Format = SaveFormat.Elf, IgnoredOptions = words[1..] };
        }

        if (!Names(program, "makedumpfile"))
        {
            throw new FormatException($"core_collector '{program}': only makedumpfile, cp and scp are supported (makedumpfile's options are honoured by fadump's own saver; cp and scp copy /proc/vmcore as it is)");
        }

        var o = new CoreCollectorOptions();
        var ignored = new List<string>();
        var compressions = new List<char>();
        for (int i = 1; i < words.Length; i++)
        {
            string w = words[i];
            if (w.StartsWith("--", StringComparison.Ordinal))
            {
                string name = w[2..];
                string? value = null;
                int eq = name.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    value = name[(eq + 1)..];
                    name = name[..eq];
                }

                string Value() => value ?? (i + 1 < words.Length ? words[++i] : throw new FormatException($"option --{name} needs a value"));

                switch (name)
                {
                    case "message-level":
                        o = o with { MessageLevel = ParseInt(Value(), 0, 31, "--message-level") };
                        break;
                    case "num-threads":
                        o = o with { Threads = ParseInt(Value(), 1, MaxThreads, "--num-threads") };
                        break;
                    case var n when IgnoredLongWithValue.Contains(n):
                        ignored.Add($"--{n}={Value()}");
                        break;
                    case var n when IgnoredLongFlags.Contains(n) && value is null:
                        ignored.Add("--" + n);
                        break;
                    default:
                        throw new FormatException($"core_collector option --{name} is not supported (fadump collect honours -c -l -p -z -E -F -d -L --message-level --num-threads)");
                }

                continue;
            }

            if (w.Length < 2 || w[0] != '-')
            {
                throw new FormatException($"core_collector argument '{w}': the dump files are added by the service, give options only");
            }

            for (int c = 1; c < w.Length; c++)
            {
                char f = w[c];
                switch (f)
                {
                    case 'c':
                        compressions.Add(f);
                        o = o with { Compression = PageCompression.Zlib };
                        break;
                    case 'l':
                        compressions.Add(f);
                        o = o with { Compression = PageCompression.Lzo };
                        break;
                    case 'p':
                        compressions.Add(f);
                        o = o with { Compression = PageCompression.Snappy };
                        break;
                    case 'z':
                        compressions.Add(f);
                        o = o with { Compression = PageCompression.Zstd };
                        break;
                    case 'E':
                        o = o with { Format = SaveFormat.Elf };
                        break;
                    case 'F':
                        o = o with { FlattenedRequested = true };
                        break;
                    case 'e' or 'D' or 'f':
                        ignored.Add("-" + f);
                        break;
                    case 'd' or 'L':
                        // getopt: the rest of the cluster is the argument, else the next word.
                        string arg = c + 1 < w.Length ? w[(c + 1)..]
                            : i + 1 < words.Length ? words[++i]
                            : throw new FormatException($"option -{f} needs a value");
                        o = f == 'd' ? WithDumpLevels(o, arg) : o with { SizeLimit = ParseSize(arg) };
                        c = w.Length;
                        break;
                    default:
                        throw new FormatException($"core_collector option -{f} is not supported (fadump collect honours -c -l -p -z -E -F -d -L --message-level --num-threads)");
                }
            }
        }

        // makedumpfile(8): -c, -l, -p and -z "cannot be specified with -E", the ELF format has no compressed pages
        // (so kdump-utils' mkdumprd, which runs makedumpfile --check-params on the line, refuses it too).
        if (o.Format == SaveFormat.Elf && o.Compression != PageCompression.None)
        {
            throw new FormatException(ElfCompressed);
        }

        // Two compressions: makedumpfile's getopt keeps the last and says nothing, and a kdump.conf kdump-utils
        // accepted must not lose the dump here. fadump save refuses them (MixedCompression); here they are listed.
        foreach (char f in compressions.Where(f => f != compressions[^1]).Distinct())
        {
            ignored.Add($"-{f} (-{compressions[^1]} comes after it: the last compression given wins, as in makedumpfile)");
        }

        return o with { IgnoredOptions = ignored };
    }

    /// <summary>fadump save's message for -c -l (and any two of -c, -l, -p, -z); collect's command line says it too.</summary>
    public const string MixedCompression = "-c, -l, -p and -z are mutually exclusive";

    /// <summary>fadump save's message for -E with a compression.</summary>
    public const string ElfCompressed = "-E cannot be used with -c, -l, -p or -z: the ELF format has no compressed pages";

    /// <summary>"cp", or a path ending in "/cp".</summary>
    private static bool Names(string program, string name) =>
        program == name || program.EndsWith("/" + name, StringComparison.Ordinal);

    /// <summary>
    /// cp OPTIONS: the files are added by the service (kdump-utils: $CORE_COLLECTOR /proc/vmcore DIR/vmcore-incomplete).
    /// Only --sparse changes what a copy of one file is; other options (-a, -v, ...) are errors, not silently dropped.
    /// </summary>
    private static CoreCollectorOptions ParseCp(string[] words)
    {
        bool sparse = false;
        foreach (string w in words[1..])
        {
            sparse = w switch
            {
                "--sparse=always" => true,
                "--sparse=auto" or "--sparse=never" => false,
                _ when w.StartsWith('-') => throw new FormatException($"core_collector cp option {w} is not supported (fadump collect copies /proc/vmcore as it is; it honours --sparse=always, --sparse=auto and --sparse=never)"),
                _ => throw new FormatException($"core_collector argument '{w}': the dump files are added by the service, give options only"),
            };
        }

        return new CoreCollectorOptions { Program = CoreCollectorProgram.Cp, Sparse = sparse, DumpLevel = 0, Format = SaveFormat.Elf };
    }

    private static CoreCollectorOptions WithDumpLevels(CoreCollectorOptions o, string arg)
    {
        var levels = arg.Split(',').Select(s => ParseInt(s, 0, MaxDumpLevel, "-d")).ToList();
        return o with { DumpLevel = levels[0], FallbackLevels = levels.Skip(1).ToList() };
    }

    private static int ParseInt(string s, int min, int max, string what) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
            ? v
            : throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{what} '{s}': expected an integer from {min} to {max}"));

    /// <summary>-L SIZE: bytes, or with a K, M, G or T suffix (powers of 1024).</summary>
    private static long ParseSize(string s)
    {
        int shift = s.Length == 0 ? 0 : char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift == 0 ? s : s[..^1];
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v <= 0 || v > (long.MaxValue >> shift))
        {
            throw new FormatException($"-L '{s}': expected a positive size in bytes (K, M, G, T suffixes allowed)");
        }

        return v << shift;
    }
}
