namespace Fadump.Kernel.Kexec;

/// <summary>A loaded image (<c>struct kimage</c>, include/linux/kexec.h).</summary>
public sealed class KexecImage
{
    internal KexecImage(ulong entry, IReadOnlyList<KexecSegment> segments, bool crash, bool fileMode, ulong controlPage)
    {
        Entry = entry;
        Segments = segments;
        IsCrash = crash;
        FileMode = fileMode;
        ControlPage = controlPage;
    }

    /// <summary><c>start</c>: where machine_kexec jumps (purgatory's entry).</summary>
    public ulong Entry { get; }

    public IReadOnlyList<KexecSegment> Segments { get; }

    /// <summary>KEXEC_TYPE_CRASH.</summary>
    public bool IsCrash { get; }

    /// <summary>Loaded by kexec_file_load.</summary>
    public bool FileMode { get; }

    /// <summary><c>control_code_page</c>: relocate_kernel's page, left writable by arch_kexec_protect_crashkres (0 for a default image).</summary>
    public ulong ControlPage { get; }

    /// <summary>kexec_file_load only: <c>elf_load_addr</c>, the elfcorehdr the kernel built.</summary>
    public ulong ElfCoreHeaderAddress { get; internal init; }

    /// <summary>kexec_file_load only: <c>elf_headers_sz</c>.</summary>
    public ulong ElfCoreHeaderSize { get; internal init; }

    /// <summary>kexec_file_load only: the capture kernel's command line as written into boot_params.</summary>
    public string? CommandLine { get; internal init; }
}
