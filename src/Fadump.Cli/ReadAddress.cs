using System.Globalization;
using Fadump.Formats;

namespace Fadump.Cli;

/// <summary>
/// fadump read's ADDRESS: a hexadecimal address (0x optional), or a symbol the dump's VMCOREINFO names
/// (SYMBOL(name)=addr, kernel: vmcore_info.c VMCOREINFO_SYMBOL), either followed by +OFFSET. As crash's rd
/// does, a word that reads as hexadecimal is an address first, a symbol only otherwise. OFFSET is decimal, or
/// hexadecimal with 0x, as in gdb's and crash's "init_uts_ns+16".
/// </summary>
internal static class ReadAddress
{
    /// <summary>An unknown symbol's error lists this many of the dump's symbols, with the count.</summary>
    internal const int ListedSymbols = 32;

    private const string SymbolPrefix = "SYMBOL(";

    /// <summary>The address <paramref name="text"/> means in <paramref name="dump"/>; a mistake is a UsageException.</summary>
    public static ulong Resolve(string text, IDump dump, bool physical)
    {
        var (baseText, offsetText) = Split(text);
        ulong offset = offsetText is null ? 0 : ParseOffset(offsetText, text);
        ulong address;
        if (TryHex(baseText, out ulong hex))
        {
            address = hex;
        }
        else
        {
            address = Symbol(baseText, text, dump);
            if (physical)
            {
                throw new UsageException($"'{baseText}' is a kernel virtual address (VMCOREINFO SYMBOL): drop --physical to read it");
            }
        }

        return ulong.MaxValue - address < offset
            ? throw new UsageException($"'{text}': the address overflows 64 bits")
            : address + offset;
    }

    private static (string Base, string? Offset) Split(string text)
    {
        int plus = text.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? (text, null) : (text[..plus], text[(plus + 1)..]);
    }

    private static bool TryHex(string s, out ulong value)
    {
        var t = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s;
        return ulong.TryParse(t, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static ulong ParseOffset(string s, string text)
    {
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        return ok ? v : throw new UsageException($"'{text}': the offset '{s}' is not a number (decimal, or hexadecimal with 0x)");
    }

    private static ulong Symbol(string name, string text, IDump dump)
    {
        if (name.Length == 0)
        {
            throw new UsageException($"'{text}' is not a hexadecimal address or a symbol");
        }

        if (dump.VmcoreInfo is not { } info)
        {
            throw new UsageException($"'{name}' is not a hexadecimal address, and {dump.Path} has no VMCOREINFO to look symbols up in");
        }

        // The kernel's %lx: a damaged value is the dump's fault, said by the reader (DumpFormatException, exit 1).
        if (info.Symbol(name) is ulong address)
        {
            return address;
        }

        var names = info.Entries
            .Where(e => e.Key.StartsWith(SymbolPrefix, StringComparison.Ordinal) && e.Key.EndsWith(')'))
            .Select(e => e.Key[SymbolPrefix.Length..^1])
            .Order(StringComparer.Ordinal)
            .ToList();
        if (names.Count == 0)
        {
            throw new UsageException($"'{name}' is not a hexadecimal address, and the VMCOREINFO of {dump.Path} has no symbols");
        }

        string listed = names.Count <= ListedSymbols
            ? string.Join(", ", names)
            : string.Join(", ", names.Take(ListedSymbols)) + ", ...";
        throw new UsageException(string.Create(CultureInfo.InvariantCulture,
            $"'{name}' is not a hexadecimal address or a symbol in the VMCOREINFO of {dump.Path}; its {names.Count} symbols: {listed}"));
    }
}
