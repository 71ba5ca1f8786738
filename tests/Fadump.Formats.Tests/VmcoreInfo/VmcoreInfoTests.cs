using Fadump.Formats.VmcoreInfo;

namespace Fadump.Formats.Tests.VmcoreInfoTests;

public sealed class VmcoreInfoParsingTests
{
    private static string Sample(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", name));

    [Fact]
    public void Parses_the_real_x86_64_note_with_typed_values()
    {
        var info = VmcoreInfo.VmcoreInfo.Parse(System.Text.Encoding.ASCII.GetBytes(Sample("linux-6.1-x86_64.txt")));
        Assert.Equal("6.1.0-56-amd64", info.OsRelease);
        Assert.Equal(4096, info.PageSize);
        Assert.Equal(0xffffffff999fb000UL, info.Symbol("init_uts_ns"));
        Assert.Equal(52, info.Offset("page._refcount"));
        Assert.Equal(4096, info.Length("mem_section"));
        Assert.Equal(-119537664, info.Number("phys_base"));
        Assert.Equal(-129, info.Number("PAGE_BUDDY_MAPCOUNT_VALUE"));
        Assert.Equal(0x16e00000UL, info.KernelOffset);
        Assert.Equal(1795249829, info.CrashTime);
        Assert.Equal("eb4fbcd037e7253717950bf2b93bd5566f47c56f", info.BuildId);
        Assert.Null(info.Symbol("no_such_symbol"));
    }

    [Fact]
    public void Parses_the_real_ppc64le_note()
    {
        var info = VmcoreInfo.VmcoreInfo.Parse(System.Text.Encoding.ASCII.GetBytes(Sample("linux-6.1-ppc64le.txt")));
        Assert.Equal(65536, info.PageSize);
        Assert.Equal(0xc0000000027591c0UL, info.Symbol("vmemmap_list"));
        Assert.Equal(24, info.Size("vmemmap_backing"));
        Assert.Equal(0UL, info.KernelOffset);
    }

    [Fact]
    public void Writer_output_parses_back_identically()
    {
        var info = new VmcoreInfo.VmcoreInfo();
        info.Add("OSRELEASE", "6.1.0-50-powerpc64le");
        info.AddSymbol("prb", 0xc000000002536920);
        info.AddOffset("printk_info.ts_nsec", 8);
        info.AddSize("page", 64);
        info.AddLength("mem_section", 65536);
        info.AddNumber("PAGE_OFFLINE_MAPCOUNT_VALUE", -257);
        info.Add("NUMBER(VMALLOC_START)", "0xc008000000000000");
        var back = VmcoreInfo.VmcoreInfo.Parse(info.ToBytes());
        Assert.Equal(info.ToText(), back.ToText());
        Assert.Equal("SYMBOL(prb)=c000000002536920\n", back.ToText().Split('\n')[1] + "\n");
        Assert.Equal(unchecked((long)0xc008000000000000), back.Number("VMALLOC_START"));
    }

    [Theory]
    [InlineData("OSRELEASE=6.1\nno equals sign here\n", 14)]
    [InlineData("=value\n", 0)]
    [InlineData("OSRELEASE=6.1\nKEY WITH SPACE=1\n", 14)]
    public void Garbage_lines_are_rejected_with_their_offset(string text, long offset)
    {
        var e = Assert.Throws<DumpFormatException>(() => VmcoreInfo.VmcoreInfo.Parse(System.Text.Encoding.ASCII.GetBytes(text), "f", 100));
        Assert.Equal(100 + offset, e.Offset);
        Assert.Contains("expected KEY=VALUE", e.Message);
    }

    [Fact]
    public void Bad_numbers_fail_on_access_naming_the_key()
    {
        var info = VmcoreInfo.VmcoreInfo.Parse("PAGESIZE=lots\nSYMBOL(x)=zz\n"u8, "dump.elf", 0x200);
        var e = Assert.Throws<DumpFormatException>(() => info.PageSize);
        Assert.Contains("dump.elf", e.Message);
        Assert.Contains("PAGESIZE=lots: expected a decimal number", e.Message);
        Assert.Throws<DumpFormatException>(() => info.Symbol("x"));
    }

    [Fact]
    public void Oversized_note_is_rejected_before_parsing()
    {
        var e = Assert.Throws<DumpFormatException>(() => VmcoreInfo.VmcoreInfo.Parse(new byte[VmcoreInfo.VmcoreInfo.MaxSize + 1]));
        Assert.Contains("expected at most", e.Message);
    }
}
