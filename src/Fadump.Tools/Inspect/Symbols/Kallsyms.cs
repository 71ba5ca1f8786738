using System.Globalization;
using System.Text;
using Fadump.Formats;

namespace Fadump.Tools.Inspect.Symbols;

/// <summary>One kernel symbol decoded from the kallsyms tables: its address, its type letter (as /proc/kallsyms
/// prints it: t/T text, d/D data, r/R read-only, b/B bss, ...) and its name.</summary>
public readonly record struct KernelSymbol(ulong Address, char Type, string Name)
{
    /// <summary>A code symbol (text, or a weak one).</summary>
    public bool IsText => Type is 't' or 'T' or 'w' or 'W';
}

/// <summary>An address placed against the symbol table: <c>name+0xoff/0xsize</c>, as %pS prints it.</summary>
public readonly record struct SymbolizedAddress(ulong Address, KernelSymbol Symbol, ulong Offset, ulong Size)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Symbol.Name}+0x{Offset:x}/0x{Size:x}");
}

/// <summary>
/// The kernel's symbol table decoded from its own kallsyms tables, which VMCOREINFO locates since Linux 6.0
/// ("vmcoreinfo: include kallsyms symbols"): <c>kallsyms_num_syms</c>, <c>kallsyms_names</c> (per symbol a
/// length, two bytes when its top bit is set since 6.1, then that many token indices), <c>kallsyms_token_table</c>
/// and <c>kallsyms_token_index</c>, and the addresses as 32-bit <c>kallsyms_offsets</c> from
/// <c>kallsyms_relative_base</c> (CONFIG_KALLSYMS_BASE_RELATIVE), or absolute <c>kallsyms_addresses</c>. Whether
/// the offsets are absolute-percpu (x86_64 SMP) or plain relative is decided as the 6.0 commit message suggests:
/// by decoding <c>_stext</c> both ways against VMCOREINFO's SYMBOL(_stext). Every read is bounded and checked;
/// a table that does not decode is a <see cref="DumpFormatException"/> that says where.
/// </summary>
public sealed class Kallsyms
{
    /// <summary>More symbols than any kernel has (Debian's x86_64 6.1: about 150,000 with KALLSYMS_ALL).</summary>
    public const int MaxSymbols = 4 << 20;

    /// <summary>The longest name scripts/kallsyms.c emits (KSYM_NAME_LEN 512 since 6.1, 128 before).</summary>
    private const int MaxNameLength = 512;

    private static readonly string[] RequiredSymbols =
        ["kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table", "kallsyms_token_index"];

    private readonly ulong[] _addresses;
    private readonly string[] _names;
    private readonly char[] _types;
    private readonly int[] _byAddress;
    private readonly Dictionary<string, int> _byName;

    private Kallsyms(ulong[] addresses, string[] names, char[] types, string addressing)
    {
        _addresses = addresses;
        _names = names;
        _types = types;
        Addressing = addressing;
        _byAddress = Enumerable.Range(0, addresses.Length).ToArray();
        Array.Sort(_byAddress, (a, b) => addresses[a] != addresses[b] ? addresses[a].CompareTo(addresses[b]) : a.CompareTo(b));
        _byName = new Dictionary<string, int>(names.Length, StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++)
        {
            _byName.TryAdd(names[i], i);
        }

        TextStart = Lookup("_stext") ?? Lookup("_text") ?? 0;
        TextEnd = Lookup("_etext") ?? ulong.MaxValue;
    }

    /// <summary>How the addresses were decoded, for the report (e.g. "base-relative, absolute per-CPU").</summary>
    public string Addressing { get; }

    public int Count => _names.Length;

    /// <summary>The kernel's text, from _stext (or _text) to _etext: where a code address must lie.</summary>
    public ulong TextStart { get; }

    public ulong TextEnd { get; }

    public KernelSymbol this[int index] => new(_addresses[index], _types[index], _names[index]);

    /// <summary>Every symbol, in the tables' order (address order, as scripts/kallsyms.c sorts them).</summary>
    public IEnumerable<KernelSymbol> Symbols => Enumerable.Range(0, Count).Select(i => this[i]);

    /// <summary>Why a dump's VMCOREINFO cannot lead to kallsyms, or null when it can.</summary>
    public static string? Unavailable(Fadump.Formats.VmcoreInfo.VmcoreInfo info)
    {
        var missing = RequiredSymbols.Where(s => info.Symbol(s) is null).ToList();
        if (info.Symbol("kallsyms_offsets") is null && info.Symbol("kallsyms_addresses") is null)
        {
            missing.Add("kallsyms_offsets or kallsyms_addresses");
        }

        if (info.Symbol("kallsyms_offsets") is not null && info.Symbol("kallsyms_relative_base") is null)
        {
            missing.Add("kallsyms_relative_base");
        }

        if (missing.Count == 0)
        {
            return null;
        }

        return missing.Count == RequiredSymbols.Length + 1
            ? $"VMCOREINFO names no kallsyms tables (they are exported since Linux 6.0; this kernel is {info.OsRelease ?? "of unknown release"})"
            : $"VMCOREINFO lacks SYMBOL({string.Join("), SYMBOL(", missing)})";
    }

