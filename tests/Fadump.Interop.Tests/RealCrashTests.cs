using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;

namespace Fadump.Interop.Tests;

/// <summary>
/// A real crash captured by us (tests/fixtures/qemu/make-crash.sh): Debian's kernel in QEMU booted with
/// crashkernel=, a capture kernel loaded with Debian's kexec -p, <c>echo c &gt; /proc/sysrq-trigger</c>, and in
/// the capture kernel <c>fadump collect</c> with kdump.conf's <c>core_collector makedumpfile -l --message-level 7
/// -d 31</c> onto a virtio ext4 disk. The same capture kernel then ran makedumpfile the same way and copied the
/// unfiltered /proc/vmcore (vmcore.full), so what fadump saved is checked against the real tools on the host.
/// </summary>
[Trait("Category", "Interop")]
public sealed class RealCrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Saved => Fixtures.Require("realcrash/saved/vmcore");

    private static string SavedDmesg => Fixtures.Require("realcrash/saved/vmcore-dmesg.txt");

    private static string Full => Fixtures.Require("realcrash/vmcore.full");

    private static string GuestMakedumpfile => Fixtures.Require("realcrash/makedumpfile-d31.kdump");

    private static string Text(string name) => File.ReadAllText(Fixtures.Require("realcrash/" + name));

    [Fact]
    public void Collect_saved_the_dmesg_first_then_the_vmcore_and_asked_for_the_final_action()
    {
        string log = Text("collect.log");
        TestContext.Current.TestOutputHelper?.WriteLine(Text("figures.txt"));
        Assert.True(Text("collect.rc").Trim() == "0", log);
        Assert.Contains("(kdump)", log, StringComparison.Ordinal);
        int dmesg = log.IndexOf("saving vmcore-dmesg.txt complete", StringComparison.Ordinal);
        int vmcore = log.IndexOf("saving vmcore complete", StringComparison.Ordinal);
        Assert.True(dmesg >= 0 && vmcore > dmesg, log);
        Assert.Matches(@"verified .*: [1-9][0-9]* sampled pages match the source", log);
        Assert.Contains("executing reboot (final_action): systemctl reboot -f", log, StringComparison.Ordinal);

        // The log of the crashed kernel: the fixture's own lines, then the crash itself.
        string d = File.ReadAllText(SavedDmesg);
        Assert.Contains("FADUMP-FIXTURE: crashing now", d, StringComparison.Ordinal);
        Assert.Contains("sysrq: Trigger a crash", d, StringComparison.Ordinal);
        Assert.Contains("Kernel panic - not syncing: sysrq triggered crash", d, StringComparison.Ordinal);

        using var saved = KdumpCompressedDump.Open(Saved);
        Assert.False(saved.IsIncomplete);
        Assert.Equal(31, ((IDump)saved).DumpLevel);
    }

    [Fact]
    public void Crash_reads_the_release_of_the_saved_dump()
    {
        var c = RealTool.Run("crash", ["--osrelease", Saved]);
        Assert.True(c.ExitCode == 0, c.All);
        Assert.Equal(Text("kernel-release.txt").Trim(), c.Stdout.Trim());
    }

    /// <summary>
    /// crash 8.0.2's <c>--log</c> (no vmlinux) reads only the old log_buf from VMCOREINFO; Linux 6.1's
    /// printk_ringbuffer is not among what it knows, so it fails with "VMCOREINFO: no log buffer data" on
    /// makedumpfile's own dump and on the raw /proc/vmcore as well. Ours must behave exactly as theirs does.
    /// </summary>
    [Fact]
    public void Crash_log_without_vmlinux_does_on_ours_what_it_does_on_makedumpfiles()
    {
        var ours = RealTool.Run("crash", ["--log", Saved]);
        var theirs = RealTool.Run("crash", ["--log", GuestMakedumpfile]);
        Assert.Equal(theirs.ExitCode, ours.ExitCode);
        Assert.Equal(theirs.All.Replace(GuestMakedumpfile, "DUMP", StringComparison.Ordinal), ours.All.Replace(Saved, "DUMP", StringComparison.Ordinal));
        TestContext.Current.TestOutputHelper?.WriteLine($"crash --log: exit {ours.ExitCode}: {ours.All.Trim()}");
    }

    [Fact]
    public void Makedumpfile_dump_dmesg_of_the_saved_dump_is_our_vmcore_dmesg()
    {
        using var dir = new RealTool.TempDir();
        string fromSaved = dir.File("saved.txt"), fromFull = dir.File("full.txt");
        var a = RealTool.Run("makedumpfile", ["--dump-dmesg", Saved, fromSaved]);
        Assert.True(a.ExitCode == 0, a.All);
        var b = RealTool.Run("makedumpfile", ["--dump-dmesg", Full, fromFull]);
        Assert.True(b.ExitCode == 0, b.All);
        string ours = File.ReadAllText(SavedDmesg);
        Assert.Equal(File.ReadAllText(fromSaved), ours);
        Assert.Equal(File.ReadAllText(fromFull), ours);
    }

    [Fact]
    public void Libkdumpfile_reads_the_saved_dump_as_the_unfiltered_copy()
    {
        using var full = DumpFile.Open(Full);
        using var saved = KdumpCompressedDump.Open(Saved);

        // Samples: the first and a middle page of every dumped range, and the kernel's init_uts_ns by virtual address.
        var samples = saved.DumpedRanges().SelectMany(r => new[] { r.Start, r.Start + ((r.Size / 2) & ~0xfffUL) })
            .Distinct().Take(200).Select(a => (a, 4096)).ToList();
        Assert.True(samples.Count >= 20, $"only {samples.Count} samples");
        var reads = Libkdumpfile.Read(samples, Saved, Full);
        Assert.Equal("diskdump", reads[0].Format);
        Assert.Equal(Text("kernel-release.txt").Trim(), reads[0].Release);
        var page = new byte[4096];
        for (int i = 0; i < samples.Count; i++)
        {
            Assert.True(reads[0].Data[i] is not null, FormattableString.Invariant($"libkdumpfile cannot read 0x{samples[i].a:x} from the saved dump"));
            Assert.Equal(4096, full.ReadPhysical(samples[i].a, page));
            Assert.True(page.AsSpan().SequenceEqual(reads[0].Data[i]), FormattableString.Invariant($"0x{samples[i].a:x}: libkdumpfile reads other bytes than /proc/vmcore held"));
            Assert.True(page.AsSpan().SequenceEqual(reads[1].Data[i]), FormattableString.Invariant($"0x{samples[i].a:x}: libkdumpfile reads the copy differently"));
        }
    }

    /// <summary>
    /// In the same capture kernel, on the same /proc/vmcore, makedumpfile -l --message-level 7 -d 31 wrote a file
    /// with the same page set as ours; the test also records whether the two files are byte for byte the same.
    /// </summary>
    [Fact]
    public void The_saved_dump_has_the_page_set_makedumpfile_saved_in_the_same_capture_kernel()
    {
        using var a = KdumpCompressedDump.Open(Saved);
        using var b = KdumpCompressedDump.Open(GuestMakedumpfile);
        Assert.Equal(b.MaxPfn, a.MaxPfn);
        Assert.Equal(b.MemoryRanges(), a.MemoryRanges());
        Assert.Equal(b.DumpedRanges(), a.DumpedRanges());
        bool identical = File.ReadAllBytes(Saved).AsSpan().SequenceEqual(File.ReadAllBytes(GuestMakedumpfile));
        TestContext.Current.TestOutputHelper?.WriteLine($"{a.DumpedPageCount} pages; files byte-identical: {identical}");
    }

    /// <summary>`fadump save -l --message-level 7 -d 31 /proc/vmcore` alone, in the same capture kernel: the file collect wrote.</summary>
    [Fact]
    public void Save_alone_in_the_capture_kernel_writes_what_collect_wrote()
    {
        Assert.Equal("0", Text("save.rc").Trim());
        string alone = Fixtures.Require("realcrash/fadump-save-d31.kdump");
        using var a = KdumpCompressedDump.Open(alone);
        using var b = KdumpCompressedDump.Open(Saved);
        Assert.Equal(b.MemoryRanges(), a.MemoryRanges());
        Assert.Equal(b.DumpedRanges(), a.DumpedRanges());
        Assert.True(File.ReadAllBytes(alone).AsSpan().SequenceEqual(File.ReadAllBytes(Saved)), "save and collect wrote different bytes");
    }

    [Theory]
    [InlineData(31)]
    [InlineData(1)]
    public void On_the_unfiltered_copy_makedumpfile_keeps_the_pages_we_keep(int level)
    {
        using var dir = new RealTool.TempDir();
        string theirs = dir.File("md.kdump"), ours = level == 31 ? Saved : dir.File("ours.kdump");
        var md = RealTool.Run("makedumpfile", ["-l", "-d", level.ToString(CultureInfo.InvariantCulture), "--message-level", "16", Full, theirs], 300);
        Assert.True(md.ExitCode == 0, md.All);
        if (level != 31)
        {
            using var input = DumpFile.Open(Full);
            DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = level, Compression = PageCompression.Lzo, Threads = 2 }, Ct);
        }

        using var a = KdumpCompressedDump.Open(ours);
        using var b = KdumpCompressedDump.Open(theirs);
        Assert.Equal(b.MaxPfn, a.MaxPfn);
        Assert.Equal(b.DumpedPageCount, a.DumpedPageCount);
        Assert.Equal(b.MemoryRanges(), a.MemoryRanges());
        Assert.Equal(b.DumpedRanges(), a.DumpedRanges());
    }

    /// <summary>
    /// A real /proc/vmcore's PT_LOADs follow the e820 map and the crashkernel reservation, not pages: here one
    /// ends at 0x9fc00. The pages they cover only in part are where a saver must make makedumpfile's choice; at
    /// both levels ours is theirs, page by page, and the bytes we keep there are the copy's.
    /// </summary>
    [Fact]
    public void Pages_the_vmcore_covers_only_in_part_are_treated_as_makedumpfile_treats_them()
    {
        using var elf = ElfCoreFile.Open(Full);
        var partial = new SortedSet<ulong>();
        foreach (var l in elf.Loads)
        {
            if ((l.PhysicalAddress & 0xfff) != 0)
            {
                partial.Add(l.PhysicalAddress >> 12);
            }

            if ((l.PhysicalEnd & 0xfff) != 0)
            {
                partial.Add(l.PhysicalEnd >> 12);
            }
        }

        Assert.Contains(0x9fUL, partial);   // the PT_LOAD that ends at 0x9fc00

        using var dir = new RealTool.TempDir();
        using var input = DumpFile.Open(Full);
        var lines = new List<string>();
        foreach (int level in new[] { 1, 31 })
        {
            string theirs = dir.File($"md{level}.kdump"), ours = dir.File($"ours{level}.kdump");
            var md = RealTool.Run("makedumpfile", ["-l", "-d", level.ToString(CultureInfo.InvariantCulture), Full, theirs], 300);
            Assert.True(md.ExitCode == 0, md.All);
            DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = level, Compression = PageCompression.Lzo, Threads = 2 }, Ct);
            using var a = KdumpCompressedDump.Open(ours);
            using var b = KdumpCompressedDump.Open(theirs);
            var pa = new byte[4096];
            var pb = new byte[4096];
            foreach (ulong pfn in partial)
            {
                var sa = ((IDump)a).ReadPage(pfn, pa);
                var sb = ((IDump)b).ReadPage(pfn, pb);
                lines.Add(FormattableString.Invariant($"-d {level} PFN 0x{pfn:x}: makedumpfile {sb}, ours {sa}"));
                Assert.True(sb == sa, FormattableString.Invariant($"-d {level} PFN 0x{pfn:x}: makedumpfile has it {sb}, we {sa}"));
                Assert.True(pa.AsSpan().SequenceEqual(pb), FormattableString.Invariant($"-d {level} PFN 0x{pfn:x}: other bytes than makedumpfile's"));
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', lines));
    }
}
