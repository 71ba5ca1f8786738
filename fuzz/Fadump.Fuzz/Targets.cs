using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Fadump.Firmware.Rtas;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Kernel;
using Fadump.Kernel.Sysfs;
using Fadump.Tools.Collector;
using Fadump.Tools.Inspect;
using Fadump.Tools.Service;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;
using Fadump.Kernel.Platforms;

namespace Fadump.Fuzz;

/// <summary>One fuzz target: runs one input; the exceptions the reader documents for bad input are caught
/// here, anything else escapes and is a finding (afl-fuzz sees the process abort).</summary>
internal sealed record Target(string Name, string Description, Action<byte[]> Run);

internal static class Targets
{
    public static readonly Target[] All =
    [
        new("elf", "ELF core reader (ElfCoreFile, ElfDump), then the dump's notes and pages", Elf),
        new("kdump", "kdump-compressed reader (header, sub-header, bitmaps, descriptors, page codecs)", Kdump),
        new("split", "kdump --split set: [u32 LE length of part 1][part 1][part 2], opened as one dump", Split),
        new("flattened", "makedumpfile flattened reader (FlattenedSource), then the dump inside", Flattened),
        new("vmcoreinfo", "VMCOREINFO text parser and its typed accessors", VmcoreInfo),
        new("info", "fadump info/read/dmesg pipeline on a dump of any format: summary, registers, pages, dmesg, panic", Info),
        new("x86-walk", "X86_64KernelAddressSpace over a kernel image (see KernelImage): page-table walks, reads", X86Walk),
        new("ppc64-walk", "Ppc64KernelAddressSpace over a kernel image: linear map, vmemmap_list walk", Ppc64Walk),
        new("printk-ring", "PrintkRingBufferReader (lockless prb, 5.10+) via KernelLog over a kernel image", Printk),
        new("printk-logbuf", "PrintkLogBufferReader (log_buf, 3.5-5.9 records and pre-3.5 text) via KernelLog", Printk),
        new("save", "the collector (DumpSaver: mem_section/struct page classification, -d 31, kdump or ELF) over a kernel image", Save),
        new("collect", "fadump collect (kdump mechanism) on a /proc/vmcore of any format: no exception escapes, a failure runs the failure action", Collect),
        new("kdump-conf", "kdump.conf parser (KdumpConfigParser)", KdumpConf),
        new("core-collector", "core_collector line parser (CoreCollectorParser)", CoreCollector),
        new("release-region", "release_region listing (ReleaseRegionListing) and the PHYP dump image over memory: [text] 0x00 [memory]", ReleaseRegion),
        new("phyp", "phyp dump parsers by the first byte: 0 register save area (Ppc64RegisterSaveArea), 1 ibm,kernel-dump header, 2 release journal (checksum made right), 3 release_region writes on a simulated Power6 second kernel (0x00-separated)", Phyp),
        new("opal", "OPAL core (PowerNV MPIPL, opal-core.c): ElfCoreFile, OpalCore (threads by PIR, NT_AUXV), SkibootConsole (memcons scan, obuf, wrap), info/regs text and JSON", Opal),
        new("sysfs", "simulated kernel's sysfs write handlers: writes separated by 0x00, first byte of each picks the file", Sysfs),
        new("kexec-sysfs", "simulated x86_64 PC: kexec_crash_size writes, kexec -p loads (either syscall) and unloads, separated by 0x00; /proc/iomem and the sizes must stay consistent", KexecSysfs),
    ];

    public static Target? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    /// <summary>FADUMP_FUZZ_VERBOSE=1: print the rejections too (to check that seeds get past the first checks).</summary>
    private static readonly bool Verbose = Environment.GetEnvironmentVariable("FADUMP_FUZZ_VERBOSE") == "1";

    private static bool Expected(bool expected, Exception e)
    {
        if (expected && Verbose)
        {
            Console.Error.WriteLine($"  rejected: {e.GetType().Name}: {e.Message}");
        }

        return expected;
    }

    private static bool IsDumpError(Exception e) => e is DumpFormatException or CodecUnavailableException;

    private static void Elf(byte[] data)
    {
        try
        {
            using var dump = ElfDump.Open(new MemorySource(data, "fuzz.elf"));
            Exercise(dump);
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }
    }

    private static void Kdump(byte[] data)
    {
        try
        {
            using var dump = KdumpCompressedDump.Open(new MemorySource(data, "fuzz.kdump"));
            Exercise(dump);
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }
    }

