namespace Fadump.Kernel.Kexec;

/// <summary>
/// The flag words of kexec_load(2) and kexec_file_load(2) and the limits the kernel checks them
/// against (include/uapi/linux/kexec.h, include/linux/kexec.h, arch/x86/include/asm/kexec.h).
/// </summary>
public static class KexecFlags
{
    /// <summary>KEXEC_ON_CRASH: load the image run at a panic (the crash image).</summary>
    public const ulong OnCrash = 0x1;

    /// <summary>KEXEC_PRESERVE_CONTEXT: kexec jump, accepted and ignored here.</summary>
    public const ulong PreserveContext = 0x2;

    /// <summary>KEXEC_UPDATE_ELFCOREHDR (Linux 6.6+).</summary>
    public const ulong UpdateElfcorehdr = 0x4;

    /// <summary>KEXEC_CRASH_HOTPLUG_SUPPORT (Linux 6.10+).</summary>
    public const ulong CrashHotplugSupport = 0x8;

    /// <summary>KEXEC_FLAGS: every non-arch bit kexec_load accepts.</summary>
    public const ulong AllLoadFlags = OnCrash | PreserveContext | UpdateElfcorehdr | CrashHotplugSupport;

    /// <summary>KEXEC_ARCH_MASK: the architecture lives in the high 16 bits of the low word.</summary>
    public const ulong ArchMask = 0xffff0000;

    /// <summary>KEXEC_ARCH_DEFAULT: "the running architecture", always accepted.</summary>
    public const ulong ArchDefault = 0;

    /// <summary>KEXEC_ARCH_386 (EM_386 &lt;&lt; 16).</summary>
    public const ulong Arch386 = 3UL << 16;

    /// <summary>KEXEC_ARCH_X86_64 (EM_X86_64 &lt;&lt; 16): KEXEC_ARCH on x86_64.</summary>
    public const ulong ArchX86_64 = 62UL << 16;

    /// <summary>KEXEC_ARCH_PPC64 (EM_PPC64 &lt;&lt; 16).</summary>
    public const ulong ArchPpc64 = 21UL << 16;

    /// <summary>KEXEC_FILE_UNLOAD.</summary>
    public const ulong FileUnload = 0x1;

    /// <summary>KEXEC_FILE_ON_CRASH.</summary>
    public const ulong FileOnCrash = 0x2;

    /// <summary>KEXEC_FILE_NO_INITRAMFS.</summary>
    public const ulong FileNoInitramfs = 0x4;

    /// <summary>KEXEC_FILE_FLAGS: the bits kexec_file_load accepts (DEBUG 0x8 and NO_CMA 0x10 of later kernels are not modelled).</summary>
    public const ulong AllFileFlags = FileUnload | FileOnCrash | FileNoInitramfs;

    /// <summary>KEXEC_SEGMENT_MAX.</summary>
    public const int SegmentMax = 16;

    /// <summary>PAGE_SIZE on x86_64.</summary>
    public const ulong PageSize = 4096;

    /// <summary>KEXEC_CONTROL_PAGE_SIZE on x86_64: the page relocate_kernel runs from.</summary>
    public const ulong ControlPageSize = 4096;

    /// <summary>
    /// KEXEC_DESTINATION_MEMORY_LIMIT on x86_64 is MAXMEM - 1; MAXMEM is 1 &lt;&lt; MAX_PHYSMEM_BITS,
    /// 46 bits (64 TiB) with 4-level paging.
    /// </summary>
    public const ulong DestinationMemoryLimit = (1UL << 46) - 1;
}
