using System.Diagnostics;
using Fadump.Formats;
using Fadump.Tools.Service;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// The release journal and the resumed save, in process: the state a collect killed at a release leaves (its dump
/// directory as it was at that moment, the memory it released reused) is rebuilt, and a second collect completes
/// the dump from it. The real SIGKILL of a child process is in Cli/PhypKillRestartTests.cs.
/// </summary>
public sealed class PhypResumeTests : IDisposable
{
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-phyp-resume-").FullName;
    private readonly string _frozen = Directory.CreateTempSubdirectory("fadump-phyp-frozen-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public void Dispose()
    {
        Directory.Delete(_target, recursive: true);
        Directory.Delete(_frozen, recursive: true);
    }

    [Fact]
    public void Journal_round_trips_and_a_changed_byte_is_refused()
    {
        var j = new PhypJournal
        {
            Listing = new FakePhypSysroot().Listing,
            Part = ".vmcore-incomplete.part-42",
            Notes = new string('a', 64),
            DurableThrough = 0x1400000,
            Released = [new(new AddressLength(0x2bef000, 0x10000), true, "cpu"), new(new AddressLength(0x400000, 0x400000), false, "reserved")],
        };

        string text = j.Format();
        var back = PhypJournal.Parse(text, "J");

        Assert.Equal(j.Listing, back.Listing);
        Assert.Equal(j.Part, back.Part);
        Assert.Equal(j.DurableThrough, back.DurableThrough);
        Assert.Equal(j.Released, back.Released);
        Assert.Contains("released 0x400000 0x400000 pending reserved\n", text, StringComparison.Ordinal);

        var e = Assert.Throws<InvalidDataException>(() => PhypJournal.Parse(text.Replace("durable 0x1400000", "durable 0x9400000", StringComparison.Ordinal), "J"));
        Assert.Equal("J: the checksum does not match its contents (torn or edited): not trusted", e.Message);
        Assert.Throws<InvalidDataException>(() => PhypJournal.Parse(text[..^10], "J"));
        Assert.Throws<InvalidDataException>(() => PhypJournal.Parse("garbage", "J"));
    }

    [Theory]
    [InlineData("part ../../etc/passwd", "expected a file name in the journal's directory")]
    [InlineData("durable 12", "expected a 0x-prefixed hexadecimal number")]
    [InlineData("released 0x1 0x2 maybe cpu", "expected 'released 0xADDR 0xLEN done|pending cpu|hpte|dump|reserved'")]
    [InlineData("released 0xffffffffffffffff 0x2 done cpu", "wraps past 2^64")]
    public void Journal_fields_are_checked_even_under_a_valid_checksum(string line, string expected)
    {
        string key = line.Split(' ')[0];
        var lines = new PhypJournal { Listing = new FakePhypSysroot().Listing, Part = "p", Notes = new string('0', 64), DurableThrough = 0 }.Format().Split('\n').ToList();
        lines.RemoveAt(lines.Count - 1); // "" after the last newline
        lines.RemoveAt(lines.Count - 1); // the checksum
        int at = lines.FindIndex(l => l.StartsWith(key + " ", StringComparison.Ordinal));
        if (at >= 0)
        {
            lines[at] = line;
        }
        else
        {
            lines.Add(line);
        }

        string body = string.Join('\n', lines) + "\n";
        string text = body + "sha256 " + Convert.ToHexStringLower(Fadump.Formats.Hashing.Sha256.HashData(System.Text.Encoding.ASCII.GetBytes(body))) + "\n";

        var e = Assert.Throws<InvalidDataException>(() => PhypJournal.Parse(text, "/d/.fadump-phyp-journal"));

        Assert.StartsWith("/d/.fadump-phyp-journal: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-l -d 1", 2)]
    [InlineData("-l -d 1", 5)]
    [InlineData("-E -d 1", 4)]
    public void A_save_stopped_at_a_release_is_completed_from_its_partial_file(string collector, int stopAt)
    {
        var (second, firstReleases) = Interrupt(collector, stopAt);

        var r = Collect(second, collector);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Contains("an interrupted collect of this dump saved through", _log.ToString(), StringComparison.Ordinal);
        Assert.Contains("holds the pages saved through", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal(r.Directory, Path.GetDirectoryName(Directory.GetFiles(_target, "vmcore", SearchOption.AllDirectories).Single()));
        Assert.DoesNotContain(second.Releases, x => firstReleases.Any(f => Overlap(f, x.Range) && Pair(second, f) == Pair(second, x.Range)));
        AssertReleasedOnceEach(second, [.. firstReleases, .. second.Releases.Select(x => x.Range)]);
        AssertSavedEqualsCrashed(second, r.Directory!);
        Assert.False(File.Exists(Path.Combine(r.Directory!, PhypJournal.FileName)));
        Assert.False(File.Exists(Path.Combine(r.Directory!, ".vmcore-resume")));
    }

    [Fact]
    public void The_partial_file_is_found_under_the_visible_name_the_error_handler_gives_it()
    {
        var (second, firstReleases) = Interrupt("-l -d 1", 4);
        string dir = Directory.GetDirectories(_target).Single();
        var j = PhypJournal.Read(dir)!;
        File.Move(Path.Combine(dir, j.Part), Path.Combine(dir, "vmcore-incomplete"));

        var r = Collect(second, "-l -d 1");

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Contains($"{Path.Combine(dir, "vmcore-incomplete")}: holds the pages saved through", _log.ToString(), StringComparison.Ordinal);
        AssertReleasedOnceEach(second, [.. firstReleases, .. second.Releases.Select(x => x.Range)]);
        AssertSavedEqualsCrashed(second, r.Directory!);
    }

    [Fact]
    public void A_resumed_save_stopped_again_is_completed_by_a_third_run()
    {
        var (second, firstReleases) = Interrupt("-l -d 1", 2);

        // Run 2 stopped at its second release: its directory captured then, as before.
        string dir = Directory.GetDirectories(_target).Single();
        string? captured = null;
        second.OnRelease = _ =>
        {
            if (second.Releases.Count == 1)
            {
                captured = dir;
                Cp("-a", dir, Path.Combine(_frozen, "dir2"));
            }
        };
        var r2 = Collect(second, "-l -d 1");
        Assert.True(r2.ExitCode == 0, _log.ToString());
        Assert.NotNull(captured);
        Directory.Delete(dir, recursive: true);
        Cp("-a", Path.Combine(_frozen, "dir2"), dir);
        var secondReleases = second.Releases.Take(2).Select(x => x.Range).ToList();
        var third = new FakePhypSysroot(withKernel: true);
        foreach (var range in firstReleases.Concat(secondReleases))
        {
            third.Memory.AsSpan((int)range.Address, (int)range.Length).Fill(FakePhypSysroot.ReusedByte);
        }

        _log.GetStringBuilder().Clear();
        var r = Collect(third, "-l -d 1");

        Assert.True(r.ExitCode == 0, _log.ToString());
        AssertReleasedOnceEach(third, [.. firstReleases, .. secondReleases, .. third.Releases.Select(x => x.Range)]);
        AssertSavedEqualsCrashed(third, r.Directory!);
        Assert.Empty(Directory.GetFiles(r.Directory!, ".*"));
    }

    [Fact]
    public void Released_memory_is_guarded_by_the_pages_the_kernel_frees_for_it_one_more_than_the_length_says()
    {
        // release_memory_range frees PFN_DOWN(len) + 1 pages from PFN_DOWN(addr): [4 MiB, 8 MiB) takes the 64 KiB
        // page at 8 MiB too, and an unaligned 0x2bef000 takes its page from 0x2be0000. None may be read again.
        var fake = new FakePhypSysroot(withKernel: true);
        var resume = new PhypResume(null, 0, [new AddressLength(0x400000, 0x400000), new AddressLength(0x2bef000, 0x10000)]);

        using var image = new PhypDumpImage(fake.OpenRead("/dev/mem"), fake.Listing, DumpMachine.Ppc64, 65536, resume: resume);

        var page = new byte[65536];
        Assert.Equal(PageState.Lost, image.ReadPage(0x400000 / 65536, page));
        Assert.Equal(PageState.Lost, image.ReadPage(0x7f0000 / 65536, page));
        Assert.Equal(PageState.Lost, image.ReadPage(0x800000 / 65536, page));
        Assert.Equal(PageState.Dumped, image.ReadPage(0x810000 / 65536, page));
        Assert.True(page.AsSpan().SequenceEqual(fake.Crashed.AsSpan(0x810000, 65536)));
        Assert.Equal(PageState.Dumped, image.ReadPage(0x3f0000 / 65536, page));
        Assert.Equal(0, image.ReadPhysical(0x800000, page));

        // The CPU copy's page (0x2be0000, in place the last reserved page but one) and the one after the copy.
        Assert.Equal(PageState.Lost, image.ReadPage(0x2be0000 / 65536, page));
        Assert.Contains(image.Warnings, w => w.Contains("CPU state copy", StringComparison.Ordinal) && w.Contains("released by an interrupted collect", StringComparison.Ordinal));
    }

    [Fact]
    public void A_corrupt_journal_is_ignored_with_a_message_and_left_alone()
    {
        var (second, _) = Interrupt("-l -d 1", 4);
        string dir = Directory.GetDirectories(_target).Single();
        string journal = Path.Combine(dir, PhypJournal.FileName);
        var bytes = File.ReadAllBytes(journal);
        bytes[40] ^= 1;
        File.WriteAllBytes(journal, bytes);

        var r = Collect(second, "-l -d 1");

        Assert.Contains($"release journal ignored: {journal}: the checksum does not match", _log.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(dir, r.Directory);
        Assert.Equal(bytes, File.ReadAllBytes(journal));
    }

    [Fact]
    public void A_journal_of_another_dump_is_ignored()
    {
        var (second, _) = Interrupt("-l -d 1", 4);
        string dir = Directory.GetDirectories(_target).Single();
        var j = PhypJournal.Read(dir)!;
        (j with { Listing = j.Listing with { Reserved = j.Listing.Reserved with { Length = j.Listing.Reserved.Length - 0x10000 } } }).Write(dir);

        var r = Collect(second, "-l -d 1");

        Assert.Contains("belongs to another dump (CPU:0x2bef000-0x10000: HPTE:0x2bff000-0x1000: DUMP:0x2c00000-0x400000, 0x400000-0x27df000:): ignored", _log.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(dir, r.Directory);
    }

    [Fact]
    public void A_partial_file_that_is_not_ours_is_not_used_and_released_memory_is_never_read_again()
    {
        var (second, firstReleases) = Interrupt("-l -d 1", 4);
        string dir = Directory.GetDirectories(_target).Single();
        var j = PhypJournal.Read(dir)!;

        // Another dump's file under the part's name: a different crashed kernel (no VMCOREINFO, other notes).
        string other = Path.Combine(_frozen, "other");
        Directory.CreateDirectory(other);
        var otherFake = new FakePhypSysroot();
        var r0 = new CollectService(Fadump.Tools.Service.KdumpConfigParser.Parse($"path {other}\n"), new CollectOptions { Actions = _actions, Log = TextWriter.Null }).Run(otherFake);
        File.Copy(Path.Combine(r0.Directory!, "vmcore"), Path.Combine(dir, j.Part), overwrite: true);

        var r = Collect(second, "-l -d 1");

        Assert.Contains("not used to resume: its notes are not those the journal names", _log.ToString(), StringComparison.Ordinal);
        Assert.Contains("no file holds what the interrupted collect saved", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, r.ExitCode);

        // Nothing released twice, and no byte of the reused memory in the dump.
        Assert.DoesNotContain(second.Releases, x => firstReleases.Any(f => f == x.Range));
        using var saved = DumpFile.Open(Path.Combine(r.Directory!, "vmcore"));
        var page = new byte[saved.PageSize];
        for (ulong pfn = 0; pfn < saved.MaxPfn; pfn++)
        {
            saved.ReadPage(pfn, page);
            Assert.False(page.AsSpan().IndexOfAnyExcept(FakePhypSysroot.ReusedByte) < 0, $"PFN 0x{pfn:x} holds reused memory");
        }
    }

    /// <summary>
    /// Runs a collect and captures its dump directory at its release number <paramref name="stopAt"/> (0-based; the
    /// journal already says it is pending), as a SIGKILL then would leave it; returns a machine whose memory has those
    /// releases reused and nothing else, with the captured directory in place of the finished one.
    /// </summary>
    private (FakePhypSysroot Second, List<AddressLength> Released) Interrupt(string collector, int stopAt)
    {
        var first = new FakePhypSysroot(withKernel: true);
        string? captured = null;
        first.OnRelease = range =>
        {
            if (first.Releases.Count == stopAt)
            {
                captured = Directory.GetDirectories(_target).Single();
                Cp("-a", captured, Path.Combine(_frozen, "dir"));
            }
        };
        var r1 = Collect(first, collector);
        Assert.True(r1.ExitCode == 0, _log.ToString());
        Assert.NotNull(captured);
        Directory.Delete(captured, recursive: true);
        Cp("-a", Path.Combine(_frozen, "dir"), captured);
        Assert.True(File.Exists(Path.Combine(captured, PhypJournal.FileName)));

        var released = first.Releases.Take(stopAt + 1).Select(x => x.Range).ToList();
        var second = new FakePhypSysroot(withKernel: true);
        foreach (var range in released)
        {
            second.Memory.AsSpan((int)range.Address, (int)range.Length).Fill(FakePhypSysroot.ReusedByte);
        }

        _log.GetStringBuilder().Clear();
        return (second, released);
    }

    private CollectResult Collect(FakePhypSysroot fake, string collector) =>
        new CollectService(
            KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile {collector}\n"),
            new CollectOptions { Actions = _actions, Log = _log, ReleaseChunkBytes = 4UL << 20, Writer = new DumpSaverWriter { DurableReportBytes = 1 << 20 } }).Run(fake);

    /// <summary>The listed pairs add up to what was released, and within a pair no byte went back twice.</summary>
    internal static void AssertReleasedOnceEach(FakePhypSysroot fake, IReadOnlyList<AddressLength> all)
    {
        var l = fake.Listing;
        Assert.Equal(l.Cpu.Length + l.Hpte.Length + l.Dump.Length + l.Reserved.Length, all.Aggregate(0UL, (s, x) => s + x.Length));
        foreach (var group in all.GroupBy(x => Pair(fake, x)))
        {
            var sorted = group.OrderBy(x => x.Address).ToList();
            for (int i = 1; i < sorted.Count; i++)
            {
                Assert.True(sorted[i - 1].End <= sorted[i].Address, $"{sorted[i - 1]} and {sorted[i]} overlap");
            }
        }
    }

    internal static void AssertSavedEqualsCrashed(FakePhypSysroot fake, string directory)
    {
        using var saved = DumpFile.Open(Path.Combine(directory, "vmcore"));
        Assert.Equal(2, saved.CpuStates().Count);
        Assert.Equal(FakePhypSysroot.CrashedNip, saved.CpuStates()[0]["nip"]);
        var page = new byte[65536];
        for (ulong pfn = 0; pfn < fake.Listing.Reserved.End / 65536; pfn++)
        {
            Assert.Equal(PageState.Dumped, saved.ReadPage(pfn, page));
            Assert.True(page.AsSpan().SequenceEqual(fake.Crashed.AsSpan((int)(pfn * 65536), 65536)), $"PFN 0x{pfn:x} differs from the crashed kernel's memory");
        }
    }

    /// <summary>Which listed pair a released range belongs to (the first pair that contains it, in listing order).</summary>
    private static int Pair(FakePhypSysroot fake, AddressLength r)
    {
        var l = fake.Listing;
        AddressLength[] pairs = [l.Cpu, l.Hpte, l.Dump, l.Reserved];
        return Array.FindIndex(pairs, p => r.Address >= p.Address && r.End <= p.End);
    }

    private static bool Overlap(AddressLength a, AddressLength b) => a.Address < b.End && b.Address < a.End;

    private static void Cp(string flags, string from, string to)
    {
        using var p = Process.Start("cp", [flags, from, to])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
