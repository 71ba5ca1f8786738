using System.Text;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

public sealed partial record KdumpHeader
{
    /// <summary>True when the bytes start with "KDUMP   " or "DISKDUMP".</summary>
    public static bool HasSignature(ReadOnlySpan<byte> start) =>
        start.Length >= KdumpLayout.SignatureLength
        && (start[..KdumpLayout.SignatureLength].SequenceEqual("KDUMP   "u8) || start[..KdumpLayout.SignatureLength].SequenceEqual("DISKDUMP"u8));

    /// <summary>
    /// Reads and validates the header and sub-header against the source's length: every offset and size
    /// must lie inside the file before anything is allocated from it.
    /// </summary>
    public static KdumpHeader Read(IRandomAccessSource src)
    {
        string path = src.Name;
        Span<byte> h = stackalloc byte[KdumpLayout.HeaderSize];
        src.ReadExactly(0, h, "disk_dump_header");
        if (!HasSignature(h))
        {
            throw new DumpFormatException(path, KdumpLayout.Signature,
                $"signature '{Printable(h[..KdumpLayout.SignatureLength])}': expected \"KDUMP   \" or \"DISKDUMP\"");
        }

        string signature = Encoding.ASCII.GetString(h[..KdumpLayout.SignatureLength]);
        bool be = DetectByteOrder(h, path);
        int version = Endian.I32(h[KdumpLayout.HeaderVersion..], be);
        int blockSize = Endian.I32(h[KdumpLayout.BlockSize..], be);
        int subHdrSize = Endian.I32(h[KdumpLayout.SubHdrSize..], be);
        uint bitmapBlocks = Endian.U32(h[KdumpLayout.BitmapBlocks..], be);
        uint maxMapnr32 = Endian.U32(h[KdumpLayout.MaxMapnr..], be);
        bool diskdump = signature == KdumpLayout.DiskdumpSignature;
        long length = src.Length;

        int minSub = diskdump ? 0 : 1;
        string flagged = ((KdumpStatus)Endian.U32(h[KdumpLayout.Status..], be) & KdumpStatus.Incomplete) != 0 ? "flagged incomplete and " : string.Empty;
        if (subHdrSize >= minSub && subHdrSize <= 1024 && (1L + subHdrSize) * blockSize > length)
        {
            throw new DumpFormatException(path, length,
                Invariant($"the dump is {flagged}truncated (incomplete): its sub-header ({subHdrSize} blocks of {blockSize} bytes) ends at 0x{(1L + subHdrSize) * blockSize:x}, but the file is {length} bytes long"));
        }

        if (subHdrSize < minSub || (1L + subHdrSize) * blockSize > length)
        {
            throw new DumpFormatException(path, KdumpLayout.SubHdrSize,
                Invariant($"sub_hdr_size {subHdrSize} blocks of {blockSize} bytes: expected at least {minSub} and the sub-header to end inside the {length}-byte file"));
        }

        if (bitmapBlocks != 0 && bitmapBlocks % 2 == 0 && (1L + subHdrSize + bitmapBlocks) * blockSize > length && bitmapBlocks / 2 * (long)blockSize <= (1L << KdumpLayout.MaxPhysicalAddressBits) / 4096 / 8)
        {
            throw new DumpFormatException(path, length,
                Invariant($"the dump is {flagged}truncated (incomplete): its bitmaps ({bitmapBlocks} blocks of {blockSize} bytes) end at 0x{(1L + subHdrSize + bitmapBlocks) * blockSize:x}, but the file is {length} bytes long"));
        }

        if (bitmapBlocks == 0 || bitmapBlocks % 2 != 0 || (1L + subHdrSize + bitmapBlocks) * blockSize > length)
        {
            throw new DumpFormatException(path, KdumpLayout.BitmapBlocks,
                Invariant($"bitmap_blocks {bitmapBlocks}: expected a nonzero even count (two bitmaps of equal size) ending inside the {length}-byte file"));
        }

        var header = new KdumpHeader
        {
            Signature = signature,
            Version = version,
            BigEndian = be,
            Utsname = KdumpUtsname.Parse(h.Slice(KdumpLayout.Utsname, KdumpLayout.UtsFieldCount * KdumpLayout.UtsFieldLength)),
            TimestampSeconds = Endian.I64(h[KdumpLayout.TimestampSec..], be),
            TimestampMicroseconds = Endian.I64(h[KdumpLayout.TimestampUsec..], be),
            Status = (KdumpStatus)Endian.U32(h[KdumpLayout.Status..], be),
            BlockSize = blockSize,
            SubHeaderBlocks = subHdrSize,
            BitmapBlocks = bitmapBlocks,
            MaxMapnr32 = maxMapnr32,
            TotalRamBlocks = Endian.U32(h[KdumpLayout.TotalRamBlocks..], be),
            DeviceBlocks = Endian.U32(h[KdumpLayout.DeviceBlocks..], be),
            WrittenBlocks = Endian.U32(h[KdumpLayout.WrittenBlocks..], be),
            CurrentCpu = Endian.U32(h[KdumpLayout.CurrentCpu..], be),
            NrCpus = Endian.I32(h[KdumpLayout.NrCpus..], be),
            MaxMapnr = maxMapnr32,
        };

        if (!diskdump)
        {
            header = header.WithSubHeader(src, version, be);
        }

        header.Validate(path, length, src.StoredLength);
        return header;
    }

