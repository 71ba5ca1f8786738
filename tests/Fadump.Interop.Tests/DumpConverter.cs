using System.Text;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Tools.Inspect;

namespace Fadump.Interop.Tests;

/// <summary>
/// A small in-test converter (the real one is `fadump convert`): any dump we read, written again with our
/// writers. kdump-compressed the way makedumpfile writes it from /proc/vmcore: the utsname from init_uts_ns,
/// phys_base from VMCOREINFO (not QEMU's misparsed header value), every RAM page dumped. ELF the way
/// /proc/vmcore looks: one PT_NOTE, then a PT_LOAD per RAM range with p_vaddr in the direct map.
/// </summary>
internal static class DumpConverter
{
    /// <param name="maxPfn">Cut the dump at this PFN (default: the source's max PFN).</param>
    public static KdumpHeader ToKdump(IDump src, string path, PageCompression compression, int dumpLevel, ulong? maxPfn = null)
    {
        ulong max = maxPfn ?? src.MaxPfn;
        var runs = PfnRuns(src).Where(r => r.Start < max).Select(r => (r.Start, Math.Min(r.End, max))).ToList();
        var ram = RangePfnBitmap.FromPfnRuns(runs);
        var info = src.VmcoreInfo;
        var options = new KdumpWriterOptions
        {
            Machine = src.Machine,
            PageSize = src.PageSize,
            MaxPfn = max,
            Utsname = ReadUtsname(src),
            Timestamp = info?.CrashTime is { } t ? DateTimeOffset.FromUnixTimeSeconds(t) : DateTimeOffset.UnixEpoch,
            DumpLevel = dumpLevel,
            Compression = compression,
            Notes = src.Notes,
            PhysBase = (ulong)(info?.Number("phys_base") ?? 0),
            RamBitmap = ram,
            DumpBitmap = ram,
        };
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        using var w = new KdumpCompressedWriter(new FileSink(handle), options);
        var page = new byte[src.PageSize];
        foreach (var (start, end) in runs)
        {
            for (ulong pfn = start; pfn < end; pfn++)
            {
                src.ReadPage(pfn, page);
                w.WritePage(pfn, page);
            }
        }

        w.Complete();
        return w.Header;
    }

    /// <summary>ELF with p_vaddr = page_offset_base + p_paddr, as kexec-tools describes RAM for /proc/vmcore.</summary>
    public static void ToElf(IDump src, string path)
    {
        var kernel = Assert.IsType<X86_64KernelAddressSpace>(KernelAddressSpace.Create(src));
        var ranges = src.MemoryRanges().ToList();
        var loads = ranges.Select(r => new ElfSegmentSpec(r.Start, kernel.PageOffsetBase + r.Start, r.Size, r.Size)).ToList();
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        using var w = new ElfCoreWriter(new FileSink(handle), src.Machine, src.Notes, loads, src.PageSize);
        var buf = new byte[1 << 20];
        foreach (var r in ranges)
        {
            for (ulong a = r.Start; a < r.End; a += (ulong)buf.Length)
            {
                var chunk = buf.AsSpan(0, (int)Math.Min((ulong)buf.Length, r.End - a));
                Assert.Equal(chunk.Length, src.ReadPhysical(a, chunk));
                w.Write(chunk);
            }
        }

        w.Complete();
    }

    /// <summary>PFN runs of the RAM ranges; a page partly inside a range counts (makedumpfile rounds the same way).</summary>
    public static List<(ulong Start, ulong End)> PfnRuns(IDump src)
    {
        ulong ps = (ulong)src.PageSize;
        var runs = new List<(ulong Start, ulong End)>();
        foreach (var r in src.MemoryRanges())
        {
            ulong s = r.Start / ps, e = (r.End + ps - 1) / ps;
            if (runs.Count > 0 && s <= runs[^1].End)
            {
                runs[^1] = (runs[^1].Start, Math.Max(runs[^1].End, e));
            }
            else
            {
                runs.Add((s, e));
            }
        }

        return runs;
    }

    /// <summary>init_uts_ns.name, as makedumpfile copies it into the header.</summary>
    private static KdumpUtsname ReadUtsname(IDump src)
    {
        var kernel = KernelAddressSpace.Create(src);
        ulong at = kernel.VmcoreInfo.Symbol("init_uts_ns")!.Value + (ulong)(kernel.VmcoreInfo.Offset("uts_namespace.name") ?? 0);
        var uts = new byte[6 * KdumpUtsname.FieldLength];
        kernel.ReadVirtualExactly(at, uts, "init_uts_ns");
        string Field(int i)
        {
            var f = uts.AsSpan(i * KdumpUtsname.FieldLength, KdumpUtsname.FieldLength);
            int nul = f.IndexOf((byte)0);
            return Encoding.ASCII.GetString(nul >= 0 ? f[..nul] : f);
        }

        return new KdumpUtsname(Field(0), Field(1), Field(2), Field(3), Field(4), Field(5));
    }
}
