using System.Buffers.Binary;
using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

/// <summary>Older header versions: only the sub-header fields that existed then are read (crash diskdump.h).</summary>
public sealed class KdumpHeaderVersionTests
{
    private const int Sub = 4096;
    private static readonly SyntheticMemory Mem = SyntheticMemory.For("x86_64").WithLevel(31);
    private static readonly byte[] Valid = Mem.WriteKdump(31, PageCompression.Zlib);

    private static KdumpCompressedDump WithVersion(int version, Action<byte[]>? patch = null)
    {
        var b = (byte[])Valid.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), version);
        patch?.Invoke(b);
        return KdumpCompressedDump.Open(new MemorySource(b));
    }

    [Fact]
    public void Version_5_takes_max_mapnr_from_the_32_bit_field()
    {
        using var dump = WithVersion(5, b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Sub + 96), 0xdead_beef_0000));
        Assert.Equal(9000UL, dump.MaxPfn);
        Assert.Equal(3, dump.Notes.Count);
        Mem.AssertMatches(dump);
    }

    [Fact]
    public void Version_3_has_vmcoreinfo_but_no_notes()
    {
        using var dump = WithVersion(3);
        Assert.Empty(dump.Notes);
        Assert.Equal(SyntheticMemory.Release, dump.VmcoreInfo!.OsRelease);
        Assert.Equal(31, dump.DumpLevel);
    }

    [Fact]
    public void Version_1_has_a_dump_level_and_nothing_else()
    {
        using var dump = WithVersion(1, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(Sub + 12), 1));
        Assert.Empty(dump.Notes);
        Assert.Null(dump.VmcoreInfo);
        Assert.False(dump.IsSplit);
        Assert.Equal(31, dump.DumpLevel);
        Mem.AssertMatches(dump);
    }

    [Fact]
    public void Version_0_has_only_phys_base()
    {
        using var dump = WithVersion(0);
        Assert.Null(dump.DumpLevel);
        Assert.Equal(0x1000000UL, dump.PhysBase);
        Mem.AssertMatches(dump);
    }

    [Fact]
    public void Diskdump_signature_has_no_kdump_sub_header()
    {
        using var dump = WithVersion(6, b => "DISKDUMP"u8.CopyTo(b));
        Assert.True(dump.Header.IsDiskdump);
        Assert.Null(dump.DumpLevel);
        Assert.Empty(dump.Notes);
        Assert.Equal(0UL, dump.PhysBase);
        Mem.AssertMatches(dump);
    }

    [Fact]
    public void Big_endian_version_0_is_recognised_by_its_block_size()
    {
        var mem = SyntheticMemory.For("ppc64").WithLevel(31);
        var b = mem.WriteKdump(31, PageCompression.Zlib);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), 0);
        using var dump = KdumpCompressedDump.Open(new MemorySource(b));
        Assert.True(dump.Header.BigEndian);
        Assert.Equal(DumpMachine.Ppc64, dump.Machine);
        Assert.Equal(65536, dump.PageSize);
        mem.AssertMatches(dump);
    }

    [Fact]
    public void A_ppc64le_dump_labelled_ppc64_as_QEMU_writes_it_is_little_endian_ppc64()
    {
        var mem = SyntheticMemory.For("ppc64le").WithLevel(31);
        var b = mem.WriteKdump(31, PageCompression.Zlib);
        b.AsSpan(12 + (4 * 65), 65).Clear();
        "ppc64"u8.CopyTo(b.AsSpan(12 + (4 * 65)));
        using var dump = KdumpCompressedDump.Open(new MemorySource(b));
        Assert.Equal(DumpMachine.Ppc64le, dump.Machine);
        Assert.Equal("ppc64", dump.UtsMachine);
    }
}
