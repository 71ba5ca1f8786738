namespace Fadump.Formats.Kdump;

/// <summary>
/// disk_dump_header and kdump_sub_header of a kdump-compressed file, with the fields the header version
/// provides. Absent fields (older versions, "DISKDUMP" files) read as zero.
/// </summary>
public sealed partial record KdumpHeader
{
    /// <summary>"KDUMP   " (makedumpfile) or "DISKDUMP" (the old diskdump driver, no kdump_sub_header).</summary>
    public string Signature { get; init; } = KdumpLayout.KdumpSignature;

    public bool IsDiskdump => Signature == KdumpLayout.DiskdumpSignature;

    /// <summary>header_version: makedumpfile writes 6; fields of the sub-header exist from the version noted on each.</summary>
    public int Version { get; init; } = KdumpLayout.CurrentHeaderVersion;

    /// <summary>Byte order of every field, the dumped machine's.</summary>
    public bool BigEndian { get; init; }

    public KdumpUtsname Utsname { get; init; } = KdumpUtsname.Empty;

    /// <summary>timestamp.tv_sec: makedumpfile takes it from VMCOREINFO CRASHTIME when present.</summary>
    public long TimestampSeconds { get; init; }

    /// <summary>timestamp.tv_usec.</summary>
    public long TimestampMicroseconds { get; init; }

    public KdumpStatus Status { get; init; }

    /// <summary>block_size: the page size of the dumped kernel.</summary>
    public int BlockSize { get; init; }

    /// <summary>sub_hdr_size: blocks of the sub-header and the notes after it.</summary>
    public int SubHeaderBlocks { get; init; }

    /// <summary>bitmap_blocks: blocks of both bitmaps together.</summary>
    public uint BitmapBlocks { get; init; }

    /// <summary>The 32-bit max_mapnr of disk_dump_header (saturated at 2^32−1; <see cref="MaxMapnr"/> has the full value).</summary>
    public uint MaxMapnr32 { get; init; }

    public uint TotalRamBlocks { get; init; }

    public uint DeviceBlocks { get; init; }

    public uint WrittenBlocks { get; init; }

    public uint CurrentCpu { get; init; }

    public int NrCpus { get; init; }

    // kdump_sub_header

    /// <summary>phys_base (x86_64 relocatable kernels).</summary>
    public ulong PhysBase { get; init; }

    /// <summary>dump_level (-d) from version 1; null before and for DISKDUMP.</summary>
    public int? DumpLevel { get; init; }

    /// <summary>split: this file is one of a --split set and holds the pages of [StartPfn, EndPfn).</summary>
    public bool Split { get; init; }

    /// <summary>start_pfn_64 (version 6) or start_pfn.</summary>
    public ulong StartPfn { get; init; }

    /// <summary>end_pfn_64 (version 6) or end_pfn.</summary>
    public ulong EndPfn { get; init; }

    public long OffsetVmcoreinfo { get; init; }

    public ulong SizeVmcoreinfo { get; init; }

    public long OffsetNote { get; init; }

    public ulong SizeNote { get; init; }

    public long OffsetEraseinfo { get; init; }

    public ulong SizeEraseinfo { get; init; }

    /// <summary>max_mapnr_64 (version 6) or the 32-bit max_mapnr: one past the highest PFN.</summary>
    public ulong MaxMapnr { get; init; }

    public DateTimeOffset Timestamp
    {
        get
        {
            try
            {
                var t = DateTimeOffset.FromUnixTimeSeconds(TimestampSeconds);
                return TimestampMicroseconds is > 0 and < 1_000_000 ? t.AddTicks(TimestampMicroseconds * 10) : t;
            }
            catch (ArgumentOutOfRangeException)
            {
                return DateTimeOffset.UnixEpoch;
            }
        }
    }

    /// <summary>File offset of the 1st bitmap (bit set: not a hole).</summary>
    public long Bitmap1Offset => (1L + SubHeaderBlocks) * BlockSize;

    /// <summary>Bytes of each bitmap: half of bitmap_blocks.</summary>
    public long BitmapBytes => BitmapBlocks / 2 * (long)BlockSize;

    /// <summary>File offset of the 2nd bitmap (bit set: dumped).</summary>
    public long Bitmap2Offset => Bitmap1Offset + BitmapBytes;

    /// <summary>File offset of the page_desc table.</summary>
    public long DescTableOffset => (1L + SubHeaderBlocks + BitmapBlocks) * BlockSize;
}
