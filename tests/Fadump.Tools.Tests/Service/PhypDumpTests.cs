using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>Power6 hypervisor-assisted dump: release_region's listing, the memory image, and the incremental release.</summary>
public sealed class PhypDumpTests : IDisposable
{
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-phyp-target-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    private readonly List<string> _snapshots = [];

    public void Dispose()
    {
        Directory.Delete(_target, recursive: true);
        foreach (var f in _snapshots)
        {
            File.Delete(f);
        }
    }

    [Fact]
    public void Listing_in_the_kernel_format_is_parsed()
    {
        var l = ReleaseRegionListing.Parse("CPU:0x2bef000-0x10000: HPTE:0x2bff000-0x1000: DUMP:0x2c00000-0x400000, 0x400000-0x27ef000:\n");

        Assert.Equal(new AddressLength(0x2bef000, 0x10000), l.Cpu);
        Assert.Equal(new AddressLength(0x2bff000, 0x1000), l.Hpte);
        Assert.Equal(new AddressLength(0x2c00000, 0x400000), l.Dump);
        Assert.Equal(new AddressLength(0x400000, 0x27ef000), l.Reserved);
    }

    [Fact]
    public void Listing_as_the_seed_document_shows_it_is_parsed()
    {
        var l = ReleaseRegionListing.Parse("CPU:0x177fee000-0x10000: HPTE:0x177ffe020-0x1000: /\nDUMP:0x177fff020-0x10000000, 0x10000000-0x16F1D370A");

        Assert.Equal(new AddressLength(0x177fff020, 0x10000000), l.Dump);
        Assert.Equal(new AddressLength(0x10000000, 0x16F1D370A), l.Reserved);
    }

