namespace Fadump.Formats.Kdump;

/// <summary>disk_dump_header.status (makedumpfile diskdump_mod.h: DUMP_DH_*).</summary>
[Flags]
public enum KdumpStatus : uint
{
    None = 0,

    /// <summary>Some pages are zlib-compressed (DUMP_DH_COMPRESSED_ZLIB).</summary>
    CompressedZlib = 0x1,

    /// <summary>DUMP_DH_COMPRESSED_LZO.</summary>
    CompressedLzo = 0x2,

    /// <summary>DUMP_DH_COMPRESSED_SNAPPY.</summary>
    CompressedSnappy = 0x4,

    /// <summary>The writer failed (ENOSPC): descriptors past the failure are zero (DUMP_DH_COMPRESSED_INCOMPLETE).</summary>
    Incomplete = 0x8,

    /// <summary>Unused vmemmap pages were excluded (DUMP_DH_EXCLUDED_VMEMMAP).</summary>
    ExcludedVmemmap = 0x10,

    /// <summary>DUMP_DH_COMPRESSED_ZSTD.</summary>
    CompressedZstd = 0x20,
}
