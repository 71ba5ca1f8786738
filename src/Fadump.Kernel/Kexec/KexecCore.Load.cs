using Fadump.Kernel.Sysfs;

namespace Fadump.Kernel.Kexec;

public sealed partial class KexecCore
{
    /// <summary>
    /// kexec_load(2): SYSCALL_DEFINE4(kexec_load) → kexec_load_check → do_kexec_load →
    /// kimage_alloc_init → sanity_check_segment_list → kimage_load_segment. An empty segment list
    /// unloads. A crash load first frees the loaded crash image (its memory is about to be
    /// overwritten), so a failed reload leaves none loaded, as in the kernel.
    /// </summary>
    public Errno KexecLoad(ulong entry, IReadOnlyList<KexecSegment> segments, ulong flags)
    {
        // kexec_load_check: legal flags, then the segment cap.
        if ((flags & KexecFlags.AllLoadFlags) != (flags & ~KexecFlags.ArchMask))
        {
            return Errno.EINVAL;
        }

        if (segments.Count > KexecFlags.SegmentMax)
        {
            return Errno.EINVAL;
        }

        // Verify we are on the appropriate architecture.
        ulong arch = flags & KexecFlags.ArchMask;
        if (arch != KexecFlags.ArchX86_64 && arch != KexecFlags.ArchDefault)
        {
            return Errno.EINVAL;
        }

        // copy_user_segment_list / copy_from_user of each buffer.
        if (segments.Any(s => s.BufferSize > (ulong)s.Buffer.Length))
        {
            return Errno.EFAULT;
        }

        bool crash = (flags & KexecFlags.OnCrash) != 0;
        if (crash && CrashImage is not null)
        {
            Unprotect();
        }

        if (segments.Count == 0)
        {
            if (crash)
            {
                CrashImage = null;
            }
            else
            {
                Image = null;
            }

            return Errno.None;
        }

        if (crash)
        {
            CrashImage = null;
        }

        Errno e = AllocInit(entry, segments, crash, out var image);
        if (e != Errno.None)
        {
            return e;
        }

        Install(image!, crash);
        return Errno.None;
    }

    /// <summary>kimage_alloc_init: the entry check for crash images, the segment checks, the control page.</summary>
    private Errno AllocInit(ulong entry, IReadOnlyList<KexecSegment> segments, bool crash, out KexecImage? image)
    {
        image = null;

        // "Verify we have a valid entry point": inside crashk_res (not inside a segment).
        if (crash && (entry < CrashRegion.Start || entry > CrashRegion.End - 1))
        {
            return Errno.EADDRNOTAVAIL;
        }

        Errno e = SanityCheckSegmentList(segments, crash);
        if (e != Errno.None)
        {
            return e;
        }

        ulong control = 0;
        if (crash)
        {
            // "Could not allocate control_code_buffer".
            control = AllocateControlPage(segments);
            if (control == 0)
            {
                return Errno.ENOMEM;
            }
        }

        image = new KexecImage(entry, [.. segments], crash, fileMode: false, control);
        return Errno.None;
    }

    /// <summary>
    /// sanity_check_segment_list (kernel/kexec_core.c), rule by rule and in its order: page-aligned
    /// and below KEXEC_DESTINATION_MEMORY_LIMIT (−EADDRNOTAVAIL), no overlap (−EINVAL),
    /// bufsz ≤ memsz (−EINVAL), no segment nor the total above half of RAM in pages (−EINVAL),
    /// crash segments inside crashk_res (−EADDRNOTAVAIL).
    /// </summary>
    internal Errno SanityCheckSegmentList(IReadOnlyList<KexecSegment> segments, bool crash)
    {
        foreach (var s in segments)
        {
            ulong mstart = s.Memory, mend = unchecked(mstart + s.MemorySize);
            if (mstart > mend)
            {
                return Errno.EADDRNOTAVAIL;
            }

            if (mstart % KexecFlags.PageSize != 0 || mend % KexecFlags.PageSize != 0)
            {
                return Errno.EADDRNOTAVAIL;
            }

            if (mend >= KexecFlags.DestinationMemoryLimit)
            {
                return Errno.EADDRNOTAVAIL;
            }
        }

        for (int i = 0; i < segments.Count; i++)
        {
            ulong mstart = segments[i].Memory, mend = mstart + segments[i].MemorySize;
            for (int j = 0; j < i; j++)
            {
                ulong pstart = segments[j].Memory, pend = pstart + segments[j].MemorySize;
                if (mend > pstart && mstart < pend)
                {
                    return Errno.EINVAL;
                }
            }
        }

        if (segments.Any(s => s.BufferSize > s.MemorySize))
        {
            return Errno.EINVAL;
        }

        // nr_pages = totalram_pages(): here all of RAM (the real count excludes memblock-reserved pages).
        ulong nrPages = _memory.TotalRam / KexecFlags.PageSize, total = 0;
        foreach (var s in segments)
        {
            ulong pages = PageCount(s.MemorySize);
            if (pages > nrPages / 2)
            {
                return Errno.EINVAL;
            }

            total += pages;
        }

        if (total > nrPages / 2)
        {
            return Errno.EINVAL;
        }

        if (crash)
        {
            foreach (var s in segments)
            {
                // mend is inclusive here: mstart + memsz - 1 > crashk_res.end.
                ulong mend = unchecked(s.Memory + s.MemorySize - 1);
                if (s.Memory < CrashRegion.Start || mend > CrashRegion.End - 1)
                {
                    return Errno.EADDRNOTAVAIL;
                }
            }
        }

        return Errno.None;
    }

    private static ulong PageCount(ulong size) => (size + KexecFlags.PageSize - 1) / KexecFlags.PageSize;
}
