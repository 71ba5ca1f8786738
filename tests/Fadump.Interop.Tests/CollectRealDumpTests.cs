using System.Security.Cryptography;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Tools.Collector;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Interop.Tests;

/// <summary>
/// The dump service on the real QEMU vmcore as /proc/vmcore. Its PT_LOADs include memory that has no struct
/// page (the 0xfd000000 framebuffer and the 0xfffc0000 BIOS windows above the last memory section): the save
/// drops it as makedumpfile does (max_mapnr), and the verification must not call it lost.
/// </summary>
[Trait("Category", "Interop")]
public sealed class CollectRealDumpTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fadump-qemu-root-").FullName;
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-qemu-target-").FullName;

    public CollectRealDumpTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "proc"));
        File.CreateSymbolicLink(Path.Combine(_root, "proc", "vmcore"), Fixtures.Require(QemuDumps.Elf));
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_target, recursive: true);
    }

    [Theory]
    [InlineData("makedumpfile -c -d 31")]
    [InlineData("makedumpfile -l -d 31")]
    [InlineData("makedumpfile -d 0")]
    [InlineData("makedumpfile -E -d 31")]
    [InlineData("makedumpfile -E -d 0")]
    [InlineData("makedumpfile -z -d 1")]
    public void Collect_saves_and_verifies_the_real_qemu_vmcore(string collector)
    {
        var log = new StringWriter();
        var actions = new Actions();
        var cfg = KdumpConfigParser.Parse($"path {_target}\ncore_collector {collector}\nfailure_action shell\n", "test.conf");

        var r = new CollectService(cfg, new CollectOptions { Actions = actions, Log = log, DefaultThreads = 2 }).Run(new DirectorySysroot(_root));

        Assert.True(r.ExitCode == 0, log.ToString());
        Assert.True(r.VmcoreSaved, log.ToString());
        Assert.DoesNotContain("verification:", log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(actions.Requested, a => a.Reason.Contains("failure_action", StringComparison.Ordinal));
        Assert.True(File.Exists(r.Vmcore), r.Vmcore);

        // The pages the saver kept were compared; the windows above the mem_map count as filtered, not lost.
        Assert.Matches(@"verified .*: [1-9][0-9]* sampled pages match the source, [1-9][0-9]* were filtered out", log.ToString());
        using var saved = DumpFile.Open(r.Vmcore!);
        Assert.False(saved.IsIncomplete);
        Assert.DoesNotContain(saved.MemoryRanges(), m => m.End > 0xfd000000);
    }

    /// <summary>
    /// makedumpfile -E keeps a run of fewer than 256 excluded pages inside its segment with the pages' own
    /// bytes ("those pages are not excluded"); ours wrote zeros there, so a filtered ELF differed from
    /// makedumpfile's and from the source. Same input (our unfiltered ELF copy: makedumpfile 1.7.2 cannot read
    /// QEMU's ELF layout), same level: every PT_LOAD of ours starts where makedumpfile's does and holds the
    /// same bytes.
    /// </summary>
    [Fact]
    public void Filtered_elf_segments_hold_the_same_bytes_as_makedumpfiles()
    {
        string copy = Path.Combine(_target, "unfiltered.elf");
        using (var qemu = DumpFile.Open(Fixtures.Require(QemuDumps.Elf)))
        {
            DumpSaver.Save(qemu, copy, new SaveOptions { DumpLevel = 0, Format = SaveFormat.Elf, Threads = 2 }, TestContext.Current.CancellationToken);
        }

        string ours = Path.Combine(_target, "ours.elf"), theirs = Path.Combine(_target, "theirs.elf");
        using (var input = DumpFile.Open(copy))
        {
            DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = 30, Format = SaveFormat.Elf, Threads = 2 }, TestContext.Current.CancellationToken);
        }

        var run = RealTool.Run("makedumpfile", ["-E", "-d", "30", copy, theirs]);
        Assert.True(run.ExitCode == 0, run.All);

        var a = Loads(ours);
        var b = Loads(theirs);
        Assert.True(a.Count >= 10, $"only {a.Count} segments: not a meaningful comparison");
        Assert.Equal(b.Select(l => (l.Paddr, l.FileSize)), a.Select(l => (l.Paddr, l.FileSize)));
        for (int i = 0; i < a.Count; i++)
        {
            Assert.True(a[i].Sha256 == b[i].Sha256, $"segment at 0x{a[i].Paddr:x}: the bytes differ from makedumpfile's");
        }
    }

    private static List<(ulong Paddr, ulong FileSize, string Sha256)> Loads(string path)
    {
        using var elf = ElfCoreFile.Open(path);
        using var f = File.OpenRead(path);
        var result = new List<(ulong, ulong, string)>();
        foreach (var ph in elf.Loads)
        {
            var bytes = new byte[ph.FileSize];
            f.Position = ph.FileOffset;
            f.ReadExactly(bytes);
            result.Add((ph.PhysicalAddress, ph.FileSize, Convert.ToHexString(SHA256.HashData(bytes))));
        }

        return result;
    }

    private sealed class Actions : IActionRunner
    {
        public List<(SystemAction Action, string Reason)> Requested { get; } = [];

        public void Run(SystemAction action, string reason) => Requested.Add((action, reason));
    }
}
