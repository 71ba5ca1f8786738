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

    /// <summary>Fuzz finding (elf): a CRASHTIME no date can show made `fadump info` throw; it reads as unknown.</summary>
    [Theory]
    [InlineData("1795888888888249829", null)]
    [InlineData("-62135596801", null)]
    [InlineData("253402300799", 253402300799L)]
    [InlineData("-62135596800", -62135596800L)]
    [InlineData("0", 0L)]
    public void A_crash_time_beyond_any_date_reads_as_unknown(string text, long? expected)
    {
        var info = VmcoreInfo.VmcoreInfo.Parse(System.Text.Encoding.ASCII.GetBytes($"OSRELEASE=6.1.0\nCRASHTIME={text}\n"));
        Assert.Equal(expected, info.CrashTime);
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

        // Spelled out, not taken from the parser: the kernel's formats (hex without 0x for SYMBOL, decimal
        // for OFFSET/SIZE/LENGTH/NUMBER), one line each, in the order added.
        Assert.Equal(
            "OSRELEASE=6.1.0-50-powerpc64le\nSYMBOL(prb)=c000000002536920\nOFFSET(printk_info.ts_nsec)=8\nSIZE(page)=64\n" +
            "LENGTH(mem_section)=65536\nNUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257\nNUMBER(VMALLOC_START)=0xc008000000000000\n",
            System.Text.Encoding.ASCII.GetString(info.ToBytes()));
        Assert.Equal(0xc000000002536920UL, back.Symbol("prb"));
        Assert.Equal(8, back.Offset("printk_info.ts_nsec"));
        Assert.Equal(64, back.Size("page"));
        Assert.Equal(65536, back.Length("mem_section"));
        Assert.Equal(-257, back.Number("PAGE_OFFLINE_MAPCOUNT_VALUE"));
        Assert.Equal(unchecked((long)0xc008000000000000), back.Number("VMALLOC_START"));
    }

    /// <summary>
    /// The oracle is the kernel, not our own parser: each line of a real 6.1 note is decoded here with plain
    /// string handling, written again through the typed writer calls, and the writer must give the kernel's
    /// bytes back exactly; the parser must give the values decoded here.
    /// </summary>
    [Theory]
    [InlineData("linux-6.1-x86_64.txt")]
    [InlineData("linux-6.1-ppc64le.txt")]
    public void Writer_reproduces_a_real_kernel_note_and_the_parser_reads_its_values(string name)
    {
        string text = Sample(name);
        var written = new VmcoreInfo.VmcoreInfo();
        var expected = new List<(string Kind, string Name, object Value)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            string key = line[..eq], value = line[(eq + 1)..];
            int open = key.IndexOf('(', StringComparison.Ordinal);
            string kind = open < 0 ? key : key[..open], arg = open < 0 ? "" : key[(open + 1)..^1];
            switch (kind)
            {
                case "SYMBOL":
                    ulong address = ulong.Parse(value, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture);
                    written.AddSymbol(arg, address);
                    expected.Add((kind, arg, address));
                    break;
                case "OFFSET" or "SIZE" or "LENGTH" or "NUMBER":
                    long n = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                    Action<string, long> add = kind switch
                    {
                        "OFFSET" => written.AddOffset,
                        "SIZE" => written.AddSize,
                        "LENGTH" => written.AddLength,
                        _ => written.AddNumber,
                    };
                    add(arg, n);
                    expected.Add((kind, arg, n));
                    break;
                default:
                    written.Add(key, value);
                    expected.Add((kind, "", value));
                    break;
            }
        }

        Assert.True(expected.Count > 100, $"{name}: {expected.Count} lines");
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(written.ToBytes()));

        var parsed = VmcoreInfo.VmcoreInfo.Parse(System.Text.Encoding.ASCII.GetBytes(text));
        Assert.Equal(expected.Count, parsed.Entries.Count);
        foreach (var (kind, arg, value) in expected)
        {
            object? got = kind switch
            {
                "SYMBOL" => parsed.Symbol(arg),
                "OFFSET" => parsed.Offset(arg),
                "SIZE" => parsed.Size(arg),
                "LENGTH" => parsed.Length(arg),
                "NUMBER" => parsed.Number(arg),
                _ => parsed[kind],
            };
            Assert.True(value.Equals(got), $"{name}: {kind}({arg}) = {got}, expected {value}");
        }
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

    [Theory]
    [InlineData("OFFSET(page.flags)=-1\n")]
    [InlineData("SIZE(page)=+64\n")]
    [InlineData("LENGTH(mem_section)= 8\n")]
    public void Offsets_sizes_and_lengths_are_unsigned_as_the_kernel_prints_them(string text)
    {
        var info = VmcoreInfo.VmcoreInfo.Parse(System.Text.Encoding.ASCII.GetBytes(text));
        var e = Assert.Throws<DumpFormatException>(() => info.Offset("page.flags") ?? info.Size("page") ?? info.Length("mem_section"));
        Assert.Contains("expected an unsigned decimal number", e.Message);
    }

    [Fact]
    public void Oversized_note_is_rejected_before_parsing()
    {
        var e = Assert.Throws<DumpFormatException>(() => VmcoreInfo.VmcoreInfo.Parse(new byte[VmcoreInfo.VmcoreInfo.MaxSize + 1]));
        Assert.Contains("expected at most", e.Message);
    }
}
