using System.Buffers.Binary;
using System.Globalization;
using Fadump.Formats.IO;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.CrashCore;
using Fadump.Kernel.Structures;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>
/// kexec-based kdump as the common kernel drives it (kernel/kexec_core.c, kernel/crash_core.c,
/// kernel/ksysfs.c, drivers/base/cpu.c, fs/proc/vmcore.c, kernel/crash_dump.c). In the first kernel it
/// owns the crashkernel= region through <see cref="KexecCore"/>, the per-CPU crash_notes and the sysfs
/// files kexec-tools reads; at a panic it runs __crash_kexec (CRASHTIME, NMI shootdown with a crash
/// note per CPU, machine_kexec into purgatory). In the capture kernel (elfcorehdr= on the command
/// line: is_kdump_kernel) it builds /proc/vmcore from the elfcorehdr and serves /dev/oldmem.
/// </summary>
public sealed class KdumpMechanism : ICrashDumpMechanism
{
    /// <summary>VMCOREINFO_NOTE_SIZE as /sys/kernel/vmcoreinfo prints it: the note's headers and one page of text.</summary>
    public const int VmcoreInfoNoteSize = 0x1024;

    private readonly LinuxKernel _k;
    private readonly List<string> _messages = [];

    public KdumpMechanism(LinuxKernel kernel)
    {
        _k = kernel;
        if (kernel.CommandLine.Last("elfcorehdr") is { } v)
        {
            ElfCoreHeader = ParseElfcorehdr(v);
            if (ElfCoreHeader is null)
            {
                _messages.Add("elfcorehdr: invalid value: " + v);
            }
        }
    }

    /// <summary>The capture kernel's elfcorehdr= (address; size when given), or null in a first kernel.</summary>
    public (ulong Address, ulong? Size)? ElfCoreHeader { get; }

    /// <summary>The crash notes of the first kernel's possible CPUs (null in a capture kernel).</summary>
    public CrashNotes? Notes { get; private set; }

    /// <summary>kexec's state: the crash region and the loaded crash image (null without a crashkernel= region).</summary>
    public KexecCore? Core { get; private set; }

    /// <summary>What purgatory did at the crash (null before a crash, or when nothing was loaded).</summary>
    public PurgatoryResult? Purgatory { get; private set; }

    public bool IsCaptureKernel => ElfCoreHeader is not null;

    public bool HoldsDumpMemory => IsCaptureKernel;

    public ulong? BootMemoryLimit => null;

    public IEnumerable<MemoryRange> ReservedAreas => [];

    public bool Armed => Core?.CrashImage is not null;

    public bool Present => true;

    public IEnumerable<string> Messages => _messages;

    /// <summary>setup_elfcorehdr: elfcorehdr=[size@]offset, memparse'd (kexec-tools: "NK"; kexec_file_load: "0x…").</summary>
    internal static (ulong Address, ulong? Size)? ParseElfcorehdr(string v)
    {
        var (first, used) = MemParse.Parse(v);
        if (used == 0)
        {
            return null;
        }

        if (used < v.Length && v[used] == '@')
        {
            var (addr, used2) = MemParse.Parse(v, used + 1);
            return used2 == used + 1 || used2 != v.Length ? null : (addr, first);
        }

        return used == v.Length ? (first, null) : null;
    }

    public void EarlyReserve()
    {
        // reserve_elfcorehdr: the header is kept out of the capture kernel's own allocations.
        if (ElfCoreHeader is { } h && _k.Memblock.IsMemory(new MemoryRange(h.Address, 1)))
        {
            _k.Memblock.Reserve(new MemoryRange(h.Address & ~4095UL, Mm.Ranges.AlignUp(h.Size ?? 4096, 4096)));
        }
    }

    public void ClearStaticData()
    {
        Notes = new CrashNotes(_k.Arch, _k.Machine.Memory, _k.Machine.Cpus.Count);
        Notes.Clear();
    }

