using System.Diagnostics;
using Fadump.Formats;
using Fadump.Formats.IO;
using Fadump.Tools.Output;
using static System.FormattableString;

namespace Fadump.Tools.Collector;

public static partial class DumpSaver
{
    /// <summary>
    /// makedumpfile --split: one kdump-compressed file per output path, written at the same time. Every file has
    /// the same headers and the complete bitmaps; each holds the pages of its own PFN range (sub-header split = 1,
    /// start_pfn/end_pfn), the ranges chosen as makedumpfile chooses them (<see cref="SplitPlan"/>). Each file
    /// goes through <see cref="PrivateOutputFile"/> (0600, temporary name, fsync, rename); a file that fails part
    /// way is kept flagged incomplete, as after a full disk in <see cref="Save(IDump, string, SaveOptions, CancellationToken)"/>.
    /// With fallback levels, a set that did not fit is written again at the next level, every file anew.
    /// </summary>
    public static SaveResult SaveSplit(IDump input, IReadOnlyList<string> outputPaths, SaveOptions o, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputPaths);
        Validate(input, o);
        if (outputPaths.Count < 2)
        {
            throw new ArgumentException(Invariant($"a split set needs at least two files, not {outputPaths.Count}"), nameof(outputPaths));
        }

        if (o.Format != SaveFormat.Kdump || o.Flattened)
        {
            throw new ArgumentException("a split set is written in the kdump-compressed format only (not ELF, not flattened)", nameof(o));
        }

        var full = outputPaths.Select(Path.GetFullPath).ToList();
        if (full.Distinct(StringComparer.Ordinal).Count() != full.Count)
        {
            throw new ArgumentException("the files of a split set must be different files", nameof(outputPaths));
        }

        foreach (var path in outputPaths)
        {
            // All refused before any is created: no half-made set because the third name was a directory.
            PrivateOutputFile.CheckTarget(path, o.Overwrite);
        }

