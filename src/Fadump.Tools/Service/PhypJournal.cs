using System.Globalization;
using System.Text;
using Fadump.Formats.Elf;
using Fadump.Formats.Hashing;
using Fadump.Formats.IO;

namespace Fadump.Tools.Service;

/// <summary>
/// One release the journal records: <see cref="Confirmed"/> once the write to release_region returned; <see cref="Pair"/>
/// is the listed pair it is part of ("cpu", "hpte", "dump" or "reserved"), since the pairs may overlap (spec §A3 quirk).
/// </summary>
public readonly record struct JournalRelease(AddressLength Range, bool Confirmed, string Pair)
{
    public static readonly string[] Pairs = ["cpu", "hpte", "dump", "reserved"];
}

/// <summary>
/// The write-ahead record of a phyp-dump collect, <c>.fadump-phyp-journal</c> in the dump directory (0600):
/// before each write to release_region it is replaced (temporary file, fsync, rename, directory fsync) with the
/// listing it belongs to, the partial dump file that holds every page below <see cref="DurableThrough"/>, a
/// digest of that file's notes, and every range released (the one about to be released included, unconfirmed);
/// after the write it is replaced again with the range confirmed. The kernel's release_region reads the same
/// however much was released, so after a SIGKILL only this record tells a second run what memory is no longer
/// the crashed kernel's. An unconfirmed range is treated as released (never read, never released twice).
/// </summary>
/// <remarks>
/// Text, one field a line: <c>fadump phyp-dump journal 1</c>, <c>listing ...</c>, <c>part NAME</c>,
/// <c>notes SHA256</c>, <c>durable 0xADDR</c>, <c>released 0xADDR 0xLEN done|pending PAIR</c> (any number), and
/// last <c>sha256 HEX</c> of every byte before that line: a torn or edited journal is refused, never trusted.
/// </remarks>
public sealed record PhypJournal
{
    public const string FileName = ".fadump-phyp-journal";
    public const string Magic = "fadump phyp-dump journal 1";

    /// <summary>The largest journal read (a real one is a few KiB: one line per released chunk).</summary>
    public const int MaxBytes = 1 << 20;

    public required ReleaseRegionListing Listing { get; init; }

    /// <summary>Name, in the journal's directory, of the dump file that holds every page below <see cref="DurableThrough"/>.</summary>
    public required string Part { get; init; }

    /// <summary>SHA-256 of the part file's notes (<see cref="NotesDigest"/>): the file must be this dump's.</summary>
    public required string Notes { get; init; }

    public required ulong DurableThrough { get; init; }

    public IReadOnlyList<JournalRelease> Released { get; init; } = [];

    /// <summary>SHA-256 (hex) of the notes as the writers encode them: how a partial file is told to be this dump's.</summary>
    public static string NotesDigest(IEnumerable<ElfNote> notes, bool bigEndian) =>
        Convert.ToHexStringLower(Sha256.HashData(ElfNote.EncodeAll(notes.Where(n => n.Name is "CORE" or "VMCOREINFO" or PhypDumpImage.NoteName), bigEndian)));

    public static string ListingText(ReleaseRegionListing l) =>
        string.Create(CultureInfo.InvariantCulture, $"CPU:0x{l.Cpu.Address:x}-0x{l.Cpu.Length:x}: HPTE:0x{l.Hpte.Address:x}-0x{l.Hpte.Length:x}: DUMP:0x{l.Dump.Address:x}-0x{l.Dump.Length:x}, 0x{l.Reserved.Address:x}-0x{l.Reserved.Length:x}:");

    public string Format()
    {
        var sb = new StringBuilder();
        sb.Append(Magic).Append('\n');
        sb.Append("listing ").Append(ListingText(Listing)).Append('\n');
        sb.Append("part ").Append(Part).Append('\n');
        sb.Append("notes ").Append(Notes).Append('\n');
        sb.Append(CultureInfo.InvariantCulture, $"durable 0x{DurableThrough:x}\n");
        foreach (var r in Released)
        {
            sb.Append(CultureInfo.InvariantCulture, $"released 0x{r.Range.Address:x} 0x{r.Range.Length:x} {(r.Confirmed ? "done" : "pending")} {r.Pair}\n");
        }

        string body = sb.ToString();
        return body + "sha256 " + Convert.ToHexStringLower(Sha256.HashData(Encoding.ASCII.GetBytes(body))) + "\n";
    }