    public void LateInit()
    {
        if (IsCaptureKernel)
        {
            InitVmcore();
            return;
        }

        if (_k.CrashKernelReservation is { } region)
        {
            var notes = Notes!;
            var info = new CrashElfInfo(
                [.. Enumerable.Range(0, notes.PossibleCpus).Select(c => new NoteBuffer(notes.Address(c), (ulong)notes.NoteBufSize))],
                new NoteBuffer(_k.VmcoreInfoNotePhys, VmcoreInfoNoteSize),
                _k.Arch.KernelVirtualBase,
                _k.Arch.KernelPhysicalBase,
                _k.Arch.Image.ImageSize,
                [.. _k.Iomem.Root.Children.Where(r => r.Name == "System RAM").Select(r => r.Range)],
                [],
                _k.Arch.PageOffset);
            Core = new KexecCore(_k.Machine.Memory, region, _k.CrashKernelLowReservation, info);
            _k.Writer.ReadOnly = (pa, size) => Core?.IsProtected(pa, size) == true;
        }
    }

    /// <summary>vmcore_init: the elfcorehdr's size from its own header when elfcorehdr= gave none.</summary>
    private void InitVmcore()
    {
        var (addr, size) = ElfCoreHeader!.Value;
        var mem = _k.Machine.Memory;
        ulong hdrSize = size ?? 0;
        if (size is null && mem.IsRam(addr, 64))
        {
            Span<byte> eh = stackalloc byte[64];
            mem.Read(addr, eh);
            hdrSize = 64 + ((ulong)BinaryPrimitives.ReadUInt16LittleEndian(eh[56..]) * 56);
        }

        var log = new List<string>();
        if (!_k.InitVmcore(addr, hdrSize, log))
        {
            _messages.AddRange(log);
            _messages.Add("Kdump: vmcore not initialized");
            _k.Printk("Kdump: vmcore not initialized", 4);
        }
        else
        {
            _messages.AddRange(log);
        }
    }

    public void AddFiles(KernelFileSystem files)
    {
        if (IsCaptureKernel)
        {
            // /dev/oldmem (char 1:12): the old memory, linear, as read_oldmem serves it.
            var mem = _k.Machine.Memory;
            files.Add(new VirtualFile { Path = "/dev/oldmem", Mode = 0400, Open = () => new OldMemSource(mem) });
        }

        files.Add(new VirtualFile { Path = "/sys/kernel/kexec_loaded", Mode = 0444, Read = () => (Core?.Image is not null ? "1" : "0") + "\n" });
        files.Add(new VirtualFile { Path = "/sys/kernel/kexec_crash_loaded", Mode = 0444, Read = () => (Armed ? "1" : "0") + "\n" });
        files.Add(new VirtualFile
        {
            Path = "/sys/kernel/kexec_crash_size",
            Mode = 0644,
            Read = () => CrashSize().ToString(CultureInfo.InvariantCulture) + "\n",
            Write = WriteCrashSize,
        });
        if (Notes is { } notes)
        {
            for (int c = 0; c < notes.PossibleCpus; c++)
            {
                ulong a = notes.Address(c);
                files.Add(new VirtualFile { Path = $"/sys/devices/system/cpu/cpu{c}/crash_notes", Mode = 0400, Read = () => a.ToString("x", CultureInfo.InvariantCulture) + "\n" });
                files.Add(new VirtualFile { Path = $"/sys/devices/system/cpu/cpu{c}/crash_notes_size", Mode = 0400, Read = () => notes.NoteBufSize.ToString(CultureInfo.InvariantCulture) + "\n" });
            }
        }
    }

    /// <summary>crash_get_memory_size: the size of crashk_res.</summary>
    private ulong CrashSize() => _k.CrashKernelReservation?.Size ?? 0;

    /// <summary>
    /// crash_shrink_memory (kernel/kexec_core.c): kstrtoul base 0; −ENOENT while a crash image is loaded
    /// (kexec_crash_image), −EINVAL for a size larger than the region, the same size is a no-op, the
    /// freed tail (page-aligned) goes back to the system as a "System RAM" resource, 0 releases the region.
    /// </summary>
    private Errno WriteCrashSize(string text)
    {
        if (!LinuxKernel.TryParseInt(text, out long v) || v < 0)
        {
            return Errno.EINVAL;
        }

        if (Armed)
        {
            return Errno.ENOENT;
        }

        ulong old = CrashSize();
        ulong size = (ulong)v;
        if (size > old)
        {
            return Errno.EINVAL;
        }

        ulong newSize = Mm.Ranges.AlignUp(size, 4096);
        if (newSize >= old)
        {
            return Errno.None;
        }

        _k.ShrinkCrashKernel(newSize);
        Core = newSize == 0 ? null : new KexecCore(_k.Machine.Memory, _k.CrashKernelReservation!.Value, _k.CrashKernelLowReservation, Core?.CrashInfo);
        return Errno.None;
    }

