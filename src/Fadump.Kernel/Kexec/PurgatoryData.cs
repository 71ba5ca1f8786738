using System.Buffers.Binary;
using Fadump.Formats.Hashing;
using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>
/// The variables a purgatory reads from its own image, set by whoever loads it: kexec-tools with
/// elf_rel_set_symbol (kexec/kexec.c update_purgatory, kexec/arch/i386/crashdump-x86.c), the kernel
/// with kexec_purgatory_get_set_symbol (kernel/kexec_file.c kexec_calculate_store_digests,
/// arch/x86/kernel/kexec-bzimage64.c). The simulated purgatory keeps them at the start of its
/// segment, little-endian, in the layout of <see cref="Layout"/>; its entry point is the segment start.
/// </summary>
/// <param name="Regions"><c>purgatory_sha_regions</c> / <c>sha256_regions</c>: {start, len} of every hashed segment.</param>
/// <param name="Digest"><c>purgatory_sha256_digest</c>: one SHA-256 over all regions in order.</param>
/// <param name="RegionDigests">
/// Simulator diagnostic, not in the real purgatory (which keeps one digest and cannot say which
/// segment changed): one SHA-256 per region, so a hang can name the corrupted segment.
/// </param>
/// <param name="BackupStart">kexec-tools <c>backup_start</c>: 0 when there is no backup segment.</param>
/// <param name="BackupSourceStart"><c>backup_src_start</c>.</param>
/// <param name="BackupSourceSize"><c>backup_src_size</c>.</param>
/// <param name="KernelEntry"><c>entry64_regs.rip</c>: where purgatory jumps (the 64-bit kernel entry).</param>
/// <param name="BootParams"><c>entry64_regs.rsi</c>: the boot_params (zero page) address.</param>
public sealed record PurgatoryData(
    IReadOnlyList<MemoryRange> Regions,
    byte[] Digest,
    IReadOnlyList<byte[]> RegionDigests,
    ulong BackupStart,
    ulong BackupSourceStart,
    ulong BackupSourceSize,
    ulong KernelEntry,
    ulong BootParams)
{
    /// <summary>The memsz of the simulated purgatory: its code, data, bss and stack (the real x86_64 one is of this order).</summary>
    public const ulong ImageSize = 0x4000;

    /// <summary>"PURGATRY" read as a little-endian u64.</summary>
    public const ulong Magic = 0x5952544147525550;

    /// <summary>Field offsets of the encoded form.</summary>
    public static class Layout
    {
        public const int Magic = 0;                                  // u64
        public const int RegionCount = Magic + 8;                    // u32
        public const int Reserved = RegionCount + 4;                 // u32
        public const int Digest = Reserved + 4;                      // u8[32] purgatory_sha256_digest
        public const int BackupStart = Digest + DigestSize;          // u64 backup_start
        public const int BackupSourceStart = BackupStart + 8;        // u64 backup_src_start
        public const int BackupSourceSize = BackupSourceStart + 8;   // u64 backup_src_size
        public const int KernelEntry = BackupSourceSize + 8;         // u64 entry64_regs.rip
        public const int BootParams = KernelEntry + 8;               // u64 entry64_regs.rsi
        public const int Regions = BootParams + 8;                   // struct kexec_sha_region[KEXEC_SEGMENT_MAX]
        public const int RegionSize = 16;                            // {u64 start, u64 len}
        public const int RegionDigests = Regions + (KexecFlags.SegmentMax * RegionSize);
        public const int Size = RegionDigests + (KexecFlags.SegmentMax * DigestSize);
        public const int DigestSize = 32;
    }

    /// <summary>
    /// Hashes what each segment will hold in memory (buf, then zeros to memsz), skipping the
    /// purgatory's own segment: kexec_calculate_store_digests (kernel) and update_purgatory
    /// (kexec-tools) do the same.
    /// </summary>
    public static (List<MemoryRange> Regions, byte[] Digest, List<byte[]> RegionDigests) Hash(IEnumerable<KexecSegment> segments)
    {
        var regions = new List<MemoryRange>();
        var perRegion = new List<byte[]>();
        var all = new Sha256();
        var zeros = new byte[KexecFlags.PageSize];
        foreach (var s in segments)
        {
            var one = new Sha256();
            var data = s.Buffer.AsSpan(0, checked((int)s.BufferSize));
            all.Append(data);
            one.Append(data);
            for (ulong rest = s.MemorySize - s.BufferSize; rest > 0;)
            {
                int n = (int)Math.Min(rest, (ulong)zeros.Length);
                all.Append(zeros.AsSpan(0, n));
                one.Append(zeros.AsSpan(0, n));
                rest -= (ulong)n;
            }

            regions.Add(s.Destination);
            perRegion.Add(one.GetHashAndReset());
        }

        return (regions, all.GetHashAndReset(), perRegion);
    }

    /// <summary>The bytes of the purgatory segment (bufsz; memsz is <see cref="ImageSize"/>).</summary>
    public byte[] Encode()
    {
        if (Regions.Count > KexecFlags.SegmentMax || RegionDigests.Count != Regions.Count || Digest.Length != Layout.DigestSize)
        {
            throw new InvalidOperationException(FormattableString.Invariant($"{Regions.Count} regions, {RegionDigests.Count} region digests: expected at most {KexecFlags.SegmentMax}, one digest each"));
        }

        var b = new byte[Layout.Size];
        var s = b.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(s[Layout.Magic..], Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[Layout.RegionCount..], (uint)Regions.Count);
        Digest.CopyTo(s[Layout.Digest..]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[Layout.BackupStart..], BackupStart);
        BinaryPrimitives.WriteUInt64LittleEndian(s[Layout.BackupSourceStart..], BackupSourceStart);
        BinaryPrimitives.WriteUInt64LittleEndian(s[Layout.BackupSourceSize..], BackupSourceSize);
        BinaryPrimitives.WriteUInt64LittleEndian(s[Layout.KernelEntry..], KernelEntry);
        BinaryPrimitives.WriteUInt64LittleEndian(s[Layout.BootParams..], BootParams);
        for (int i = 0; i < Regions.Count; i++)
        {
            int at = Layout.Regions + (i * Layout.RegionSize);
            BinaryPrimitives.WriteUInt64LittleEndian(s[at..], Regions[i].Start);
            BinaryPrimitives.WriteUInt64LittleEndian(s[(at + 8)..], Regions[i].Size);
            RegionDigests[i].CopyTo(s[(Layout.RegionDigests + (i * Layout.DigestSize))..]);
        }

        return b;
    }

    /// <summary>Decodes the purgatory's variables; null when the bytes are not a purgatory (bad magic or count).</summary>
    public static PurgatoryData? Decode(ReadOnlySpan<byte> s)
    {
        if (s.Length < Layout.Size || BinaryPrimitives.ReadUInt64LittleEndian(s[Layout.Magic..]) != Magic)
        {
            return null;
        }

        uint n = BinaryPrimitives.ReadUInt32LittleEndian(s[Layout.RegionCount..]);
        if (n > KexecFlags.SegmentMax)
        {
            return null;
        }

        var regions = new List<MemoryRange>();
        var digests = new List<byte[]>();
        for (int i = 0; i < n; i++)
        {
            int at = Layout.Regions + (i * Layout.RegionSize);
            regions.Add(new MemoryRange(BinaryPrimitives.ReadUInt64LittleEndian(s[at..]), BinaryPrimitives.ReadUInt64LittleEndian(s[(at + 8)..])));
            digests.Add(s.Slice(Layout.RegionDigests + (i * Layout.DigestSize), Layout.DigestSize).ToArray());
        }

        return new PurgatoryData(
            regions,
            s.Slice(Layout.Digest, Layout.DigestSize).ToArray(),
            digests,
            BinaryPrimitives.ReadUInt64LittleEndian(s[Layout.BackupStart..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[Layout.BackupSourceStart..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[Layout.BackupSourceSize..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[Layout.KernelEntry..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[Layout.BootParams..]));
    }
}
