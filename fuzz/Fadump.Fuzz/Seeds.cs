using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Tools.Tests.Synthetic;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Fuzz;

/// <summary>
/// Writes the seed corpora (fuzz/corpus/TARGET/*): minimal valid samples of each format, made with the
/// project's own writers, and kernel images of the synthetic kernels the Tools tests use. Small on purpose
/// (4 KiB pages, a few pages, mostly zeros): afl-fuzz mutates faster and the repository stays small.
/// </summary>
internal static class Seeds
{
    private const int Page = 4096;

    public static void Write(string dir)
    {
        void Put(string target, string name, byte[] bytes)
        {
            string d = Path.Combine(dir, target);
            Directory.CreateDirectory(d);
            File.WriteAllBytes(Path.Combine(d, name), bytes);
        }

        DumpMachine[] machines = [DumpMachine.X86_64, DumpMachine.Ppc64, DumpMachine.Ppc64le];
        foreach (var m in machines)
        {
            byte[] elf = Elf(m);
            Put("elf", $"elf-{m.UtsMachine}", elf);
            Put("info", $"elf-{m.UtsMachine}", elf);
        }

        Put("elf", "elf-x86_64-incomplete", Elf(DumpMachine.X86_64, incomplete: true));
        (DumpMachine M, PageCompression C)[] kdumps =
        [
            (DumpMachine.X86_64, PageCompression.Zlib), (DumpMachine.X86_64, PageCompression.Lzo),
            (DumpMachine.X86_64, PageCompression.Snappy), (DumpMachine.Ppc64le, PageCompression.Zstd),
            (DumpMachine.Ppc64, PageCompression.None),
        ];
        foreach (var (m, c) in kdumps)
        {
            byte[] k = Kdump(m, c, level: 31);
            Put("kdump", $"kdump-{m.UtsMachine}-{c}".ToLowerInvariant(), k);
        }

        Put("kdump", "kdump-x86_64-incomplete", Kdump(DumpMachine.X86_64, PageCompression.Zlib, level: 1, incomplete: true));
        Put("info", "kdump-x86_64-zlib", Kdump(DumpMachine.X86_64, PageCompression.Zlib, level: 31));

        byte[] part1 = Kdump(DumpMachine.X86_64, PageCompression.Zlib, 31, split: (0, 6));
        byte[] part2 = Kdump(DumpMachine.X86_64, PageCompression.Lzo, 31, split: (6, Pfns));
        Put("split", "split-x86_64-zlib-lzo", Concat(part1, part2));
        Put("split", "split-x86_64-flattened", Concat(Flatten(s => KdumpTo(s, DumpMachine.X86_64, PageCompression.Zlib, 31, (0, 6), false)), part2));

        Put("flattened", "flat-kdump-x86_64-zlib", Flatten(s => KdumpTo(s, DumpMachine.X86_64, PageCompression.Zlib, 31, null, false)));
        Put("flattened", "flat-kdump-ppc64-lzo", Flatten(s => KdumpTo(s, DumpMachine.Ppc64, PageCompression.Lzo, 31, null, false)));
        Put("flattened", "flat-elf-x86_64", Flatten(s => ElfTo(s, DumpMachine.X86_64, false)));
        Put("info", "flat-kdump-x86_64-zlib", Flatten(s => KdumpTo(s, DumpMachine.X86_64, PageCompression.Zlib, 31, null, false)));

        // Kernel images: the synthetic kernels of the Tools tests (x86_64 4-level and 5-level, ppc64 both byte orders).
        var x86 = SyntheticScenarios.X86_64WithLog();
        var x86l5 = new SyntheticX86_64(fiveLevel: true);
        x86l5.MapVmemmap();
        var x86Legacy = LegacyScenarios.X86_64(LegacyScenarios.Build(bigEndian: false, callerId: true));
        var ppcBe = SyntheticScenarios.Ppc64WithLog(bigEndian: true);
        ppcBe.AddVmemmap(0, 1, 5, 6);
        var ppcLe = SyntheticScenarios.Ppc64WithLog(bigEndian: false);
        ppcLe.AddVmemmap(3, 2);
        var ppcLegacy = LegacyScenarios.Ppc64(LegacyScenarios.Build(bigEndian: true), bigEndian: true);
        Put("x86-walk", "x86_64-4level-log", Image(x86.Kernel));
        Put("x86-walk", "x86_64-5level-vmemmap", Image(x86l5.Kernel));
        Put("ppc64-walk", "ppc64-vmemmap", Image(ppcBe.Kernel));
        Put("ppc64-walk", "ppc64le-vmemmap", Image(ppcLe.Kernel));
        Put("printk-ring", "x86_64-prb", Image(x86.Kernel));
        Put("printk-ring", "ppc64-prb", Image(ppcBe.Kernel));
        Put("printk-ring", "ppc64le-prb", Image(ppcLe.Kernel));
        Put("printk-logbuf", "x86_64-log_buf-callerid", Image(x86Legacy.Kernel));
        Put("printk-logbuf", "ppc64-log_buf", Image(ppcLegacy.Kernel));
        Put("info", "kdump-x86_64-synthetic-kernel", KernelKdump(x86.Kernel));
        Put("save", "x86_64-struct-pages", Image(StructPages()));
        Put("collect", "elf-x86_64", Elf(DumpMachine.X86_64));
        Put("collect", "kdump-ppc64-lzo", Kdump(DumpMachine.Ppc64, PageCompression.Lzo, level: 31));
        Put("collect", "kdump-x86_64-synthetic-kernel", KernelKdump(x86.Kernel));
        Put("collect", "kdump-x86_64-struct-pages", KernelKdump(StructPages()));
        Put("save", "ppc64le-vmemmap", Image(ppcLe.Kernel));

        foreach (var k in new[] { x86.Kernel, ppcLe.Kernel })
        {
            Put("vmcoreinfo", $"synthetic-{k.Machine.UtsMachine}", k.Info.ToBytes());
        }

        string data = Path.Combine(AppContext.BaseDirectory, "vmcoreinfo");
        foreach (var f in Directory.Exists(data) ? Directory.GetFiles(data, "*.txt") : [])
        {
            Put("vmcoreinfo", Path.GetFileNameWithoutExtension(f), File.ReadAllBytes(f));
        }

        Put("kdump-conf", "default", Encoding.ASCII.GetBytes("path /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\n"));
        Put("kdump-conf", "every-directive", Encoding.ASCII.GetBytes(
            "# kdump.conf\npath /srv/dumps   # trailing comment\ncore_collector makedumpfile -c --message-level 1 -d 17\n" +
            "ssh kdump@dumphost.example.com\nsshkey /root/.ssh/other_key\nfailure_action shell\nfinal_action poweroff\n" +
            "kdump_pre /usr/local/bin/pre.sh\nkdump_post /usr/local/bin/post.sh\nextra_modules foo\n"));
        Put("kdump-conf", "fs-target", Encoding.ASCII.GetBytes("ext4 UUID=0b4a4ca5-2b0e\npath /var/crash\nfailure_action dump_to_rootfs\nfinal_action poweroff\n"));
        Put("kdump-conf", "ssh-flattened", Encoding.ASCII.GetBytes("ssh root@[::1]\ncore_collector makedumpfile -F -l -d 31 --num-threads 2\ndefault dump_to_rootfs\n"));

        string[] collectors =
        [
            "makedumpfile -l --message-level 7 -d 31", "makedumpfile -c -d 31", "makedumpfile -E -d 1",
            "/usr/sbin/makedumpfile -lF --num-threads=4 -L 64M", "makedumpfile -z -d17 --cyclic-buffer 1024 --non-mmap",
            "makedumpfile -p --work-dir /tmp -d 0",
        ];
        for (int i = 0; i < collectors.Length; i++)
        {
            Put("core-collector", $"line{i}", Encoding.ASCII.GetBytes(collectors[i]));
        }

        var memory = new byte[1 << 16];
        Put("release-region", "listing-small", [.. "CPU:0x0-0x0: HPTE:0x0-0x0: DUMP:0x2000-0x1000, 0x1000-0x1000:\n"u8, 0, .. memory.AsSpan(0, 0x3000)]);
        Put("release-region", "listing-real", Encoding.ASCII.GetBytes("CPU:0x2bef000-0x10000: HPTE:0x2bff000-0x1000: DUMP:0x2c00000-0x400000, 0x400000-0x27ef000:\n"));

        var regsave = new byte[32 + (2 * 79 * 16)];
        BinaryPrimitives.WriteUInt64BigEndian(regsave, Ppc64RegisterSaveArea.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(regsave.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt32BigEndian(regsave.AsSpan(12), 28);
        BinaryPrimitives.WriteUInt32BigEndian(regsave.AsSpan(28), 2);
        for (int c = 0; c < 2; c++)
        {
            int at = 32 + (c * 79 * 16);
            BinaryPrimitives.WriteUInt64BigEndian(regsave.AsSpan(at), Ppc64RegisterSaveArea.CpuStart);
            BinaryPrimitives.WriteUInt64BigEndian(regsave.AsSpan(at + 8), (ulong)c);
            BinaryPrimitives.WriteUInt64BigEndian(regsave.AsSpan(at + 16), Ppc64RegisterSaveArea.Id("NIA"));
            BinaryPrimitives.WriteUInt64BigEndian(regsave.AsSpan(at + 24), 0xc000000000152b40);
            BinaryPrimitives.WriteUInt64BigEndian(regsave.AsSpan(at + (78 * 16)), Ppc64RegisterSaveArea.CpuEnd);
        }

        Put("phyp", "regsave", [0, .. regsave]);
        var header = new byte[160];
        BinaryPrimitives.WriteUInt32BigEndian(header, 1);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), 0x28);
        ushort[] types = [1, 2, 0x11];
        ulong[] lengths = [0x10000, 0x1000, 0x10000000];
        ulong dest = 0x3fee0000;
        for (int i = 0; i < 3; i++)
        {
            var sec = header.AsSpan(40 + (i * 40));
            BinaryPrimitives.WriteUInt32BigEndian(sec, 1);
            BinaryPrimitives.WriteUInt16BigEndian(sec[4..], types[i]);
            BinaryPrimitives.WriteUInt64BigEndian(sec[16..], lengths[i]);
            BinaryPrimitives.WriteUInt64BigEndian(sec[24..], lengths[i]);
            BinaryPrimitives.WriteUInt64BigEndian(sec[32..], dest);
            dest += lengths[i];
        }

        Put("phyp", "kernel-dump", [1, .. header]);
        Put("phyp", "journal", [2, .. Encoding.ASCII.GetBytes(
            "fadump phyp-dump journal 1\nlisting CPU:0x3fee0000-0x10000: HPTE:0x3fef0000-0x1000: DUMP:0x3fef1000-0x10000000, 0x10000000-0x2ffef000:\n" +
            "part .vmcore-incomplete.part-42\nnotes 0000000000000000000000000000000000000000000000000000000000000000\ndurable 0x20000000\nreleased 0x10000000 0x10000000 done reserved\n")]);
        Put("phyp", "writes", [3, .. "0x10000000 0x4000000\n"u8, 0, .. "20000000 1000\n"u8, 0, .. "0x0 0x1\n"u8, 0, .. "zz\n"u8, 0, .. "0x3fee0000 0x10000\n"u8]);

        // OPAL cores as create_opalcore lays them out, small: one 12 KiB skiboot region (the 64 KiB page alignment before it).
        static Fadump.Tools.Tests.Synthetic.OpalCoreBuilder Opal(int threads)
        {
            var b = Fadump.Tools.Tests.Synthetic.OpalCoreBuilder.Small(threads);
            b.MemconsOffset = 0x1008;
            b.ObufOffset = 0x2000;
            b.ObufSize = 0x800;
            b.RegionSizes[0] = 0x3000;
            return b;
        }

        Put("opal", "core", Opal(2).Build());
        var wrapped = Opal(1);
        wrapped.ObufSize = 0x100;
        wrapped.KernelInitiated = false;
        wrapped.Console.Append(string.Concat(Enumerable.Range(0, 20).Select(i => string.Create(CultureInfo.InvariantCulture, $"[{i,4}.000000000,7] wrap\n"))));
        Put("opal", "wrapped-sigterm", wrapped.Build());
        var regions = Opal(4);
        regions.Threads[3] = regions.Threads[3] with { Active = false };
        regions.RegionSizes.Add(0x1000);
        regions.RegionSizes.Add(0x800);
        Put("opal", "regions-inactive", regions.Build());

        Put("sysfs", "register", [0x00, .. "1\n"u8, 0, 0x02, .. "crashkernel=256M\n"u8, 0, 0x00, .. "0\n"u8, 0, 0x01, .. "0x1"u8]);
        Put("kexec-sysfs", "shrink-load-unload", [0x01, .. "0x8000000\n"u8, 0, 0x80, 0, 0x02, .. "1\n"u8, 0, 0x82, 0, 0x03, .. "0\n"u8, 0, 0x81]);
        Put("sysfs", "release", [0x83, .. "1\n"u8, 0, 0x80, .. "1\n"u8, 0, 0x84, .. "-1"u8]);
    }