    /// <summary>
    /// __crash_kexec: crash_setup_regs, crash_save_vmcoreinfo (CRASHTIME), machine_crash_shutdown (every
    /// other online CPU takes the NMI and saves its note in crash_nmi_callback, then the panicking CPU saves
    /// its own), then machine_kexec into purgatory. Devices are not stopped.
    /// </summary>
    public bool OnPanic(int crashingCpu, string message)
    {
        var m = _k.Machine;
        _k.SaveCrashTime();
        ulong nmi = _k.Arch.Sym(Arch.X86_64.X86_64Arch.CrashNmiOffset);
        foreach (var cpu in m.Cpus.Where(c => c.Online && c.Id != crashingCpu))
        {
            cpu.X86.Regs[X86_64RegisterFile.Rip] = nmi;
            Notes!.Save(cpu.Id, 0, cpu.X86.Regs);
        }

        m.Clock.Advance(TimeSpan.FromSeconds(m.Cost.NmiShootdownSeconds));
        Notes!.Save(crashingCpu, 1, m.Cpus[crashingCpu].X86.Regs);
        Purgatory = Core!.MachineKexecCrash();
        m.Clock.Advance(TimeSpan.FromSeconds(m.Cost.KexecJumpSeconds));
        return true;
    }

    public void Shutdown()
    {
    }

    public CrashDumpStatus Status => new()
    {
        Supported = true,
        Armed = Armed,
        ReservedBytes = CrashSize() + (_k.CrashKernelLowReservation?.Size ?? 0),
        FirmwareCopyBytes = 0,
        DumpActive = IsCaptureKernel && _k.Vmcore is not null,
        CaptureKernelMemory = IsCaptureKernel ? _k.SystemRam : CrashSize(),
        Released = false,
        ReleasedBytes = 0,
        CaptureLog = [.. _messages],
        FirstKernelRegions = IsCaptureKernel || _k.CrashKernelReservation is not { } r ? [] :
        [
            new DumpRegion(r.Start, r.End, "Crash kernel (crashkernel=)", DumpRegionKind.DumpData),
            .. _k.CrashKernelLowReservation is { } low ? [new DumpRegion(low.Start, low.End, "Crash kernel, low", DumpRegionKind.DumpData)] : Array.Empty<DumpRegion>(),
        ],
        CaptureKernelRegions = IsCaptureKernel ? [.. _k.Memory.Select(x => new DumpRegion(x.Start, x.End, "capture kernel", DumpRegionKind.BootMemory))] : [],
    };

    /// <summary>/dev/oldmem: physical memory as one linear file up to the highest RAM address; holes read as zeros.</summary>
    private sealed class OldMemSource(PhysicalMemory memory) : IRandomAccessSource
    {
        public string Name => "/dev/oldmem";

        public long Length { get; } = (long)memory.Top;

        public int Read(long offset, Span<byte> buffer)
        {
            if (offset < 0 || offset >= Length)
            {
                return 0;
            }

            int n = (int)Math.Min(buffer.Length, Length - offset);
            ulong at = (ulong)offset;
            int done = 0;
            while (done < n)
            {
                int chunk = (int)Math.Min((ulong)(n - done), 4096 - ((at + (ulong)done) % 4096));
                var dst = buffer.Slice(done, chunk);
                if (memory.IsRam(at + (ulong)done, (ulong)chunk))
                {
                    memory.Read(at + (ulong)done, dst);
                }
                else
                {
                    dst.Clear();
                }

                done += chunk;
            }

            return n;
        }

        public void Dispose()
        {
        }
    }
}
