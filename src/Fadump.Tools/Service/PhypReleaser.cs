using System.Globalization;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>One <c>echo ADDR LEN &gt; release_region</c>, due once the saved dump durably holds every byte below SavedThrough.</summary>
public readonly record struct ReleaseStep(string What, AddressLength Range, ulong SavedThrough)
{
    /// <summary>The listed pair the step is part of, as <see cref="JournalRelease.Pair"/> names it.</summary>
    public string Pair => What switch
    {
        "CPU state copy" => "cpu",
        "HPTE copy" => "hpte",
        "low memory copy" => "dump",
        _ => "reserved",
    };
}

/// <summary>
/// The write-ahead record of the releases (<see cref="PhypJournal"/>): told before each write to release_region,
/// and after it. An <see cref="IOException"/> from <see cref="Releasing"/> stops the releases (the memory stays held).
/// </summary>
public interface IReleaseJournal
{
    /// <summary>Makes durable that <paramref name="step"/> is about to be released, the output being durable through <paramref name="durableThrough"/>.</summary>
    void Releasing(ReleaseStep step, ulong durableThrough);

    /// <summary>The write returned: the release is confirmed.</summary>
    void Released(ReleaseStep step);

    /// <summary>The write was refused: the range is still held, the record of it is withdrawn.</summary>
    void Refused(ReleaseStep step);
}

/// <summary>
/// The seeds' incremental release (seed 000: "As the userspace tools complete saving a portion of dump, they
/// echo an offset and size to /sys/kernel/release_region"): the saver reports how far, in the crashed
/// kernel's physical addresses, the output is durable (fsynced), and every range wholly saved by then goes
/// back to the running kernel. The CPU state and HPTE copies travel as notes in the file's header, so they
/// go with the first report; the low-memory copy once the saver is past it; the reserved memory in chunks
/// of <see cref="ChunkBytes"/>, so that a terabyte returns to production while the rest is saved. A refused
/// write stops further releases (the remaining memory stays held, the dump is unharmed).
/// </summary>
public sealed class PhypReleaser
{
    public const ulong DefaultChunkBytes = 1UL << 30;

    private readonly ISysroot _root;
    private readonly string _path;
    private readonly TextWriter _log;
    private readonly List<ReleaseStep> _steps;
    private int _next;

    /// <param name="imageEnd">
    /// One past the last crashed-kernel address the dump holds (<see cref="PhypDumpImage.ImageEnd"/>): a reserved
    /// chunk beyond it (the scratch area the listing's reserved range runs over, spec §A3 quirk) is due once
    /// everything is saved. Null: the end of the reserved range.
    /// </param>
    /// <param name="alreadyReleased">What an interrupted run released (from its journal): left out of the plan, never written twice.</param>
    /// <param name="pageSize">The running kernel's page size, for the pages each write frees (see <see cref="Plan"/>).</param>
    public PhypReleaser(ISysroot root, ReleaseRegionListing listing, TextWriter log, ulong chunkBytes = DefaultChunkBytes, string path = DumpDetector.ReleaseRegion, ulong? imageEnd = null, IReadOnlyList<JournalRelease>? alreadyReleased = null, ulong pageSize = 1)
    {
        ArgumentNullException.ThrowIfNull(listing);
        ArgumentOutOfRangeException.ThrowIfZero(chunkBytes);
        _root = root;
        _path = path;
        _log = log;
        ChunkBytes = chunkBytes;
        _steps = Without(Plan(listing, chunkBytes, imageEnd, pageSize), alreadyReleased ?? []);
    }

    /// <summary>The write-ahead record, when there is one (the dump service sets it for a local target).</summary>
    public IReleaseJournal? Journal { get; set; }

    /// <summary>The highest durability reported so far.</summary>
    public ulong DurableThrough { get; private set; }

    public ulong ChunkBytes { get; }

    public IReadOnlyList<ReleaseStep> Steps => _steps;

    public ulong ReleasedBytes { get; private set; }

    public int ReleasedCount => _next;

    public bool AllReleased => _next == _steps.Count;

    /// <summary>The error of the write that stopped the releases, if one was refused.</summary>
    public string? Error { get; private set; }