    private const ulong Pfns = 16;

    /// <summary>RAM PFN runs of the small dumps: [0,3) and [8,11), a hole between.</summary>
    private static readonly (ulong Start, ulong End)[] RamRuns = [(0, 3), (8, 11)];

    private static byte[] Concat(byte[] a, byte[] b)
    {
        var r = new byte[4 + a.Length + b.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(r, (uint)a.Length);
        a.CopyTo(r, 4);
        b.CopyTo(r, 4 + a.Length);
        return r;
    }

    private static List<ElfNote> Notes(DumpMachine m)
    {
        var info = new VmcoreInfoNote();
        info.Add("OSRELEASE", "6.1.0-fuzz");
        info.Add("PAGESIZE", Page.ToString(CultureInfo.InvariantCulture));
        info.Add("CRASHTIME", "1795249829");
        info.AddSymbol("swapper_pg_dir", 0xffffffff82a0c000);
        var names = PrStatus.RegisterNames(m.Arch);
        return
        [
            new PrStatus(1, 11, [.. Enumerable.Range(0, names.Length).Select(i => (ulong)i * 0x1111)]).ToNote(m),
            new PrStatus(2, 0, new ulong[names.Length]).ToNote(m),
            new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, info.ToBytes()),
        ];
    }

    /// <summary>Page content: a short recognisable pattern, the rest zero (so that it compresses).</summary>
    private static void Fill(ulong pfn, Span<byte> page)
    {
        page.Clear();
        for (int i = 0; i < 32; i++)
        {
            page[i] = (byte)(pfn * 31 + (ulong)i);
        }
    }

