using Fadump.Formats;
using Fadump.Tools.Inspect;
using Fadump.Tools.Inspect.Symbols;

namespace Fadump.Interop.Tests;

/// <summary>kallsyms decoded from Debian's real 6.1 kernel in the QEMU dumps: every symbol VMCOREINFO also names
/// must decode to the same address (VMCOREINFO's SYMBOL() values are run-time addresses, KASLR included).</summary>
[Trait("Category", "Interop")]
public sealed class KallsymsRealTests
{
    [Theory]
    [MemberData(nameof(QemuDumps.Names), MemberType = typeof(QemuDumps))]
    public void Decoded_symbols_agree_with_every_vmcoreinfo_symbol(string name)
    {
        using var dump = DumpFile.Open(Fixtures.Require(name));
        var kernel = KernelAddressSpace.Create(dump);
        var syms = Kallsyms.Load(kernel);
        Assert.True(syms.Count > 50_000, $"only {syms.Count} symbols");
        int checkedCount = 0;
        foreach (var (key, value) in dump.VmcoreInfo!.Entries)
        {
            if (!key.StartsWith("SYMBOL(", StringComparison.Ordinal))
            {
                continue;
            }

            string sym = key[7..^1];

            // VMCOREINFO_SYMBOL_ARRAY(mem_section) gives the array's address (the pointer's value), not the symbol's.
            if (sym != "mem_section" && syms.Lookup(sym) is { } addr)
            {
                Assert.Equal(Convert.ToUInt64(value, 16), addr);
                checkedCount++;
            }
        }

        Assert.True(checkedCount >= 6, $"only {checkedCount} VMCOREINFO symbols found in kallsyms");
        ulong start = syms.Lookup("__start_BTF")!.Value, stop = syms.Lookup("__stop_BTF")!.Value;
        var blob = new byte[checked((int)(stop - start))];
        kernel.ReadVirtualExactly(start, blob, "BTF");
        var btf = Btf.Parse(blob, dump.Path);
        int task = btf.FindStruct("task_struct")!.Value;
        Assert.Equal(16, btf.Member(task, "comm")!.Value.Size);
        Assert.NotNull(btf.Member(task, "thread_info.cpu"));
        Assert.StartsWith("panic+0x", syms.Describe(syms.Lookup("panic")!.Value + 1));
    }
}
