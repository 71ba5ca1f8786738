using System.Buffers.Binary;
using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Interop.Tests;

/// <summary>
/// Physical memory of the real QEMU dumps: what we read from the ELF, the flattened and the rearranged kdump
/// file equals what libkdumpfile 0.5.1 reads from the ELF, at a few hundred sampled ranges (random, crossing
/// pages, the edges of every PT_LOAD).
/// </summary>
[Trait("Category", "Interop")]
public sealed class RealKernelReadTests
{
    private const int Samples = 300;

    [Fact]
    public void Our_reads_of_all_three_files_equal_libkdumpfiles_reads_of_the_elf()
    {
        string elf = Fixtures.Require(QemuDumps.Elf);
        List<PhysicalRange> ranges;
        using (var d = DumpFile.Open(elf))
        {
            ranges = [.. d.MemoryRanges()];
        }

        Assert.Equal(4, ranges.Count);
        var samples = PhysicalSamples.Make(ranges, 4096, Samples, seed: 20251121);
        Assert.True(samples.Count >= 200);
        Assert.True(samples.Count(s => (s.Address % 4096) + (ulong)s.Length > 4096) >= 100, "too few page-crossing samples");
        Assert.All(ranges, r => Assert.True(samples.Count(s => s.Address >= r.Start && s.Address < r.End) >= 5, $"too few samples in [0x{r.Start:x}, 0x{r.End:x})"));

        var reference = Libkdumpfile.Read(samples, elf).Single();
        Assert.Equal("elf", reference.Format);
        Assert.Equal("x86_64", reference.Arch);
        Assert.Equal(File.ReadAllText(Fixtures.Require("kernel-release.txt")).Trim(), reference.Release);
        int nonZero = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            var want = reference.Data[i];
            Assert.True(want is not null && want.Length == samples[i].Length, $"libkdumpfile could not read sample {Describe(samples[i])} of the ELF");
            nonZero += want.AsSpan().ContainsAnyExcept((byte)0) ? 1 : 0;
        }

        Assert.True(nonZero >= 50, $"only {nonZero} of {samples.Count} samples hold data: not a meaningful comparison");

        foreach (var name in QemuDumps.All)
        {
            using var dump = DumpFile.Open(Fixtures.Require(name));
            for (int i = 0; i < samples.Count; i++)
            {
                var (address, length) = samples[i];
                var buf = new byte[length];
                int n = dump.ReadPhysical(address, buf);
                Assert.True(n == length, $"{name}: sample {Describe(samples[i])}: read {n} bytes");
                int same = buf.AsSpan().CommonPrefixLength(reference.Data[i]);
                Assert.True(same == length, $"{name}: sample {Describe(samples[i])}: differs from libkdumpfile at byte {same}");
            }
        }
    }

    /// <summary>QEMU 7.2 puts the section headers first and writes e_ehsize 8; makedumpfile trips over it, we must not.</summary>
    [Fact]
    public void The_qemu_elf_header_quirks_are_real_and_read_fine()
    {
        string path = Fixtures.Require(QemuDumps.Elf);
        var eh = new byte[64];
        using (var f = File.OpenRead(path))
        {
            f.ReadExactly(eh);
        }

        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(eh.AsSpan(32)), shoff = BinaryPrimitives.ReadUInt64LittleEndian(eh.AsSpan(40));
        Assert.Equal(8, BinaryPrimitives.ReadUInt16LittleEndian(eh.AsSpan(52)));   // e_ehsize
        Assert.True(phoff > shoff && phoff > 64, string.Create(CultureInfo.InvariantCulture, $"e_phoff {phoff}, e_shoff {shoff}: expected QEMU's layout"));

        using var dump = Assert.IsType<ElfDump>(DumpFile.Open(path));
        Assert.Equal(DumpMachine.X86_64, dump.Machine);
        Assert.Equal(4, dump.Elf.Loads.Count);
        Assert.All(dump.Elf.Loads, l => Assert.Equal(l.PhysicalAddress, l.VirtualAddress));
        Assert.Equal(2, dump.CpuStates().Count);
        Assert.Contains(dump.Notes, n => n.Name == "QEMU");
        Assert.Equal(File.ReadAllText(Fixtures.Require("kernel-release.txt")).Trim(), dump.VmcoreInfo?.OsRelease);
        Assert.Equal(4096, dump.PageSize);
        Assert.Equal(1UL << 20, dump.MaxPfn);
    }

    private static string Describe((ulong Address, int Length) s) => string.Create(CultureInfo.InvariantCulture, $"0x{s.Address:x}+{s.Length}");
}
