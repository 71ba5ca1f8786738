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

    [Fact]
    public void A_collect_stopped_after_three_releases_is_completed_by_the_next_run_from_what_is_still_held()
    {
        // The same LPAR twice (the contents are procedural from the seed): once saved in one go, as the reference.
        static Power6Lpar Crashed()
        {
            var l = new Power6Lpar(new LparSpec { MemoryBytes = 2UL << 30, Cpus = 2, CommandLine = "root=/dev/sda2 phyp_dump=1" });
            l.Boot();
            Assert.True(l.Crash(CrashKind.Panic));
            return l;
        }

        using var refDir = new RealTool.TempDir();
        var reference = Collect(Crashed(), refDir.Path, TestContext.Current.CancellationToken, out _);
        Assert.Equal(0, reference.ExitCode);

        // Then stopped after its third release (the signal handler's cancellation), the memory released so far
        // already reused by the running kernel, and run again.
        using var dir = new RealTool.TempDir();
        var lpar = Crashed();
        using var cts = new CancellationTokenSource();
        var first = Collect(lpar, dir.Path, cts.Token, out var log1, onRelease: n => { if (n == 3) { cts.Cancel(); } });
        Assert.NotEqual(0, first.ExitCode);
        int releasedBefore = lpar.PhypDump.Releases.Count;
        Assert.InRange(releasedBefore, 3, 6);
        Assert.False(lpar.PhypDump.Reregistered);

        var second = Collect(lpar, dir.Path, TestContext.Current.CancellationToken, out var log2);
        Assert.True(second.ExitCode == 0, string.Join("\n", second.Errors) + "\n" + log1 + "\n----\n" + log2);
        Assert.Contains("resuming in", log2.ToString(), StringComparison.Ordinal);
        Assert.True(lpar.PhypDump.Reregistered, log2.ToString());

        // Every listed byte released once: the kernel counts the lengths written and registered again.
        using var ours = DumpFile.Open(second.Vmcore!);
        using var theirs = DumpFile.Open(reference.Vmcore!);
        Assert.Equal(theirs.MaxPfn, ours.MaxPfn);
        var a = new byte[ours.PageSize];
        var b = new byte[theirs.PageSize];
        ulong compared = 0;
        for (ulong pfn = 0; pfn < ours.MaxPfn; pfn++)
        {
            var sa = ours.ReadPage(pfn, a);
            var sb = theirs.ReadPage(pfn, b);
            Assert.True(sa == sb, string.Create(CultureInfo.InvariantCulture, $"PFN 0x{pfn:x}: {sa} after the resume, {sb} in one go"));
            if (sa == PageState.Dumped)
            {
                Assert.True(a.AsSpan().SequenceEqual(b), string.Create(CultureInfo.InvariantCulture, $"PFN 0x{pfn:x} differs from the save in one go"));
                compared++;
            }
        }

        Assert.True(compared > 100, $"{compared} pages compared");
    }

    private static CollectResult Collect(Power6Lpar lpar, string path, CancellationToken ct, out StringWriter log, Action<int>? onRelease = null)
    {
        var config = KdumpConfigParser.Parse($"path {path}\ncore_collector makedumpfile -l -d 31\n", "test kdump.conf");
        log = new StringWriter();
        var service = new CollectService(config, new CollectOptions
        {
            Actions = new PrintingActionRunner(new StringWriter()),
            Log = log,
            Writer = new DumpSaverWriter { DurableReportBytes = 256 << 10 },
            ReleaseChunkBytes = 64UL << 20,
            CancellationToken = ct,
        });
        var root = new SimulatedSysroot(() => lpar.Kernel, "simulated Power6 LPAR");
        return service.Run(onRelease is null ? root : new CountingRoot(root, onRelease));
    }

    /// <summary>Calls back after each write to release_region.</summary>
    private sealed class CountingRoot(Fadump.Tools.Sysroot.ISysroot inner, Action<int> onRelease) : Fadump.Tools.Sysroot.ISysroot
    {
        private int _n;

        public string Description => inner.Description;

        public bool Exists(string path) => inner.Exists(path);

        public string ReadText(string path) => inner.ReadText(path);

        public Fadump.Formats.IO.IRandomAccessSource OpenRead(string path) => inner.OpenRead(path);

        public void WriteText(string path, string text)
        {
            inner.WriteText(path, text);
            if (path == PhypDump.ReleaseRegionPath)
            {
                onRelease(++_n);
            }
        }
    }
}