    /// <summary>
    /// The releases, in order: exactly the listed pairs (the kernel registers again only when the lengths
    /// released add up to its reservation), the reserved one cut into chunks of <paramref name="chunkBytes"/>.
    /// Each is due once every byte of the dump in the pages the kernel will free for it is durable: the kernel
    /// frees whole pages from PFN_DOWN(addr), and (quirk of release_memory_range) one page more than
    /// PFN_DOWN(len). So the unaligned CPU and HPTE copies, whose last page holds the start of the low-memory
    /// copy, wait for that copy, and each chunk waits for the page after it.
    /// </summary>
    /// <param name="pageSize">The running kernel's page size (the dump's); 1 plans as if pages were bytes.</param>
    public static List<ReleaseStep> Plan(ReleaseRegionListing listing, ulong chunkBytes, ulong? imageEnd = null, ulong pageSize = 1)
    {
        ArgumentNullException.ThrowIfNull(listing);
        ArgumentOutOfRangeException.ThrowIfZero(pageSize);
        ulong inPlaceEnd = Math.Min(imageEnd ?? listing.Reserved.End, listing.Reserved.End);
        ulong Due(AddressLength r, ulong atLeast)
        {
            var (a, b) = r.FreedPages(pageSize);
            ulong due = atLeast;
            if (a < inPlaceEnd && listing.Reserved.Address < b)
            {
                due = Math.Max(due, Math.Min(b, inPlaceEnd)); // the crashed kernel's memory in place
            }

            if (a < listing.Dump.End && listing.Dump.Address < b)
            {
                due = Math.Max(due, Math.Min(b, listing.Dump.End) - listing.Dump.Address); // the copy of its low memory
            }

            return due;
        }

        var steps = new List<ReleaseStep>();
        if (listing.Cpu.Length > 0)
        {
            steps.Add(new ReleaseStep("CPU state copy", listing.Cpu, Due(listing.Cpu, 0)));
        }

        if (listing.Hpte.Length > 0)
        {
            steps.Add(new ReleaseStep("HPTE copy", listing.Hpte, Due(listing.Hpte, 0)));
        }

        steps.Add(new ReleaseStep("low memory copy", listing.Dump, Due(listing.Dump, listing.Dump.Length)));
        // track_freed_range counts a write toward the scratch area when its address lies in
        // [scratch, scratch + scratch size] (closed): a chunk of the reserved range starting there would be counted
        // twice and the kernel would never register again. Where the reserved range runs over the scratch area
        // (the boot region larger than the copy), the chunk that reaches it runs on to the range's end.
        ulong scratch = listing.Cpu.Length > 0 ? listing.Cpu.Address : listing.Hpte.Length > 0 ? listing.Hpte.Address : listing.Dump.Address;
        ulong scratchEnd = scratch + listing.Cpu.Length + listing.Hpte.Length + listing.Dump.Length;
        for (ulong a = listing.Reserved.Address, len; a < listing.Reserved.End; a += len)
        {
            len = Math.Min(chunkBytes, listing.Reserved.End - a);
            if (a + len < listing.Reserved.End && a + len >= scratch && a + len <= scratchEnd)
            {
                len = listing.Reserved.End - a;
            }

            var r = new AddressLength(a, len);
            steps.Add(new ReleaseStep("reserved memory", r, Due(r, Math.Min(a + len, imageEnd ?? ulong.MaxValue))));
        }

        // Due points only grow along the list: a step is never held back behind one due later.
        return [.. steps.OrderBy(s => s.SavedThrough)];
    }

    /// <summary>The plan less what was released already: each step cut around the released parts of its own pair.</summary>
    public static List<ReleaseStep> Without(List<ReleaseStep> steps, IReadOnlyList<JournalRelease> released)
    {
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentNullException.ThrowIfNull(released);
        if (released.Count == 0)
        {
            return steps;
        }

        var result = new List<ReleaseStep>();
        foreach (var step in steps)
        {
            var pieces = new List<AddressLength> { step.Range };
            foreach (var r in released.Where(r => r.Pair == step.Pair && r.Range.Length > 0))
            {
                var next = new List<AddressLength>();
                foreach (var p in pieces)
                {
                    if (r.Range.End <= p.Address || r.Range.Address >= p.End)
                    {
                        next.Add(p);
                        continue;
                    }

                    if (r.Range.Address > p.Address)
                    {
                        next.Add(new AddressLength(p.Address, r.Range.Address - p.Address));
                    }

                    if (r.Range.End < p.End)
                    {
                        next.Add(new AddressLength(r.Range.End, p.End - r.Range.End));
                    }
                }

                pieces = next;
            }

            result.AddRange(pieces.Select(p => step with { Range = p }));
        }

        return result;
    }

    /// <summary>The saver's report: every byte below <paramref name="savedThrough"/> is durable in the output.</summary>
    public void OnDurable(ulong savedThrough)
    {
        DurableThrough = Math.Max(DurableThrough, savedThrough);
        while (Error is null && _next < _steps.Count && _steps[_next].SavedThrough <= savedThrough)
        {
            Release(_steps[_next]);
        }
    }

    /// <summary>After the whole dump is saved and verified: everything still held.</summary>
    public void ReleaseRemaining() => OnDurable(ulong.MaxValue);

    private void Release(ReleaseStep step)
    {
        try
        {
            // Write-ahead: recorded durably before the memory stops being the crashed kernel's.
            Journal?.Releasing(step, DurableThrough);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Error = $"not releasing {step.What} {step.Range}: the release journal cannot be written ({e.Message}); the memory stays held";
            _log.WriteLine(Error);
            return;
        }

        try
        {
            _root.WriteText(_path, ReleaseRegionListing.ReleaseCommand(step.Range));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Error = $"releasing {step.What} {step.Range} through {_path} failed: {e.Message}";
            _log.WriteLine(Error);
            TryJournal(() => Journal?.Refused(step));
            return;
        }

        _next++;
        ReleasedBytes += step.Range.Length;
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"released {step.What} 0x{step.Range.Address:x}, 0x{step.Range.Length:x} bytes ({_path})"));
        TryJournal(() => Journal?.Released(step));
    }

    /// <summary>The confirmation is best effort: an unconfirmed release already counts as released.</summary>
    private void TryJournal(Action a)
    {
        try
        {
            a();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.WriteLine($"updating the release journal failed: {e.Message}");
        }
    }
}