        ulong pagesPerBlock = SplitPlan.PagesPerBlock(o.SplitBlockBytes, input.PageSize);
        var levels = Levels(o);
        var warnings = new List<string>();
        var sw = Stopwatch.StartNew();
        for (int li = 0; ; li++)
        {
            var classifier = Prepare(input, levels[li]);
            ulong maxPfn = SaveJob.EffectiveMaxPfn(input, classifier);
            IReadOnlyList<(ulong Start, ulong End)> ranges;
            var planFilter = new PageFilter(input, maxPfn, classifier, excludeZero: false, o.Threads, cyclicRam: true) { CancellationToken = ct };
            try
            {
                ranges = SplitPlan.Compute(planFilter, maxPfn, outputPaths.Count, pagesPerBlock, ct);
            }
            finally
            {
                planFilter.WaitForPrefetch();
            }

            var set = WriteSet(input, outputPaths, o with { DumpLevel = levels[li] }, classifier, ranges, sw, ct);
            var r = set.Result;
            if (r.Incomplete && li + 1 < levels.Count && set.OutOfSpace)
            {
                set.Discard();
                warnings.Add(Invariant($"dump level {levels[li]} did not fit ({r.Error}); retrying with dump level {levels[li + 1]}"));
                continue;
            }

            set.Keep();
            return r with { Warnings = [.. warnings, .. r.Warnings], Elapsed = sw.Elapsed };
        }
    }

    /// <summary>Writes every file of the set concurrently; an input error or cancellation in one stops the others.</summary>
    private static SplitSetWrite WriteSet(IDump input, IReadOnlyList<string> paths, SaveOptions o, PageClassifier? classifier,
        IReadOnlyList<(ulong Start, ulong End)> ranges, Stopwatch sw, CancellationToken ct)
    {
        int n = paths.Count;
        var files = new PrivateOutputFile?[n];
        var guards = new GuardedSink?[n];
        var results = new SaveResult?[n];
        var errors = new Exception?[n];
        var progress = o.Progress is { } p ? new SplitProgress(p, ranges) : null;
        int threads = Math.Max(1, o.Threads / n);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            for (int i = 0; i < n; i++)
            {
                files[i] = new PrivateOutputFile(paths[i], o.Overwrite);
            }

            var tasks = new Task[n];
            for (int i = 0; i < n; i++)
            {
                int k = i;
                // Own threads, not the pool's: each file's pipeline and filter queue work on the pool and wait for it.
                tasks[k] = Task.Factory.StartNew(() =>
                {
                    var guard = new GuardedSink(new FileSink(files[k]!.Handle), o.SizeLimit);
                    guards[k] = guard;
                    try
                    {
                        var po = o with
                        {
                            Threads = threads,
                            DurableThrough = null,
                            Progress = progress?.For(k),
                            WatchPfns = k == 0 ? o.WatchPfns : null,
                        };
                        var job = new SaveJob(input, guard, po, classifier, sw, stop.Token, ranges[k]);
                        results[k] = job.RunKdump();
                    }
                    catch (Exception e)
                    {
                        errors[k] = e;
                        stop.Cancel();
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            }

            Task.WaitAll(tasks);
        }
        catch
        {
            foreach (var f in files)
            {
                f?.Dispose();
            }

            throw;
        }

        var write = new SplitSetWrite(files!, guards);
        var first = errors.FirstOrDefault(e => e is not null and not OperationCanceledException) ?? errors.FirstOrDefault(e => e is not null);
        if (first is not null)
        {
            // Kept what has a header (flagged incomplete by its writer), as the single-file save does; the rest goes.
            write.KeepWritten();
            if (first is OperationCanceledException && ct.IsCancellationRequested)
            {
                throw new OperationCanceledException(ct);
            }

            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }

        write.Result = Combine(results!, paths, ranges, sw);
        return write;
    }

    /// <summary>One result for the set: page counts of the whole dump, bytes of every file, the first error with its file.</summary>
    private static SaveResult Combine(SaveResult[] parts, IReadOnlyList<string> paths, IReadOnlyList<(ulong Start, ulong End)> ranges, Stopwatch sw)
    {
        // Each file's filter computed the whole bitmap; zero pages are found at write time, each in one file.
        ulong Zero(SaveResult r) => r.ExcludedByClass.TryGetValue(PageClassNames.Zero, out ulong z) ? z : 0;
        ulong zero = parts.Aggregate(0UL, (a, r) => a + Zero(r));
        ulong dumpedWithZero = parts[0].DumpedPages + Zero(parts[0]);
        var classes = new Dictionary<string, ulong>(parts[0].ExcludedByClass) { [PageClassNames.Zero] = zero };
        int bad = Array.FindIndex(parts, r => r.Incomplete);
        return parts[0] with
        {
            DumpedPages = dumpedWithZero - zero,
            ExcludedByClass = classes,
            BytesWritten = parts.Sum(r => r.BytesWritten),
            BytesRead = parts.Sum(r => r.BytesRead),
            Incomplete = bad >= 0,
            Error = bad >= 0 ? $"{paths[bad]}: {parts[bad].Error}" : null,
            Warnings = [.. parts.SelectMany(r => r.Warnings).Distinct()],
            Elapsed = sw.Elapsed,
            SplitFiles = [.. parts.Select((r, i) => new SplitFileResult(paths[i], ranges[i].Start, ranges[i].End, r.BytesWritten, r.Incomplete))],
        };
    }

    /// <summary>The files of one attempt, until they are kept (committed) or discarded (a retry at another level).</summary>
    private sealed class SplitSetWrite(PrivateOutputFile[] files, GuardedSink?[] guards)
    {
        public SaveResult Result { get; set; } = new();

        /// <summary>Some file ran out of space (ENOSPC or -L): worth a retry at a lower level.</summary>
        public bool OutOfSpace => guards.Any(g => IsOutOfSpace(g?.WriteError));

        /// <summary>Commits every complete file and keeps the incomplete ones flagged; a file without even a header is removed.</summary>
        public void Keep()
        {
            var parts = Result.SplitFiles ?? [];
            for (int i = 0; i < files.Length; i++)
            {
                if (guards[i] is { WroteHeader: false })
                {
                    files[i].Dispose();
                }
                else if (i < parts.Count && parts[i].Incomplete)
                {
                    files[i].CommitIncomplete();
                }
                else
                {
                    files[i].Commit();
                }
            }
        }

        /// <summary>After an input error: what got a header stays, flagged incomplete by its writer.</summary>
        public void KeepWritten()
        {
            for (int i = 0; i < files.Length; i++)
            {
                if (guards[i] is { WroteHeader: true })
                {
                    files[i].CommitIncomplete();
                }
                else
                {
                    files[i].Dispose();
                }
            }
        }

        public void Discard()
        {
            foreach (var f in files)
            {
                f.Dispose();
            }
        }
    }

    /// <summary>The files' progress as one: scanning until every file has scanned, then the pages copied of every range.</summary>
    private sealed class SplitProgress(IProgress<SaveProgress> target, IReadOnlyList<(ulong Start, ulong End)> ranges)
    {
        private readonly Lock _lock = new();
        private readonly SaveProgress?[] _last = new SaveProgress?[ranges.Count];

        public IProgress<SaveProgress> For(int part) => new Part(this, part);

        private void Report(int part, SaveProgress p)
        {
            lock (_lock)
            {
                _last[part] = p;
                var all = _last.Select(x => x ?? default).ToArray();
                ulong total = ranges[^1].End;
                bool scanning = all.Any(x => x.Phase == SavePhase.Scanning);
                bool done = all.All(x => x.Phase == SavePhase.Done);
                ulong pfns = 0;
                if (scanning)
                {
                    pfns = all.Min(x => x.Phase == SavePhase.Scanning ? x.PfnsDone : total);
                }
                else
                {
                    for (int i = 0; i < all.Length; i++)
                    {
                        var (s, e) = ranges[i];
                        pfns += all[i].Phase == SavePhase.Done ? e - s : Math.Clamp(all[i].PfnsDone, s, e) - s;
                    }
                }

                target.Report(new SaveProgress(
                    scanning ? SavePhase.Scanning : done ? SavePhase.Done : SavePhase.Writing,
                    pfns,
                    total,
                    all.Aggregate(0UL, (a, x) => a + x.PagesWritten),
                    all.Sum(x => x.BytesRead),
                    all.Sum(x => x.BytesWritten),
                    all.Max(x => x.Elapsed),
                    p.DumpLevel));
            }
        }

        private sealed class Part(SplitProgress owner, int part) : IProgress<SaveProgress>
        {
            public void Report(SaveProgress value) => owner.Report(part, value);
        }
    }
}
