using System.Diagnostics;
using System.Text;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Kdump;
using Fadump.Tools.Inspect;

namespace Fadump.Tools.Collector;

/// <summary>One save at one dump level: the kdump and ELF writers fed by the <see cref="PagePipeline"/>.</summary>
internal sealed class SaveJob
{
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(250);

    private readonly IDump _in;
    private readonly GuardedSink _sink;
    private readonly SaveOptions _o;
    private readonly PageClassifier? _classifier;
    private readonly Stopwatch _sw;
    private readonly CancellationToken _ct;
    private readonly int _ps;
    private readonly ulong _maxPfn;
    private readonly PfnWatch? _watch;
    private readonly (ulong Start, ulong End)? _split;
    private TimeSpan _lastReport = TimeSpan.FromDays(-1);
    private long _lastDurable;
    private long _bytesRead;
    private ulong _pagesWritten;

    /// <param name="split">For one file of a --split set: the PFNs [Start, End) whose pages it holds (kdump only).</param>
    public SaveJob(IDump input, GuardedSink sink, SaveOptions o, PageClassifier? classifier, Stopwatch sw, CancellationToken ct, (ulong Start, ulong End)? split = null)
    {
        _in = input;
        _sink = sink;
        _o = o;
        _classifier = classifier;
        _sw = sw;
        _ct = ct;
        _ps = input.PageSize;
        _maxPfn = EffectiveMaxPfn(input, classifier);
        _watch = o.WatchPfns is { } w ? new PfnWatch(w) : null;
        _split = split;
    }

    private DumpLevel Level => (DumpLevel)_o.DumpLevel;

    /// <summary>
    /// makedumpfile get_mem_map: max_mapnr is cut to the end of the last section with a mem_map ("Linux uses
    /// less memory than is dumped", mem=; also firmware ranges such as QEMU's BIOS and framebuffer PT_LOADs).
    /// </summary>
    internal static ulong EffectiveMaxPfn(IDump input, PageClassifier? classifier) =>
        classifier is { Ranges.Count: > 0 } c ? Math.Min(input.MaxPfn, c.Ranges.Max(r => r.EndPfn)) : input.MaxPfn;

    public SaveResult RunKdump()
    {
        var filter = new PageFilter(_in, _maxPfn, _classifier, excludeZero: false, _o.Threads, cyclicRam: _split is not null) { CancellationToken = _ct, Watch = _watch };
        var pipeline = new PagePipeline(_ps, _o.Threads, _o.Compression, shareZeroPages: (Level & DumpLevel.Zero) != 0);
        KdumpCompressedWriter? writer = null;
        ulong zero = 0;
        try
        {
            // Pass 1 (inside the constructor): both bitmaps, a chunk at a time; it also counts the classes.
            writer = new KdumpCompressedWriter(_sink, new KdumpWriterOptions
            {
                Machine = _in.Machine,
                PageSize = _ps,
                MaxPfn = _maxPfn,
                Utsname = Utsname(),
                Timestamp = Timestamp(),
                DumpLevel = _o.DumpLevel,
                Compression = _o.Compression,
                Notes = DumpLevelNote.Without(_in.Notes),
                PhysBase = PhysBase(),
                RamBitmap = filter.RamBitmap,
                DumpBitmap = new ScanReporter(filter, this),
                CurrentCpu = (_in as KdumpCompressedDump)?.Header.CurrentCpu ?? 0,
                SplitRange = _split,
            });

            var zeroPage = new byte[_ps];
            var w = writer;
            pipeline.Run(
                (take, submit) => DispatchDumped(filter, pipeline.BatchPages, take, submit),
                b => pipeline.ReadAndCompress(_in, b),
                b =>
                {
                    int i = 0, outAt = 0;
                    foreach (var r in b.Runs)
                    {
                        for (int k = 0; k < r.Count; k++, i++)
                        {
                            ulong pfn = r.Pfn + (ulong)k;
                            int len = b.Lengths[i];
                            if (len < 0)
                            {
                                w.WritePage(pfn, zeroPage);
                                zero++;
                            }
                            else if (len > 0)
                            {
                                w.WriteCompressedPage(pfn, b.Output.AsSpan(outAt, len), _o.Compression);
                                outAt += len;
                            }
                            else
                            {
                                w.WriteCompressedPage(pfn, b.Input.AsSpan(i * _ps, _ps), PageCompression.None);
                            }
                        }
                    }

                    Written(b);
                    MaybeDurable(w.Length, w.FlushDurable, b.EndPfn);
                },
                _ct);
            writer.Complete();
            return Result(filter, zero, incomplete: false, error: null);
        }
        catch (Exception e) when (writer is not null || _sink.WriteError is not null)
        {
            try
            {
                writer?.MarkIncomplete();
            }
            catch (Exception e2) when (e2 is IOException or InvalidOperationException)
            {
                // The device may be gone; what reached it stays.
            }

            if (_sink.WriteError is null)
            {
                throw;
            }

            return Result(filter, zero, incomplete: true, error: e.Message);
        }
        finally
        {
            filter.WaitForPrefetch();
        }
    }

