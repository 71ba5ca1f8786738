using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>A note buffer in physical memory: a CPU's <c>crash_notes</c> or the VMCOREINFO note.</summary>
public readonly record struct NoteBuffer(ulong Address, ulong Size);

/// <summary>
/// What the running kernel knows when it builds an elfcorehdr itself (kexec_file_load:
/// arch/x86/kernel/crash.c prepare_elf_headers → crash_prepare_elf64_headers).
/// </summary>
/// <param name="CpuNotes">One per possible CPU: per_cpu_ptr_to_phys(crash_notes) and sizeof(note_buf_t).</param>
/// <param name="VmcoreInfo">paddr_vmcoreinfo_note() and VMCOREINFO_NOTE_SIZE.</param>
/// <param name="KernelTextVirtual"><c>_text</c>.</param>
/// <param name="KernelTextPhysical"><c>__pa_symbol(_text)</c>.</param>
/// <param name="KernelTextSize"><c>_end - _text</c>.</param>
/// <param name="SystemRam">The "System RAM" resources walk_system_ram_res visits.</param>
/// <param name="Excluded">Further ranges left out of the dump (crashk_cma_ranges, Linux 6.16+).</param>
/// <param name="PageOffsetBase"><c>page_offset_base</c>: __va(pa) = pa + this (0xffff888000000000 without KASLR, 4-level paging).</param>
public sealed record CrashElfInfo(
    IReadOnlyList<NoteBuffer> CpuNotes,
    NoteBuffer VmcoreInfo,
    ulong KernelTextVirtual,
    ulong KernelTextPhysical,
    ulong KernelTextSize,
    IReadOnlyList<MemoryRange> SystemRam,
    IReadOnlyList<MemoryRange> Excluded,
    ulong PageOffsetBase = CrashElfInfo.DefaultPageOffsetBase)
{
    /// <summary>__PAGE_OFFSET_BASE_L4.</summary>
    public const ulong DefaultPageOffsetBase = 0xffff888000000000;

    /// <summary>__START_KERNEL_map: the kernel text mapping's base.</summary>
    public const ulong StartKernelMap = 0xffffffff80000000;
}

/// <summary>
/// kexec_locate_mem_hole's search inside one window (locate_mem_hole_top_down / _bottom_up,
/// kernel/kexec_file.c): the highest (or lowest) aligned start whose [start, start + memsz)
/// overlaps no segment already placed. kexec-tools' locate_hole picks the same address for a
/// top-down search of one contiguous crash region.
/// </summary>
internal static class MemoryHole
{
    /// <summary>Returns the start, or null when nothing fits.</summary>
    public static ulong? Locate(MemoryRange window, IReadOnlyList<KexecSegment> placed, ulong memsz, ulong align, ulong bufMin, ulong bufMax, bool topDown)
    {
        align = Math.Max(align, KexecFlags.PageSize);
        memsz = KexecCore.AlignUp(memsz, KexecFlags.PageSize);
        if (memsz == 0 || memsz > window.Size)
        {
            return null;
        }

        ulong start = window.Start, end = window.End - 1;
        if (topDown)
        {
            ulong tempEnd = Math.Min(end, bufMax);
            if (tempEnd < memsz - 1)
            {
                return null;
            }

            ulong tempStart = tempEnd - memsz + 1;
            while (true)
            {
                tempStart = KexecCore.AlignDown(tempStart, align);
                if (tempStart < start || tempStart < bufMin)
                {
                    return null;
                }

                if (!Conflicts(placed, tempStart, tempStart + memsz - 1))
                {
                    return tempStart;
                }

                if (tempStart < KexecFlags.PageSize)
                {
                    return null;
                }

                tempStart -= KexecFlags.PageSize;
            }
        }

        for (ulong tempStart = Math.Max(start, bufMin); ; tempStart += KexecFlags.PageSize)
        {
            tempStart = KexecCore.AlignUp(tempStart, align);
            ulong tempEnd = tempStart + memsz - 1;
            if (tempEnd > end || tempEnd > bufMax)
            {
                return null;
            }

            if (!Conflicts(placed, tempStart, tempEnd))
            {
                return tempStart;
            }
        }
    }

    /// <summary>kimage_is_destination_range(image, start, end) as the hole search calls it (end inclusive).</summary>
    private static bool Conflicts(IReadOnlyList<KexecSegment> placed, ulong start, ulong end) =>
        placed.Any(s => end > s.Memory && start < s.Memory + s.MemorySize);
}