    private KdumpHeader WithSubHeader(IRandomAccessSource src, int version, bool be)
    {
        // Only the fields that this header version defines are read; the rest stay zero.
        Span<byte> s = stackalloc byte[KdumpLayout.SubHeaderSize];
        s.Clear();
        int have = KdumpLayout.SubHeaderBytes(version);
        src.ReadExactly(BlockSize, s[..have], Invariant($"kdump_sub_header (version {version})"));
        bool v6 = version >= 6;
        return this with
        {
            PhysBase = Endian.U64(s[KdumpLayout.PhysBase..], be),
            DumpLevel = version >= 1 ? Endian.I32(s[KdumpLayout.DumpLevel..], be) : null,
            Split = Endian.I32(s[KdumpLayout.Split..], be) != 0,
            StartPfn = v6 ? Endian.U64(s[KdumpLayout.StartPfn64..], be) : Endian.U64(s[KdumpLayout.StartPfn..], be),
            EndPfn = v6 ? Endian.U64(s[KdumpLayout.EndPfn64..], be) : Endian.U64(s[KdumpLayout.EndPfn..], be),
            OffsetVmcoreinfo = Endian.I64(s[KdumpLayout.OffsetVmcoreinfo..], be),
            SizeVmcoreinfo = Endian.U64(s[KdumpLayout.SizeVmcoreinfo..], be),
            OffsetNote = Endian.I64(s[KdumpLayout.OffsetNote..], be),
            SizeNote = Endian.U64(s[KdumpLayout.SizeNote..], be),
            OffsetEraseinfo = Endian.I64(s[KdumpLayout.OffsetEraseinfo..], be),
            SizeEraseinfo = Endian.U64(s[KdumpLayout.SizeEraseinfo..], be),
            MaxMapnr = v6 ? Endian.U64(s[KdumpLayout.MaxMapnr64..], be) : MaxMapnr32,
        };
    }

