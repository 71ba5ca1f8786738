using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Tools.Service;

/// <summary>
/// The partial dump a killed <c>fadump collect</c> left (its hidden <c>.vmcore-incomplete.part-PID</c>), read for a
/// resumed save: kdump-compressed (its header still says incomplete; descriptors never written are zero and read as
/// lost) or ELF (cut short where the writer stopped; a big-endian ppc64 ELF file has no incomplete flag, so the
/// truncated file is opened as if zero-extended and a page past the end of the file reads as lost). A complete
/// file (a run killed after its save) reads as it is. Flattened and split files are refused: a save to a local
/// file writes neither. Whether the file belongs to the dump is the journal's business (its notes digest).
/// </summary>
public sealed class PhypPartialDump : IDump
{
    private readonly IDump _inner;
    private readonly long _stored;
    private readonly IReadOnlyList<ElfLoadSegment>? _loads;

    private PhypPartialDump(IDump inner, long stored, IReadOnlyList<ElfLoadSegment>? loads)
    {
        _inner = inner;
        _stored = stored;
        _loads = loads;
    }

    public string Path => _inner.Path;

    public DumpFormat Format => _inner.Format;

    public bool IsFlattened => false;

    public DumpMachine Machine => _inner.Machine;

    public int PageSize => _inner.PageSize;

    public IReadOnlyList<ElfNote> Notes => _inner.Notes;

    public Formats.VmcoreInfo.VmcoreInfo? VmcoreInfo => _inner.VmcoreInfo;

    public ulong MaxPfn => _inner.MaxPfn;

    public int? DumpLevel => _inner.DumpLevel;

    public bool IsIncomplete => _loads is not null || _inner.IsIncomplete;

    /// <summary>Bytes of the file.</summary>
    public long StoredLength => _stored;

    /// <exception cref="DumpFormatException">Not a dump, or a flattened one.</exception>
    public static PhypPartialDump Open(string path)
    {
        var file = new FileSource(path);
        try
        {
            Span<byte> magic = stackalloc byte[8];
            if (file.Read(0, magic) == 8 && ElfCoreFile.HasMagic(magic))
            {
                var elf = ElfCoreFile.Open(new ZeroExtendedSource(file));
                return new PhypPartialDump(new ElfDump(elf), file.Length, elf.Loads);
            }

            var dump = DumpFile.Open(file);
            if (dump is not KdumpCompressedDump k || k.IsFlattened)
            {
                dump.Dispose();
                throw new DumpFormatException(path, "expected a kdump-compressed or ELF partial dump written by fadump collect");
            }

            return new PhypPartialDump(k, file.Length, null);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks that the file holds every page it was meant to hold below <paramref name="address"/>: the last such
    /// page of a kdump file has its descriptor written (descriptors are written in PFN order); an ELF file is
    /// long enough for every segment's bytes below the address.
    /// </summary>
    public bool HoldsThrough(ulong address, out string? problem)
    {
        problem = null;
        if (_loads is not null)
        {
            foreach (var l in _loads)
            {
                if (l.PhysicalAddress >= address)
                {
                    continue;
                }

                ulong need = Math.Min(l.FileSize, address - l.PhysicalAddress);
                if (l.FileOffset < 0 || need > (ulong)long.MaxValue || l.FileOffset + (long)need > _stored || l.FileOffset + (long)need < l.FileOffset)
                {
                    problem = string.Create(CultureInfo.InvariantCulture, $"{Path}: {_stored} bytes long: it ends inside the PT_LOAD of physical 0x{l.PhysicalAddress:x}, before 0x{address:x}");
                    return false;
                }
            }

            return true;
        }

        var k = (KdumpCompressedDump)_inner;
        ulong limit = Math.Min(MaxPfn, (address + (ulong)PageSize - 1) / (ulong)PageSize);
        ulong? last = null;
        foreach (var r in k.DumpedRanges())
        {
            ulong start = r.Start / (ulong)PageSize, end = r.End / (ulong)PageSize;
            if (start >= limit)
            {
                break;
            }

            last = Math.Min(end, limit) - 1;
        }

        if (last is { } pfn)
        {
            var page = new byte[PageSize];
            if (k.ReadPage(pfn, page) != PageState.Dumped)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"{Path}: PFN 0x{pfn:x}, below 0x{address:x}, was never written");
                return false;
            }
        }

        return true;
    }

    public IEnumerable<PhysicalRange> MemoryRanges() => _inner.MemoryRanges();

    public PageState ReadPage(ulong pfn, Span<byte> page)
    {
        if (_loads is not null && !InFile(pfn * (ulong)PageSize, (ulong)PageSize))
        {
            page.Clear();
            return PageState.Lost;
        }

        return _inner.ReadPage(pfn, page);
    }

    public int ReadPhysical(ulong address, Span<byte> buffer)
    {
        int n = _inner.ReadPhysical(address, buffer);
        if (_loads is null)
        {
            return n;
        }

        // Only what the file holds.
        int ok = 0;
        while (ok < n && InFile(address + (ulong)ok, 1))
        {
            ok += (int)Math.Min((ulong)(n - ok), (ulong)PageSize - ((address + (ulong)ok) % (ulong)PageSize));
        }

        return Math.Min(ok, n);
    }

    public void Dispose() => _inner.Dispose();

    /// <summary>ELF: are the file bytes of [a, a + len) of physical memory inside the file?</summary>
    private bool InFile(ulong a, ulong len)
    {
        foreach (var l in _loads!)
        {
            if (a >= l.PhysicalAddress && a - l.PhysicalAddress < l.FileSize)
            {
                ulong off = (ulong)l.FileOffset + (a - l.PhysicalAddress);
                ulong end = off + Math.Min(len, l.FileSize - (a - l.PhysicalAddress));
                return end <= (ulong)_stored;
            }
        }

        return false;
    }

    /// <summary>A file read as if zero-extended far past its end: the bytes a killed writer never wrote.</summary>
    private sealed class ZeroExtendedSource(IRandomAccessSource inner) : IRandomAccessSource
    {
        public string Name => inner.Name;

        public long Length => long.MaxValue / 4;

        public long StoredLength => inner.Length;

        public int Read(long offset, Span<byte> buffer)
        {
            int n = offset < inner.Length ? inner.Read(offset, buffer[..(int)Math.Min(buffer.Length, inner.Length - offset)]) : 0;
            buffer[n..].Clear();
            return buffer.Length;
        }

        public void Dispose() => inner.Dispose();
    }
}
