using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Formats.IO;

namespace Fadump.Tools.Inspect;

/// <summary>
/// skiboot's in-memory console (skiboot include/console.h struct memcons, core/console.c), read from an OPAL
/// core: the memcons is found by its magic at 8-byte alignment in the PT_LOADs, its output buffer must lie inside
/// the core, and a wrapped buffer is read from out_pos to the end, then from 0 to out_pos, as Linux's
/// memcons_copy (arch/powerpc/platforms/powernv/opal-msglog.c) reads it. The text is the bytes as they are.
/// </summary>
public sealed class SkibootConsole
{
    /// <summary>MEMCONS_MAGIC: "f0iegras" as a big-endian u64.</summary>
    public const ulong MemconsMagic = 0x6630696567726173;

    /// <summary>out_pos bit 31: the buffer wrapped (MEMCONS_OUT_POS_WRAP).</summary>
    public const uint OutPosWrap = 1u << 31;

    /// <summary>out_pos low 24 bits: the write position (MEMCONS_OUT_POS_MASK).</summary>
    public const uint OutPosMask = 0x00ffffff;

    /// <summary>struct memcons, big-endian fields.</summary>
    internal static class Layout
    {
        public const int Magic = 0;                    // be64 magic
        public const int ObufPhys = Magic + 8;         // be64 obuf_phys
        public const int IbufPhys = ObufPhys + 8;      // be64 ibuf_phys
        public const int ObufSize = IbufPhys + 8;      // be32 obuf_size
        public const int IbufSize = ObufSize + 4;      // be32 ibuf_size
        public const int OutPos = IbufSize + 4;        // be32 out_pos
        public const int InProd = OutPos + 4;          // be32 in_prod
        public const int InCons = InProd + 4;          // be32 in_cons
        public const int Size = InCons + 4;
        public const int Alignment = 8;
    }

    /// <summary>Limits on what a core may make the reader do.</summary>
    internal static class Limits
    {
        /// <summary>Bytes of PT_LOAD data searched for the magic (skiboot's own memory is about 29 MiB).</summary>
        public const long ScanBytes = 64L << 20;

        /// <summary>Magic hits examined before giving up.</summary>
        public const int Candidates = 64;

        /// <summary>Largest obuf_size accepted: out_pos has 24 bits (skiboot's is 0x100000 minus the input buffer).</summary>
        public const uint ObufBytes = OutPosMask + 1;

        public const int ScanChunk = 1 << 20;
    }

    private SkibootConsole(ulong memcons, ulong obuf, uint obufSize, uint outPos, bool wrapped, byte[] text)
    {
        MemconsAddress = memcons;
        ObufAddress = obuf;
        ObufSize = obufSize;
        OutPos = outPos;
        Wrapped = wrapped;
        Text = text;
    }

    /// <summary>Physical address of the struct memcons.</summary>
    public ulong MemconsAddress { get; }

    public ulong ObufAddress { get; }

    public uint ObufSize { get; }

    /// <summary>out_pos without its wrap flag.</summary>
    public uint OutPos { get; }

    public bool Wrapped { get; }

    /// <summary>The log, oldest first.</summary>
    public byte[] Text { get; }

    /// <summary>Finds and reads the console.</summary>
    /// <exception cref="DumpFormatException">No usable memcons in the core; the message says what was found.</exception>
    public static SkibootConsole Read(OpalCore core)
    {
        ArgumentNullException.ThrowIfNull(core);
        return TryRead(core, out var problem) ?? throw problem!;
    }

    /// <summary>Finds and reads the console, or returns null with the reason (path, offset, expectation).</summary>
    public static SkibootConsole? TryRead(OpalCore core, out DumpFormatException? problem)
    {
        ArgumentNullException.ThrowIfNull(core);
        problem = null;
        var src = core.Dump.Elf.Source;
        Span<byte> magic = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(magic, MemconsMagic);
        var chunk = new byte[Limits.ScanChunk];
        long budget = Limits.ScanBytes;
        int candidates = 0;
        foreach (var region in core.Regions)
        {
            // The magic is never in the zero-filled tail past p_filesz.
            long length = (long)Math.Min(region.FileSize, (ulong)long.MaxValue);
            long pos = (long)((Layout.Alignment - (region.VirtualAddress % Layout.Alignment)) % Layout.Alignment);
            while (pos < length && budget > 0 && candidates < Limits.Candidates)
            {
                int n = (int)Math.Min(Math.Min(chunk.Length, length - pos), budget);
                src.ReadExactly(region.FileOffset + pos, chunk.AsSpan(0, n), "OPAL core PT_LOAD data");
                budget -= n;
                var span = chunk.AsSpan(0, n);
                for (int i = span.IndexOf(magic); i >= 0 && candidates < Limits.Candidates; i = Next(span, magic, i))
                {
                    if (i % Layout.Alignment != 0)
                    {
                        continue;
                    }

                    candidates++;
                    ulong address = region.VirtualAddress + (ulong)(pos + i);
                    long fileOffset = region.FileOffset + pos + i;
                    var found = TryCandidate(core, address, fileOffset, out var why);
                    if (found is not null)
                    {
                        problem = null;
                        return found;
                    }

                    problem ??= why;
                }

                // Chunks stay 8-byte aligned, so an aligned magic never straddles two.
                pos += n;
            }
        }

        problem ??= candidates == 0
            ? new DumpFormatException(core.Path, FormattableString.Invariant(
                $"no skiboot console: no memcons (magic 0x{MemconsMagic:x16} at 8-byte alignment) in the {Limits.ScanBytes - budget} bytes of PT_LOAD data searched"))
            : new DumpFormatException(core.Path, "no skiboot console");
        return null;
    }

