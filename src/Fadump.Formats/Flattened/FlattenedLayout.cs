namespace Fadump.Formats.Flattened;

/// <summary>
/// makedumpfile's flattened format (makedumpfile.h: makedumpfile_header, makedumpfile_data_header): a
/// 4096-byte header, then records {i64 offset, i64 size} + data, all big-endian, ended by offset = size = −1.
/// </summary>
internal static class FlattenedLayout
{
    public const string Signature = "makedumpfile";
    public const int SignatureLength = 16;           // char signature[16], NUL-padded
    public const int Type = SignatureLength;         // i64 type @16
    public const int Version = Type + 8;             // i64 version @24
    public const int HeaderSize = 4096;              // MAX_SIZE_MDF_HEADER

    public const long TypeFlatHeader = 1;            // TYPE_FLAT_HEADER
    public const long VersionFlatHeader = 1;         // VERSION_FLAT_HEADER

    public const int RecordOffset = 0;               // i64 offset
    public const int RecordSize = RecordOffset + 8;  // i64 size
    public const int RecordHeaderSize = RecordSize + 8;

    public const long EndFlag = -1;                  // END_FLAG_FLAT_HEADER

    /// <summary>Logical offsets beyond 2^60 bytes are not a dump: reject them as corruption.</summary>
    public const long MaxLogicalEnd = 1L << 60;

    public static bool HasSignature(ReadOnlySpan<byte> start)
    {
        if (start.Length < SignatureLength || !start[..Signature.Length].SequenceEqual("makedumpfile"u8))
        {
            return false;
        }

        return !start[Signature.Length..SignatureLength].ContainsAnyExcept((byte)0);
    }
}
