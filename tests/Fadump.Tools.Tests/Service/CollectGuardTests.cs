using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// The guards before release_mem, tested failing. release_mem gives the only copy of the crashed machine's
/// memory back to production: a saved file that lacks a page or holds a wrong byte must stop the service
/// before the rename, release_mem and re-registration, and end in the failure action. The savers here are
/// the real ones with their output damaged after the save (a page cut out of a PT_LOAD, one byte flipped),
/// so what is checked is the verification, not the damage.
/// </summary>
public sealed class CollectGuardTests : IDisposable
{
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-guard-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public static TheoryData<string, string> Damages => new()
    {
        { "drop", "elfcopy" }, { "drop", "makedumpfile -E -d 1" }, { "drop", "makedumpfile -E -d 0" },
        { "flip", "elfcopy" }, { "flip", "makedumpfile -E -d 1" }, { "flip", "makedumpfile -E -d 0" },
    };

    public void Dispose() => Directory.Delete(_target, recursive: true);

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_missing_or_changed_page_blocks_release_and_runs_the_failure_action(string damage, string collector)
    {
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 8 << 20);
        IDumpWriter inner = collector == "elfcopy" ? new ElfCopyDumpWriter() : new DumpSaverWriter { DefaultThreads = 2 };
        var writer = new DamagingWriter(inner, damage == "drop" ? Damage.DropFirstPatternPage : Damage.FlipPatternByte);
        string line = collector == "elfcopy" ? "makedumpfile -E -d 0" : collector;
        var cfg = KdumpConfigParser.Parse($"path {_target}\ncore_collector {line}\nfailure_action shell\n", "test.conf");

        var r = new CollectService(cfg, new CollectOptions { Actions = _actions, Log = _log, Writer = writer }).Run(new DirectorySysroot(root.Dir));

        Assert.True(writer.Damaged, "the damage was not applied: the test proves nothing");
        Assert.Equal(1, r.ExitCode);
        Assert.False(r.VmcoreSaved);
        string expected = damage == "drop"
            ? $"physical 0x{SyntheticRoot.PatternStart:x} is not present in the file, but the source has it"
            : $"the page at physical 0x{SyntheticRoot.PatternStart:x} differs from the source";
        Assert.Contains(expected, _log.ToString(), StringComparison.Ordinal);

        // Not renamed, not released, not re-registered; the failure action (then the final action) ran.
        string dir = Directory.GetDirectories(_target).Single();
        Assert.False(File.Exists(Path.Combine(dir, "vmcore")), "a damaged dump was renamed to vmcore");
        Assert.True(File.Exists(Path.Combine(dir, "vmcore-incomplete")));
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Equal("0\n", root.ReadFile("sys/kernel/fadump/registered"));
        Assert.False(r.MemoryReleased);
        Assert.False(r.Reregistered);
        Assert.Equal([SystemAction.Shell, SystemAction.Reboot], _actions.Actions);
        Assert.Contains(_actions.Requested, a => a.Reason == "failure_action");
    }

    [Fact]
    public void An_undamaged_save_through_the_same_wrapper_is_released()
    {
        // The control: the wrapper without damage passes, so the failures above come from the damage.
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 8 << 20);
        var writer = new DamagingWriter(new DumpSaverWriter { DefaultThreads = 2 }, Damage.None);
        var cfg = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile -E -d 1\n", "test.conf");

        var r = new CollectService(cfg, new CollectOptions { Actions = _actions, Log = _log, Writer = writer }).Run(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal("1\n", root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    [Fact]
    public void A_saver_that_throws_an_unexpected_exception_still_ends_in_the_failure_action()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        var cfg = KdumpConfigParser.Parse($"path {_target}\nfailure_action halt\n", "test.conf");

        var r = new CollectService(cfg, new CollectOptions { Actions = _actions, Log = _log, Writer = new ThrowingWriter() }).Run(new DirectorySysroot(root.Dir));

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("NullReferenceException", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal([SystemAction.Halt], _actions.Actions);
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    [Fact]
    public void A_root_that_throws_while_releasing_is_reported_not_thrown()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        var cfg = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile -l -d 1\n", "test.conf");

        var r = new CollectService(cfg, new CollectOptions { Actions = _actions, Log = _log }).Run(new ThrowingOnWrite(new DirectorySysroot(root.Dir)));

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("the dump service failed: InvalidCastException", _log.ToString(), StringComparison.Ordinal);
    }

    private enum Damage
    {
        None,
        DropFirstPatternPage,
        FlipPatternByte,
    }

    /// <summary>The real writer, then the output damaged in place (an ELF file: what -E and the ELF copy write).</summary>
    private sealed class DamagingWriter(IDumpWriter inner, Damage damage) : IDumpWriter
    {
        public bool Damaged { get; private set; }

        public DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default)
        {
            var r = inner.Save(input, outputPath, options, durableThrough, ct);
            if (damage != Damage.None)
            {
                DamageElf(outputPath, input.PageSize);
                Damaged = true;
            }

            return r;
        }

        public DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default) =>
            throw new NotSupportedException("local targets only");

        private void DamageElf(string path, int pageSize)
        {
            ulong start = SyntheticRoot.PatternStart;
            var bytes = File.ReadAllBytes(path);
            using (var elf = ElfCoreFile.Open(path))
            {
                var load = elf.Loads.Single(l => start >= l.PhysicalAddress && start < l.PhysicalAddress + l.FileSize);
                Assert.Equal(start, load.PhysicalAddress);
                if (damage == Damage.FlipPatternByte)
                {
                    bytes[load.FileOffset + 100] ^= 0x40;
                }
                else
                {
                    // The PT_LOAD starts one page later: the page at PatternStart is gone from the file.
                    long phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x20));
                    int phnum = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x38));
                    int i = Enumerable.Range(0, phnum).Single(k => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)phoff + (56 * k))) == 1
                        && BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((int)phoff + (56 * k) + 24)) == start);
                    var ph = bytes.AsSpan((int)phoff + (56 * i));
                    ulong ps = (ulong)pageSize;
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]) + ps);    // p_offset
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]) + ps);   // p_vaddr
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], start + ps);                                              // p_paddr
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]) - ps);   // p_filesz
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]) - ps);   // p_memsz
                }
            }

            File.WriteAllBytes(path, bytes);
        }
    }

    private sealed class ThrowingWriter : IDumpWriter
    {
        public DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default) =>
            throw new NullReferenceException("a bug in the saver");

        public DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default) =>
            throw new NullReferenceException("a bug in the saver");
    }

    /// <summary>A root whose sysfs writes fail in a way no step expects.</summary>
    private sealed class ThrowingOnWrite(ISysroot inner) : ISysroot
    {
        public string Description => inner.Description;

        public bool Exists(string path) => inner.Exists(path);

        public string ReadText(string path) => inner.ReadText(path);

        public Fadump.Formats.IO.IRandomAccessSource OpenRead(string path) => inner.OpenRead(path);

        public void WriteText(string path, string text) => throw new InvalidCastException("unexpected");
    }
}
