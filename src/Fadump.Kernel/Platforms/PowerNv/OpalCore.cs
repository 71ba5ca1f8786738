using System.Buffers.Binary;
using Fadump.Firmware.Opal;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Kernel.Fadump.Opal;
using Fadump.Kernel.Mm;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Platforms.PowerNv;

/// <summary>
/// The OPAL core (arch/powerpc/platforms/powernv/opal-core.c): after an MPIPL boot, OPAL's preserved memory
/// (TAG_OPAL) and every thread's registers (TAG_CPU) as a big-endian ELF core at /sys/firmware/opal/mpipl/core
/// (0400; /sys/firmware/opal/core links to it), until "1" is written to release_core.
/// </summary>
public sealed class OpalCore
{
    public const int MaxPtLoad = 8;
    private const int NoteSize = 12 + 8 + 504; // head, "CORE" padded, elf_prstatus on ppc64
    private const int AuxvNoteSize = 12 + 8 + 24;
    private const ulong PageSize = 0x10000;

    private readonly LinuxKernel _kernel;
    private readonly List<(ulong Paddr, ulong Size, long Offset)> _loads = [];
    private byte[]? _buffer;

    private OpalCore(LinuxKernel kernel) => _kernel = kernel;

    /// <summary>The core's size in bytes (0 once released).</summary>
    public long Size { get; private set; }

    /// <summary>Whether the core is still exported.</summary>
    public bool Exported => _buffer is not null;

    /// <summary>Threads with a note (the crashing one first).</summary>
    public int Threads { get; private set; }

    public uint CrashingPir { get; private set; }

    /// <summary>
    /// opalcore_init (an fs_initcall): nothing unless /ibm,opal/dump is compatible and this is an MPIPL boot;
    /// errors are logged as opal-core does and leave no files.
    /// </summary>
    public static OpalCore? Init(LinuxKernel kernel, OpalFirmware opal, bool kernelInitiated, KernelFileSystem files)
    {
        var np = kernel.Machine.DeviceTree.Find("/ibm,opal/dump");
        if (np is null)
        {
            return null;
        }

        if (np.Get("compatible") is not { } c || !System.Text.Encoding.ASCII.GetString(c).Split('\0').Contains("ibm,opal-dump"))
        {
            kernel.Printk("opal core: Support missing for this f/w version!", 4);
            return null;
        }

        if (np.Get("mpipl-boot") is null)
        {
            return null;
        }

        var core = new OpalCore(kernel);
        if (!core.ConfigInit(opal, kernelInitiated))
        {
            kernel.Printk("opal core: Could not export /sys/firmware/opal/core", 3);
            return null;
        }

        files.Add(new VirtualFile { Path = "/sys/firmware/opal/mpipl/core", Mode = 0400, Open = core.Open });
        // compat_only_sysfs_link_entry_to_kobj: the old path as a link to the new one.
        files.Add(new VirtualFile { Path = "/sys/firmware/opal/core", Mode = 0400, Open = core.Open });
        files.Add(new VirtualFile { Path = "/sys/firmware/opal/mpipl/release_core", Mode = 0200, Write = text => core.Release(text, files) });
        return core;
    }

