using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Formats.Tests.Elf;

/// <summary>The PAPR register save area: parsing by the bytes of the format, and every bad length or offset refused.</summary>
public sealed class Ppc64RegisterSaveAreaTests
{
    [Fact]
    public void Ids_are_ascii_big_endian_zero_padded()
    {
        // By hand: "NIA" = 4e 49 41 00 00 00 00 00.
        Assert.Equal(0x4e49410000000000UL, Ppc64RegisterSaveArea.Id("NIA"));
        Assert.Equal(0x4750523035000000UL, Ppc64RegisterSaveArea.Id("GPR05"));
        Assert.Throws<ArgumentException>(() => Ppc64RegisterSaveArea.Id("TOOLONGID"));
    }

    [Fact]
    public void Two_cpus_map_to_the_ppc64_pr_reg_slots()
    {
        var area = Area(2, (b, cpu) =>
        {
            b.Add(("NIA", 0xc000000000001000UL + (ulong)cpu));
            b.Add(("MSR", 0x8000000000001032UL));
            b.Add(("LR", 0xc000000000002000UL));
            b.Add(("CR", 0x24000482UL));
            b.Add(("DSISR", 0x40000000UL));
            b.Add(("PIR", 77UL)); // not in pr_reg: ignored
            b.Add(("GPR01", 0xc000000001234560UL));
            b.Add(("GPR31", 31UL + (ulong)cpu));
            b.Add(("GPR32", 0xdeadUL)); // no such GPR: ignored
        });

        var cpus = Ppc64RegisterSaveArea.Parse(area, "cpu.bin");

        Assert.Equal([0, 1], cpus.Select(c => c.Cpu));
        var r = cpus[1].Registers;
        Assert.Equal(48, r.Count);

        // Slots by hand from struct pt_regs: gpr[32], nip 32, msr 33, orig_gpr3 34, ctr 35, link 36, xer 37, ccr 38, ..., dsisr 42.
        Assert.Equal(0xc000000000001001UL, r[32]);
        Assert.Equal(0x8000000000001032UL, r[33]);
        Assert.Equal(0xc000000000002000UL, r[36]);
        Assert.Equal(0x24000482UL, r[38]);
        Assert.Equal(0x40000000UL, r[42]);
        Assert.Equal(0xc000000001234560UL, r[1]);
        Assert.Equal(32UL, r[31]);
        Assert.Equal(0UL, r[35]);
        Assert.Equal(2, cpus[1].ToPrStatus().Pid);
        Assert.Equal(0xc000000000001001UL, cpus[1].ToPrStatus().ProgramCounter(DumpArch.Ppc64));
    }

    [Theory]
    [InlineData("short", "register save area of 8 bytes: expected at least its 16-byte header")]
    [InlineData("magic", "register save area magic 0x0000000000000000")]
    [InlineData("offset", "num_cpu_offset 0xfffffff0")]
    [InlineData("count", "num_cpus 1000")]
    [InlineData("nostart", "CPU 1 of 2: expected a CPUSTRT entry")]
    [InlineData("noend", "no CPUEND entry before the end")]
    [InlineData("truncated", "no CPUEND entry before the end")]
    public void Bad_areas_are_errors_naming_the_place(string damage, string expected)
    {
        var area = Area(2, (b, _) => b.Add(("NIA", 1UL)));
        switch (damage)
        {
            case "short":
                area = area[..8];
                break;
            case "magic":
                area.AsSpan(0, 8).Clear();
                break;
            case "offset":
                BinaryPrimitives.WriteUInt32BigEndian(area.AsSpan(12), 0xfffffff0);
                break;
            case "count":
                BinaryPrimitives.WriteUInt32BigEndian(area.AsSpan(16), 1000);
                break;
            case "nostart":
                // The second CPU's CPUSTRT (after the header, num_cpus and the first CPU's three entries).
                area.AsSpan(20 + (3 * 16), 8).Clear();
                break;
            case "noend":
                area.AsSpan(area.Length - 16, 8).Clear();
                break;
            case "truncated":
                area = area[..^20];
                break;
        }

        var e = Assert.Throws<DumpFormatException>(() => Ppc64RegisterSaveArea.Parse(area, "/dev/mem", 0x1000));

        Assert.StartsWith("/dev/mem: at offset 0x", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Equal(damage is not ("short" or "magic"), Ppc64RegisterSaveArea.HasHeader(area));
    }

    [Fact]
    public void Zero_cpus_is_an_empty_list()
    {
        Assert.Empty(Ppc64RegisterSaveArea.Parse(Area(0, (_, _) => { }), "cpu.bin"));
    }

    /// <summary>Builds an area by the format's bytes: header, num_cpus at 16, then CPUSTRT, the entries, CPUEND per CPU.</summary>
    private static byte[] Area(int cpus, Action<List<(string Id, ulong Value)>, int> entries)
    {
        var all = new List<(ulong Id, ulong Value)>();
        for (int c = 0; c < cpus; c++)
        {
            var e = new List<(string Id, ulong Value)>();
            entries(e, c);
            all.Add((Ppc64RegisterSaveArea.CpuStart, (ulong)c));
            all.AddRange(e.Select(x => (Ppc64RegisterSaveArea.Id(x.Id), x.Value)));
            all.Add((Ppc64RegisterSaveArea.CpuEnd, (ulong)c));
        }

        var b = new byte[20 + (all.Count * 16)];
        BinaryPrimitives.WriteUInt64BigEndian(b, 0x5245475341564500);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), 16);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), (uint)cpus);
        for (int i = 0; i < all.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(20 + (i * 16)), all[i].Id);
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(28 + (i * 16)), all[i].Value);
        }

        return b;
    }
}
