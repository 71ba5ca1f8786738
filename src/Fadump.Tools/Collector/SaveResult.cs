namespace Fadump.Tools.Collector;

/// <summary>What a save did. Page counts follow makedumpfile's report (--message-level 16).</summary>
public sealed record SaveResult
{
    /// <summary>RAM pages of the input (makedumpfile "Original pages"); holes not counted.</summary>
    public ulong TotalPages { get; init; }

    /// <summary>Pages whose contents are in the output (makedumpfile "Remaining pages": zero pages not counted).</summary>
    public ulong DumpedPages { get; init; }

    /// <summary>Excluded pages by class (<see cref="PageClassNames"/>: zero, cache, cache_private, user, hugetlb, free, hwpoison, offline).</summary>
    public IReadOnlyDictionary<string, ulong> ExcludedByClass { get; init; } = new Dictionary<string, ulong>();

    /// <summary>Bytes of the output file (logical size, for flattened output the size after -R).</summary>
    public long BytesWritten { get; init; }

    public TimeSpan Elapsed { get; init; }

    /// <summary>The output was cut short (disk full, size limit, cancelled) and is flagged incomplete in its format.</summary>
    public bool Incomplete { get; init; }

    /// <summary>The dump level of the output (the first level, or the fallback that fit).</summary>
    public int DumpLevelUsed { get; init; }

    /// <summary>One past the highest PFN of the input (makedumpfile "Total pages").</summary>
    public ulong MaxPfn { get; init; }

    /// <summary>Why the output is incomplete (the write error), or null.</summary>
    public string? Error { get; init; }

    /// <summary>Things the user should know (e.g. struct pages that could not be read, a level that was retried).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Bytes of input page data read.</summary>
    public long BytesRead { get; init; }

    /// <summary>
    /// Of <see cref="SaveOptions.WatchPfns"/>, those the save left out on purpose (the dump level's filter, or a
    /// PFN at or beyond <see cref="MaxPfn"/>); null when no PFNs were watched.
    /// </summary>
    public IReadOnlySet<ulong>? ExcludedWatchedPfns { get; init; }

    /// <summary>For a --split save: each file, in the order given, with the PFN range it holds.</summary>
    public IReadOnlyList<SplitFileResult>? SplitFiles { get; init; }
}

/// <summary>One file of a split set as written: its path, PFN range [StartPfn, EndPfn), size and state.</summary>
public sealed record SplitFileResult(string Path, ulong StartPfn, ulong EndPfn, long BytesWritten, bool Incomplete);

/// <summary>The phase a save is in.</summary>
public enum SavePhase
{
    /// <summary>Classifying pages to size the output (kdump bitmaps, ELF program headers).</summary>
    Scanning,

    /// <summary>Reading, compressing and writing page data.</summary>
    Writing,

    Done,
}

/// <summary>Progress of a save: position, throughput and an ETA from the PFNs still to go.</summary>
public readonly record struct SaveProgress(
    SavePhase Phase,
    ulong PfnsDone,
    ulong PfnsTotal,
    ulong PagesWritten,
    long BytesRead,
    long BytesWritten,
    TimeSpan Elapsed,
    int DumpLevel)
{
    public double Fraction => PfnsTotal == 0 ? 1 : Math.Min(1.0, (double)PfnsDone / PfnsTotal);

    /// <summary>Input page data per second since the start.</summary>
    public double ReadBytesPerSecond => Elapsed.TotalSeconds > 0 ? BytesRead / Elapsed.TotalSeconds : 0;

    public TimeSpan? Eta => Fraction is > 0.001 and < 1 && Elapsed > TimeSpan.Zero
        ? TimeSpan.FromSeconds(Elapsed.TotalSeconds * (1 - Fraction) / Fraction)
        : null;
}
