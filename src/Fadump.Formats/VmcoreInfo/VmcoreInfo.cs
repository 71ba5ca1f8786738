using System.Globalization;
using System.Text;

namespace Fadump.Formats.VmcoreInfo;

/// <summary>
/// The VMCOREINFO note (kernel/vmcore_info.c): ASCII "KEY=VALUE\n" lines. Typed accessors follow the
/// kernel's printf formats: SYMBOL %lx, OFFSET/SIZE/LENGTH %lu, NUMBER %ld (NUMBER(VMALLOC_START) is 0x%lx),
/// PAGESIZE %ld, CRASHTIME %lld, KERNELOFFSET %lx.
/// </summary>
public sealed class VmcoreInfo
{
    /// <summary>The kernel caps the note at one page (VMCOREINFO_BYTES = PAGE_SIZE); 64 KiB covers ppc64.</summary>
    public const int MaxSize = 1 << 16;

    private readonly List<KeyValuePair<string, string>> _entries = [];
    private readonly Dictionary<string, string> _map = new(StringComparer.Ordinal);

    public VmcoreInfo()
    {
    }

    /// <summary>Where the note was read from, for error messages.</summary>
    public string SourcePath { get; private set; } = "<vmcoreinfo>";

    public long SourceOffset { get; private set; }

    public IReadOnlyList<KeyValuePair<string, string>> Entries => _entries;

    public string? this[string key] => _map.TryGetValue(key, out var v) ? v : null;

    public string? OsRelease => this["OSRELEASE"];

    public string? BuildId => this["BUILD-ID"];

    public long? PageSize => TryDecimal("PAGESIZE");

    /// <summary>
    /// CRASHTIME (the kernel's ktime_get_real_seconds(), %lld), or null when absent or beyond what a date can
    /// show (years 1 to 9999: a damaged VMCOREINFO), so that no reader has to guard its own date conversion.
    /// </summary>
    public long? CrashTime => TryDecimal("CRASHTIME") is long t && t >= MinUnixSeconds && t <= MaxUnixSeconds ? t : null;

    private const long MinUnixSeconds = -62_135_596_800; // DateTimeOffset.MinValue
    private const long MaxUnixSeconds = 253_402_300_799; // DateTimeOffset.MaxValue

    public ulong? KernelOffset => TryHex("KERNELOFFSET");

    public ulong? Symbol(string name) => TryHex($"SYMBOL({name})");

    /// <summary>OFFSET(), SIZE() and LENGTH() are written with %lu by the kernel: a sign is a format error.</summary>
    public long? Offset(string member) => TryUnsigned($"OFFSET({member})");

    public long? Size(string type) => TryUnsigned($"SIZE({type})");

    public long? Length(string name) => TryUnsigned($"LENGTH({name})");

    public long? Number(string name)
    {
        var v = this[$"NUMBER({name})"];
        if (v is null)
        {
            return null;
        }

        return v.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? (long)ParseHex(v[2..], $"NUMBER({name})")
            : ParseDecimal(v, $"NUMBER({name})");
    }

    /// <summary>Parses the note text. Blank lines are skipped; a line without '=' is an error.</summary>
    public static VmcoreInfo Parse(ReadOnlySpan<byte> data, string path = "<vmcoreinfo>", long offset = 0)
    {
        if (data.Length > MaxSize)
        {
            throw new DumpFormatException(path, offset,
                FormattableString.Invariant($"VMCOREINFO of {data.Length} bytes: expected at most {MaxSize}"));
        }

        int nul = data.IndexOf((byte)0);
        if (nul >= 0)
        {
            data = data[..nul];
        }

        var info = new VmcoreInfo { SourcePath = path, SourceOffset = offset };
        int lineStart = 0;
        foreach (var line in Encoding.ASCII.GetString(data).Split('\n'))
        {
            string l = line.TrimEnd('\r');
            if (l.Length > 0)
            {
                int eq = l.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || l.AsSpan(0, eq).ContainsAnyExceptInRange((char)0x21, (char)0x7e))
                {
                    throw new DumpFormatException(path, offset + lineStart,
                        $"VMCOREINFO line '{Truncate(l)}': expected KEY=VALUE");
                }

                info.Add(l[..eq], l[(eq + 1)..]);
            }

            lineStart += line.Length + 1;
        }

        return info;
    }

    /// <summary>Adds or replaces a key; replacement keeps the original position.</summary>
    public void Add(string key, string value)
    {
        if (_map.ContainsKey(key))
        {
            int i = _entries.FindIndex(e => e.Key == key);
            _entries[i] = new(key, value);
        }
        else
        {
            _entries.Add(new(key, value));
        }

        _map[key] = value;
    }

    public void AddSymbol(string name, ulong address) => Add($"SYMBOL({name})", address.ToString("x", CultureInfo.InvariantCulture));

    public void AddOffset(string member, long value) => Add($"OFFSET({member})", value.ToString(CultureInfo.InvariantCulture));

    public void AddSize(string type, long value) => Add($"SIZE({type})", value.ToString(CultureInfo.InvariantCulture));

    public void AddLength(string name, long value) => Add($"LENGTH({name})", value.ToString(CultureInfo.InvariantCulture));

    public void AddNumber(string name, long value) => Add($"NUMBER({name})", value.ToString(CultureInfo.InvariantCulture));

    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in _entries)
        {
            sb.Append(k).Append('=').Append(v).Append('\n');
        }

        return sb.ToString();
    }

    public byte[] ToBytes() => Encoding.ASCII.GetBytes(ToText());

    private long? TryDecimal(string key)
    {
        var v = this[key];
        return v is null ? null : ParseDecimal(v, key);
    }

    private long? TryUnsigned(string key)
    {
        var v = this[key];
        if (v is null)
        {
            return null;
        }

        return long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long r)
            ? r
            : throw new DumpFormatException(SourcePath, SourceOffset, $"VMCOREINFO {key}={Truncate(v)}: expected an unsigned decimal number");
    }

    private ulong? TryHex(string key)
    {
        var v = this[key];
        return v is null ? null : ParseHex(v, key);
    }

    private long ParseDecimal(string v, string key) =>
        long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long r)
            ? r
            : throw new DumpFormatException(SourcePath, SourceOffset, $"VMCOREINFO {key}={Truncate(v)}: expected a decimal number");

    private ulong ParseHex(string v, string key)
    {
        var s = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? v[2..] : v;
        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong r)
            ? r
            : throw new DumpFormatException(SourcePath, SourceOffset, $"VMCOREINFO {key}={Truncate(v)}: expected a hexadecimal number");
    }

    private static string Truncate(string s) => s.Length > 60 ? s[..60] + "..." : s;
}