    private static void Split(byte[] data)
    {
        if (data.Length < 4)
        {
            return;
        }

        int len = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(data), (uint)(data.Length - 4));
        var parts = new List<KdumpCompressedDump>();
        try
        {
            foreach (var (bytes, name) in new[] { (data[4..(4 + len)], "fuzz-split.1"), (data[(4 + len)..], "fuzz-split.2") })
            {
                var d = DumpFile.Open(new MemorySource(bytes, name));
                if (d is not KdumpCompressedDump k)
                {
                    d.Dispose();
                    return;
                }

                parts.Add(k);
            }

            using var set = KdumpSplitSet.Open(parts);
            parts.Clear();
            Exercise(set);
            // save --reassemble of the set: every header, bitmap and descriptor it copies is the input's.
            using var sink = new DiscardingSink();
            KdumpReassembler.Reassemble(set, sink);
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }
        finally
        {
            foreach (var p in parts)
            {
                p.Dispose();
            }
        }
    }

    /// <summary>Counts what a writer writes and keeps none of it: a fuzzed header can describe far more output than it holds.</summary>
    private sealed class DiscardingSink : IPositionedSink
    {
        public long Length { get; private set; }

        public void Write(long offset, ReadOnlySpan<byte> data) => Length = Math.Max(Length, offset + data.Length);

        public void Flush()
        {
        }

        public void Dispose()
        {
        }
    }

    private static void Flattened(byte[] data)
    {
        try
        {
            using var flat = FlattenedSource.Open(new MemorySource(data, "fuzz.flat"), allowTruncated: data.Length % 2 == 0);
            _ = flat.RecordCount + flat.RunCount + flat.StoredLength;
            var buf = new byte[4096];
            long stride = Math.Max(4096, flat.Length / 64);
            for (long off = 0, n = 0; off < flat.Length && n < 128; off += stride, n++)
            {
                flat.Read(off, buf);
            }

            flat.Read(Math.Max(0, flat.Length - 100), buf);
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }

        try
        {
            using var dump = DumpFile.Open(new MemorySource(data, "fuzz.flat"));
            Exercise(dump);
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }
    }

    private static void VmcoreInfo(byte[] data)
    {
        try
        {
            var info = VmcoreInfoNote.Parse(data, "fuzz.vmcoreinfo", 0);
            _ = info.OsRelease;
            _ = info.BuildId;
            _ = info.PageSize;
            _ = info.CrashTime;
            _ = info.KernelOffset;
            foreach (var (key, _) in info.Entries.Take(4096))
            {
                // Every typed accessor on every key it could apply to.
                int open = key.IndexOf('(', StringComparison.Ordinal);
                if (open > 0 && key.EndsWith(')'))
                {
                    string inner = key[(open + 1)..^1];
                    _ = info.Symbol(inner);
                    _ = info.Offset(inner);
                    _ = info.Size(inner);
                    _ = info.Length(inner);
                    _ = info.Number(inner);
                }
            }

            _ = VmcoreInfoNote.Parse(info.ToBytes(), "fuzz.vmcoreinfo (re-parsed)", 0);
        }
        catch (DumpFormatException e) when (Expected(true, e))
        {
        }
    }

    private static void Info(byte[] data)
    {
        try
        {
            using var dump = DumpFile.Open(new MemorySource(data, "fuzz.vmcore"));
            Exercise(dump);
            Kernel(dump);
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }
    }

    private static void X86Walk(byte[] data) => Walk(data, ppc: false);

    private static void Ppc64Walk(byte[] data) => Walk(data, ppc: true);

    private static void Walk(byte[] data, bool ppc)
    {
        try
        {
            DumpMachine machine = !ppc ? DumpMachine.X86_64 : data.Length > 0 && data[0] % 2 == 1 ? DumpMachine.Ppc64 : DumpMachine.Ppc64le;
            using var image = KernelImage.Parse(data, machine);
            if (image is null)
            {
                return;
            }

            var ks = KernelAddressSpace.Create(image);
            if (ks is X86_64KernelAddressSpace x)
            {
                _ = x.PageOffsetBase;
                _ = x.PageOffsetSource;
                _ = x.PageTableRoot;
                _ = x.PhysBase;
            }
            else if (ks is Ppc64KernelAddressSpace p)
            {
                _ = p.VmemmapBlockSize;
                _ = p.VmemmapBackings.Count;
                _ = p.VmemmapProblem;
            }

            Translate(ks, image.Pointers, x86: !ppc);
        }
        catch (DumpFormatException e) when (Expected(true, e))
        {
        }
    }

    private static void Printk(byte[] data)
    {
        try
        {
            using var image = KernelImage.Parse(data);
            if (image is null)
            {
                return;
            }

            var log = KernelLog.Read(KernelAddressSpace.Create(image));
            _ = log.ToMakedumpfileLines();
            _ = log.ToMakedumpfileLines(new DmesgFormatOptions { CallerId = true, SignedChar = true });
            _ = PanicFinder.Find(log);
        }
        catch (DumpFormatException e) when (Expected(true, e))
        {
        }
    }

    private static void Save(byte[] data)
    {
        try
        {
            using var image = KernelImage.Parse(data);
            if (image is null)
            {
                return;
            }

            // The last byte picks the dump level (bits 0-4) and the output format (bit 5).
            byte pick = data[^1];
            using var output = new MemoryStream();
            var options = new SaveOptions
            {
                DumpLevel = (pick & 1) != 0 ? 31 : pick & 31,
                Format = (pick & 0x20) != 0 ? SaveFormat.Elf : SaveFormat.Kdump,
                Compression = PageCompression.None,
                Threads = 1,
                MessageLevel = 0,
            };
            _ = DumpSaver.Save(image, output, options);
        }
        catch (DumpFormatException e) when (Expected(true, e))
        {
        }
    }

    private sealed class RecordingActions : IActionRunner
    {
        public List<SystemAction> Requested { get; } = [];

        public void Run(SystemAction action, string reason) => Requested.Add(action);
    }

    private static void Collect(byte[] data)
    {
        // A capture kernel's root (kdump: /proc/vmcore, no FADump files) in a temporary directory, the dump
        // saved under it. Invariants: Run returns (no exception escapes it), and a run that did not save the
        // dump asked for its failure action (shell; the final action is poweroff).
        // A dump may describe far more memory than its file holds (p_memsz > p_filesz reads as zeros): at -d 0
        // the service rightly writes all of it, as makedumpfile does; and a kdump-compressed output has two
        // bitmaps of max_pfn bits (a PT_LOAD at 280 TiB made 17 GB). Keep each input's output small.
        if (DescribedBytes(data) is not (<= MaxCollectBytes))
        {
            return;
        }

        string dir = Directory.CreateTempSubdirectory("fadump-fuzz-collect-").FullName;
        try
        {
            string root = Path.Combine(dir, "root");
            Directory.CreateDirectory(Path.Combine(root, "proc"));
            File.WriteAllBytes(Path.Combine(root, "proc", "vmcore"), data);
            File.WriteAllText(Path.Combine(root, "proc", "cmdline"), "root=/dev/sda2 elfcorehdr=0x1000\n");
            // The last byte picks the core_collector: bit 0 the dump level (31 or 0), bits 1-2 the format.
            byte pick = data.Length == 0 ? (byte)0 : data[^1];
            string format = ((pick >> 1) & 3) switch { 0 => "-l", 1 => "-c", 2 => "-E", _ => string.Empty };
            string level = (pick & 1) != 0 ? "31" : "0";
            var config = KdumpConfigParser.Parse(
                $"path {Path.Combine(dir, "crash")}\ncore_collector makedumpfile {format} -d {level}\nfailure_action shell\nfinal_action poweroff\n", "fuzz-kdump.conf");
            var actions = new RecordingActions();
            var options = new CollectOptions
            {
                Actions = actions,
                Now = () => DateTimeOffset.FromUnixTimeSeconds(1700000000),
                DefaultThreads = 1,
                VerifySamplePages = 16,
                RootFs = dir,
            };
            var result = new CollectService(config, options).Run(new Fadump.Tools.Sysroot.DirectorySysroot(root));
            if (Verbose)
            {
                Console.Error.WriteLine($"  collect: exit {result.ExitCode}, saved {result.VmcoreSaved}, actions [{string.Join(", ", actions.Requested)}], errors: {string.Join(" | ", result.Errors)}");
                foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
                {
                    Console.Error.WriteLine($"    {f}: {new FileInfo(f).Length} bytes");
                }
            }

            if (!result.VmcoreSaved && !actions.Requested.Contains(SystemAction.Shell))
            {
                throw new InvalidOperationException($"collect did not save the dump (exit {result.ExitCode}) and ran no failure action");
            }
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("FADUMP_FUZZ_KEEP") != "1")
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private const ulong MaxCollectBytes = 64UL << 20;

    /// <summary>The bytes of RAM the dump describes, or MaxValue when its highest PFN is beyond the bound (0 when the readers reject it: collect must cope with that).</summary>
    private static ulong? DescribedBytes(byte[] data)
    {
        try
        {
            using var dump = DumpFile.Open(new MemorySource(data, "fuzz.vmcore"));
            if (dump.MaxPfn > MaxCollectBytes / (ulong)dump.PageSize)
            {
                return ulong.MaxValue;
            }

            ulong total = 0;
            foreach (var r in dump.MemoryRanges().Take(100_000))
            {
                total += r.Size;
                if (total > MaxCollectBytes)
                {
                    return total;
                }
            }

            return total;
        }
        catch (Exception e) when (IsDumpError(e))
        {
            return 0;
        }
    }

    private static void KdumpConf(byte[] data)
    {
        try
        {
            var config = KdumpConfigParser.Parse(Encoding.UTF8.GetString(data), "fuzz-kdump.conf");
            _ = config.ToString();
        }
        catch (KdumpConfigException e) when (Expected(true, e))
        {
        }
    }

    private static void CoreCollector(byte[] data)
    {
        try
        {
            _ = CoreCollectorParser.Parse(Encoding.UTF8.GetString(data)).ToString();
        }
        catch (FormatException e) when (Expected(true, e))
        {
        }
    }

    private static void ReleaseRegion(byte[] data)
    {
        int nul = Array.IndexOf(data, (byte)0);
        string text = Encoding.UTF8.GetString(data, 0, nul < 0 ? data.Length : nul);
        byte[] memory = nul < 0 ? [] : data[(nul + 1)..];
        try
        {
            var listing = ReleaseRegionListing.Parse(text, "fuzz/release_region");
            _ = ReleaseRegionListing.ReleaseCommand(listing.Dump);
            var machine = memory.Length % 2 == 0 ? DumpMachine.Ppc64le : DumpMachine.Ppc64;
            using var image = new PhypDumpImage(new MemorySource(memory, "fuzz/vmcore"), listing, machine);
            Exercise(image);
        }
        catch (Exception e) when (Expected(e is InvalidDataException or DumpFormatException, e))
        {
        }
    }

    /// <summary>An OPAL core through what `fadump info`, `regs` and `dmesg` do. The console never exceeds its buffer.</summary>
    private static void Opal(byte[] data)
    {
        try
        {
            using var dump = DumpFile.Open(new MemorySource(data, "fuzz/opalcore"));
            if (OpalCore.TryRead(dump) is not { } core)
            {
                return;
            }

            var summary = DumpSummary.Of(dump);
            _ = summary.ToText() + summary.ToJson();
            _ = RegisterReport.ToText(dump) + RegisterReport.ToJson(dump);
            if (SkibootConsole.TryRead(core, out _) is { } console && console.Text.Length > console.ObufSize)
            {
                throw new InvalidOperationException($"console of {console.Text.Length} bytes from a {console.ObufSize}-byte obuf");
            }
        }
        catch (Exception e) when (Expected(IsDumpError(e), e))
        {
        }
    }

    private static Power6Lpar? _power6;

    private static void Phyp(byte[] data)
    {
        if (data.Length == 0)
        {
            return;
        }

        var rest = data.AsSpan(1);
        try
        {
            switch (data[0] % 4)
            {
                case 0:
                    foreach (var cpu in Ppc64RegisterSaveArea.Parse(rest, "fuzz/cpu-state"))
                    {
                        _ = cpu.ToPrStatus().ToNote(DumpMachine.Ppc64);
                    }

                    break;
                case 1:
                    _ = PhypKernelDumpHeader.Parse(rest);
                    break;
                case 2:
                    // The checksum line is made right, so that the fields behind it are what gets fuzzed.
                    string body = Encoding.ASCII.GetString(rest);
                    string text = body + "sha256 " + Convert.ToHexStringLower(Fadump.Formats.Hashing.Sha256.HashData(Encoding.ASCII.GetBytes(body))) + "\n";
                    var journal = PhypJournal.Parse(text, "fuzz/.fadump-phyp-journal");
                    _ = PhypJournal.Parse(journal.Format(), "fuzz/.fadump-phyp-journal again");
                    break;
                default:
                    PhypWrites(rest);
                    break;
            }
        }
        catch (Exception e) when (Expected(e is InvalidDataException or DumpFormatException, e))
        {
        }
    }

    /// <summary>release_region writes on a Power6 second kernel (booted again after an input freed anything): MemTotal never exceeds RAM.</summary>
    private static void PhypWrites(ReadOnlySpan<byte> data)
    {
        if (_power6 is null)
        {
            _power6 = new Power6Lpar(new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2, CommandLine = Power6Lpar.DefaultCommandLine });
            _power6.Boot();
            _power6.Crash(CrashKind.Panic);
        }

        var k = _power6.Kernel!;
        bool changed = false;
        foreach (var piece in Encoding.ASCII.GetString(data).Split('\0'))
        {
            try
            {
                k.Files.WriteText(Fadump.Kernel.Phyp.PhypDump.ReleaseRegionPath, piece);
                changed = true;
            }
            catch (KernelFileException e) when (e.Errno == Errno.EINVAL)
            {
            }

            if (k.AvailableMemory() > k.Machine.Memory.TotalRam)
            {
                throw new InvalidOperationException($"release_region '{piece}': {k.AvailableMemory()} bytes available of {k.Machine.Memory.TotalRam}");
            }
        }

        _ = k.Files.ReadText(Fadump.Kernel.Phyp.PhypDump.ReleaseRegionPath);
        if (changed)
        {
            _power6 = null;
        }
    }

    private static readonly string[] SysfsFiles =
    [
        "/sys/kernel/fadump/registered", "/sys/kernel/fadump_registered", "/sys/kernel/fadump/bootargs_append",
        "/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem",
    ];

    private static PseriesLpar? _first;
    private static PseriesLpar? _capture;

    private static void Sysfs(byte[] data)
    {
        // A first kernel (FADump registered) and a capture kernel (a dump active), booted again after an
        // input changed their state, so that every input starts from the same two kernels.
        int start = 0;
        bool firstChanged = false, captureChanged = false;
        for (int i = 0; i <= data.Length; i++)
        {
            if (i < data.Length && data[i] != 0)
            {
                continue;
            }

            if (i > start)
            {
                byte sel = data[start];
                bool capture = (sel & 0x80) != 0;
                var k = capture ? Capture().Kernel! : First().Kernel!;
                string path = SysfsFiles[(sel & 0x7f) % SysfsFiles.Length];
                string text = Encoding.Latin1.GetString(data, start + 1, i - start - 1);
                try
                {
                    k.Files.WriteText(path, text);
                    firstChanged |= !capture;
                    captureChanged |= capture;
                    _ = k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region");
                    if (k.Files.Exists("/sys/kernel/fadump/bootargs_append"))
                    {
                        _ = k.Files.ReadText("/sys/kernel/fadump/bootargs_append");
                    }
                }
                catch (KernelFileException e) when (Expected(true, e))
                {
                }
            }

            start = i + 1;
        }

        if (firstChanged)
        {
            _first = null;
        }

        if (captureChanged)
        {
            _capture = null;
        }
    }

    private static PseriesLpar First()
    {
        if (_first is null)
        {
            _first = Lpar();
            _first.Boot();
        }

        return _first;
    }

    private static PseriesLpar Capture()
    {
        if (_capture is null)
        {
            _capture = Lpar();
            _capture.Boot();
            _capture.Crash(CrashKind.Sysrq);
        }

        return _capture;
    }

    /// <summary>
    /// Each record: first byte 0–0x7f writes the rest to /sys/kernel/kexec_crash_size; 0x80 loads with kexec_load
    /// (kexec-tools), 0x81 with kexec_file_load, 0x82 unloads. After each, /proc/iomem must show a Crash kernel
    /// exactly as large as kexec_crash_size says (or none when it is 0).
    /// </summary>
    private static void KexecSysfs(byte[] data)
    {
        var pc = new X86_64Pc(new PcSpec { MemoryBytes = 2UL << 30, Cpus = 2, CommandLine = "root=/dev/sda2 crashkernel=192M" });
        var k = pc.Boot();
        int start = 0;
        for (int i = 0; i <= data.Length && start < 4096; i++)
        {
            if (i < data.Length && data[i] != 0)
            {
                continue;
            }

            if (i > start)
            {
                byte sel = data[start];
                switch (sel)
                {
                    case 0x80:
                        pc.LoadCaptureKernel(KexecLoadMode.Legacy);
                        break;
                    case 0x81:
                        pc.LoadCaptureKernel(KexecLoadMode.File);
                        break;
                    case 0x82:
                        pc.Kdump.Core?.KexecLoad(0, [], Fadump.Kernel.Kexec.KexecFlags.OnCrash | Fadump.Kernel.Kexec.KexecFlags.ArchX86_64);
                        break;
                    default:
                        try
                        {
                            k.Files.WriteText("/sys/kernel/kexec_crash_size", Encoding.Latin1.GetString(data, start + 1, i - start - 1));
                        }
                        catch (KernelFileException e) when (Expected(true, e))
                        {
                        }

                        break;
                }

                ulong size = ulong.Parse(k.Files.ReadText("/sys/kernel/kexec_crash_size"), CultureInfo.InvariantCulture);
                var crash = k.Iomem.Root.FindAll("Crash kernel").ToList();
                if (size == 0 ? crash.Count != 0 : crash.Count != 1 || crash[0].Range.Size != size)
                {
                    throw new InvalidOperationException(FormattableString.Invariant($"kexec_crash_size {size} but /proc/iomem shows {crash.Count} Crash kernel resource(s)"));
                }
            }

            start = i + 1;
        }
    }

    private static PseriesLpar Lpar() =>
        new(new LparSpec { MemoryBytes = 4UL << 30, Cpus = 2, CommandLine = "fadump=on", Firmware = new RtasOptions() });

    /// <summary>Touches everything a tool reads from a dump, in bounded work.</summary>
    internal static void Exercise(IDump dump)
    {
        _ = DumpSummary.Of(dump).ToText();
        _ = dump.CpuStates();
        _ = dump.ProcessInfo();
        _ = RegisterReport.ToText(dump);
        var page = new byte[dump.PageSize];
        int n = 0;
        foreach (var r in dump.MemoryRanges())
        {
            if (++n > 64)
            {
                break;
            }

            ulong ps = (ulong)dump.PageSize;
            dump.ReadPage(r.Start / ps, page);
            dump.ReadPage((r.End - 1) / ps, page);
            var buf = new byte[300];
            dump.ReadPhysical(r.Start + 100, buf);
            dump.ReadPhysical(r.End - 150, buf);
        }

        ulong max = dump.MaxPfn;
        for (ulong pfn = 0; pfn < Math.Min(max, 64); pfn++)
        {
            dump.ReadPage(pfn, page);
        }

        dump.ReadPage(max == 0 ? 0 : max - 1, page);
        dump.ReadPage(max, page);
        dump.ReadPage(ulong.MaxValue, page);
        dump.ReadPhysical(ulong.MaxValue - 10, new byte[64]);
    }

    /// <summary>The kernel-level views of a dump: address space, dmesg, panic line (DumpFormatException expected).</summary>
    private static void Kernel(IDump dump)
    {
        try
        {
            var ks = KernelAddressSpace.Create(dump);
            Translate(ks, [], ks is X86_64KernelAddressSpace);
            var log = KernelLog.Read(ks);
            _ = log.ToMakedumpfileLines();
            _ = PanicFinder.Find(log);
        }
        catch (DumpFormatException e) when (Expected(true, e))
        {
        }

        try
        {
            _ = PanicFinder.Find(dump);
        }
        catch (DumpFormatException e) when (Expected(true, e))
        {
        }
    }

    private static readonly ulong[] WellKnown =
    [
        0xffffffff81000000, 0xffff888000000000, 0xff11000000000000, 0xffffea0000000000, 0xffffc90000000000,
        0xc000000000000000, 0xc00c000000000000, 0xc008000000000000, 0, ulong.MaxValue,
    ];

    private static void Translate(KernelAddressSpace ks, IEnumerable<ulong> pointers, bool x86)
    {
        var addrs = new List<ulong>(WellKnown);
        foreach (var (key, value) in ks.VmcoreInfo.Entries)
        {
            if (key.StartsWith("SYMBOL(", StringComparison.Ordinal)
                && ulong.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
            {
                addrs.Add(v);
            }
        }

        addrs.AddRange(pointers);
        var buf = new byte[256];
        foreach (ulong a in addrs.Take(512))
        {
            _ = ks.ToPhysical(a);
            _ = ks.ToPhysical(a + 0x1234);
            _ = ks.ReadVirtual(a, buf);
            if (x86 && ks is X86_64KernelAddressSpace x)
            {
                _ = x.WalkPageTables(a);
            }
        }
    }
}
