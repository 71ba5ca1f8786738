using Fadump.Formats;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;
using Fadump.Tools.Tests.Collector;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Fuzz;

/// <summary>Findings of the fuzz targets (fuzz/README.md), each with the input reduced to what triggers it.</summary>
public sealed class FuzzRegressionTests
{
    /// <summary>
    /// fuzz target collect (fuzz/regressions/collect/): a VMCOREINFO whose SYMBOL(init_uts_ns) is not hexadecimal.
    /// Naming the dump directory parsed it outside its error handling, so the DumpFormatException escaped
    /// CollectService.Run before the dump was saved and before any failure action.
    /// </summary>
    [Theory]
    [InlineData("SYMBOL(init_uts_ns)", "kfffffff9a011000")]
    [InlineData("OFFSET(uts_namespace.name)", "0?")]
    public void Malformed_utsname_entries_leave_the_directory_name_to_the_fallbacks(string key, string value)
    {
        var k = new SyntheticKernel(DumpMachine.X86_64, 4096, 64 << 10);
        k.Info.Add("OSRELEASE", "6.1.0-fuzz");
        k.Info.Add("PAGESIZE", "4096");
        k.Info.Add("SYMBOL(init_uts_ns)", key == "SYMBOL(init_uts_ns)" ? value : "ffff888000001000");
        k.Info.Add("OFFSET(uts_namespace.name)", key == "OFFSET(uts_namespace.name)" ? value : "0");
        k.AddLoad(0, 0xffff888000000000, 64 << 10);
        using var dump = k.Open();
        using var dir = new TempDir();

        Assert.Null(DumpDirectoryName.CrashedNodename(dump));
        Assert.Equal("127.0.0.1", DumpDirectoryName.Host(dump, new DirectorySysroot(dir.Path)));
    }
}
