using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel;
using Fadump.Tools.Collector;
using Fadump.Tools.Inspect;
using Fadump.Kernel.Platforms;

namespace Fadump.Interop.Tests;

/// <summary>
/// A dying kernel may leave vmemmap_list damaged. The simulated LPAR's vmcore with one vmemmap_backing.next
/// pointing into the vmemmap region itself (whose translation needs the very list being read): save, read,
/// info and collect end with a clear result, never an unhandled exception, and collect never leaves the
/// machine without its failure action.
/// </summary>
public sealed class CorruptedVmemmapTests(CorruptedVmemmapTests.Vmcore fixture) : IClassFixture<CorruptedVmemmapTests.Vmcore>
{
    private readonly RealTool.TempDir _dir = fixture.Dir;
    private readonly string _vmcore = fixture.Path;

    [Fact]
    public void The_list_ends_at_the_bad_pointer_with_a_problem_and_no_exception()
    {
        using var dump = DumpFile.Open(_vmcore);
        var ks = Assert.IsType<Ppc64KernelAddressSpace>(KernelAddressSpace.Create(dump));

        Assert.Single(ks.VmemmapBackings);
        Assert.Contains("0xc00c000000010000", ks.VmemmapProblem, StringComparison.Ordinal);
        Assert.Equal(0x10000UL, ks.ToPhysical(Ppc64KernelAddressSpace.PageOffset + 0x10000));
    }

    [Fact]
    public void Save_read_and_info_end_cleanly()
    {
        string saved = _dir.File("vmcore.d31");
        var (rc, _, err) = Cli("save", "-l", "-d", "31", _vmcore, saved);
        Assert.True(rc == 0, err);
        Assert.Contains("vmemmap_list: vmemmap_backing at 0xc00c000000010000 is not a linear-map address: list truncated", err, StringComparison.Ordinal);
        using (var d = DumpFile.Open(saved))
        {
            Assert.False(d.IsIncomplete);
        }

        (rc, _, err) = Cli("read", _vmcore, "c00c000000200000", "64");
        Assert.Equal(1, rc);
        Assert.StartsWith("fadump: ", err, StringComparison.Ordinal);

        (rc, var info, err) = Cli("info", _vmcore);
        Assert.True(rc == 0, err);
        Assert.Contains("OS release:", info, StringComparison.Ordinal);
    }

    [Fact]
    public void Collect_saves_the_dump_or_runs_its_failure_action()
    {
        string root = _dir.File("root"), target = _dir.File("crash");
        Directory.CreateDirectory(Path.Combine(root, "proc"));
        File.CreateSymbolicLink(Path.Combine(root, "proc", "vmcore"), _vmcore);
        string conf = _dir.File("kdump.conf");
        File.WriteAllText(conf, $"path {target}\ncore_collector makedumpfile -l -d 31\nfailure_action shell\n");

        var (rc, stdout, stderr) = Cli("collect", "--root", root, "--config", conf, "--print-actions");

        if (rc == 0)
        {
            string dir = Directory.GetDirectories(target).Single();
            Assert.True(File.Exists(Path.Combine(dir, "vmcore")), stdout);
        }
        else
        {
            Assert.Contains("shell requested (failure_action)", stdout, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("Unhandled", stdout + stderr, StringComparison.Ordinal);
    }

    private static (int Rc, string Stdout, string Stderr) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = FadumpCommand.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The damaged vmcore, made once for the class.</summary>
    public sealed class Vmcore : IDisposable
    {
        public Vmcore()
        {
            var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2 });
            lpar.Boot();
            Assert.True(lpar.Crash(CrashKind.Panic));
            Path = Dir.File("vmcore");
            using (var src = DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore")))
            {
                // A small ELF copy that keeps every kernel structure (no free-page filtering).
                DumpSaver.Save(src, Path, new SaveOptions { DumpLevel = 15, Format = SaveFormat.Elf, Threads = 2 }, TestContext.Current.CancellationToken);
            }

            // head = vmemmap_list; head->list (offset 0) = an address inside the vmemmap.
            ulong headNode;
            using (var dump = DumpFile.Open(Path))
            {
                var ks = Assert.IsType<Ppc64KernelAddressSpace>(KernelAddressSpace.Create(dump));
                Assert.NotEmpty(ks.VmemmapBackings);
                headNode = ks.ReadU64(dump.VmcoreInfo!.Symbol("vmemmap_list")!.Value, "vmemmap_list");
            }

            Patch(headNode - Ppc64KernelAddressSpace.PageOffset, 0xc00c000000010000UL);
        }

        internal RealTool.TempDir Dir { get; } = new();

        public string Path { get; }

        public void Dispose() => Dir.Dispose();

        private void Patch(ulong paddr, ulong value)
        {
            long offset;
            bool be;
            using (var elf = ElfCoreFile.Open(Path))
            {
                var load = elf.Loads.Single(l => paddr >= l.PhysicalAddress && paddr + 8 <= l.PhysicalAddress + l.FileSize);
                offset = load.FileOffset + (long)(paddr - load.PhysicalAddress);
                be = elf.Machine.BigEndian;
            }

            var bytes = new byte[8];
            Endian.Write(bytes, value, be);
            using var f = new FileStream(Path, FileMode.Open, FileAccess.Write);
            f.Position = offset;
            f.Write(bytes);
        }
    }
}
