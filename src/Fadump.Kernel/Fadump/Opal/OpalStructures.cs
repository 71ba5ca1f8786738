using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump.Opal;

/// <summary>
/// struct opal_fadump_mem_struct (opal-fadump.h), 3088 bytes in the kernel's own byte order (current Linux
/// declares it u16/u64, not __be): u8 version @0, u8[3], u16 region_cnt @4, u16 registered_regions @6,
/// u64 fadumphdr_addr @8, 128 × {u64 src, u64 dest, u64 size} @16.
/// </summary>
public sealed class OpalFadumpMem
{
    public const int MaxRegions = 128;
    public const int Size = 16 + (MaxRegions * 24);
    public const byte Version1 = 1;

    public byte Version { get; set; } = Version1;

    public ushort RegionCount { get; set; }

    public ushort RegisteredRegions { get; set; }

    public ulong HeaderAddress { get; set; }

    public (ulong Src, ulong Dest, ulong Size)[] Regions { get; } = new (ulong, ulong, ulong)[MaxRegions];

    public byte[] Encode(bool bigEndian)
    {
        var b = new byte[Size];
        b[0] = Version;
        Endian.Write(b.AsSpan(4), RegionCount, bigEndian);
        Endian.Write(b.AsSpan(6), RegisteredRegions, bigEndian);
        Endian.Write(b.AsSpan(8), HeaderAddress, bigEndian);
        for (int i = 0; i < MaxRegions; i++)
        {
            var s = b.AsSpan(16 + (i * 24));
            Endian.Write(s, Regions[i].Src, bigEndian);
            Endian.Write(s[8..], Regions[i].Dest, bigEndian);
            Endian.Write(s[16..], Regions[i].Size, bigEndian);
        }

        return b;
    }

    public static OpalFadumpMem Decode(ReadOnlySpan<byte> b, bool bigEndian)
    {
        var m = new OpalFadumpMem
        {
            Version = b[0],
            RegionCount = Endian.U16(b[4..], bigEndian),
            RegisteredRegions = Endian.U16(b[6..], bigEndian),
            HeaderAddress = Endian.U64(b[8..], bigEndian),
        };
        for (int i = 0; i < MaxRegions; i++)
        {
            var s = b[(16 + (i * 24))..];
            m.Regions[i] = (Endian.U64(s, bigEndian), Endian.U64(s[8..], bigEndian), Endian.U64(s[16..], bigEndian));
        }

        return m;
    }

    public static OpalFadumpMem Read(PhysicalMemory memory, ulong address, bool bigEndian)
    {
        var b = new byte[Size];
        memory.Read(address, b);
        return Decode(b, bigEndian);
    }
}

/// <summary>struct opal_mpipl_fadump as skiboot hands it to the kernel (big-endian), as the kernel reads it.</summary>
public sealed record MpiplFadumpView(byte Version, uint CrashingPir, uint CpuDataVersion, uint CpuDataSize, IReadOnlyList<(ulong Src, ulong Dest, ulong Size)> Regions)
{
    /// <summary>Reads one at <paramref name="address"/>; at most <paramref name="maxRegions"/> regions (a corrupt count is not trusted).</summary>
    public static MpiplFadumpView? Read(PhysicalMemory memory, ulong address, int maxRegions)
    {
        if (!memory.IsRam(address, 24))
        {
            return null;
        }

        var h = new byte[24];
        memory.Read(address, h);
        uint count = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(20));
        int n = (int)Math.Min(count, (uint)maxRegions);
        var regions = new List<(ulong, ulong, ulong)>();
        var r = new byte[24];
        for (int i = 0; i < n && memory.IsRam(address + 24 + ((ulong)i * 24), 24); i++)
        {
            memory.Read(address + 24 + ((ulong)i * 24), r);
            regions.Add((BinaryPrimitives.ReadUInt64BigEndian(r), BinaryPrimitives.ReadUInt64BigEndian(r.AsSpan(8)), BinaryPrimitives.ReadUInt64BigEndian(r.AsSpan(16))));
        }

        return new MpiplFadumpView(h[0], BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12)), BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16)), regions) { RegionCount = count };
    }

    /// <summary>region_cnt as the firmware wrote it.</summary>
    public uint RegionCount { get; init; }
}

/// <summary>
/// The CPU state data the firmware saved (HDAT, big-endian): per thread a header {be32 pir; u8 core_state;
/// u8[3]; be32 offset; be32 ecnt; be32 esize; be32 eactsz} and ecnt entries {be32 type (1 GPR, 2 SPR), be32
/// num, be64 value} at thread + 8 + offset. Offset, count and entry size are taken from the first thread, as
/// Linux does; the walk is bounded by the thread size.
/// </summary>
public static class HdatCpuData
{
    public const byte CoreInactive = 0x0F;

    public sealed record Thread(uint Pir, byte CoreState, ulong[] Regs);

    /// <summary>Every thread of the area: <paramref name="size"/> / <paramref name="threadSize"/> of them (null: the first header does not fit).</summary>
    public static List<Thread>? Parse(PhysicalMemory memory, ulong address, ulong size, uint threadSize, int maxThreads)
    {
        if (threadSize < 24 || threadSize > size || !memory.IsRam(address, size))
        {
            return null;
        }

        ulong count = Math.Min(size / threadSize, (ulong)maxThreads);
        var buf = new byte[threadSize];
        memory.Read(address, buf);
        uint regsOffset = 8 + BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(8));
        uint ecnt = BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(12));
        uint esize = BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(16));
        if (esize < 16 || regsOffset > threadSize)
        {
            return null;
        }

        ecnt = (uint)Math.Min(ecnt, (threadSize - regsOffset) / esize);
        var threads = new List<Thread>();
        for (ulong i = 0; i < count; i++)
        {
            memory.Read(address + (i * threadSize), buf);
            var regs = new ulong[48];
            for (uint e = 0; e < ecnt; e++)
            {
                var en = buf.AsSpan((int)(regsOffset + (e * esize)));
                SetRegister(regs, BinaryPrimitives.ReadUInt32BigEndian(en), BinaryPrimitives.ReadUInt32BigEndian(en[4..]), BinaryPrimitives.ReadUInt64BigEndian(en[8..]));
            }

            threads.Add(new Thread(BinaryPrimitives.ReadUInt32BigEndian(buf), buf[4], regs));
        }

        return threads;
    }

    /// <summary>opal_fadump_set_regval_regnum: GPRs by number, the SPRs Linux keeps, HDAT's NIP/MSR/CCR ids.</summary>
    private static void SetRegister(ulong[] regs, uint type, uint num, ulong value)
    {
        if (type == 1)
        {
            if (num < 32)
            {
                regs[num] = value;
            }

            return;
        }

        int slot = num switch
        {
            9 => CrashInfoHeader.RegCtr,
            8 => CrashInfoHeader.RegLink,
            1 => CrashInfoHeader.RegXer,
            19 => CrashInfoHeader.RegDar,
            18 => CrashInfoHeader.RegDsisr,
            0x7D0 => CrashInfoHeader.RegNip,
            0x7D1 => CrashInfoHeader.RegMsr,
            0x7D2 => CrashInfoHeader.RegCcr,
            _ => -1,
        };
        if (slot >= 0)
        {
            regs[slot] = value;
        }
    }
}
