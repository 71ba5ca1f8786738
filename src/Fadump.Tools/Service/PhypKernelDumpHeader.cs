using System.Buffers.Binary;
using System.Globalization;
using Fadump.Formats.IO;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>
/// The firmware's copy of the phyp dump header, as the capture kernel's device tree carries it
/// (/proc/device-tree/rtas/ibm,kernel-dump: a big-endian 40-byte header and 40-byte sections). The phyp_dump.c
/// that was merged prints its own freshly initialised header in release_region, so the CPU, HPTE and DUMP pairs
/// there read as offsets with no length copied (CPU:0x0-0x0 ...); the copies' real addresses and lengths are only
/// in this property. <see cref="Resolve"/> takes them from here when release_region does not name them.
/// </summary>
public static class PhypKernelDumpHeader
{
    public const string DeviceTreePath = "/proc/device-tree/rtas/ibm,kernel-dump";

    private const int HeaderSize = 40;
    private const int SectionSize = 40;
    private const int MaxSections = 10;
    private const ushort StatusError = 0x2000;

    /// <summary>The listing with its CPU, HPTE and DUMP pairs from the firmware's header when release_region gives no lengths.</summary>
    /// <exception cref="InvalidDataException">release_region names no copies and the firmware's header is missing or unusable.</exception>
    public static ReleaseRegionListing Resolve(ISysroot root, ReleaseRegionListing listing, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(listing);
        if (listing.Dump.Length != 0)
        {
            return listing;
        }

        if (!root.Exists(DeviceTreePath))
        {
            throw new InvalidDataException($"{DumpDetector.ReleaseRegion} names no copy of the low memory (DUMP length 0) and {DeviceTreePath} does not exist");
        }

        byte[] raw;
        using (var src = root.OpenRead(DeviceTreePath))
        {
            if (src.Length < HeaderSize || src.Length > HeaderSize + (MaxSections * SectionSize))
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{DeviceTreePath}: {src.Length} bytes: expected a {HeaderSize}-byte header and up to {MaxSections} {SectionSize}-byte sections"));
            }

            raw = new byte[src.Length];
            src.ReadExactly(0, raw, "the firmware's dump header");
        }

        var (cpu, hpte, dump) = Parse(raw);
        log?.WriteLine($"{DumpDetector.ReleaseRegion} gives no lengths copied (the merged phyp_dump.c prints its own header): the copies are taken from {DeviceTreePath}: CPU {cpu}, HPTE {hpte}, DUMP {dump}");
        return listing with { Cpu = cpu, Hpte = hpte, Dump = dump };
    }

    /// <summary>
    /// The CPU state, HPTE and RMO sections: the destination and the section's length. The CPU state area is
    /// given whole (source_length: the register save area is read up to its own count of CPUs), because the
    /// kernel counts what is released against the three source lengths and registers again only when they
    /// add up; the low-memory copy by the bytes the firmware copied.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed, flags an error, or lacks a section.</exception>
    public static (AddressLength Cpu, AddressLength Hpte, AddressLength Dump) Parse(ReadOnlySpan<byte> raw)
    {
        string Where(FormattableString s) => DeviceTreePath + ": " + s.ToString(CultureInfo.InvariantCulture);
        if (raw.Length < HeaderSize)
        {
            throw new InvalidDataException(Where($"{raw.Length} bytes, shorter than the {HeaderSize}-byte header"));
        }

        uint version = BinaryPrimitives.ReadUInt32BigEndian(raw);
        int sections = BinaryPrimitives.ReadUInt16BigEndian(raw[4..]);
        ushort status = BinaryPrimitives.ReadUInt16BigEndian(raw[6..]);
        uint first = BinaryPrimitives.ReadUInt32BigEndian(raw[8..]);
        if (version != 1 || first != HeaderSize || sections > MaxSections || raw.Length < HeaderSize + (sections * SectionSize))
        {
            throw new InvalidDataException(Where($"version {version}, {sections} sections from offset 0x{first:x} in {raw.Length} bytes: expected version 1 and sections from 0x28"));
        }

        if ((status & StatusError) != 0)
        {
            throw new InvalidDataException(Where($"status 0x{status:x4}: the firmware flagged the dump as failed (DUMP_ERROR)"));
        }

        AddressLength? cpu = null, hpte = null, dump = null;
        for (int i = 0; i < sections; i++)
        {
            var s = raw.Slice(HeaderSize + (i * SectionSize), SectionSize);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(s[4..]);
            ulong source = BinaryPrimitives.ReadUInt64BigEndian(s[16..]);
            ulong copied = BinaryPrimitives.ReadUInt64BigEndian(s[24..]);
            ulong dest = BinaryPrimitives.ReadUInt64BigEndian(s[32..]);
            if (dest + copied < dest)
            {
                throw new InvalidDataException(Where($"section {i} at 0x{dest:x}, 0x{copied:x} bytes, wraps past the end of the address space"));
            }

            if (dest + source < dest)
            {
                throw new InvalidDataException(Where($"section {i} at 0x{dest:x}, 0x{source:x} bytes, wraps past the end of the address space"));
            }

            var r = new AddressLength(dest, type == 0x0011 ? copied : Math.Max(source, copied));
            switch (type)
            {
                case 0x0001: cpu = r; break;
                case 0x0002: hpte = r; break;
                case 0x0011: dump = r; break;
            }
        }

        return cpu is { } c && hpte is { } h && dump is { } d
            ? (c, h, d)
            : throw new InvalidDataException(Where($"{sections} sections without the CPU state (0x0001), HPTE (0x0002) and RMO (0x0011) ones"));
    }
}
