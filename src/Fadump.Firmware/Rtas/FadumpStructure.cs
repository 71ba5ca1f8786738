using System.Buffers.Binary;

namespace Fadump.Firmware.Rtas;

/// <summary>
/// The pSeries FADump registration structure (PAPR ibm,configure-kernel-dump; Linux
/// rtas-fadump.h struct rtas_fadump_mem_struct). Always big-endian: a 40-byte header, then up to
/// 10 sections of 40 bytes.
/// </summary>
public sealed class FadumpStructure
{
    public const int HeaderSize = 40;
    public const int SectionSize = 40;
    public const int MaxSections = 10;
    public const int FullSize = HeaderSize + (MaxSections * SectionSize); // 440

    // Header fields (struct rtas_fadump_section_header)
    private const int DumpFormatVersion = 0;     // u32
    private const int DumpNumSections = 4;       // u16
    private const int DumpStatusFlag = 6;        // u16
    private const int OffsetFirstDumpSection = 8; // u32

    // Section fields (struct rtas_fadump_section)
    private const int RequestFlag = 0;           // u32
    private const int SourceDataType = 4;        // u16
    private const int ErrorFlags = 6;            // u16
    private const int SourceAddress = 8;         // u64
    private const int SourceLen = 16;            // u64
    private const int BytesDumped = 24;          // u64
    private const int DestinationAddress = 32;   // u64

    public const ushort CpuStateData = 0x0001;
    public const ushort HpteRegion = 0x0002;
    public const ushort RealModeRegion = 0x0011;
    public const ushort ParamArea = 0x0100;

    public const ushort StatusDumpPerformed = 0x8000;
    public const ushort StatusDumpTriggered = 0x4000;
    public const ushort StatusError = 0x2000;

    public const ushort ErrInvalidDataType = 0x8000;
    public const ushort ErrInvalidSourceAddr = 0x4000;
    public const ushort ErrLengthExceedsSource = 0x2000;
    public const ushort ErrInvalidDestAddr = 0x1000;
    public const ushort ErrDestTooSmall = 0x0800;

    public uint Version { get; set; } = 1;

    public ushort StatusFlags { get; set; }

    public uint FirstSectionOffset { get; set; } = HeaderSize;

    public List<FadumpSection> Sections { get; } = [];

    public int Size => HeaderSize + (Sections.Count * SectionSize);

    public byte[] Encode()
    {
        var b = new byte[Size];
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(DumpFormatVersion), Version);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(DumpNumSections), (ushort)Sections.Count);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(DumpStatusFlag), StatusFlags);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(OffsetFirstDumpSection), FirstSectionOffset);
        for (int i = 0; i < Sections.Count; i++)
        {
            var s = Sections[i];
            var d = b.AsSpan(HeaderSize + (i * SectionSize));
            BinaryPrimitives.WriteUInt32BigEndian(d[RequestFlag..], s.RequestFlag);
            BinaryPrimitives.WriteUInt16BigEndian(d[SourceDataType..], s.Type);
            BinaryPrimitives.WriteUInt16BigEndian(d[ErrorFlags..], s.ErrorFlags);
            BinaryPrimitives.WriteUInt64BigEndian(d[SourceAddress..], s.SourceAddress);
            BinaryPrimitives.WriteUInt64BigEndian(d[SourceLen..], s.SourceLength);
            BinaryPrimitives.WriteUInt64BigEndian(d[BytesDumped..], s.BytesDumped);
            BinaryPrimitives.WriteUInt64BigEndian(d[DestinationAddress..], s.DestinationAddress);
        }

        return b;
    }

    /// <summary>Decodes; returns null when the bytes are not a plausible structure (the caller maps that to -3).</summary>
    public static FadumpStructure? Decode(ReadOnlySpan<byte> b)
    {
        if (b.Length < HeaderSize)
        {
            return null;
        }

        var s = new FadumpStructure
        {
            Version = BinaryPrimitives.ReadUInt32BigEndian(b[DumpFormatVersion..]),
            StatusFlags = BinaryPrimitives.ReadUInt16BigEndian(b[DumpStatusFlag..]),
            FirstSectionOffset = BinaryPrimitives.ReadUInt32BigEndian(b[OffsetFirstDumpSection..]),
        };
        int n = BinaryPrimitives.ReadUInt16BigEndian(b[DumpNumSections..]);
        if (n > MaxSections || s.FirstSectionOffset != HeaderSize || b.Length < HeaderSize + (n * SectionSize))
        {
            return null;
        }

        for (int i = 0; i < n; i++)
        {
            var d = b[(HeaderSize + (i * SectionSize))..];
            s.Sections.Add(new FadumpSection
            {
                RequestFlag = BinaryPrimitives.ReadUInt32BigEndian(d[RequestFlag..]),
                Type = BinaryPrimitives.ReadUInt16BigEndian(d[SourceDataType..]),
                ErrorFlags = BinaryPrimitives.ReadUInt16BigEndian(d[ErrorFlags..]),
                SourceAddress = BinaryPrimitives.ReadUInt64BigEndian(d[SourceAddress..]),
                SourceLength = BinaryPrimitives.ReadUInt64BigEndian(d[SourceLen..]),
                BytesDumped = BinaryPrimitives.ReadUInt64BigEndian(d[BytesDumped..]),
                DestinationAddress = BinaryPrimitives.ReadUInt64BigEndian(d[DestinationAddress..]),
            });
        }

        return s;
    }
}

/// <summary>One dump section (struct rtas_fadump_section).</summary>
public sealed class FadumpSection
{
    public uint RequestFlag { get; set; } = 1;

    public ushort Type { get; set; }

    public ushort ErrorFlags { get; set; }

    public ulong SourceAddress { get; set; }

    public ulong SourceLength { get; set; }

    public ulong BytesDumped { get; set; }

    public ulong DestinationAddress { get; set; }
}
