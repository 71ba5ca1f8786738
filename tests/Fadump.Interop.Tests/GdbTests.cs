using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.Tests;

namespace Fadump.Interop.Tests;

/// <summary>gdb-multiarch reads our ELF cores: every CPU's registers, and memory by p_vaddr.</summary>
[Trait("Category", "Interop")]
public sealed class GdbTests
{
    public static TheoryData<string> MachineNames => ["x86_64", "ppc64le", "ppc64"];

    private static (string Arch, string Endian, string Pc, string Sp) GdbNames(DumpMachine m) =>
        m.Arch == DumpArch.X86_64 ? ("i386:x86-64", "little", "rip", "rsp") : ("powerpc:common64", m.BigEndian ? "big" : "little", "pc", "r1");

    [Theory]
    [MemberData(nameof(MachineNames))]
    public void Gdb_prints_the_registers_we_wrote_for_every_cpu(string name)
    {
        var m = DumpMachine.Parse(name);
        using var dir = new RealTool.TempDir();
        var path = dir.File("core");
        File.WriteAllBytes(path, TestDumps.BuildElf(m, m.DefaultPageSize));
        var (arch, endian, pc, sp) = GdbNames(m);
        var names = PrStatus.RegisterNames(m.Arch);
        var args = new List<string> { "-nx", "-batch", "-ex", $"set architecture {arch}", "-ex", $"set endian {endian}", "-ex", $"core-file {path}" };
        for (int cpu = 1; cpu <= 2; cpu++)
        {
            args.AddRange(["-ex", $"thread {cpu}", "-ex", $"printf \"CPU{cpu - 1} PC=%lx SP=%lx\\n\", ${pc}, ${sp}"]);
        }

        var r = RealTool.Run("gdb-multiarch", args);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        for (int cpu = 0; cpu < 2; cpu++)
        {
            var regs = TestDumps.Cpu(m, cpu).Registers;
            ulong expectPc = regs[Array.IndexOf(names, m.Arch == DumpArch.X86_64 ? "rip" : "nip")];
            ulong expectSp = regs[Array.IndexOf(names, m.Arch == DumpArch.X86_64 ? "rsp" : "r1")];
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"CPU{cpu} PC={expectPc:x} SP={expectSp:x}"), r.All);
        }
    }

    [Theory]
    [MemberData(nameof(MachineNames))]
    public void Gdb_reads_memory_by_virtual_address(string name)
    {
        var m = DumpMachine.Parse(name);
        using var dir = new RealTool.TempDir();
        var path = dir.File("core");
        File.WriteAllBytes(path, TestDumps.BuildElf(m, m.DefaultPageSize));
        var (arch, endian, _, _) = GdbNames(m);
        ulong paddr = (8 * (ulong)m.DefaultPageSize) + 40;
        var r = RealTool.Run("gdb-multiarch",
            ["-nx", "-batch", "-ex", $"set architecture {arch}", "-ex", $"set endian {endian}", "-ex", $"core-file {path}",
             "-ex", string.Create(CultureInfo.InvariantCulture, $"x/4xb 0x{TestDumps.VirtualFor(m, paddr):x}")]);
        var expected = string.Join("\t", Enumerable.Range(0, 4).Select(i => string.Create(CultureInfo.InvariantCulture, $"0x{TestDumps.PatternByte(paddr + (ulong)i):x2}")));
        Assert.Contains(expected, r.All);
    }
}