    /// <summary>Decodes the tables VMCOREINFO locates.</summary>
    /// <exception cref="DumpFormatException">They are not there, or do not decode.</exception>
    public static Kallsyms Load(KernelAddressSpace kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var info = kernel.VmcoreInfo;
        string path = kernel.Dump.Path;
        if (Unavailable(info) is { } why)
        {
            throw new DumpFormatException(path, why);
        }

        ulong numAt = info.Symbol("kallsyms_num_syms")!.Value;
        uint num = kernel.ReadU32(numAt, "kallsyms_num_syms");
        if (num == 0 && kernel.BigEndian)
        {
            // Before 6.1-ish scripts/kallsyms.c emitted kallsyms_num_syms as a pointer-sized PTR.
            num = (uint)Math.Min(kernel.ReadU64(numAt, "kallsyms_num_syms"), uint.MaxValue);
        }

        if (num == 0 || num > MaxSymbols)
        {
            throw new DumpFormatException(path, FormattableString.Invariant(
                $"kallsyms_num_syms at 0x{numAt:x} is {num}: expected 1 to {MaxSymbols} symbols"));
        }

        int count = (int)num;
        var tokens = ReadTokens(kernel, info.Symbol("kallsyms_token_table")!.Value, info.Symbol("kallsyms_token_index")!.Value);
        var (names, types) = ReadNames(kernel, info.Symbol("kallsyms_names")!.Value, count, tokens);
        var (addresses, addressing) = info.Symbol("kallsyms_offsets") is { } offsetsAt
            ? ReadRelative(kernel, offsetsAt, info.Symbol("kallsyms_relative_base")!.Value, count, names, info.Symbol("_stext"))
            : (ReadAbsolute(kernel, info.Symbol("kallsyms_addresses")!.Value, count), "absolute addresses (kallsyms_addresses)");
        return new Kallsyms(addresses, names, types, addressing);
    }

    /// <summary>The address of the first symbol of that name, or null.</summary>
    public ulong? Lookup(string name) => _byName.TryGetValue(name, out int i) ? _addresses[i] : null;

    /// <summary>The symbol of that name, or null.</summary>
    public KernelSymbol? Find(string name) => _byName.TryGetValue(name, out int i) ? this[i] : null;

