using System.Globalization;
using System.Text;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Tools.Tests.Collector;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// `fadump read DUMP SYMBOL[+OFFSET] LENGTH` (issue 12 point 4): a VMCOREINFO symbol in place of an address, as
/// crash's rd and gdb's x take one; an unknown symbol is named with the symbols the dump has.
/// </summary>
public sealed class ReadSymbolCliTests(SmallVmcore small) : IClassFixture<SmallVmcore>
{
    /// <summary>The synthetic kernel's SYMBOL() keys of SyntheticRoot's vmcore (SyntheticPpc64, PrintkRingBuilder, SyntheticKernel), sorted.</summary>
    private const string SyntheticSymbols = "_stext, clear_seq, init_uts_ns, prb, printk_rb_static";

    private static (int Rc, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run(args, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    private ulong InitUtsNs()
    {
        using var dump = DumpFile.Open(small.Path);
        return dump.VmcoreInfo!.Symbol("init_uts_ns")!.Value;
    }

    private static string Hex(ulong v) => v.ToString("x", CultureInfo.InvariantCulture);

    [Fact]
    public void A_symbol_reads_what_its_address_reads()
    {
        ulong uts = InitUtsNs();
        var (rc, output, err) = Fadump("read", small.Path, "init_uts_ns", "32");

        Assert.True(rc == 0, err);
        Assert.Equal(
            $"{uts:x16}  4c 69 6e 75 78 00 00 00  00 00 00 00 00 00 00 00  |Linux...........|\n" +
            $"{uts + 16:x16}  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n",
            output.ReplaceLineEndings("\n"));
        Assert.Equal(Fadump("read", small.Path, Hex(uts), "32").Out, output);
        Assert.Equal(Fadump("read", small.Path, "0x" + Hex(uts), "32").Out, output);
    }

    /// <summary>new_utsname.nodename is 65 bytes into init_uts_ns: +65 (decimal, as gdb and crash write it) or +0x41.</summary>
    [Theory]
    [InlineData("init_uts_ns+65")]
    [InlineData("init_uts_ns+0x41")]
    public void An_offset_is_added_to_the_symbol(string address)
    {
        ulong uts = InitUtsNs();
        var (rc, output, err) = Fadump("read", small.Path, address, "9");

        Assert.True(rc == 0, err);
        Assert.Equal($"{uts + 65:x16}  73 79 6e 74 68 65 74 69  63                       |synthetic|\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void An_offset_applies_to_a_hexadecimal_address_too()
    {
        ulong uts = InitUtsNs();
        Assert.Equal(Fadump("read", small.Path, "init_uts_ns+65", "9").Out, Fadump("read", small.Path, Hex(uts) + "+65", "9").Out);
    }

    [Fact]
    public void An_unknown_symbol_is_named_with_the_symbols_the_dump_has()
    {
        var (rc, output, err) = Fadump("read", small.Path, "init_task", "16");

        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal(string.Empty, output);
        Assert.Equal(
            $"fadump: 'init_task' is not a hexadecimal address or a symbol in the VMCOREINFO of {small.Path}; its 5 symbols: {SyntheticSymbols}\n",
            err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_symbol_with_physical_is_refused()
    {
        var (rc, _, err) = Fadump("read", small.Path, "init_uts_ns", "16", "--physical");

        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal("fadump: 'init_uts_ns' is a kernel virtual address (VMCOREINFO SYMBOL): drop --physical to read it\n", err.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("init_uts_ns+x", "fadump: 'init_uts_ns+x': the offset 'x' is not a number (decimal, or hexadecimal with 0x)\n")]
    [InlineData("init_uts_ns+", "fadump: 'init_uts_ns+': the offset '' is not a number (decimal, or hexadecimal with 0x)\n")]
    [InlineData("+16", "fadump: '+16' is not a hexadecimal address or a symbol\n")]
    [InlineData("ffffffffffffffff+1", "fadump: 'ffffffffffffffff+1': the address overflows 64 bits\n")]
    public void A_malformed_address_is_a_usage_error(string address, string expected)
    {
        var (rc, _, err) = Fadump("read", small.Path, address, "16");

        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal(expected, err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_dump_without_VMCOREINFO_says_so()
    {
        using var dir = new TempDir();
        string path = dir.File("novmcoreinfo.elf");
        WriteElf(path, []);

        var (rc, _, err) = Fadump("read", path, "init_uts_ns", "16");

        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal($"fadump: 'init_uts_ns' is not a hexadecimal address, and {path} has no VMCOREINFO to look symbols up in\n", err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_long_symbol_list_is_cut_with_its_count()
    {
        using var dir = new TempDir();
        string path = dir.File("many.elf");
        var text = new StringBuilder("OSRELEASE=6.1.0\nPAGESIZE=65536\n");
        for (int i = 0; i < 40; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"SYMBOL(sym{i:d2})=c0000000000{i:x5}\n");
        }

        WriteElf(path, [new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, Encoding.ASCII.GetBytes(text.ToString()))]);

        var (rc, _, err) = Fadump("read", path, "init_uts_ns", "16");

        Assert.Equal(FadumpCommand.ExitUsage, rc);
        string listed = string.Join(", ", Enumerable.Range(0, 32).Select(i => $"sym{i:d2}"));
        Assert.Equal($"fadump: 'init_uts_ns' is not a hexadecimal address or a symbol in the VMCOREINFO of {path}; its 40 symbols: {listed}, ...\n", err.ReplaceLineEndings("\n"));
        Assert.Equal(0, Fadump("read", path, "sym01", "16").Rc);
    }

    /// <summary>A ppc64le ELF core of one 64 KiB zero page at physical 0, virtual 0xc000000000000000.</summary>
    private static void WriteElf(string path, IReadOnlyList<ElfNote> notes)
    {
        const int Page = 1 << 16;
        using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        using var w = new ElfCoreWriter(new FileSink(handle), DumpMachine.Ppc64le, notes, [new ElfSegmentSpec(0, 0xc000000000000000, Page, Page)], Page);
        w.Write(new byte[Page]);
        w.Complete();
    }
}
