using System.Globalization;
using Fadump.Cli.Simulation;
using Fadump.Formats;
using Fadump.Kernel;
using Fadump.Kernel.Phyp;
using Fadump.Kernel.Platforms;
using Fadump.Tools.Service;

namespace Fadump.Interop.Tests;

/// <summary>
/// The real dump service on the simulated Power6 LPAR with frequent durability reports and small chunks, so that
/// releases interleave with the save as much as they can: nothing may be released before it is on disk, with
/// the kernel's page rounding and its "one page more".
/// </summary>
[Trait("Category", "Interop")]
public sealed class Power6CollectTests
{
    [Theory]
    [InlineData("root=/dev/sda2 phyp_dump=1")]
    [InlineData("root=/dev/sda2 phyp_dump=1 phyp_dump_reserve_size=512M")] // the boot region larger than the copy
    public void Releases_interleaved_with_the_save_never_free_an_unsaved_page(string cmdline)
    {
        var lpar = new Power6Lpar(new LparSpec { MemoryBytes = 2UL << 30, Cpus = 2, CommandLine = cmdline });
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic));
        using var dir = new RealTool.TempDir();
        var config = KdumpConfigParser.Parse($"path {dir.Path}\ncore_collector makedumpfile -l -d 31\n", "test kdump.conf");
        var log = new StringWriter();
        var service = new CollectService(config, new CollectOptions
        {
            Actions = new PrintingActionRunner(new StringWriter()),
            Log = log,
            Writer = new DumpSaverWriter { DurableReportBytes = 256 << 10 },
            ReleaseChunkBytes = 64UL << 20,
        });
        var result = service.Run(new SimulatedSysroot(() => lpar.Kernel, "simulated Power6 LPAR"));
        Assert.True(result.ExitCode == 0, string.Join("\n", result.Errors) + "\n" + log);
        var p = lpar.PhypDump;
        Assert.True(p.Releases.Count > 10, $"{p.Releases.Count} releases");
        Assert.True(p.Reregistered, log.ToString());

        using var dump = DumpFile.Open(result.Vmcore!);
        var marker = PhypDump.ReuseMarker.ToArray();
        var page = new byte[dump.PageSize];
        for (ulong pfn = 0; pfn < dump.MaxPfn; pfn++)
        {
            if (dump.ReadPage(pfn, page) == PageState.Dumped)
            {
                Assert.True(page.AsSpan().IndexOf(marker) < 0, string.Create(CultureInfo.InvariantCulture, $"PFN 0x{pfn:x} was saved after the kernel got it back"));
            }
        }
    }
}