    [Theory]
    [InlineData("")]
    [InlineData("CPU:0x1-0x2: HPTE:0x3-0x4: DUMP:0x5-0x6")]
    [InlineData("CPU:0x1-0x2: HPTE:0x3-0x4: DUMP:0x5-0x6, 0x7-zz:")]
    [InlineData("CPU:0xffffffffffffffff-0x2: HPTE:0x3-0x4: DUMP:0x5-0x6, 0x7-0x8:")]
    public void Bad_listings_are_errors_naming_the_file(string text)
    {
        var e = Assert.Throws<InvalidDataException>(() => ReleaseRegionListing.Parse(text));

        Assert.StartsWith("/sys/kernel/release_region: ", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Fuzz finding (release-region): a reserved range past 2^63 overflowed the /dev/mem offset when a page was read.</summary>
    [Theory]
    [InlineData("CPU:0x0-0x0: HPTE:0x0-0x0: DUMP:0x2000-0x1000, 0xB0000000000D0000-0x100:", "reserved range 0xb0000000000d0000-0x100")]
    [InlineData("CPU:0x0-0x0: HPTE:0x0-0x0: DUMP:0x2000-0x1000, 0x10000-0x7fffffffffffffff:", "reserved range 0x10000-0x7fffffffffffffff")]
    [InlineData("CPU:0x8000000000000000-0x10: HPTE:0x0-0x0: DUMP:0x2000-0x1000, 0x10000-0x100:", "CPU range 0x8000000000000000-0x10")]
    public void Image_rejects_ranges_beyond_the_physical_address_space(string text, string expected)
    {
        var l = ReleaseRegionListing.Parse(text);

        var e = Assert.Throws<InvalidDataException>(() => new PhypDumpImage(new Fadump.Formats.IO.MemorySource([]), l, DumpMachine.Ppc64));

        Assert.Contains($"the {expected} lies beyond the physical address space", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Seed_listing_with_the_copies_inside_the_reserved_range_is_read_up_to_the_scratch_area()
    {
        // The seed's example numbers put the scratch area inside the reserved range (spec A3 quirk): the reserved
        // memory is read in place up to the CPU copy, the first copy inside it; DUMP's length equals R, nothing lost.
        var l = ReleaseRegionListing.Parse("CPU:0x177fee000-0x10000: HPTE:0x177ffe020-0x1000: DUMP:0x177fff020-0x10000000, 0x10000000-0x16F1D370A");

        using var image = new PhypDumpImage(new ZeroSource(), l, DumpMachine.Ppc64);

        Assert.Equal([new PhysicalRange(0, 0x177fee000)], image.MemoryRanges());
        Assert.Equal(0x177fee000UL, image.ScratchStart);
        Assert.Equal(0UL, image.LostBytes);
        Assert.Contains(image.Warnings, w => w.Contains("runs over the scratch area", StringComparison.Ordinal));

        // An all-zero CPU state copy is no register save area: carried on without CPU notes, saying why.
        Assert.Contains(image.Warnings, w => w.Contains("no CPU registers in the dump", StringComparison.Ordinal) && w.Contains("REGSAVE", StringComparison.Ordinal));
        Assert.DoesNotContain(image.Notes, n => n.Name == "CORE");
    }

    [Fact]
    public void Copy_straddling_the_start_of_the_reserved_range_is_refused()
    {
        var l = ReleaseRegionListing.Parse("CPU:0xff0000-0x20000: HPTE:0x0-0x0: DUMP:0x2000000-0x400000, 0x1000000-0x1000000:");

        var e = Assert.Throws<InvalidDataException>(() => new PhypDumpImage(new ZeroSource(), l, DumpMachine.Ppc64));

        Assert.Contains("the CPU range 0xff0000-0x20000 overlaps the start of the reserved range", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_has_a_prstatus_per_saved_cpu_and_the_crashed_kernels_vmcoreinfo()
    {
        var fake = new FakePhypSysroot(withKernel: true);

        using var image = new PhypDumpImage(fake.OpenRead("/dev/mem"), fake.Listing, DumpMachine.Ppc64, vmcoreInfo: VmcoreInfoLocation.Parse(fake.VmcoreInfoText!));

        Assert.Empty(image.Warnings);
        Assert.Equal(FakePhypSysroot.Release, image.VmcoreInfo?.OsRelease);
        Assert.Equal(65536, image.PageSize);
        Assert.Equal(["CORE", "CORE", "VMCOREINFO", PhypDumpImage.NoteName, PhypDumpImage.NoteName], image.Notes.Select(n => n.Name));
        var cpus = image.CpuStates();
        Assert.Equal([1, 2], cpus.Select(c => c.Pid));
        Assert.Equal(FakePhypSysroot.CrashedNip, cpus[0]["nip"]);
        Assert.Equal(0xc000000000100000UL, cpus[0]["link"]);
        Assert.Equal(0xc000000001ff0000UL, cpus[0]["r1"]);
        Assert.Equal(0xc000000000200000UL, cpus[1]["nip"]);

        // The note's bytes are big-endian: the register at pr_reg[32] (nip) reads so.
        var desc = image.Notes[0].Desc;
        Assert.Equal(FakePhypSysroot.CrashedNip, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(desc.AsSpan(PrStatus.RegistersOffset + (32 * 8))));
    }

    [Theory]
    [InlineData("400000 1000\n", "inside the copied low memory [0, 0x400000)")]
    [InlineData("3ff800 1000\n", "inside the copied low memory [0, 0x400000)")]
    [InlineData("30000 1000\n", "is not a VMCOREINFO note")]
    [InlineData("20000 8\n", "expected a note of 24 to")]
    [InlineData("zz 1000\n", "expected 'ADDRESS SIZE' in hexadecimal")]
    public void A_bad_vmcoreinfo_address_is_reported_and_the_dump_saved_without_it(string text, string expected)
    {
        var fake = new FakePhypSysroot(withKernel: true) { VmcoreInfoText = text };
        var config = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile -l -d 1\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log }).Run(fake);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Contains(expected, _log.ToString(), StringComparison.Ordinal);
        Assert.Contains("no VMCOREINFO", _log.ToString(), StringComparison.Ordinal);
        using var saved = DumpFile.Open(Path.Combine(r.Directory!, "vmcore"));
        Assert.Null(saved.VmcoreInfo);
        Assert.Equal(DumpFormat.Elf, saved.Format); // the unfiltered copy
        Assert.Equal(2, saved.CpuStates().Count);
    }

    [Fact]
    public void A_vmcoreinfo_note_with_a_bad_descsz_is_not_trusted()
    {
        var fake = new FakePhypSysroot(withKernel: true);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(fake.Memory.AsSpan((int)(fake.Listing.Dump.Address + FakePhypSysroot.VmcoreInfoAddress + 4)), 0x10000);

        using var image = new PhypDumpImage(fake.OpenRead("/dev/mem"), fake.Listing, DumpMachine.Ppc64, vmcoreInfo: VmcoreInfoLocation.Parse(fake.VmcoreInfoText!));

        Assert.Null(image.VmcoreInfo);
        Assert.Contains(image.Warnings, w => w.Contains("descsz 65536", StringComparison.Ordinal) && w.Contains("/sys/kernel/vmcoreinfo (0x20000, 0x1000 bytes)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_truncated_register_save_area_leaves_no_cpu_notes_and_says_why()
    {
        var fake = new FakePhypSysroot(withKernel: true);

        // num_cpus 2 but the area ends inside the second CPU: cut the CPU copy after the first CPU's entries.
        int firstCpuEnd = 32 + (79 * 16);
        fake.Memory.AsSpan((int)fake.Listing.Cpu.Address + firstCpuEnd + 16, (int)FakePhypSysroot.CpuLength - firstCpuEnd - 16).Clear();

        using var image = new PhypDumpImage(fake.OpenRead("/dev/mem"), fake.Listing, DumpMachine.Ppc64, vmcoreInfo: VmcoreInfoLocation.Parse(fake.VmcoreInfoText!));

        Assert.DoesNotContain(image.Notes, n => n.Name == "CORE");
        Assert.Contains(image.Warnings, w => w.StartsWith("no CPU registers in the dump: /dev/mem (CPU state copy): at offset 0x", StringComparison.Ordinal) && w.Contains("no CPUEND", StringComparison.Ordinal));
        Assert.NotNull(image.VmcoreInfo);
    }

    [Theory]
    [InlineData("-l -d 1", DumpFormat.KdumpCompressed)]
    [InlineData("-z -d 31", DumpFormat.KdumpCompressed)]
    [InlineData("-E -d 1", DumpFormat.Elf)]
    public void With_vmcoreinfo_the_filtering_saver_writes_a_dump_that_info_dmesg_and_regs_read(string collector, DumpFormat format)
    {
        var fake = new FakePhypSysroot(withKernel: true);
        var config = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile {collector}\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log, ReleaseChunkBytes = 8UL << 20 }).Run(fake);

        if (collector.Contains("-d 31", StringComparison.Ordinal))
        {
            // Level 31 needs struct pages, which this small kernel's VMCOREINFO does not describe: saved at level 1, saying so.
            Assert.Contains("dump level 31 needs the crashed kernel's struct pages, which its VMCOREINFO does not lead to", _log.ToString(), StringComparison.Ordinal);
            Assert.Contains("saving at dump level 1", _log.ToString(), StringComparison.Ordinal);
        }

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.True(r.DmesgSaved);
        Assert.Equal(FakePhypSysroot.LogText, File.ReadAllText(Path.Combine(r.Directory!, "vmcore-dmesg.txt")));
        string vmcore = Path.Combine(r.Directory!, "vmcore");
        using (var saved = DumpFile.Open(vmcore))
        {
            Assert.Equal(format, saved.Format);
            if (format == DumpFormat.KdumpCompressed)
            {
                Assert.Equal(1, saved.DumpLevel);
            }

            Assert.Equal(FakePhypSysroot.Release, saved.VmcoreInfo?.OsRelease);
            Assert.Equal(65536, saved.PageSize);
            var page = new byte[65536];
            for (ulong pfn = 0; pfn < fake.Listing.Reserved.End / 65536; pfn++)
            {
                Assert.Equal(PageState.Dumped, saved.ReadPage(pfn, page));
                Assert.True(page.AsSpan().SequenceEqual(fake.Crashed.AsSpan((int)(pfn * 65536), 65536)), $"PFN 0x{pfn:x}");
            }
        }

        var (rc, info, _) = Cli("info", vmcore, "--json");
        Assert.Equal(0, rc);
        Assert.Contains($"\"osrelease\": \"{FakePhypSysroot.Release}\"", info, StringComparison.Ordinal);
        Assert.Contains("\"cpus\": 2", info, StringComparison.Ordinal);
        var (rc2, dmesg, _) = Cli("dmesg", vmcore);
        Assert.Equal(0, rc2);
        Assert.Equal(FakePhypSysroot.LogText, dmesg);
        var (rc3, regs, _) = Cli("regs", vmcore);
        Assert.Equal(0, rc3);
        Assert.Contains($"nip       0x{FakePhypSysroot.CrashedNip:x16}", regs, StringComparison.Ordinal);
        Assert.Contains("CPU 1: pid 2", regs, StringComparison.Ordinal);
        Assert.True(r.MemoryReleased);
    }

    [Fact]
    public void Boot_region_larger_than_the_copy_loses_the_memory_between_and_stops_the_reserved_range_at_the_scratch_area()
    {
        // R = 8 MiB, 4 MiB copied: [4 MiB, 8 MiB) was the capture kernel's; the crashed kernel's scratch area
        // (CPU + HPTE + R) is at the top, the copies at its start, inside the listed reserved range.
        var fake = new FakePhypSysroot(withKernel: true, bootRegion: 8UL << 20);
        ulong scratch = FakePhypSysroot.Top - FakePhypSysroot.CpuLength - FakePhypSysroot.HpteLength - (8UL << 20);
        Assert.True(fake.Listing.Cpu.Address > fake.Listing.Reserved.Address && fake.Listing.Cpu.Address < fake.Listing.Reserved.End);
        var config = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile -l -d 1\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log, ReleaseChunkBytes = 8UL << 20 }).Run(fake);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Contains("[0x400000, 0x800000) (4194304 bytes) was neither copied nor reserved", _log.ToString(), StringComparison.Ordinal);
        using var saved = DumpFile.Open(Path.Combine(r.Directory!, "vmcore"));
        // A kdump file holds whole pages: the 64 KiB page the scratch area starts inside is left out.
        Assert.Equal([new PhysicalRange(0, 4UL << 20), new PhysicalRange(8UL << 20, scratch / 65536 * 65536)], saved.MemoryRanges());
        var page = new byte[65536];
        Assert.Equal(PageState.NotPresent, saved.ReadPage((5UL << 20) / 65536, page));
        for (ulong a = 8UL << 20; a + 65536 <= scratch; a += 65536)
        {
            Assert.Equal(PageState.Dumped, saved.ReadPage(a / 65536, page));
            Assert.True(page.AsSpan().SequenceEqual(fake.Crashed.AsSpan((int)a, 65536)), $"0x{a:x}");
        }

        // Exactly the listed pairs went back (the reserved one in chunks), each byte once.
        ulong listed = fake.Listing.Cpu.Length + fake.Listing.Hpte.Length + fake.Listing.Dump.Length + fake.Listing.Reserved.Length;
        Assert.Equal(listed, fake.Releases.Aggregate(0UL, (s, x) => s + x.Range.Length));
        Assert.Equal(fake.Listing.Reserved.End, fake.Releases[^1].Range.End);
    }

    [Theory]
    [InlineData("-l -d 1 --num-threads 4")]
    [InlineData("-E -d 1 --num-threads 3")]
    public void The_filtering_saver_releases_each_range_only_once_its_pages_are_in_the_file(string collector)
    {
        var fake = new FakePhypSysroot(withKernel: true);
        var checkedRanges = new List<(AddressLength Range, long OutputLength)>();
        var problems = new List<string>();
        fake.OnRelease = range =>
        {
            // At the moment of the write: the partial output, read by an independent reader, must hold the range.
            // Once the save is committed, the complete file (then verified and renamed vmcore).
            string? part = Directory.EnumerateFiles(_target, ".vmcore-incomplete.part-*", SearchOption.AllDirectories).SingleOrDefault();
            using var partial = part is null ? DumpFile.Open(Directory.EnumerateFiles(_target, "vmcore-incomplete", SearchOption.AllDirectories).Single()) : OpenPartial(Snapshot(part));
            checkedRanges.Add((range, part is null ? long.MaxValue : new FileInfo(part).Length));
            if (partial.CpuStates().Count != 2 || partial.VmcoreInfo is null)
            {
                problems.Add($"release of {range}: the output has no notes yet");
            }
            ulong lo, hi;
            if (range == fake.Listing.Cpu || range == fake.Listing.Hpte)
            {
                return; // kept as notes, checked above
            }
            else if (range == fake.Listing.Dump)
            {
                (lo, hi) = (0, fake.Listing.Dump.Length);
            }
            else
            {
                (lo, hi) = (range.Address, Math.Min(range.End, fake.Listing.Reserved.End) / 65536 * 65536);
            }

            var page = new byte[65536];
            for (ulong a = lo; a < hi; a += 65536)
            {
                if (partial.ReadPage(a / 65536, page) != PageState.Dumped || !page.AsSpan().SequenceEqual(fake.Crashed.AsSpan((int)a, 65536)))
                {
                    problems.Add($"release of {range}: page 0x{a:x} is not in the output yet");
                    return;
                }
            }
        };
        fake.SaveInProgress = () => Directory.EnumerateFiles(_target, ".vmcore-incomplete.part-*", SearchOption.AllDirectories).Any();
        var config = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile {collector}\n");
        var options = new CollectOptions { Actions = _actions, Log = _log, ReleaseChunkBytes = 4UL << 20, Writer = new DumpSaverWriter { DurableReportBytes = 1 << 20 } };

        var r = new CollectService(config, options).Run(fake);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Empty(problems);

        // Most ranges went back while the save was running, each after more of the output existed.
        int during = fake.Releases.Count(x => x.DuringSave);
        Assert.True(during >= 8, $"{during} of {fake.Releases.Count} releases during the save");
        Assert.Equal(fake.Releases.Count, checkedRanges.Count);
        Assert.True(checkedRanges.Zip(checkedRanges.Skip(1)).All(p => p.First.OutputLength <= p.Second.OutputLength));
        ulong listed = fake.Listing.Cpu.Length + fake.Listing.Hpte.Length + fake.Listing.Dump.Length + fake.Listing.Reserved.Length;
        Assert.Equal(listed, fake.Releases.Aggregate(0UL, (sum, x) => sum + x.Range.Length));
    }

    /// <summary>
    /// A copy of the file being written, made by cp: the writer holds it with FileShare.None, which .NET enforces
    /// with flock against every other .NET open (cp takes no lock). Copied as it is at this moment.
    /// </summary>
    private string Snapshot(string part)
    {
        string copy = Path.Combine(Path.GetTempPath(), $"fadump-phyp-snapshot-{Environment.ProcessId}-{Guid.NewGuid():n}");
        using (var p = System.Diagnostics.Process.Start("cp", [part, copy])!)
        {
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
        }

        _snapshots.Add(copy);
        return copy;
    }

    /// <summary>A partial output as the resume reads it: kdump-compressed as it is, ELF through <see cref="PhypPartialDump"/>.</summary>
    private static IDump OpenPartial(string path) => PhypPartialDump.Open(path);

    private static (int Rc, string Out, string Err) Cli(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        int rc = Fadump.Cli.FadumpCommand.Run(args, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    /// <summary>A /dev/mem of zeros, as large as the physical address space.</summary>
    private sealed class ZeroSource : Fadump.Formats.IO.IRandomAccessSource
    {
        public string Name => "/dev/mem";

        public long Length => long.MaxValue;

        public int Read(long offset, Span<byte> buffer)
        {
            buffer.Clear();
            return buffer.Length;
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public void Release_plan_frees_the_copies_then_the_reserved_memory_in_chunks()
    {
        var fake = new FakePhypSysroot();

        var steps = PhypReleaser.Plan(fake.Listing, 16UL << 20, pageSize: 0x10000);

        // Worked out by hand from the spec (A3, A5) and the fake's layout, not by the code under test: 48 MiB of
        // DRAM, R = 4 MiB, scratch area = 0x10000 + 0x1000 + R at the top (0x2bef000); the listing's reserved
        // pair is [R, scratch start). A write frees the 64 KiB pages from PFN_DOWN(addr), PFN_DOWN(len) + 1 of
        // them, and is due once the dump bytes in those pages are durable: the HPTE's page holds nothing of the
        // dump (0x2bf0000-0x2bfffff: the CPU area's end and the HPTE); the copy's pages hold the copy (due at its
        // 4 MiB) and one page past it; each 16 MiB chunk frees the page after it too (+0x10000); the CPU area's
        // first page 0x2be0000 is shared with the end of the reserved range, so it waits for that.
        Assert.Equal(
            [
                new ReleaseStep("HPTE copy", new AddressLength(0x2bff000, 0x1000), 0),
                new ReleaseStep("low memory copy", new AddressLength(0x2c00000, 0x400000), 0x400000),
                new ReleaseStep("reserved memory", new AddressLength(0x400000, 0x1000000), 0x1410000),
                new ReleaseStep("reserved memory", new AddressLength(0x1400000, 0x1000000), 0x2410000),
                new ReleaseStep("CPU state copy", new AddressLength(0x2bef000, 0x10000), 0x2bef000),
                new ReleaseStep("reserved memory", new AddressLength(0x2400000, 0x7ef000), 0x2bef000),
            ],
            steps);
        Assert.Equal("0x400000 0x1000000\n", ReleaseRegionListing.ReleaseCommand(steps[2].Range));
    }

    [Fact]
    public void No_chunk_starts_inside_the_scratch_area_when_the_reserved_range_runs_over_it()
    {
        // 2 GiB, phyp_dump_reserve_size=512M: held [512M, 2G); the copies at the top from 0x5ffe0000 (CPU, HPTE,
        // then the 256 MiB copy); the listed reserved pair [512M, 2G - 0x10011000) runs over them (spec A3).
        var listing = new ReleaseRegionListing(
            new AddressLength(0x5ffe0000, 0x10000), new AddressLength(0x5fff0000, 0x1000), new AddressLength(0x5fff1000, 0x10000000),
            new AddressLength(0x20000000, 0x4ffef000));
        var steps = PhypReleaser.Plan(listing, 256UL << 20, imageEnd: 0x5ffe0000, pageSize: 0x10000);
        ulong scratch = 0x5ffe0000, scratchEnd = scratch + 0x10011000;

        // track_freed_range: only the three copies may start in [scratch, scratch + size], and every listed byte is released.
        Assert.Equal(3, steps.Count(s => s.Range.Address >= scratch && s.Range.Address <= scratchEnd));
        Assert.Equal(0x4ffef000UL, steps.Where(s => s.What == "reserved memory").Aggregate(0UL, (a, s) => a + s.Range.Length));
        Assert.Equal([0x20000000UL, 0x30000000, 0x40000000, 0x50000000], steps.Where(s => s.What == "reserved memory").Select(s => s.Range.Address));
        Assert.Equal(0x6ffef000UL, steps.Single(s => s.Range.Address == 0x50000000).Range.End); // runs on to the pair's end
    }

    [Fact]
    public void Each_range_is_released_as_soon_as_it_is_saved_and_the_dump_keeps_the_original_bytes()
    {
        var fake = new FakePhypSysroot();
        fake.SaveInProgress = () => Directory.EnumerateFiles(_target, ".vmcore-incomplete.part-*", SearchOption.AllDirectories).Any();
        var config = KdumpConfigParser.Parse($"path {_target}\n");
        var options = new CollectOptions
        {
            Actions = _actions,
            Log = _log,
            Writer = new ElfCopyDumpWriter { DurableReportBytes = 1 << 20 },
            ReleaseChunkBytes = 8UL << 20,
        };

        var r = new CollectService(config, options).Run(fake);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(DumpMechanism.PhypDump, r.Mechanism);

        // Every range, in order, each while the save was still running.
        // By hand (see the test above), with 8 MiB chunks: the three copies, then [4 MiB, 0x2bef000) in 8 MiB steps.
        AddressLength[] expected =
        [
            new(0x2bef000, 0x10000), new(0x2bff000, 0x1000), new(0x2c00000, 0x400000),
            new(0x400000, 0x800000), new(0xc00000, 0x800000), new(0x1400000, 0x800000), new(0x1c00000, 0x800000),
            new(0x2400000, 0x7ef000),
        ];
        Assert.Equal(expected, fake.Releases.Select(x => x.Range));
        Assert.All(fake.Releases, x => Assert.True(x.DuringSave, $"{x.Range} was released after the save ended"));
        Assert.Equal($"0x{fake.Listing.Cpu.Address:x} 0x10000\n", fake.Releases[0].Text);
        Assert.True(r.MemoryReleased);
        Assert.Equal(expected.Aggregate(0UL, (a, x) => a + x.Length), r.ReleasedBytes);

        // The released memory was reused at once, yet the dump holds the crashed kernel's bytes.
        Assert.Equal(FakePhypSysroot.ReusedByte, fake.Memory[fake.Listing.Reserved.Address]);
        using var saved = DumpFile.Open(Path.Combine(r.Directory!, "vmcore"));
        Assert.Equal([new PhysicalRange(0, fake.Listing.Reserved.End)], saved.MemoryRanges());
        var buf = new byte[fake.Listing.Reserved.End];
        Assert.Equal(buf.Length, saved.ReadPhysical(0, buf));
        for (ulong a = 0; a < (ulong)buf.Length; a += 4093)
        {
            Assert.True(FakePhypSysroot.Original(a) == buf[a], $"byte at 0x{a:x}");
        }

        var notes = saved.Notes.Where(n => n.Name == PhypDumpImage.NoteName).ToList();
        Assert.Equal([PhypDumpImage.NoteCpuState, PhypDumpImage.NoteHpte], notes.Select(n => n.Type));
        Assert.All(notes[0].Desc, b => Assert.Equal(0x11, b));
        Assert.Equal((int)FakePhypSysroot.HpteLength, notes[1].Desc.Length);

        // The kernel re-registers by itself once everything is free: no reboot.
        Assert.True(r.RebootSkipped);
        Assert.Empty(_actions.Requested);
        Assert.False(r.DmesgSaved); // no VMCOREINFO in a phyp dump
    }

    [Fact]
    public void A_refused_release_stops_releasing_and_fails_without_rebooting_the_dump_away()
    {
        var fake = new RefusingPhypSysroot(refuseAfter: 3);
        var config = KdumpConfigParser.Parse($"path {_target}\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log, ReleaseChunkBytes = 8UL << 20 }).Run(fake);

        Assert.Equal(1, r.ExitCode);
        Assert.True(r.VmcoreSaved);
        Assert.False(r.MemoryReleased);
        Assert.Equal(3, fake.Inner.Releases.Count);
        Assert.Contains(r.Errors, e => e.Contains("Invalid argument", StringComparison.Ordinal));

        // Memory is still held: the final action (reboot) is needed and runs.
        Assert.Equal([SystemAction.Reboot], _actions.Actions);
    }

    [Fact]
    public void Phyp_dump_from_a_directory_root_with_dev_mem_as_a_file()
    {
        var fake = new FakePhypSysroot();
        using var root = SyntheticRoot.Empty();
        root.WriteFile("sys/kernel/release_region", fake.ListingText);
        Directory.CreateDirectory(Path.Combine(root.Dir, "dev"));
        File.WriteAllBytes(Path.Combine(root.Dir, "dev", "mem"), fake.Memory);
        var config = KdumpConfigParser.Parse($"path {_target}\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log }).Run(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(DumpMechanism.PhypDump, r.Mechanism);
        using var saved = DumpFile.Open(Path.Combine(r.Directory!, "vmcore"));
        Assert.Equal(DumpMachine.Ppc64, saved.Machine);
        var b = new byte[4096];
        Assert.Equal(b.Length, saved.ReadPhysical(0x1000, b));
        Assert.Equal(FakePhypSysroot.Original(0x1000), b[0]);
    }

    /// <summary>A fake whose release_region refuses writes after a number of them (EINVAL).</summary>
    private sealed class RefusingPhypSysroot(int refuseAfter) : ISysroot
    {
        public FakePhypSysroot Inner { get; } = new();

        public string Description => Inner.Description;

        public bool Exists(string path) => Inner.Exists(path);

        public string ReadText(string path) => Inner.ReadText(path);

        public void WriteText(string path, string text)
        {
            if (Inner.Releases.Count >= refuseAfter)
            {
                throw new IOException($"{path}: Invalid argument");
            }

            Inner.WriteText(path, text);
        }

        public Fadump.Formats.IO.IRandomAccessSource OpenRead(string path) => Inner.OpenRead(path);
    }
}
