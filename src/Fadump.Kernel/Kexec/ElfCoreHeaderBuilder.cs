using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Kernel.Kexec;

/// <summary>
/// Builds an ELF64 core header with no data (an <c>elfcorehdr</c>): the Ehdr, then one Phdr per note
/// buffer and per memory range, each pointing at physical memory (p_offset is a physical address,
/// as fs/proc/vmcore.c expects). Models kernel/crash_core.c crash_prepare_elf64_headers and
/// kexec-tools kexec/crashdump-elf.c; FADump's fadump_init_elfcore_header is the same shape.
/// Program headers come out in the order they were added.
/// </summary>
public sealed class ElfCoreHeaderBuilder
{
    /// <summary>ELF_CORE_HEADER_ALIGN in the kernel (include/linux/kexec.h): 4096.</summary>
    public const int KernelAlignment = 4096;

    /// <summary>ELF_CORE_HEADER_ALIGN in kexec-tools (kexec/crashdump.h): 1024, for memmap='s 1 KiB granularity.</summary>
    public const int KexecToolsAlignment = 1024;

    /// <summary>Above any real count (the kernel caps e_phnum at PN_XNUM - 1 for an elfcorehdr).</summary>
    public const int MaxProgramHeaders = 0xfffe;

    /// <summary>PF_R | PF_W | PF_X, as every writer of an elfcorehdr sets on PT_LOADs.</summary>
    public const uint LoadFlags = 7;

    private readonly List<ElfProgramHeader> _headers = [];

    public ElfCoreHeaderBuilder(int alignment = KernelAlignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "expected a power of two");
        }

        Alignment = alignment;
    }

    /// <summary>The header's size is rounded up to this.</summary>
    public int Alignment { get; }

    /// <summary>
    /// Extra zeroed Phdr slots counted in the size but not in e_phnum: kexec-tools sizes its buffer
    /// for every /proc/iomem range it kept (ACPI, reserved too) while emitting PT_LOADs for RAM only.
    /// </summary>
    public int SpareProgramHeaders { get; set; }

    public IReadOnlyList<ElfProgramHeader> ProgramHeaders => _headers;

    /// <summary>A PT_NOTE over a note buffer in physical memory (a CPU's crash_notes, VMCOREINFO).</summary>
    public ElfCoreHeaderBuilder AddNote(ulong physicalAddress, ulong size)
    {
        CheckRange(physicalAddress, size);
        return Add(new ElfProgramHeader(ElfProgramHeader.PtNote, 0, physicalAddress, 0, physicalAddress, size, size, 0));
    }

    /// <summary>
    /// A PT_LOAD of [physicalAddress, +size) mapped at virtualAddress. Its data is read from
    /// <paramref name="dataAddress"/> (p_offset), the physical address itself unless the range was
    /// copied elsewhere (the kexec-tools backup region).
    /// </summary>
    public ElfCoreHeaderBuilder AddLoad(ulong physicalAddress, ulong virtualAddress, ulong size, ulong? dataAddress = null)
    {
        CheckRange(physicalAddress, size);
        ulong offset = dataAddress ?? physicalAddress;
        CheckRange(offset, size);
        return Add(new ElfProgramHeader(ElfProgramHeader.PtLoad, LoadFlags, offset, virtualAddress, physicalAddress, size, size, 0));
    }

    /// <summary>Size <see cref="Build"/> will return.</summary>
    public int Size
    {
        get
        {
            long raw = ElfHeaders.EhdrSize + ((long)(_headers.Count + SpareProgramHeaders) * ElfHeaders.PhdrSize);
            return (int)((raw + Alignment - 1) & ~(long)(Alignment - 1));
        }
    }

    /// <summary>Encodes the header in the machine's byte order.</summary>
    public byte[] Build(DumpMachine machine)
    {
        if (_headers.Count == 0)
        {
            throw new InvalidOperationException("an elfcorehdr needs at least one program header");
        }

        var buf = new byte[Size];
        ElfHeaders.WriteCoreHeader(buf, machine, _headers.Count);
        for (int i = 0; i < _headers.Count; i++)
        {
            ElfHeaders.WriteProgramHeader(buf.AsSpan(ElfHeaders.EhdrSize + (i * ElfHeaders.PhdrSize), ElfHeaders.PhdrSize), machine.BigEndian, _headers[i]);
        }

        return buf;
    }

    private ElfCoreHeaderBuilder Add(ElfProgramHeader h)
    {
        if (_headers.Count + SpareProgramHeaders >= MaxProgramHeaders)
        {
            throw new InvalidOperationException(FormattableString.Invariant($"more than {MaxProgramHeaders} program headers"));
        }

        _headers.Add(h);
        return this;
    }

    private static void CheckRange(ulong address, ulong size)
    {
        if (size == 0 || size > ulong.MaxValue - address)
        {
            throw new ArgumentOutOfRangeException(nameof(size), FormattableString.Invariant($"[0x{address:x}, +0x{size:x}) is empty or wraps"));
        }
    }
}
