using System.Buffers.Binary;
using Fadump.Formats.IO;

namespace Fadump.Formats.Tests.Robustness;

/// <summary>Hand-broken ELF cores: each gives a DumpFormatException naming the offset and the expectation.</summary>
public sealed class MalformedElfTests
{
    private static byte[] Valid() => TestDumps.BuildElf(DumpMachine.X86_64, 4096);

    private static DumpFormatException Fails(byte[] file)
    {
        return Assert.Throws<DumpFormatException>(() =>
        {
            using var d = DumpFile.Open(new MemorySource(file, "bad.elf"));
        });
    }

    [Fact]
    public void Truncated_header()
    {
        var e = Fails(Valid()[..40]);
        Assert.Contains("bad.elf", e.Message);
        Assert.Contains("ELF header", e.Message);
    }

    [Fact]
    public void Unknown_magic()
    {
        var f = Valid();
        f[0] = 0x7e;
        Assert.Contains("unknown dump format", Fails(f).Message);
    }

    [Fact]
    public void Elf32_is_rejected()
    {
        var f = Valid();
        f[4] = 1;
        var e = Fails(f);
        Assert.Equal(4, e.Offset);
        Assert.Contains("expected 2 (ELFCLASS64)", e.Message);
    }

    [Fact]
    public void Not_a_core()
    {
        var f = Valid();
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(16), 2);
        Assert.Contains("expected 4 (ET_CORE)", Fails(f).Message);
    }

    [Fact]
    public void Program_headers_beyond_the_file()
    {
        var f = Valid();
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(32), 0xffff_ffff_0000);
        var e = Fails(f);
        Assert.Equal(32, e.Offset);
        Assert.Contains("expected them inside", e.Message);
    }

    [Fact]
    public void Absurd_program_header_count_via_PN_XNUM_is_capped()
    {
        var f = Valid();
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(56), 0xffff);
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(40), 64); // section header 0 overlaps the phdrs: sh_info is garbage
        var e = Fails(f);
        Assert.Contains("program headers", e.Message);
    }

    [Fact]
    public void Load_segment_beyond_the_file()
    {
        var f = Valid();
        // phdr[1] (first PT_LOAD) p_filesz at 64 + 56 + 32
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(64 + 56 + 32), 1UL << 40);
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(64 + 56 + 40), 1UL << 40);
        var e = Fails(f);
        Assert.Equal(64 + 56, e.Offset);
        Assert.Contains("expected it inside", e.Message);
    }

    [Fact]
    public void Note_running_past_its_segment()
    {
        var f = Valid();
        long noteOff = BinaryPrimitives.ReadInt64LittleEndian(f.AsSpan(64 + 8));
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan((int)noteOff + 4), 100_000); // descsz of the first note
        var e = Fails(f);
        Assert.Equal(noteOff, e.Offset);
        Assert.Contains("runs past the end", e.Message);
    }

    [Fact]
    public void Filesz_larger_than_memsz()
    {
        var f = Valid();
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(64 + 56 + 40), 1);
        Assert.Contains("expected p_filesz <= p_memsz", Fails(f).Message);
    }
}
