using System.Globalization;

namespace Fadump.Kernel.Kexec;

/// <summary>How the low memory below 1 MiB reaches the dump.</summary>
public enum LowMemoryMode
{
    /// <summary>
    /// The 2005 design kexec-tools still implements (kexec/arch/i386/crashdump-x86.c, checked at
    /// horms/kexec-tools master): a backup segment the size of the first RAM range below 640 KiB,
    /// filled by purgatory at the crash; that range's PT_LOAD reads from the copy.
    /// </summary>
    LegacyBackup,

    /// <summary>
    /// What the kernel's own loader has done since "x86/kdump: Remove the backup region handling"
    /// (Linux 5.x, kexec_file_load): the first kernel never uses the low 1 MiB (reserved at boot),
    /// the capture kernel reuses it, and [0, 1 MiB) is left out of the vmcore. kexec-tools itself
    /// never dropped its backup segment; this mode applies the kernel's rule to the userspace plan.
    /// </summary>
    Modern,
}

/// <summary>The options of <c>kexec -p</c> this planner honours.</summary>
public sealed record KexecToolsOptions
{
    /// <summary><c>--pass-memmap-cmdline</c>: also describe the capture kernel's memory with memmap= (it always gets an e820 table in boot_params).</summary>
    public bool PassMemmapCmdline { get; init; }

    /// <summary><c>--elf64-core-headers</c> (the x86_64 default; <c>--elf32-core-headers</c> is not modelled).</summary>
    public bool Elf64CoreHeaders { get; init; } = true;

    public LowMemoryMode LowMemory { get; init; } = LowMemoryMode.LegacyBackup;
}

/// <summary>
/// The kernel mapping kexec-tools reads from /proc/kcore and /proc/kallsyms
/// (get_kernel_vaddr_and_size, get_kernel_page_offset): the direct map base and the kernel text
/// mapping around _stext.
/// </summary>
/// <param name="PageOffset">page_offset_base (the lowest PT_LOAD vaddr of /proc/kcore, 1 GiB aligned).</param>
/// <param name="TextVirtualStart">The kcore PT_LOAD holding _stext, rounded down to 1 MiB.</param>
/// <param name="TextSize">To that PT_LOAD's end, page-rounded.</param>
public sealed record KernelMapping(ulong PageOffset, ulong TextVirtualStart, ulong TextSize);

/// <summary>Everything <c>kexec -p</c> reads, as text or bytes.</summary>
/// <param name="ProcIomem">/proc/iomem.</param>
/// <param name="Kernel">The bzImage.</param>
/// <param name="Initrd">The initramfs, or null for none.</param>
/// <param name="CommandLine"><c>--append</c> / <c>--command-line</c>.</param>
/// <param name="CpuCrashNotes">Per CPU (sysconf(_SC_NPROCESSORS_CONF) of them): /sys/devices/system/cpu/cpuN/crash_notes and crash_notes_size.</param>
/// <param name="VmcoreInfo">The text of /sys/kernel/vmcoreinfo ("%pa %x\n"), or null when it does not exist.</param>
/// <param name="Mapping">From /proc/kcore.</param>
public sealed record KexecToolsInput(
    string ProcIomem,
    byte[] Kernel,
    byte[]? Initrd,
    string CommandLine,
    IReadOnlyList<NoteBuffer> CpuCrashNotes,
    string? VmcoreInfo,
    KernelMapping Mapping)
{
    /// <summary>
    /// get_kernel_vmcoreinfo (kexec/crashdump.c): fscanf("%llx %llx") of /sys/kernel/vmcoreinfo:
    /// two hexadecimal numbers, an optional 0x on each (the kernel's %pa prints one).
    /// </summary>
    public static NoteBuffer ParseVmcoreInfo(string text)
    {
        string[] parts = text.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || !TryHex(parts[0], out ulong address) || !TryHex(parts[1], out ulong size))
        {
            throw new KexecToolsException(FormattableString.Invariant($"Cannot parse /sys/kernel/vmcoreinfo: expected \"<hex address> <hex size>\", got '{text.TrimEnd('\n')}'\n"));
        }

        return new NoteBuffer(address, size);
    }

    private static bool TryHex(string s, out ulong v)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            s = s[2..];
        }

        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
    }
}

/// <summary>kexec-tools gave up: the message is what it prints to stderr.</summary>
public sealed class KexecToolsException(string message) : Exception(message);
