using Fadump.Formats;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Inspect;

public sealed class X86_64KernelAddressSpaceTests
{
    private static X86_64KernelAddressSpace Open(SyntheticX86_64 x) =>
        Assert.IsType<X86_64KernelAddressSpace>(KernelAddressSpace.Create(x.Kernel.Open()));

    [Fact]
    public void Phys_base_is_the_signed_vmcoreinfo_number_and_maps_the_kernel_image()
    {
        var x = new SyntheticX86_64();
        var ks = Open(x);

        // As in Debian's 6.1 sample (NUMBER(phys_base)=-119537664): negative under KASLR.
        Assert.True(ks.PhysBase < 0);
        Assert.Equal(x.PhysBase, ks.PhysBase);
        Assert.Equal(SyntheticX86_64.KernelTextPhys + 0x1234, ks.ToPhysical(SyntheticX86_64.KernelText + 0x1234));
        Assert.Equal(x.Pgd, ks.PageTableRoot);
    }

    [Fact]
    public void Page_offset_base_is_found_by_walking_the_page_tables_for_mem_section()
    {
        var ks = Open(new SyntheticX86_64());

        Assert.Equal(SyntheticX86_64.PageOffsetBase, ks.PageOffsetBase);
        Assert.Equal(PageOffsetSource.PageTables, ks.PageOffsetSource);
        Assert.Equal(0x12345UL, ks.ToPhysical(SyntheticX86_64.PageOffsetBase + 0x12345));
    }

    [Fact]
    public void Page_offset_base_comes_from_the_direct_map_pt_load_without_mem_section()
    {
        var x = new SyntheticX86_64();
        x.Kernel.OmitKeys.Add("SYMBOL(mem_section)");

        var ks = Open(x);

        Assert.Equal(SyntheticX86_64.PageOffsetBase, ks.PageOffsetBase);
        Assert.Equal(PageOffsetSource.ElfLoadSegments, ks.PageOffsetSource);
    }

    [Fact]
    public void Page_offset_base_falls_back_to_the_default_and_the_page_tables_still_translate()
    {
        // A QEMU paging=false dump: PT_LOADs with p_vaddr == p_paddr say nothing about the direct map.
        var qemu = new SyntheticX86_64();
        qemu.Kernel.OmitKeys.Add("SYMBOL(mem_section)");
        var ks = Assert.IsType<X86_64KernelAddressSpace>(KernelAddressSpace.Create(QemuStyle(qemu).Open()));

        Assert.Equal(X86_64KernelAddressSpace.DefaultPageOffset4Level, ks.PageOffsetBase);
        Assert.Equal(PageOffsetSource.Default, ks.PageOffsetSource);
        Assert.Equal(0x4000UL, ks.ToPhysical(SyntheticX86_64.PageOffsetBase + 0x4000));
    }

    [Fact]
    public void Walk_handles_2MiB_1GiB_and_4KiB_pages()
    {
        var x = new SyntheticX86_64();
        ulong vm = x.Vmalloc(3);
        var ks = Open(x);

        Assert.Equal(SyntheticX86_64.KernelTextPhys + 0x1f_f123, ks.WalkPageTables(SyntheticX86_64.KernelText + 0x1f_f123)); // 2 MiB
        Assert.Equal(0x3f_fff8UL, ks.WalkPageTables(SyntheticX86_64.PageOffsetBase + 0x3f_fff8)); // 1 GiB
        for (int i = 0; i < 3; i++)
        {
            ulong v = vm + (ulong)(i * 4096) + 0x321;
            Assert.Equal(x.Kernel.ToPhysical(v), ks.WalkPageTables(v)); // 4 KiB
            Assert.Equal(x.Kernel.ToPhysical(v), ks.ToPhysical(v));
        }
    }

    [Fact]
    public void Five_level_tables_and_the_sme_mask_are_honoured()
    {
        var x = new SyntheticX86_64(fiveLevel: true, smeMask: 1UL << 47);
        ulong vm = x.Vmalloc(2);
        var ks = Open(x);

        Assert.True(ks.FiveLevelPaging);
        Assert.Equal(x.Kernel.ToPhysical(vm + 4100), ks.WalkPageTables(vm + 4100));
        Assert.Equal(SyntheticX86_64.KernelTextPhys + 8, ks.WalkPageTables(SyntheticX86_64.KernelText + 8));
        Assert.Equal(PageOffsetSource.PageTables, ks.PageOffsetSource);
    }

    [Fact]
    public void Read_virtual_translates_each_page_of_a_vmalloc_range()
    {
        var x = new SyntheticX86_64();
        ulong vm = x.Vmalloc(2);
        var pattern = Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray();
        x.Kernel.Write(vm, pattern);
        Assert.NotEqual(x.Kernel.ToPhysical(vm) + 4096, x.Kernel.ToPhysical(vm + 4096)); // not physically contiguous
        var ks = Open(x);

        var buf = new byte[8000];
        Assert.Equal(buf.Length, ks.ReadVirtual(vm + 100, buf));
        Assert.Equal(pattern.AsSpan(100, 8000).ToArray(), buf);
    }

    [Fact]
    public void Read_virtual_stops_at_an_unmapped_page()
    {
        var x = new SyntheticX86_64();
        ulong vm = x.Vmalloc(1); // followed by an unmapped guard page
        var ks = Open(x);

        Assert.Equal(96, ks.ReadVirtual(vm + 4000, new byte[200]));
        Assert.Null(ks.ToPhysical(vm + 4096));
        var e = Assert.Throws<DumpFormatException>(() => ks.ReadVirtualExactly(vm + 4000, new byte[200], "the test buffer"));
        Assert.Contains("the test buffer", e.Message);
        Assert.Contains("not mapped", e.Message);
    }

    [Fact]
    public void Non_canonical_and_user_addresses_are_not_mapped()
    {
        var ks = Open(new SyntheticX86_64());

        Assert.Null(ks.ToPhysical(0x0000_8000_0000_0000));
        Assert.Null(ks.ToPhysical(0x1000));
    }

    [Fact]
    public void A_dump_without_vmcoreinfo_is_rejected()
    {
        var x = new SyntheticX86_64();
        x.Kernel.WithVmcoreInfo = false;

        var e = Assert.Throws<DumpFormatException>(() => KernelAddressSpace.Create(x.Kernel.Open()));
        Assert.Contains("no VMCOREINFO", e.Message);
    }

    /// <summary>The same memory as QEMU's paging=false ELF dump writes it: one PT_LOAD, p_vaddr == p_paddr.</summary>
    private static SyntheticKernel QemuStyle(SyntheticX86_64 x)
    {
        var k = new SyntheticKernel(x.Kernel.Machine, 4096, SyntheticX86_64.RamSize);
        x.Kernel.Ram.CopyTo(k.Ram, 0);
        foreach (var (key, value) in x.Kernel.Info.Entries)
        {
            if (!x.Kernel.OmitKeys.Contains(key))
            {
                k.Info.Add(key, value);
            }
        }

        k.AddLoad(0, 0, SyntheticX86_64.RamSize);
        return k;
    }
}