    /// <summary>
    /// The symbol an address falls in, as /proc/kallsyms-based tools place it: the last symbol at or below it
    /// (a text symbol when <paramref name="text"/>), its size being the distance to the next higher symbol
    /// address. Null when the address is below every symbol, or (text) outside _stext.._etext.
    /// </summary>
    public SymbolizedAddress? Symbolize(ulong address, bool text = true)
    {
        if (text && (address < TextStart || address >= TextEnd))
        {
            return null;
        }

        int lo = 0, hi = _byAddress.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) / 2);
            if (_addresses[_byAddress[mid]] <= address)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        if (found < 0)
        {
            return null;
        }

        // Among symbols at the same address prefer a global one, then the first in table order, as the
        // kernel's get_symbol_pos does (it returns the first of the aliases).
        int at = found;
        ulong start = _addresses[_byAddress[at]];
        while (at > 0 && _addresses[_byAddress[at - 1]] == start)
        {
            at--;
        }

        int pick = -1;
        for (int k = at; k < _byAddress.Length && _addresses[_byAddress[k]] == start; k++)
        {
            int i = _byAddress[k];
            if (!text || char.ToLowerInvariant(_types[i]) is 't' or 'w')
            {
                pick = i;
                break;
            }
        }

        if (pick < 0)
        {
            return null;
        }

        int next = found + 1;
        while (next < _byAddress.Length && _addresses[_byAddress[next]] == start)
        {
            next++;
        }

        ulong end = next < _byAddress.Length ? _addresses[_byAddress[next]] : (text ? TextEnd : start + 1);
        if (end <= start)
        {
            end = start + 1;
        }

        return new SymbolizedAddress(address, this[pick], address - start, end - start);
    }

    /// <summary>"name+0xoff/0xsize", or null when the address is in no symbol.</summary>
    public string? Describe(ulong address, bool text = true) => Symbolize(address, text)?.ToString();

    private static string[] ReadTokens(KernelAddressSpace kernel, ulong tableAt, ulong indexAt)
    {
        Span<byte> index = stackalloc byte[256 * 2];
        kernel.ReadVirtualExactly(indexAt, index, "kallsyms_token_index");
        var offsets = new int[256];
        int tableSize = 0;
        for (int i = 0; i < 256; i++)
        {
            offsets[i] = Endian.U16(index[(i * 2)..], kernel.BigEndian);
            tableSize = Math.Max(tableSize, offsets[i]);
        }

        // The table holds 256 NUL-terminated tokens; the last begins at the largest index entry.
        byte[] table = new byte[tableSize + MaxNameLength + 1];
        int got = kernel.ReadVirtual(tableAt, table);
        var tokens = new string[256];
        for (int i = 0; i < 256; i++)
        {
            int start = offsets[i];
            int nul = start < got ? Array.IndexOf(table, (byte)0, start, got - start) : -1;
            if (nul < 0)
            {
                throw new DumpFormatException(kernel.Dump.Path, FormattableString.Invariant(
                    $"kallsyms_token_table at 0x{tableAt:x}: token {i} at offset {start} has no terminating NUL within the {got} bytes read"));
            }

            tokens[i] = Encoding.Latin1.GetString(table, start, nul - start);
        }

        return tokens;
    }

    private static (string[] Names, char[] Types) ReadNames(KernelAddressSpace kernel, ulong namesAt, int count, string[] tokens)
    {
        var names = new string[count];
        var types = new char[count];
        var reader = new VirtualStream(kernel, namesAt, "kallsyms_names");
        var sb = new StringBuilder(64);
        for (int s = 0; s < count; s++)
        {
            int len = reader.Next();
            if ((len & 0x80) != 0)
            {
                len = (len & 0x7F) | (reader.Next() << 7);
            }

            if (len == 0 || len > MaxNameLength)
            {
                throw new DumpFormatException(kernel.Dump.Path, FormattableString.Invariant(
                    $"kallsyms_names at 0x{namesAt:x}: symbol {s} of {count} has length {len} (at offset {reader.Position - 1}): expected 1 to {MaxNameLength}"));
            }

            sb.Clear();
            for (int k = 0; k < len; k++)
            {
                sb.Append(tokens[reader.Next()]);
            }

            if (sb.Length < 2)
            {
                throw new DumpFormatException(kernel.Dump.Path, FormattableString.Invariant(
                    $"kallsyms_names at 0x{namesAt:x}: symbol {s} expands to \"{sb}\": expected a type letter and a name"));
            }

            types[s] = sb[0];
            names[s] = sb.ToString(1, sb.Length - 1);
        }

        return (names, types);
    }

    private static (ulong[] Addresses, string Addressing) ReadRelative(KernelAddressSpace kernel, ulong offsetsAt, ulong baseAt,
        int count, string[] names, ulong? stext)
    {
        ulong relativeBase = kernel.ReadU64(baseAt, "kallsyms_relative_base");
        byte[] raw = new byte[checked(count * 4)];
        kernel.ReadVirtualExactly(offsetsAt, raw, "kallsyms_offsets");
        var offsets = new int[count];
        for (int i = 0; i < count; i++)
        {
            offsets[i] = (int)Endian.U32(raw.AsSpan(i * 4), kernel.BigEndian);
        }

        static ulong Percpu(ulong b, int o) => o >= 0 ? (ulong)o : b - 1 - (ulong)(long)o;
        static ulong Plain(ulong b, int o) => b + (uint)o;

        // Decide by _stext, as the 6.0 commit suggests; without it, by which rule puts text above the base.
        bool percpu;
        int stextIndex = Array.IndexOf(names, "_stext");
        if (stext is { } want && stextIndex >= 0)
        {
            if (Plain(relativeBase, offsets[stextIndex]) == want)
            {
                percpu = false;
            }
            else if (Percpu(relativeBase, offsets[stextIndex]) == want)
            {
                percpu = true;
            }
            else
            {
                throw new DumpFormatException(kernel.Dump.Path, FormattableString.Invariant(
                    $"kallsyms_offsets at 0x{offsetsAt:x}: _stext decodes to 0x{Plain(relativeBase, offsets[stextIndex]):x} (relative) or 0x{Percpu(relativeBase, offsets[stextIndex]):x} (absolute per-CPU), but VMCOREINFO says SYMBOL(_stext)=0x{want:x}"));
            }
        }
        else
        {
            percpu = kernel.Machine.Arch == DumpArch.X86_64;
        }

        var addresses = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            addresses[i] = percpu ? Percpu(relativeBase, offsets[i]) : Plain(relativeBase, offsets[i]);
        }

        return (addresses, string.Create(CultureInfo.InvariantCulture,
            $"base-relative from 0x{relativeBase:x}{(percpu ? ", absolute per-CPU (KALLSYMS_ABSOLUTE_PERCPU)" : string.Empty)}"));
    }

    private static ulong[] ReadAbsolute(KernelAddressSpace kernel, ulong at, int count)
    {
        byte[] raw = new byte[checked(count * 8)];
        kernel.ReadVirtualExactly(at, raw, "kallsyms_addresses");
        var addresses = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            addresses[i] = Endian.U64(raw.AsSpan(i * 8), kernel.BigEndian);
        }

        return addresses;
    }

    /// <summary>Sequential bytes of kernel virtual memory, read a page-sized chunk at a time.</summary>
    private sealed class VirtualStream(KernelAddressSpace kernel, ulong start, string what)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _length;
        private int _at;
        private long _base;

        public long Position => _base + _at;

        public int Next()
        {
            if (_at >= _length)
            {
                _base += _length;
                _at = 0;
                _length = kernel.ReadVirtual(start + (ulong)_base, _buffer);
                if (_length == 0)
                {
                    kernel.ReadVirtualExactly(start + (ulong)_base, _buffer.AsSpan(0, 1), what);
                }
            }

            return _buffer[_at++];
        }
    }
}
