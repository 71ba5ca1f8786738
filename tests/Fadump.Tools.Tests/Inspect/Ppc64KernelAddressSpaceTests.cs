using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Inspect;

public sealed class Ppc64KernelAddressSpaceTests
{
    public static TheoryData<bool> ByteOrders => [false, true];

    private static Ppc64KernelAddressSpace Open(SyntheticPpc64 p) =>
        Assert.IsType<Ppc64KernelAddressSpace>(KernelAddressSpace.Create(p.Kernel.Open()));

    [Theory]
    [MemberData(nameof(ByteOrders))]
    public void The_linear_map_is_page_offset_plus_physical(bool bigEndian)
    {
        var p = new SyntheticPpc64(bigEndian);
        ulong v = p.Alloc(16, 8);
        p.Kernel.WriteU64(v, 0x0123456789abcdef);
        var ks = Open(p);

        Assert.Equal(v - SyntheticPpc64.PageOffset, ks.ToPhysical(v));
        Assert.Equal(0x0123456789abcdefUL, ks.ReadU64(v, "a test value"));
        Assert.Null(ks.ToPhysical(0xc008000000000000)); // vmalloc: not translated
        Assert.Null(ks.ToPhysical(0x10000));            // user
    }

    [Theory]
    [MemberData(nameof(ByteOrders))]
    public void Vmemmap_addresses_go_through_vmemmap_list(bool bigEndian)
    {
        var p = new SyntheticPpc64(bigEndian);
        ulong[] phys = p.AddVmemmap(0, 1, 5);
        var ks = Open(p);
        ulong block = 1UL << (int)SyntheticPpc64.VmemmapShift;

        Assert.Equal(block, ks.VmemmapBlockSize);
        Assert.Equal(3, ks.VmemmapBackings.Count);
        Assert.Null(ks.VmemmapProblem);
        Assert.Equal(phys[0] + 0x40, ks.ToPhysical(SyntheticPpc64.VmemmapBase + 0x40));
        Assert.Equal(phys[1], ks.ToPhysical(SyntheticPpc64.VmemmapBase + block));
        Assert.Equal(phys[2] + block - 1, ks.ToPhysical(SyntheticPpc64.VmemmapBase + (6 * block) - 1));
        Assert.Null(ks.ToPhysical(SyntheticPpc64.VmemmapBase + (2 * block)));
    }

    [Theory]
    [MemberData(nameof(ByteOrders))]
    public void Read_virtual_crosses_vmemmap_blocks_backed_by_scattered_memory(bool bigEndian)
    {
        var p = new SyntheticPpc64(bigEndian);
        ulong[] phys = p.AddVmemmap(3, 4);
        ulong block = 1UL << (int)SyntheticPpc64.VmemmapShift;
        Assert.NotEqual(phys[0] + block, phys[1]);
        ulong v = SyntheticPpc64.VmemmapBase + (4 * block) - 64;
        var pattern = Enumerable.Range(0, 128).Select(i => (byte)(i + 1)).ToArray();
        p.Kernel.Write(v, pattern);
        var ks = Open(p);

        var buf = new byte[128];
        Assert.Equal(128, ks.ReadVirtual(v, buf));
        Assert.Equal(pattern, buf);
        Assert.Equal(64, ks.ReadVirtual(SyntheticPpc64.VmemmapBase + (5 * block) - 64, buf)); // block 5 is not populated
    }

    [Fact]
    public void A_circular_vmemmap_list_is_read_once()
    {
        var p = new SyntheticPpc64(bigEndian: false);
        p.AddVmemmap(0, 1);
        ulong head = p.Kernel.ReadPhysicalU64(p.Kernel.ToPhysical(p.Kernel.Info.Symbol("vmemmap_list")!.Value));
        ulong tail = p.Kernel.ReadPhysicalU64(p.Kernel.ToPhysical(head)); // head->list
        p.Kernel.WriteU64(tail, head);                                     // tail->list = head
        var ks = Open(p);

        Assert.Equal(2, ks.VmemmapBackings.Count);
    }

    [Fact]
    public void Without_the_vmemmap_page_size_only_the_linear_map_is_translated()
    {
        var p = new SyntheticPpc64(bigEndian: true);
        p.AddVmemmap(0);
        p.Kernel.OmitKeys.Add("SYMBOL(mmu_psize_defs)");
        var ks = Open(p);

        Assert.Null(ks.ToPhysical(SyntheticPpc64.VmemmapBase));
        Assert.NotNull(ks.VmemmapProblem);
        Assert.Equal(0x10000UL, ks.ToPhysical(SyntheticPpc64.PageOffset + 0x10000));
    }

    /// <summary>
    /// fuzz target ppc64-walk (fuzz/regressions/ppc64-walk/): OFFSET(vmemmap_backing.virt_addr)=-1 passed the bounds
    /// check and crashed the walk with ArgumentOutOfRangeException (and a malformed SYMBOL(vmemmap_list) escaped
    /// the lazily built table as a DumpFormatException); a malformed entry is a problem of the table now.
    /// </summary>
    [Theory]
    [InlineData("OFFSET(vmemmap_backing.virt_addr)", "-1")]
    [InlineData("OFFSET(mmu_psize_def.shift)", "-4")]
    [InlineData("SIZE(vmemmap_backing)", "-24")]
    [InlineData("SYMBOL(vmemmap_list)", "zz")]
    public void A_malformed_vmemmap_entry_is_a_problem_not_an_exception(string key, string value)
    {
        var p = new SyntheticPpc64(bigEndian: true);
        p.AddVmemmap(0);
        p.Kernel.Info.Add(key, value);
        var ks = Open(p);

        Assert.Null(ks.ToPhysical(SyntheticPpc64.VmemmapBase));
        Assert.Contains(value, ks.VmemmapProblem);
        Assert.Equal(0x10000UL, ks.ToPhysical(SyntheticPpc64.PageOffset + 0x10000));
    }
}
