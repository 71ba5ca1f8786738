namespace Fadump.Formats.Kdump;

/// <summary>
/// On-disk layout of the 64-bit kdump-compressed format (makedumpfile diskdump_mod.h; crash diskdump.h).
/// Every field has the byte order of the dumped machine. Offsets derive from the previous field.
/// </summary>
internal static class KdumpLayout
{
    public const string KdumpSignature = "KDUMP   ";
    public const string DiskdumpSignature = "DISKDUMP";
    public const int SignatureLength = 8;

    /// <summary>The version makedumpfile 1.7 writes: adds start_pfn_64, end_pfn_64, max_mapnr_64.</summary>
    public const int CurrentHeaderVersion = 6;

    // struct new_utsname: 6 fields of __NEW_UTS_LEN + 1 chars
    public const int UtsFieldLength = 65;
    public const int UtsFieldCount = 6;

    // struct disk_dump_header (64-bit)
    public const int Signature = 0;                                          // char[8]
    public const int HeaderVersion = Signature + SignatureLength;            // i32 @8
    public const int Utsname = HeaderVersion + 4;                            // new_utsname @12
    public const int Timestamp = 408;                                        // timeval @408 (390 + 6 pad after utsname)
    public const int TimestampSec = Timestamp;                               // i64 tv_sec
    public const int TimestampUsec = Timestamp + 8;                          // i64 tv_usec
    public const int Status = Timestamp + 16;                                // u32 @424
    public const int BlockSize = Status + 4;                                 // i32 @428
    public const int SubHdrSize = BlockSize + 4;                             // i32 @432, in blocks
    public const int BitmapBlocks = SubHdrSize + 4;                          // u32 @436, both bitmaps
    public const int MaxMapnr = BitmapBlocks + 4;                            // u32 @440, saturated at 2^32-1
    public const int TotalRamBlocks = MaxMapnr + 4;                          // u32 @444
    public const int DeviceBlocks = TotalRamBlocks + 4;                      // u32 @448
    public const int WrittenBlocks = DeviceBlocks + 4;                       // u32 @452
    public const int CurrentCpu = WrittenBlocks + 4;                         // u32 @456
    public const int NrCpus = CurrentCpu + 4;                                // i32 @460
    public const int HeaderSize = NrCpus + 4;                                // 464

    // struct kdump_sub_header (64-bit), in block 1; "vN" is the header_version that added the field
    public const int PhysBase = 0;                                           // u64 v0
    public const int DumpLevel = PhysBase + 8;                               // i32 v1
    public const int Split = DumpLevel + 4;                                  // i32 v2
    public const int StartPfn = Split + 4;                                   // u64 v2 (unsigned long)
    public const int EndPfn = StartPfn + 8;                                  // u64 v2
    public const int OffsetVmcoreinfo = EndPfn + 8;                          // i64 v3 (off_t)
    public const int SizeVmcoreinfo = OffsetVmcoreinfo + 8;                  // u64 v3
    public const int OffsetNote = SizeVmcoreinfo + 8;                        // i64 v4
    public const int SizeNote = OffsetNote + 8;                              // u64 v4
    public const int OffsetEraseinfo = SizeNote + 8;                         // i64 v5
    public const int SizeEraseinfo = OffsetEraseinfo + 8;                    // u64 v5
    public const int StartPfn64 = SizeEraseinfo + 8;                         // u64 v6
    public const int EndPfn64 = StartPfn64 + 8;                              // u64 v6
    public const int MaxMapnr64 = EndPfn64 + 8;                              // u64 v6
    public const int SubHeaderSize = MaxMapnr64 + 8;                         // 104

    // struct page_desc
    public const int DescOffset = 0;                                         // i64 offset of the page data
    public const int DescSize = DescOffset + 8;                              // u32 size of the data
    public const int DescFlags = DescSize + 4;                               // u32 DUMP_DH_COMPRESSED_*
    public const int DescPageFlags = DescFlags + 4;                          // u64 page flags (always 0)
    public const int PageDescSize = DescPageFlags + 8;                       // 24

    /// <summary>header_version is small; anything beyond this is a byte-order or corruption sign.</summary>
    public const int MaxPlausibleVersion = 1023;

    /// <summary>Physical addresses have at most 52 bits (x86_64 5-level paging, ppc64): caps max_mapnr.</summary>
    public const int MaxPhysicalAddressBits = 52;

    /// <summary>Cap on the notes (4096 CPUs × 536-byte NT_PRSTATUS is 2 MiB).</summary>
    public const long MaxNotesSize = 64L << 20;

    /// <summary>PFNs per rank-index chunk: one cumulative count per 512 bytes of bitmap.</summary>
    public const int RankChunkBits = 4096;

    /// <summary>The sub-header bytes that exist in a header of the given version.</summary>
    public static int SubHeaderBytes(int version) => version switch
    {
        <= 0 => DumpLevel,
        1 => Split,
        2 => OffsetVmcoreinfo,
        3 => OffsetNote,
        4 => OffsetEraseinfo,
        5 => StartPfn64,
        _ => SubHeaderSize,
    };
}