    private static int Next(ReadOnlySpan<byte> span, ReadOnlySpan<byte> magic, int i)
    {
        int j = span[(i + 1)..].IndexOf(magic);
        return j < 0 ? -1 : i + 1 + j;
    }

    private static SkibootConsole? TryCandidate(OpalCore core, ulong address, long fileOffset, out DumpFormatException? why)
    {
        string at = FormattableString.Invariant($"memcons at physical 0x{address:x}");
        DumpFormatException Bad(string what) => new(core.Path, fileOffset, at + ": " + what);
        var elf = core.Dump.Elf;
        Span<byte> mc = stackalloc byte[Layout.Size];
        if (address > ulong.MaxValue - Layout.Size || elf.ReadVirtual(address, mc) < Layout.Size)
        {
            why = Bad(FormattableString.Invariant($"expected its {Layout.Size} bytes inside the core's PT_LOADs"));
            return null;
        }

        ulong obuf = BinaryPrimitives.ReadUInt64BigEndian(mc[Layout.ObufPhys..]);
        uint size = BinaryPrimitives.ReadUInt32BigEndian(mc[Layout.ObufSize..]);
        uint rawPos = BinaryPrimitives.ReadUInt32BigEndian(mc[Layout.OutPos..]);
        uint outPos = rawPos & OutPosMask;
        bool wrapped = (rawPos & OutPosWrap) != 0;
        if (size == 0 || size > Limits.ObufBytes)
        {
            why = Bad(FormattableString.Invariant($"obuf_size 0x{size:x}: expected 1 to 0x{Limits.ObufBytes:x} bytes"));
            return null;
        }

        if (outPos > size)
        {
            // memcons_copy: "OPAL: memory console corruption. Aborting read."
            why = Bad(FormattableString.Invariant($"out_pos 0x{outPos:x} is beyond obuf_size 0x{size:x} (memory console corruption)"));
            return null;
        }

        if (!Covered(core, obuf, size))
        {
            why = Bad(FormattableString.Invariant(
                $"obuf [0x{obuf:x}, +0x{size:x}) is outside the core: expected it inside a PT_LOAD (skiboot's INMEM_CON_START is OPAL base + 0x1000000)"));
            return null;
        }

        var buf = new byte[size];
        if (elf.ReadVirtual(obuf, buf) < buf.Length)
        {
            why = Bad(FormattableString.Invariant($"obuf [0x{obuf:x}, +0x{size:x}) cannot be read whole from the core"));
            return null;
        }

        byte[] text = wrapped
            ? [.. buf.AsSpan((int)outPos), .. buf.AsSpan(0, (int)outPos)]
            : buf.AsSpan(0, (int)outPos).ToArray();
        why = null;
        return new SkibootConsole(address, obuf, size, outPos, wrapped, text);
    }

    /// <summary>True when PT_LOADs (contiguous in p_vaddr) cover [start, start + length) whole.</summary>
    private static bool Covered(OpalCore core, ulong start, ulong length)
    {
        if (start > ulong.MaxValue - length)
        {
            return false;
        }

        ulong a = start, end = start + length;
        for (int guard = 0; a < end && guard <= core.Regions.Count; guard++)
        {
            var r = core.Regions.FirstOrDefault(r => a >= r.VirtualAddress && a - r.VirtualAddress < r.Size);
            if (r is null)
            {
                return false;
            }

            a = r.VirtualEnd < r.VirtualAddress ? ulong.MaxValue : r.VirtualEnd;
        }

        return a >= end;
    }
}