    private bool ConfigInit(OpalFirmware opal, bool kernelInitiated)
    {
        var mem = _kernel.Machine.Memory;
        long ret = opal.QueryTag(OpalFadumpOps.TagOpal, out ulong addr);
        if (ret != OpalFirmware.Success || addr == 0)
        {
            _kernel.Printk(FormattableString.Invariant($"opal core: Failed to get OPAL metadata ({ret})"), 3);
            return false;
        }

        if (MpiplFadumpView.Read(mem, addr, MaxPtLoad) is not { } md)
        {
            _kernel.Printk(FormattableString.Invariant($"opal core: Failed to get OPAL metadata ({ret})"), 3);
            return false;
        }

        ret = opal.QueryTag(OpalFadumpOps.TagCpu, out ulong cpuAddr);
        if (ret != OpalFirmware.Success || cpuAddr == 0)
        {
            _kernel.Printk(FormattableString.Invariant($"opal core: Failed to get OPAL CPU metadata ({ret})"), 3);
            return false;
        }

        if (md.Version != 1)
        {
            _kernel.Printk(FormattableString.Invariant($"opal core: Supported OPAL metadata version: 1, found: {md.Version}!"), 4);
            _kernel.Printk("opal core: WARNING: F/W using newer OPAL metadata format!!", 4);
        }

        if (md.RegionCount > MaxPtLoad)
        {
            _kernel.Printk(FormattableString.Invariant($"opal core: WARNING: OPAL regions count ({md.RegionCount}) adjusted to limit ({MaxPtLoad})"), 4);
        }

        if (md.Regions.Count == 0)
        {
            _kernel.Printk("opal core: OPAL memory regions not found", 3);
            return false;
        }

        CrashingPir = md.CrashingPir;
        var cpu = MpiplFadumpView.Read(mem, cpuAddr, 1);
        if (cpu is not null && cpu.CpuDataVersion != OpalFirmware.CpuDataVersion)
        {
            _kernel.Printk(FormattableString.Invariant($"opal core: Supported CPU data version: {OpalFirmware.CpuDataVersion}, found: {cpu.CpuDataVersion}!"), 4);
            _kernel.Printk("opal core: WARNING: F/W using newer CPU state data format!!", 4);
        }

        if (cpu is null || cpu.Regions.Count == 0 || cpu.Regions[0].Dest == 0)
        {
            _kernel.Printk("opal core: CPU state data not found!", 3);
            return false;
        }

        var (_, dest, size) = cpu.Regions[0];
        if (cpu.CpuDataSize == 0 || cpu.CpuDataSize > size)
        {
            _kernel.Printk("opal core: CPU state data is invalid.", 3);
            return false;
        }

        var threads = HdatCpuData.Parse(mem, dest, size, cpu.CpuDataSize, 8192);
        if (threads is null)
        {
            _kernel.Printk("opal core: CPU state data is invalid.", 3);
            return false;
        }

        Create(md.Regions, threads, kernelInitiated);
        return true;
    }

    /// <summary>create_opalcore: ELF header, one PT_NOTE, a PT_LOAD per OPAL region (p_paddr cumulative from 0, p_vaddr = opal-base-address + p_paddr), the notes.</summary>
    private void Create(IReadOnlyList<(ulong Src, ulong Dest, ulong Size)> regions, List<HdatCpuData.Thread> threads, bool kernelInitiated)
    {
        var dt = _kernel.Machine.DeviceTree;
        ulong opalBase = 0, opalBoot = 0;
        if (dt.Find("/ibm,opal") is { } on && on.Get("opal-base-address") is { } b && on.Get("opal-boot-address") is { } e && b.Length >= 8 && e.Length >= 8)
        {
            opalBase = BinaryPrimitives.ReadUInt64BigEndian(b);
            opalBoot = BinaryPrimitives.ReadUInt64BigEndian(e);
        }
        else
        {
            _kernel.Printk("opal core: WARNING: Failed to read OPAL base & entry values", 4);
        }

        int hdrSize = 64 + ((regions.Count + 1) * 56);
        int notesSize = (threads.Count * NoteSize) + AuxvNoteSize;
        var buf = new byte[Ranges.AlignUp((ulong)(hdrSize + notesSize), PageSize)];
        var machine = new DumpMachine(DumpArch.Ppc64, true);
        ElfHeaders.WriteCoreHeader(buf, machine, regions.Count + 1);
        // Linux writes e_flags 0 and ELFOSABI_NONE here, whatever the kernel's ABI.
        BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(48), 0);
        int p = 64;
        ElfHeaders.WriteProgramHeader(buf.AsSpan(p), true, new(ElfProgramHeader.PtNote, 0, (ulong)hdrSize, 0, 0, (ulong)notesSize, (ulong)notesSize, 0));
        p += 56;
        long offset = buf.Length;
        ulong paddr = 0;
        foreach (var (_, dest, size) in regions)
        {
            ElfHeaders.WriteProgramHeader(buf.AsSpan(p), true, new(ElfProgramHeader.PtLoad, 7, (ulong)offset, opalBase + paddr, paddr, size, size, 0));
            p += 56;
            _loads.Add((dest, size, offset));
            offset += (long)size;
            paddr += size;
        }

        // The crashing thread's note first (its slot reserved, zero until found), then the others, then NT_AUXV.
        int n = hdrSize;
        int first = n;
        n += NoteSize;
        int notes = 0;
        foreach (var t in threads)
        {
            if (t.CoreState == HdatCpuData.CoreInactive)
            {
                continue;
            }

            var pr = PrStatusNote(t, kernelInitiated);
            if (t.Pir != CrashingPir)
            {
                pr.CopyTo(buf, n);
                n += NoteSize;
            }
            else
            {
                pr.CopyTo(buf, first);
            }

            notes++;
        }

