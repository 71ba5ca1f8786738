namespace Fadump.Formats.Compression;

/// <summary>
/// Per-page compression of kdump-compressed files. The values are the flag bits of
/// page_desc.flags and of the header status (makedumpfile diskdump_mod.h: DUMP_DH_COMPRESSED_*).
/// </summary>
public enum PageCompression
{
    None = 0,
    Zlib = 0x1,
    Lzo = 0x2,
    Snappy = 0x4,
    Zstd = 0x20,
}
