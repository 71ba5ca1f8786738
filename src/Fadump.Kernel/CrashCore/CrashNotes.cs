using Fadump.Formats.Elf;
using Fadump.Kernel.Arch;
using Fadump.Machine;

namespace Fadump.Kernel.CrashCore;

/// <summary>
/// The per-CPU crash_notes buffers (kernel/crash_core.c, kernel/kexec_core.c crash_save_cpu): one
/// note_buf_t per possible CPU, holding an NT_PRSTATUS "CORE" note with the CPU's registers and an
/// empty final note. The kdump capture kernel's elfcorehdr points a PT_NOTE at each;
/// /sys/devices/system/cpu/cpuN/crash_notes gives their physical addresses.
/// </summary>
public sealed class CrashNotes(KernelArch arch, PhysicalMemory memory, int possibleCpus)
{
    /// <summary>The per-CPU stride of the buffers in the image's per-CPU area.</summary>
    public const int Stride = 512;

    /// <summary>sizeof(note_buf_t): two note headers, "CORE" padded to 8, and elf_prstatus (CRASH_CORE_NOTE_BYTES).</summary>
    public int NoteBufSize { get; } = (12 * 2) + 8 + PrStatus.DescSize(arch.Machine.Arch);

    public int PossibleCpus { get; } = possibleCpus;

    /// <summary>The physical address of CPU <paramref name="cpu"/>'s note_buf_t (per_cpu_ptr_to_phys).</summary>
    public ulong Address(int cpu)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cpu);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(cpu, PossibleCpus);
        return arch.ToPhys(arch.Sym(arch.Image.CrashNotes)) + ((ulong)cpu * Stride);
    }

    /// <summary>The largest CPU count the per-CPU area of the image holds.</summary>
    public static int MaxCpus(KernelArch arch) => (int)((arch.Image.ImageSize - arch.Image.CrashNotes) / Stride);

    /// <summary>alloc_percpu zeroes the buffers at boot.</summary>
    public void Clear() => memory.Clear(Address(0), (ulong)PossibleCpus * Stride);

    /// <summary>crash_save_cpu: the CPU's NT_PRSTATUS (pid of the task it ran) and the final note.</summary>
    public void Save(int cpu, int pid, IReadOnlyList<ulong> registers)
    {
        var note = new PrStatus(pid, 0, registers).ToNote(arch.Machine);
        var buf = new byte[NoteBufSize];
        note.Encode(buf, arch.BigEndian); // the final note is the zeros after it
        memory.Write(Address(cpu), buf);
    }
}
