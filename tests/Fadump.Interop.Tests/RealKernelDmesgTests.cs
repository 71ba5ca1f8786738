using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Interop.Tests;

/// <summary>
/// Debian's real 6.1 kernel dumped by QEMU (tests/fixtures/qemu/make-dumps.sh): our dmesg from the
/// ELF dump against makedumpfile's from the kdump copy. Fails when the fixtures were not built.
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
}
