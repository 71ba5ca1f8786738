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

    public void Dispose() => Directory.Delete(_target, recursive: true);

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
    public void Image_rejects_a_copy_inside_the_reserved_range()
    {
        // The seed's example numbers put the scratch area inside the reserved range: refused, not misread.
        var l = ReleaseRegionListing.Parse("CPU:0x177fee000-0x10000: HPTE:0x177ffe020-0x1000: DUMP:0x177fff020-0x10000000, 0x10000000-0x16F1D370A");

        var e = Assert.Throws<InvalidDataException>(() => new PhypDumpImage(new Fadump.Formats.IO.MemorySource([]), l, DumpMachine.Ppc64));

        Assert.Contains("overlaps the reserved range", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Release_plan_frees_the_copies_then_the_reserved_memory_in_chunks()
    {
        var fake = new FakePhypSysroot();

        var steps = PhypReleaser.Plan(fake.Listing, 16UL << 20);

        // Worked out by hand from the spec (A3, A5) and the fake's layout, not by the code under test: 48 MiB of
        // DRAM, R = 4 MiB, scratch area = 0x10000 + 0x1000 + R at the top (0x2bef000); the listing's reserved
        // pair is [R, scratch start). The copies go first, each due once saved; then 16 MiB chunks of the rest.
        Assert.Equal(
            [
                new ReleaseStep("CPU state copy", new AddressLength(0x2bef000, 0x10000), 0),
                new ReleaseStep("HPTE copy", new AddressLength(0x2bff000, 0x1000), 0),
                new ReleaseStep("low memory copy", new AddressLength(0x2c00000, 0x400000), 0x400000),
                new ReleaseStep("reserved memory", new AddressLength(0x400000, 0x1000000), 0x1400000),
                new ReleaseStep("reserved memory", new AddressLength(0x1400000, 0x1000000), 0x2400000),
                new ReleaseStep("reserved memory", new AddressLength(0x2400000, 0x7ef000), 0x2bef000),
            ],
            steps);
        Assert.Equal("0x400000 0x1000000\n", ReleaseRegionListing.ReleaseCommand(steps[3].Range));
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