    public SaveResult RunElf()
    {
        bool excludeZero = (Level & DumpLevel.Zero) != 0;
        var scan = new PageFilter(_in, _maxPfn, _classifier, excludeZero, _o.Threads) { CancellationToken = _ct, Watch = _watch };
        var segments = ElfSegments.Build(scan, _maxPfn, _o.Threads, p => Report(SavePhase.Scanning, p));
        var pipeline = new PagePipeline(_ps, _o.Threads, PageCompression.None, shareZeroPages: false);
        ElfCoreWriter? writer = null;
        try
        {
            var virt = VirtualMapper.For(_in);
            var specs = segments.Select(s =>
            {
                ulong pa = s.Start * (ulong)_ps, size = (s.End - s.Start) * (ulong)_ps;
                return new ElfSegmentSpec(pa, virt(pa), size, size);
            }).ToList();
            // The level recorded (DumpLevelNote): the pages of an input filtered before stay out too.
            int recorded = _o.DumpLevel | (_in.DumpLevel ?? DumpLevelNote.Find(_in.Notes) ?? 0);
            writer = new ElfCoreWriter(_sink, _in.Machine, [.. DumpLevelNote.Without(_in.Notes), DumpLevelNote.Create(recorded)], specs, _ps);
            var w = writer;
            pipeline.Run(
                (take, submit) => DispatchSegments(segments, pipeline.BatchPages, take, submit),
                ReadSegment,
                b =>
                {
                    w.Write(b.Input.AsSpan(0, b.PageCount * _ps));
                    Written(b);
                    MaybeDurable(w.Length, w.FlushDurable, b.EndPfn);
                },
                _ct);
            writer.Complete();
            return Result(scan, 0, incomplete: false, error: null);
        }
        catch (Exception e) when (writer is not null || _sink.WriteError is not null)
        {
            try
            {
                writer?.MarkIncomplete();
            }
            catch (Exception e2) when (e2 is IOException or InvalidOperationException)
            {
            }

            if (_sink.WriteError is null)
            {
                throw;
            }

            return Result(scan, 0, incomplete: true, error: e.Message);
        }
        finally
        {
            scan.WaitForPrefetch();
        }
    }

    private SaveResult Result(PageFilter filter, ulong zero, bool incomplete, string? error)
    {
        var counts = filter.Counts;
        counts[ExcludedClass.Zero] += zero;
        Report(SavePhase.Done, _maxPfn, force: true);
        return new SaveResult
        {
            TotalPages = filter.RamPages,
            DumpedPages = filter.DumpedPages - zero,
            ExcludedByClass = counts.ToDictionary(),
            BytesWritten = _sink.Length,
            Elapsed = _sw.Elapsed,
            Incomplete = incomplete,
            DumpLevelUsed = _o.DumpLevel,
            MaxPfn = _maxPfn,
            Error = error,
            BytesRead = Interlocked.Read(ref _bytesRead),
            ExcludedWatchedPfns = _watch?.Excluded(_maxPfn),
        };
    }