    private void Validate(string path, long length, long stored)
    {
        long sub = BlockSize;
        ulong maxMapnrLimit = (1UL << KdumpLayout.MaxPhysicalAddressBits) / (ulong)BlockSize;
        long maxMapnrField = Version >= 6 && !IsDiskdump ? sub + KdumpLayout.MaxMapnr64 : KdumpLayout.MaxMapnr;
        if (MaxMapnr > maxMapnrLimit)
        {
            throw new DumpFormatException(path, maxMapnrField,
                Invariant($"max_mapnr 0x{MaxMapnr:x}: expected at most 0x{maxMapnrLimit:x} (2^{KdumpLayout.MaxPhysicalAddressBits} bytes of physical memory in {BlockSize}-byte pages)"));
        }

        ulong needed = (MaxMapnr + 7) / 8;
        if ((ulong)BitmapBytes < needed)
        {
            throw new DumpFormatException(path, KdumpLayout.BitmapBlocks,
                Invariant($"bitmap_blocks {BitmapBlocks} ({BitmapBytes} bytes per bitmap): expected 2 × ceil(max_mapnr / 8) = 2 × {needed} bytes for max_mapnr 0x{MaxMapnr:x}"));
        }

        // A flattened file's logical length can be far beyond its records: bitmaps in that hole would be
        // scanned and indexed (8 bytes per 4096 PFNs) for nothing. A real file stores its bitmaps.
        if (2 * BitmapBytes > stored)
        {
            throw new DumpFormatException(path, KdumpLayout.BitmapBlocks,
                Invariant($"bitmap_blocks {BitmapBlocks} (2 × {BitmapBytes} bytes): expected at most the {stored} bytes of data the file stores"));
        }

        if (IsDiskdump)
        {
            return;
        }

        if (Split && (StartPfn > EndPfn || EndPfn > MaxMapnr))
        {
            throw new DumpFormatException(path, sub + (Version >= 6 ? KdumpLayout.StartPfn64 : KdumpLayout.StartPfn),
                Invariant($"split range of PFNs [0x{StartPfn:x}, 0x{EndPfn:x}): expected start <= end <= max_mapnr 0x{MaxMapnr:x}"));
        }

        if (Version >= 3)
        {
            CheckRange(path, length, sub + KdumpLayout.OffsetVmcoreinfo, "VMCOREINFO", OffsetVmcoreinfo, SizeVmcoreinfo, (ulong)Math.Min(VmcoreInfo.VmcoreInfo.MaxSize, stored));
        }

        if (Version >= 4)
        {
            CheckRange(path, length, sub + KdumpLayout.OffsetNote, "ELF notes", OffsetNote, SizeNote, (ulong)Math.Min(KdumpLayout.MaxNotesSize, stored));
        }

        if (Version >= 5)
        {
            CheckRange(path, length, sub + KdumpLayout.OffsetEraseinfo, "erase info", OffsetEraseinfo, SizeEraseinfo, (ulong)stored);
        }
    }

    private static void CheckRange(string path, long length, long fieldOffset, string what, long offset, ulong size, ulong cap)
    {
        if (size == 0)
        {
            return;
        }

        if (size > cap)
        {
            // The size field follows the offset field in each pair.
            throw new DumpFormatException(path, fieldOffset + 8,
                Invariant($"{what} of {size} bytes: expected at most {cap}"));
        }

        if (offset < 0 || offset > length || size > (ulong)(length - offset))
        {
            throw new DumpFormatException(path, fieldOffset,
                Invariant($"{what} at [0x{offset:x}, +0x{size:x}): expected it inside the {length}-byte file"));
        }
    }

    /// <summary>
    /// The header carries the dumped machine's byte order and no marker for it. header_version is small and
    /// block_size a power of two in the right order (libkdumpfile tries both orders the same way).
    /// </summary>
    private static bool DetectByteOrder(ReadOnlySpan<byte> h, string path)
    {
        foreach (bool be in (ReadOnlySpan<bool>)[false, true])
        {
            int version = Endian.I32(h[KdumpLayout.HeaderVersion..], be);
            int block = Endian.I32(h[KdumpLayout.BlockSize..], be);
            if (version is >= 0 and <= KdumpLayout.MaxPlausibleVersion && PageSizes.IsValid(block))
            {
                return be;
            }
        }

        throw new DumpFormatException(path, KdumpLayout.HeaderVersion,
            Invariant($"header_version {Endian.I32(h[KdumpLayout.HeaderVersion..], false)} / block_size {Endian.I32(h[KdumpLayout.BlockSize..], false)} (little-endian reading): expected a version 0..{KdumpLayout.MaxPlausibleVersion} and a power-of-two block size from 4096 to 1048576 in one byte order"));
    }

    private static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder(b.Length);
        foreach (byte c in b)
        {
            sb.Append(c is >= 0x20 and < 0x7f ? (char)c : '.');
        }

        return sb.ToString();
    }

    /// <summary>The dumped machine: arch from utsname.machine, byte order from the header.</summary>
    public DumpMachine GetMachine(string path)
    {
        string m = Utsname.Machine;
        long at = KdumpLayout.Utsname + (4 * KdumpLayout.UtsFieldLength);
        if (m == "x86_64")
        {
            return !BigEndian
                ? DumpMachine.X86_64
                : throw new DumpFormatException(path, KdumpLayout.HeaderVersion, "x86_64 dump with big-endian header fields: expected little-endian");
        }

        // QEMU writes "ppc64" for both byte orders; the header's byte order decides.
        if (m is "ppc64" or "ppc64le")
        {
            return new DumpMachine(DumpArch.Ppc64, BigEndian);
        }

        throw new DumpFormatException(path, at, $"utsname machine '{m}': expected x86_64, ppc64le or ppc64");
    }
}
