using Fadump.Formats.Hashing;
using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>What purgatory did at a crash.</summary>
/// <param name="Verified">The SHA-256 over all regions matched the digest stored at load.</param>
/// <param name="Hung">Purgatory looped forever (digest mismatch, or no purgatory at the entry): the machine never reaches the capture kernel.</param>
/// <param name="MismatchedSegment">Index in the hashed regions of the first one whose bytes changed (simulator diagnostic); -1 if none.</param>
/// <param name="MismatchedRange">That region, when there is one.</param>
/// <param name="BackupCopied">The legacy 640 KiB backup was copied.</param>
/// <param name="KernelEntry">Where purgatory jumps (entry64_regs.rip); 0 on a hang.</param>
/// <param name="BootParams">The boot_params handed to the kernel in rsi.</param>
/// <param name="Message">What purgatory would print on its console (kexec-tools prints the digests on a mismatch).</param>
public sealed record PurgatoryResult(
    bool Verified,
    bool Hung,
    int MismatchedSegment,
    MemoryRange? MismatchedRange,
    bool BackupCopied,
    ulong KernelEntry,
    ulong BootParams,
    string Message);

/// <summary>
/// The purgatory run between the crashed kernel and the capture kernel: arch/x86/purgatory/purgatory.c
/// (kexec_file_load) and kexec-tools purgatory/purgatory.c + purgatory/arch/i386/crashdump_backup.c
/// (kexec_load). It re-hashes the loaded segments in memory; on a mismatch it loops forever
/// ("for (;;)"); otherwise it copies the backup region, if any, and jumps to the kernel.
/// </summary>
public static class Purgatory
{
    /// <summary>Runs the purgatory whose image starts at <paramref name="entry"/> (its entry point).</summary>
    public static PurgatoryResult Run(PhysicalMemory memory, ulong entry)
    {
        var head = new byte[PurgatoryData.Layout.Size];
        if (!memory.IsRam(entry, (ulong)head.Length))
        {
            return Hang(-1, null, FormattableString.Invariant($"no purgatory at 0x{entry:x}: not RAM"));
        }

        memory.Read(entry, head);
        var data = PurgatoryData.Decode(head);
        if (data is null)
        {
            return Hang(-1, null, FormattableString.Invariant($"no purgatory at 0x{entry:x}"));
        }

        // verify_sha256_digest: one digest over every region, in order.
        var all = new Sha256();
        var perRegion = new List<byte[]>();
        var buf = new byte[1 << 16];
        foreach (var r in data.Regions)
        {
            var one = new Sha256();
            for (ulong done = 0; done < r.Size;)
            {
                int n = (int)Math.Min((ulong)buf.Length, r.Size - done);
                memory.Read(r.Start + done, buf.AsSpan(0, n));
                all.Append(buf.AsSpan(0, n));
                one.Append(buf.AsSpan(0, n));
                done += (ulong)n;
            }

            perRegion.Add(one.GetHashAndReset());
        }

        byte[] digest = all.GetHashAndReset();
        if (!digest.AsSpan().SequenceEqual(data.Digest))
        {
            int bad = -1;
            for (int i = 0; i < perRegion.Count && bad < 0; i++)
            {
                if (!perRegion[i].AsSpan().SequenceEqual(data.RegionDigests[i]))
                {
                    bad = i;
                }
            }

            // kexec-tools purgatory/purgatory.c verify_sha256_digest prints both digests.
            string msg = "sha256 digests do not match :(\n       digest: " + Convert.ToHexStringLower(digest)
                + "\nsha256_digest: " + Convert.ToHexStringLower(data.Digest) + "\n";
            return Hang(bad, bad >= 0 ? data.Regions[bad] : null, msg);
        }

        bool copied = false;
        if (data.BackupStart != 0 && data.BackupSourceSize != 0)
        {
            // crashdump_backup_memory: memcpy(backup_start, backup_src_start, backup_src_size).
            var backup = new byte[data.BackupSourceSize];
            memory.Read(data.BackupSourceStart, backup);
            memory.Write(data.BackupStart, backup);
            copied = true;
        }

        return new PurgatoryResult(true, false, -1, null, copied, data.KernelEntry, data.BootParams, string.Empty);
    }

    private static PurgatoryResult Hang(int segment, MemoryRange? range, string message) =>
        new(false, true, segment, range, false, 0, 0, message);
}