    /// <summary>Cuts the dumped PFNs (of the split range, for a --split file) into batches of up to batchPages pages (runs of consecutive PFNs).</summary>
    private void DispatchDumped(PageFilter filter, int batchPages, Func<PageBatch> take, Action<PageBatch> submit)
    {
        var bits = new byte[PageFilter.ChunkPfns / 8];
        PageBatch? b = null;
        var (lo, hi) = _split ?? (0, _maxPfn);
        for (ulong first = lo & ~(PageFilter.ChunkPfns - 1); first < hi; first += PageFilter.ChunkPfns)
        {
            _ct.ThrowIfCancellationRequested();
            filter.Prefetch(first + PageFilter.ChunkPfns, _o.Threads);
            filter.Fill(first, bits);
            ulong n = Math.Min(PageFilter.ChunkPfns, hi - first);
            ulong i = Bits.NextSet(bits, lo > first ? lo - first : 0, n);
            while (i < n)
            {
                ulong runEnd = Bits.NextClear(bits, i, n);
                while (i < runEnd)
                {
                    b ??= take();
                    int count = (int)Math.Min(runEnd - i, (ulong)(batchPages - b.PageCount));
                    b.Runs.Add(new PfnRun(first + i, count));
                    b.PageCount += count;
                    b.EndPfn = first + i + (ulong)count;
                    i += (ulong)count;
                    if (b.PageCount == batchPages)
                    {
                        submit(b);
                        b = null;
                    }
                }

                i = Bits.NextSet(bits, runEnd, n);
            }
        }

        if (b is not null)
        {
            submit(b);
        }
    }

    /// <summary>ELF: every PFN of every segment, in order, in batches of one run each.</summary>
    private void DispatchSegments(IReadOnlyList<PfnSpan> segments, int batchPages, Func<PageBatch> take, Action<PageBatch> submit)
    {
        foreach (var s in segments)
        {
            for (ulong p = s.Start; p < s.End;)
            {
                _ct.ThrowIfCancellationRequested();
                var b = take();
                int count = (int)Math.Min((ulong)batchPages, s.End - p);
                b.Runs.Add(new PfnRun(p, count));
                b.PageCount = count;
                b.EndPfn = p + (ulong)count;
                submit(b);
                p += (ulong)count;
            }
        }
    }

    /// <summary>
    /// Reads a segment's pages, the excluded ones of a short run too: makedumpfile write_elf_pages_cyclic ("If
    /// the number of the contiguous pages to be excluded is 255 or less, those pages are not excluded") writes
    /// the segment from the original memory, so those pages keep their bytes.
    /// </summary>
    private void ReadSegment(PageBatch b)
    {
        var r = b.Runs[0];
        PageReader.Read(_in, r.Pfn, r.Count, b.Input.AsSpan(0, r.Count * _ps));
    }

    /// <summary>
    /// Every <see cref="SaveOptions.DurableReportBytes"/> of output: page data and descriptors written, the file
    /// fsynced, then <see cref="SaveOptions.DurableThrough"/> told that every page below the batch's end is on disk.
    /// Batches reach this (the single consumer) in dispatch order, which is PFN order, whatever the thread count.
    /// </summary>
    private void MaybeDurable(long length, Action flush, ulong endPfn)
    {
        if (_o.DurableThrough is not { } report || _o.FallbackLevels.Count > 0 || _o.Flattened || length - _lastDurable < _o.DurableReportBytes)
        {
            return;
        }

        flush();
        _lastDurable = length;
        report(endPfn * (ulong)_ps);
    }

    private void Written(PageBatch b)
    {
        int read = b.PageCount;
        Interlocked.Add(ref _bytesRead, (long)read * _ps);
        _pagesWritten += (ulong)b.PageCount;
        Report(SavePhase.Writing, b.EndPfn);
    }