        var auxv = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(auxv, 9); // AT_ENTRY
        BinaryPrimitives.WriteUInt64BigEndian(auxv.AsSpan(8), opalBoot);
        ElfNote.EncodeAll([new ElfNote("CORE", 6 /* NT_AUXV */, auxv)], true).CopyTo(buf, n);
        n += AuxvNoteSize;

        // (departure) Linux's PT_NOTE keeps the room of every thread of the HDAT data, inactive ones too, so its
        // tail is zeros of 524 bytes per skipped thread; that is not a whole number of note headers, and BFD (gdb)
        // then refuses the file ("file format not recognized"). The simulation's PT_NOTE ends after the last note.
        ElfHeaders.WriteProgramHeader(buf.AsSpan(64), true, new(ElfProgramHeader.PtNote, 0, (ulong)hdrSize, 0, 0, (ulong)(n - hdrSize), (ulong)(n - hdrSize), 0));
        Threads = notes;
        _buffer = buf;
        Size = offset;
    }

    private byte[] PrStatusNote(HdatCpuData.Thread t, bool kernelInitiated)
    {
        short sig = t.Pir == CrashingPir ? (short)(kernelInitiated ? 10 /* SIGUSR1 */ : 15 /* SIGTERM */) : (short)0;
        var desc = new PrStatus((int)(100 + t.Pir), sig, t.Regs).Encode(new DumpMachine(DumpArch.Ppc64, true));
        BinaryPrimitives.WriteInt32BigEndian(desc.AsSpan(36), 1); // pr_ppid
        return ElfNote.EncodeAll([new ElfNote("CORE", ElfNote.NT_PRSTATUS, desc)], true);
    }

    private IRandomAccessSource Open() => _buffer is null
        ? throw new KernelFileException("/sys/firmware/opal/mpipl/core", Errno.ENOENT)
        : new CoreSource(this);

    /// <summary>release_core_store: "1" frees the core (both paths go); again → -EPERM; anything else -EINVAL.</summary>
    private Errno Release(string text, KernelFileSystem files)
    {
        if (!LinuxKernel.TryParseInt(text, out long v))
        {
            return Errno.EINVAL;
        }

        if (v != 1)
        {
            return Errno.EINVAL;
        }

        if (_buffer is null)
        {
            _kernel.Printk("opal core: '/sys/firmware/opal/core' file not accessible!", 3);
            return Errno.EPERM;
        }

        files.Remove("/sys/firmware/opal/mpipl/core");
        files.Remove("/sys/firmware/opal/core");
        _buffer = null;
        _loads.Clear();
        Size = 0;
        return Errno.None;
    }

    /// <summary>read_opalcore: the header and notes buffer, then each region from the preserved memory.</summary>
    private sealed class CoreSource(OpalCore core) : IRandomAccessSource
    {
        private readonly byte[] _buffer = core._buffer!;
        private readonly (ulong Paddr, ulong Size, long Offset)[] _loads = [.. core._loads];
        private readonly PhysicalMemory _memory = core._kernel.Machine.Memory;

        public string Name => "/sys/firmware/opal/mpipl/core";

        public long Length { get; } = core.Size;

        public int Read(long offset, Span<byte> buffer)
        {
            if (offset < 0 || offset >= Length)
            {
                return 0;
            }

            int total = (int)Math.Min(buffer.Length, Length - offset);
            int done = 0;
            while (done < total)
            {
                long pos = offset + done;
                var dst = buffer[done..total];
                if (pos < _buffer.Length)
                {
                    int n = (int)Math.Min(dst.Length, _buffer.Length - pos);
                    _buffer.AsSpan((int)pos, n).CopyTo(dst);
                    done += n;
                    continue;
                }

                var l = _loads.First(x => pos >= x.Offset && pos < x.Offset + (long)x.Size);
                int k = (int)Math.Min(dst.Length, l.Offset + (long)l.Size - pos);
                _memory.Read(l.Paddr + (ulong)(pos - l.Offset), dst[..k]);
                done += k;
            }

            return total;
        }

        public void Dispose()
        {
        }
    }
}