    /// <exception cref="InvalidDataException">Not a journal, torn, edited, or a field out of range; the message names the path and line.</exception>
    public static PhypJournal Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxBytes)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: {text.Length} bytes: a journal is at most {MaxBytes}"));
        }

        int sumAt = text.LastIndexOf("sha256 ", StringComparison.Ordinal);
        if (!text.StartsWith(Magic + "\n", StringComparison.Ordinal) || sumAt < 0 || (sumAt > 0 && text[sumAt - 1] != '\n'))
        {
            throw new InvalidDataException($"{path}: not a fadump phyp-dump journal (expected '{Magic}' first and a 'sha256' line last)");
        }

        string body = text[..sumAt];
        string sum = text[(sumAt + 7)..].TrimEnd('\n');
        if (!text.EndsWith('\n') || sum != Convert.ToHexStringLower(Sha256.HashData(Encoding.ASCII.GetBytes(body))))
        {
            throw new InvalidDataException($"{path}: the checksum does not match its contents (torn or edited): not trusted");
        }

        var lines = body.Split('\n')[1..^1];
        int i = 0;
        string Field(string key)
        {
            if (i >= lines.Length || !lines[i].StartsWith(key + " ", StringComparison.Ordinal))
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: line {i + 2}: expected '{key} ...'"));
            }

            return lines[i++][(key.Length + 1)..];
        }

        var listing = ReleaseRegionListing.Parse(Field("listing"), path);
        string part = Field("part");
        if (part.Length == 0 || part.Contains('/', StringComparison.Ordinal) || part is "." or "..")
        {
            throw new InvalidDataException($"{path}: part '{part}': expected a file name in the journal's directory");
        }

        string notes = Field("notes");
        if (notes.Length != 64 || !notes.All(char.IsAsciiHexDigitLower))
        {
            throw new InvalidDataException($"{path}: notes '{notes}': expected a SHA-256 in lower-case hexadecimal");
        }

        ulong durable = Hex(Field("durable"), path, i + 1);
        var released = new List<JournalRelease>();
        while (i < lines.Length)
        {
            var f = Field("released").Split(' ');
            if (f.Length != 4 || f[2] is not ("done" or "pending") || !JournalRelease.Pairs.Contains(f[3]))
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: line {i + 1}: expected 'released 0xADDR 0xLEN done|pending cpu|hpte|dump|reserved'"));
            }

            var r = new AddressLength(Hex(f[0], path, i + 1), Hex(f[1], path, i + 1));
            if (r.Address + r.Length < r.Address)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: line {i + 1}: range {r} wraps past 2^64"));
            }

            released.Add(new JournalRelease(r, f[2] == "done", f[3]));
        }

        return new PhypJournal { Listing = listing, Part = part, Notes = notes, DurableThrough = durable, Released = released };
    }

    /// <summary>Replaces the journal in <paramref name="directory"/> atomically and durably (0600, fsync, rename, directory fsync).</summary>
    public void Write(string directory)
    {
        string final = Path.Combine(directory, FileName);
        string temp = final + ".tmp";
        var bytes = Encoding.ASCII.GetBytes(Format());
        if (PosixFile.Kind(temp, followSymlinks: false) != FileKind.Missing)
        {
            File.Delete(temp);
        }

        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var fs = new FileStream(temp, options))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }

        File.Move(temp, final, overwrite: true);
        PosixFile.FsyncDirectory(directory);
    }

    /// <summary>Reads the journal of a directory; null when there is none.</summary>
    /// <exception cref="InvalidDataException">It is there but not a valid journal.</exception>
    public static PhypJournal? Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        var kind = PosixFile.Kind(path, followSymlinks: false);
        if (kind == FileKind.Missing)
        {
            return null;
        }

        if (kind != FileKind.Regular)
        {
            throw new InvalidDataException($"{path}: is {PosixFile.Describe(kind)}, not a journal file");
        }

        if (new FileInfo(path).Length > MaxBytes)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: {new FileInfo(path).Length} bytes: a journal is at most {MaxBytes}"));
        }

        return Parse(File.ReadAllText(path, Encoding.ASCII), path);
    }

    private static ulong Hex(string s, string path, int line) =>
        s.StartsWith("0x", StringComparison.Ordinal) && s.Length is > 2 and <= 18 && ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v)
            ? v
            : throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: line {line}: '{s}': expected a 0x-prefixed hexadecimal number"));
}

/// <summary>
/// Keeps <see cref="PhypJournal"/> up to date for the releaser of one save in <see cref="Directory"/>. When it resumes
/// an interrupted save, the older file stays the journal's part until this save's output is durable at least as far.
/// </summary>
internal sealed class PhypJournalWriter : IReleaseJournal
{
    /// <summary>Where a resumed save keeps the interrupted save's file until its own output is complete.</summary>
    public const string ResumeSourceName = ".vmcore-resume";

    private readonly List<JournalRelease> _released;
    private readonly string _partName;
    private readonly string _committedName;
    private PhypJournal _journal;

    /// <param name="directory">The dump directory.</param>
    /// <param name="partName">The save's temporary file (<c>.vmcore-incomplete.part-PID</c>).</param>
    /// <param name="committedName">What the saver renames it to once complete (<c>vmcore-incomplete</c>).</param>
    /// <param name="start">The journal as it is: the resumed save's, or a fresh one (durable 0, nothing released).</param>
    public PhypJournalWriter(string directory, string partName, string committedName, PhypJournal start)
    {
        Directory = directory;
        _partName = partName;
        _committedName = committedName;
        _journal = start;
        _released = [.. start.Released];
    }

    public string Directory { get; }

    public PhypJournal Current => _journal;

    public void Releasing(ReleaseStep step, ulong durableThrough)
    {
        _released.Add(new JournalRelease(step.Range, false, step.Pair));
        if (durableThrough >= _journal.DurableThrough)
        {
            // This save's output now holds at least what the older file did.
            _journal = _journal with { Part = durableThrough == ulong.MaxValue ? _committedName : _partName, DurableThrough = durableThrough };
        }

        Save();
    }

    public void Released(ReleaseStep step)
    {
        int i = _released.FindLastIndex(r => r.Range == step.Range && r.Pair == step.Pair && !r.Confirmed);
        if (i >= 0)
        {
            _released[i] = _released[i] with { Confirmed = true };
            Save();
        }
    }

    public void Refused(ReleaseStep step)
    {
        int i = _released.FindLastIndex(r => r.Range == step.Range && r.Pair == step.Pair && !r.Confirmed);
        if (i >= 0)
        {
            _released.RemoveAt(i);
            Save();
        }
    }

    /// <summary>Everything saved and released: the journal and the resumed save's old file go.</summary>
    public void Remove()
    {
        File.Delete(Path.Combine(Directory, PhypJournal.FileName));
        File.Delete(Path.Combine(Directory, ResumeSourceName));
        PosixFile.FsyncDirectory(Directory);
    }

    private void Save()
    {
        _journal = _journal with { Released = [.. _released] };
        _journal.Write(Directory);
    }
}
