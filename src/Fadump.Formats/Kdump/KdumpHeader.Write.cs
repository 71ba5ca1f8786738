using System.Text;

namespace Fadump.Formats.Kdump;

public sealed partial record KdumpHeader
{
    /// <summary>Encodes disk_dump_header into the first <see cref="KdumpLayout.HeaderSize"/> bytes of dest.</summary>
    internal void WriteHeader(Span<byte> dest)
    {
        bool be = BigEndian;
        dest[..KdumpLayout.HeaderSize].Clear();
        Encoding.ASCII.GetBytes(Signature.AsSpan(0, KdumpLayout.SignatureLength), dest);
        Endian.Write(dest[KdumpLayout.HeaderVersion..], Version, be);
        Utsname.Encode(dest[KdumpLayout.Utsname..]);
        Endian.Write(dest[KdumpLayout.TimestampSec..], TimestampSeconds, be);
        Endian.Write(dest[KdumpLayout.TimestampUsec..], TimestampMicroseconds, be);
        Endian.Write(dest[KdumpLayout.Status..], (uint)Status, be);
        Endian.Write(dest[KdumpLayout.BlockSize..], BlockSize, be);
        Endian.Write(dest[KdumpLayout.SubHdrSize..], SubHeaderBlocks, be);
        Endian.Write(dest[KdumpLayout.BitmapBlocks..], BitmapBlocks, be);
        Endian.Write(dest[KdumpLayout.MaxMapnr..], MaxMapnr32, be);
        Endian.Write(dest[KdumpLayout.TotalRamBlocks..], TotalRamBlocks, be);
        Endian.Write(dest[KdumpLayout.DeviceBlocks..], DeviceBlocks, be);
        Endian.Write(dest[KdumpLayout.WrittenBlocks..], WrittenBlocks, be);
        Endian.Write(dest[KdumpLayout.CurrentCpu..], CurrentCpu, be);
        Endian.Write(dest[KdumpLayout.NrCpus..], NrCpus, be);
    }

    /// <summary>
    /// Encodes a version-6 kdump_sub_header. The legacy start_pfn/end_pfn get the same values as the
    /// _64 fields (an unsigned long is 64 bits on the machines we write).
    /// </summary>
    internal void WriteSubHeader(Span<byte> dest)
    {
        bool be = BigEndian;
        dest[..KdumpLayout.SubHeaderSize].Clear();
        Endian.Write(dest[KdumpLayout.PhysBase..], PhysBase, be);
        Endian.Write(dest[KdumpLayout.DumpLevel..], DumpLevel ?? 0, be);
        Endian.Write(dest[KdumpLayout.Split..], Split ? 1 : 0, be);
        Endian.Write(dest[KdumpLayout.StartPfn..], StartPfn, be);
        Endian.Write(dest[KdumpLayout.EndPfn..], EndPfn, be);
        Endian.Write(dest[KdumpLayout.OffsetVmcoreinfo..], OffsetVmcoreinfo, be);
        Endian.Write(dest[KdumpLayout.SizeVmcoreinfo..], SizeVmcoreinfo, be);
        Endian.Write(dest[KdumpLayout.OffsetNote..], OffsetNote, be);
        Endian.Write(dest[KdumpLayout.SizeNote..], SizeNote, be);
        Endian.Write(dest[KdumpLayout.OffsetEraseinfo..], OffsetEraseinfo, be);
        Endian.Write(dest[KdumpLayout.SizeEraseinfo..], SizeEraseinfo, be);
        Endian.Write(dest[KdumpLayout.StartPfn64..], StartPfn, be);
        Endian.Write(dest[KdumpLayout.EndPfn64..], EndPfn, be);
        Endian.Write(dest[KdumpLayout.MaxMapnr64..], MaxMapnr, be);
    }
}