    private static byte[] Elf(DumpMachine m, bool incomplete = false)
    {
        var sink = new MemorySink();
        ElfTo(sink, m, incomplete);
        return sink.ToArray();
    }

    private static void ElfTo(IPositionedSink sink, DumpMachine m, bool incomplete)
    {
        ulong virt = m.Arch == DumpArch.X86_64 ? 0xffff888000000000UL : 0xc000000000000000UL;
        // Two small PT_LOADs, the second with p_filesz < p_memsz.
        var loads = new List<ElfSegmentSpec> { new(0, virt, Page, Page), new(8 * Page, virt + (8 * Page), 2 * Page, 512) };
        using var w = new ElfCoreWriter(sink, m, Notes(m), loads, Page);
        var page = new byte[Page];
        Fill(0, page);
        w.Write(page);
        if (incomplete)
        {
            w.MarkIncomplete();
            return;
        }

        Fill(8, page);
        w.Write(page.AsSpan(0, 512));
        w.Complete();
    }

    private static byte[] Kdump(DumpMachine m, PageCompression c, int level, (ulong, ulong)? split = null, bool incomplete = false)
    {
        var sink = new MemorySink();
        KdumpTo(sink, m, c, level, split, incomplete);
        return sink.ToArray();
    }

    private static void KdumpTo(IPositionedSink sink, DumpMachine m, PageCompression c, int level, (ulong Start, ulong End)? split, bool incomplete)
    {
        var options = new KdumpWriterOptions
        {
            Machine = m,
            PageSize = Page,
            MaxPfn = Pfns,
            Utsname = KdumpUtsname.ForMachine(m, "6.1.0-fuzz", "fuzznode", "#1 SMP"),
            Timestamp = DateTimeOffset.FromUnixTimeSeconds(1700000000),
            DumpLevel = level,
            Compression = c,
            Notes = Notes(m),
            CurrentCpu = 0,
            RamBitmap = RangePfnBitmap.FromPfnRuns(RamRuns),
            DumpBitmap = new ExcludingPfnBitmap(RangePfnBitmap.FromPfnRuns(RamRuns), pfn => pfn == 9),
            SplitRange = split,
        };
        var w = new KdumpCompressedWriter(sink, options);
        var page = new byte[Page];
        foreach (var (start, end) in RamRuns)
        {
            for (ulong pfn = start; pfn < end; pfn++)
            {
                if (pfn == 9 || (split is { } s && (pfn < s.Start || pfn >= s.End)))
                {
                    continue;
                }

                Fill(pfn, page);
                if (pfn == 10)
                {
                    Array.Clear(page); // a zero page: shares the zero descriptor at -d 1
                }

                w.WritePage(pfn, page);
                if (incomplete)
                {
                    w.MarkIncomplete();
                    return;
                }
            }
        }

        w.Complete();
    }

