using System.Text;
using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Interop.Tests;

/// <summary>
/// Debian's real 6.1 kernel dumped by QEMU (tests/fixtures/qemu/make-dumps.sh): our dmesg from each of the
/// three QEMU files against makedumpfile's log from the (phys_base-patched) kdump copy. makedumpfile itself
/// reads none of the three as QEMU wrote them. Fails when the fixtures were not built.
/// </summary>
[Trait("Category", "Interop")]
public sealed class RealKernelDmesgTests
{
    [Fact]
    public void Dmesg_of_the_qemu_elf_dump_is_what_makedumpfile_printed()
    {
        string vmcore = Fixtures.Require("vmcore.elf"), reference = Fixtures.Require("makedumpfile-dmesg.txt");

        using var dump = DumpFile.Open(vmcore);
        var kernel = Assert.IsType<X86_64KernelAddressSpace>(KernelAddressSpace.Create(dump));
        var log = KernelLog.Read(kernel);

        // QEMU's paging=false PT_LOADs have p_vaddr == p_paddr: the direct map must come from the page tables.
        Assert.Equal(PageOffsetSource.PageTables, kernel.PageOffsetSource);
        Assert.Empty(log.Warnings);
        Assert.Equal(File.ReadAllBytes(reference), log.ToMakedumpfileBytes());
    }

    /// <summary>`fadump dmesg` in-process, on the ELF, the flattened and the rearranged file: byte for byte.</summary>
    [Theory]
    [MemberData(nameof(QemuDumps.Names), MemberType = typeof(QemuDumps))]
    public void Fadump_dmesg_prints_makedumpfiles_log_byte_for_byte(string name)
    {
        string path = Fixtures.Require(name);
        byte[] reference = File.ReadAllBytes(Fixtures.Require("makedumpfile-dmesg.txt"));
        Assert.Contains("FADUMP-FIXTURE: hello from the guest", Encoding.Latin1.GetString(reference), StringComparison.Ordinal);

        var (code, stdout, stderr) = RealKernelInfoTests.Fadump("dmesg", path);

        Assert.True(code == 0, $"fadump dmesg {name} failed ({code}): {stderr}");
        Assert.Equal(string.Empty, stderr);
        byte[] ours = Encoding.Latin1.GetBytes(stdout);
        Assert.True(reference.AsSpan().SequenceEqual(ours),
            $"fadump dmesg {name}: {ours.Length} bytes, makedumpfile {reference.Length}; first difference at byte {FirstDifference(reference, ours)}");
    }

    private static int FirstDifference(byte[] a, byte[] b)
    {
        int n = a.AsSpan().CommonPrefixLength(b);
        return n;
    }
}
