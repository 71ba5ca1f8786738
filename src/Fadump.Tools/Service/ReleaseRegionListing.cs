using System.Globalization;
using System.Text.RegularExpressions;

namespace Fadump.Tools.Service;

/// <summary>A physical range as release_region lists it: an address and a length (not an end).</summary>
public readonly record struct AddressLength(ulong Address, ulong Length)
{
    public ulong End => Address + Length;

    /// <summary>
    /// The physical pages the kernel frees for <c>echo ADDR LEN &gt; release_region</c> (store_release_region,
    /// release_memory_range): from PFN_DOWN(addr), PFN_DOWN(len) + 1 pages (the old loop's "&lt;=" frees one
    /// more than asked); the end saturates at 2^64.
    /// </summary>
    public (ulong Start, ulong End) FreedPages(ulong pageSize)
    {
        ArgumentOutOfRangeException.ThrowIfZero(pageSize);
        ulong first = Address / pageSize;
        ulong pages = (Length / pageSize) + 1;
        return (first * pageSize, pages > (ulong.MaxValue / pageSize) - first ? ulong.MaxValue : (first + pages) * pageSize);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"0x{Address:x}-0x{Length:x}");
}

/// <summary>
/// /sys/kernel/release_region of a Power6 hypervisor-assisted dump (spec/phyp-dump-and-opal.md §A5), read as
/// <c>CPU:0x%llx-0x%llx: HPTE:0x%llx-0x%llx: DUMP:0x%llx-0x%llx, 0x%lx-0x%llx:</c>. Every pair is an
/// address and a length: the CPU state and HPTE copies and the copy of the low memory (the RMO, original
/// address 0) in the scratch area, then the reserved memory above the capture kernel, which is the crashed
/// kernel's memory in place. The seed document's variant (a '/' line break, no trailing colon) is accepted.
/// </summary>
public sealed partial record ReleaseRegionListing(AddressLength Cpu, AddressLength Hpte, AddressLength Dump, AddressLength Reserved)
{
    private const string Hex = "0x([0-9A-Fa-f]{1,16})";

    [GeneratedRegex(@"^\s*CPU:\s*" + Hex + "-" + Hex + @":?\s*HPTE:\s*" + Hex + "-" + Hex + @":?\s*/?\s*DUMP:\s*" + Hex + "-" + Hex + @"\s*,\s*" + Hex + "-" + Hex + @":?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex ListingPattern();

    /// <exception cref="InvalidDataException">The text is not a release_region listing, or a range wraps past 2^64.</exception>
    public static ReleaseRegionListing Parse(string text, string path = DumpDetector.ReleaseRegion)
    {
        ArgumentNullException.ThrowIfNull(text);
        var m = ListingPattern().Match(text);
        if (!m.Success)
        {
            string shown = text.Length > 200 ? text[..200] + "..." : text;
            throw new InvalidDataException($"{path}: expected 'CPU:0xADDR-0xLEN: HPTE:0xADDR-0xLEN: DUMP:0xADDR-0xLEN, 0xADDR-0xLEN:', got '{shown.TrimEnd()}'");
        }

        AddressLength Pair(int i, string what)
        {
            ulong a = ulong.Parse(m.Groups[i].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            ulong l = ulong.Parse(m.Groups[i + 1].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            return a + l < a
                ? throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: {what} range 0x{a:x}-0x{l:x} wraps past the end of the address space"))
                : new AddressLength(a, l);
        }

        return new ReleaseRegionListing(Pair(1, "CPU"), Pair(3, "HPTE"), Pair(5, "DUMP"), Pair(7, "reserved"));
    }

    /// <summary>The text to write to release_region to free a range: <c>echo ADDR LEN</c>.</summary>
    public static string ReleaseCommand(AddressLength range) => string.Create(CultureInfo.InvariantCulture, $"0x{range.Address:x} 0x{range.Length:x}\n");
}