    private static byte[] Flatten(Action<IPositionedSink> write)
    {
        using var ms = new MemoryStream();
        using (var sink = new FlattenedSink(ms, leaveOpen: true))
        {
            write(sink);
        }

        return ms.ToArray();
    }

    /// <summary>
    /// An x86_64 kernel with SPARSEMEM_VMEMMAP struct pages of every class the collector filters (free, cache,
    /// anon, slab, compound, hwpoison, offline), as in the Tools' PageClassifierTests.
    /// </summary>
    private static SyntheticKernel StructPages() => ClassifierScenario.BuildKernel().Kernel;

    private static byte[] Image(SyntheticKernel k) => KernelImage.Encode(k.Machine, k.Info, k.Ram);

    /// <summary>A synthetic kernel as a kdump-compressed file without its zero pages: a small dump with a real log.</summary>
    private static byte[] KernelKdump(SyntheticKernel k)
    {
        ulong pfns = (ulong)(k.Ram.Length / k.PageSize);
        bool Zero(ulong pfn) => !k.Ram.AsSpan((int)pfn * k.PageSize, k.PageSize).ContainsAnyExcept((byte)0);
        var sink = new MemorySink();
        var w = new KdumpCompressedWriter(sink, new KdumpWriterOptions
        {
            Machine = k.Machine,
            PageSize = k.PageSize,
            MaxPfn = pfns,
            DumpLevel = 1,
            Compression = PageCompression.Zlib,
            Notes = [new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, k.Info.ToBytes())],
            RamBitmap = RangePfnBitmap.FromPfnRuns([(0, pfns)]),
            DumpBitmap = new ExcludingPfnBitmap(RangePfnBitmap.FromPfnRuns([(0, pfns)]), Zero),
        });
        for (ulong pfn = 0; pfn < pfns; pfn++)
        {
            if (!Zero(pfn))
            {
                w.WritePage(pfn, k.Ram.AsSpan((int)pfn * k.PageSize, k.PageSize));
            }
        }

        w.Complete();
        return sink.ToArray();
    }
}