    private void Report(SavePhase phase, ulong pfnsDone, bool force = false)
    {
        if (_o.Progress is not { } p)
        {
            return;
        }

        var now = _sw.Elapsed;
        if (!force && now - _lastReport < ReportInterval)
        {
            return;
        }

        _lastReport = now;
        p.Report(new SaveProgress(phase, pfnsDone, _maxPfn, _pagesWritten, Interlocked.Read(ref _bytesRead), _sink.Length, now, _o.DumpLevel));
    }

    /// <summary>The crashed kernel's utsname: the input's kdump header, else init_uts_ns in memory, else from VMCOREINFO.</summary>
    private KdumpUtsname? Utsname()
    {
        if (_in is KdumpCompressedDump k && !string.IsNullOrEmpty(k.Utsname.Release))
        {
            return k.Utsname;
        }

        var info = _in.VmcoreInfo;
        if (info?.Symbol("init_uts_ns") is { } uts)
        {
            try
            {
                var kernel = KernelAddressSpace.Create(_in);
                var buf = new byte[6 * KdumpUtsname.FieldLength];
                ulong at = uts + (ulong)(info.Offset("uts_namespace.name") ?? 0);
                if (kernel.ReadVirtual(at, buf) == buf.Length)
                {
                    var f = new string[6];
                    for (int i = 0; i < 6; i++)
                    {
                        var field = buf.AsSpan(i * KdumpUtsname.FieldLength, KdumpUtsname.FieldLength);
                        int nul = field.IndexOf((byte)0);
                        f[i] = Encoding.UTF8.GetString(nul >= 0 ? field[..nul] : field[..(KdumpUtsname.FieldLength - 1)]);
                    }

                    if (f[2].Length > 0 && f[0] == "Linux")
                    {
                        return new KdumpUtsname(f[0], f[1], f[2], f[3], f[4], f[5]);
                    }
                }
            }
            catch (DumpFormatException)
            {
                // Fall back to VMCOREINFO's OSRELEASE.
            }
        }

        return null;
    }

    /// <summary>CRASHTIME, else the input's header time, else the input file's modification time: never "now", so that saves are reproducible.</summary>
    private DateTimeOffset Timestamp()
    {
        if (_in.VmcoreInfo?.CrashTime is { } t)
        {
            return DateTimeOffset.FromUnixTimeSeconds(t);
        }

        if (_in is KdumpCompressedDump k)
        {
            return k.Timestamp;
        }

        try
        {
            return File.Exists(_in.Path) ? new DateTimeOffset(File.GetLastWriteTimeUtc(_in.Path)) : DateTimeOffset.UnixEpoch;
        }
        catch (IOException)
        {
            return DateTimeOffset.UnixEpoch;
        }
    }

    /// <summary>VMCOREINFO NUMBER(phys_base) first (QEMU writes a wrong one into its kdump headers), else the input header's.</summary>
    private ulong PhysBase()
    {
        if (_in.Machine.Arch == DumpArch.X86_64 && _in.VmcoreInfo?.Number("phys_base") is { } pb)
        {
            return unchecked((ulong)pb);
        }

        return (_in as KdumpCompressedDump)?.PhysBase ?? 0;
    }

    /// <summary>The dump bitmap the kdump writer reads in pass 1, reporting the scan's progress.</summary>
    private sealed class ScanReporter(PageFilter filter, SaveJob job) : IPfnBitmap
    {
        private bool _scanned;

        public void Fill(ulong firstPfn, Span<byte> bits)
        {
            filter.Fill(firstPfn, bits);
            ulong end = firstPfn + ((ulong)bits.Length * 8);
            if (!_scanned)
            {
                job.Report(SavePhase.Scanning, Math.Min(end, job._maxPfn));
                _scanned = end >= job._maxPfn;
            }
        }
    }
}
