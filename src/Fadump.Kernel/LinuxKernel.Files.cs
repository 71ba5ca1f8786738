using Fadump.Formats.IO;
using Fadump.Kernel.Resource;
using Fadump.Kernel.Sysfs;
using Fadump.Kernel.Vmcore;
using Fadump.Machine;

namespace Fadump.Kernel;

public sealed partial class LinuxKernel
{
    /// <summary>/proc/vmcore of a capture kernel, once the mechanism has built the ELF core header (null otherwise).</summary>
    public ProcVmcore? Vmcore { get; private set; }

    /// <summary>iomem_resource: the firmware's map, the kernel image and the crashkernel= regions nested in System RAM.</summary>
    public ResourceTree Iomem { get; } = new();

    private void BuildIomem()
    {
        foreach (var (name, range) in _platform.IomemEntries)
        {
            Iomem.Insert(name, range);
        }

        // (kernel/resource.c request_standard_resources) The image's parts, then crashk_low_res and crashk_res.
        var text = KernelImage;
        TryInsert("Kernel code", new MemoryRange(text.Start, Arch.Image.TextEnd));
        TryInsert("Kernel data", MemoryRange.FromBounds(text.Start + Arch.Image.TextEnd, text.End));
        if (CrashKernelLowReservation is { } low)
        {
            TryInsert("Crash kernel", low);
        }

        if (CrashKernelReservation is { } ck)
        {
            TryInsert("Crash kernel", ck);
        }

        void TryInsert(string name, MemoryRange r)
        {
            // insert_resource fails quietly on a conflict (a region outside RAM): the resource is just not shown.
            try
            {
                Iomem.Insert(name, r);
            }
            catch (ArgumentException)
            {
            }
        }
    }

    private void CreateFiles()
    {
        Files.Add(new VirtualFile { Path = "/proc/iomem", Mode = 0400, Read = Iomem.Render });
        Files.Add(new VirtualFile { Path = "/proc/cmdline", Mode = 0444, Read = () => CommandLine.Text + "\n" });
        Files.Add(new VirtualFile
        {
            Path = "/proc/sysrq-trigger",
            Mode = 0200,
            Write = WriteSysrqTrigger,
        });
        Files.Add(new VirtualFile { Path = "/proc/meminfo", Mode = 0444, Read = MemInfo });
        Files.Add(new VirtualFile { Path = "/sys/kernel/vmcoreinfo", Mode = 0444, Read = () => Options.Profile.VmcoreInfoSysfs(VmcoreInfoNotePhys) });
        Files.Add(new VirtualFile { Path = "/dev/mem", Mode = 0640, Open = () => new PhysicalMemorySource(_machine.Memory) });
        AddDeviceTreeFiles(_machine.DeviceTree, Options.Profile.DeviceTreeDirectory);
        if (Options.Profile.DeviceTreeDirectory != "/proc/device-tree" && (_machine.DeviceTree.Properties.Count > 0 || _machine.DeviceTree.Children.Any()))
        {
            Files.AddLink("/proc/device-tree", Options.Profile.DeviceTreeDirectory);
        }

        Mechanism.AddFiles(Files);
        _platform.PlatformInitcalls(this, Files);
        if (Vmcore is { } vmcore)
        {
            Files.Add(new VirtualFile { Path = "/proc/vmcore", Mode = 0400, Open = () => vmcore });
        }
    }

    /// <summary>
    /// write_sysrq_trigger (drivers/tty/sysrq.c): the first character is the key. 'c' crashes the machine
    /// (sysrq_handle_crash; the write never returns on a real machine, here it returns once the next kernel is up),
    /// 'b' restarts it (sysrq_handle_reboot, "sysrq: Resetting"), 'o' powers it off ("sysrq: Power Off"); another key prints the help line, as __handle_sysrq does.
    /// </summary>
    private Errno WriteSysrqTrigger(string text)
    {
        char key = text.Length > 0 ? text[0] : '\n';
        switch (key)
        {
            case 'c':
                if (CrashHandler is { } crash)
                {
                    crash(CrashKind.Sysrq);
                }
                else
                {
                    Crash(CrashKind.Sysrq);
                }

                break;
            case 'b':
                Printk("sysrq: Resetting", 6);
                RebootHandler?.Invoke();
                break;
            case 'o':
                // sysrq_handle_poweroff: the power goes off (machine_power_off).
                Printk("sysrq: Power Off", 6);
                _machine.PowerOff();
                break;
            case '\n':
                break;
            default:
                Printk("sysrq: HELP : loglevel(0-9) reboot(b) crash(c) show-all-locks(d) terminate-all-tasks(e) memory-full-oom-kill(f) kill-all-tasks(i) thaw-filesystems(j) sak(k) show-backtrace-all-active-cpus(l) show-memory-usage(m) nice-all-RT-tasks(n) poweroff(o) show-registers(p) show-all-timers(q) unraw(r) sync(s) show-task-states(t) unmount(u) force-fb(v) show-blocked-tasks(w) dump-ftrace-buffer(z) ", 6);
                break;
        }

        return Errno.None;
    }

    /// <summary>What the kernel uses of its free memory at run time (slab, page cache), modelled as a fixed amount.</summary>
    public const ulong RuntimeUse = 64UL << 20;

    /// <summary>
    /// /proc/meminfo's first lines: MemTotal is totalram_pages (RAM less what memblock holds, so memory given back
    /// by a dump mechanism raises it at once), MemFree that less <see cref="RuntimeUse"/>.
    /// </summary>
    private string MemInfo()
    {
        ulong total = AvailableMemory();
        ulong free = total - Math.Min(total, RuntimeUse);
        return FormattableString.Invariant($"MemTotal:       {total >> 10,8} kB\nMemFree:        {free >> 10,8} kB\n");
    }

    /// <summary>The device tree the kernel unflattened at boot, as files (later firmware changes do not show).</summary>
    private void AddDeviceTreeFiles(DeviceTreeNode node, string dir)
    {
        foreach (var (name, value) in node.Properties)
        {
            byte[] bytes = value;
            Files.Add(new VirtualFile { Path = dir + "/" + name, Mode = 0444, Open = () => new MemorySource(bytes, dir + "/" + name) });
        }

        foreach (var child in node.Children)
        {
            AddDeviceTreeFiles(child, dir + "/" + child.Name);
        }
    }

    /// <summary>
    /// vmcore_init (fs/proc/vmcore.c) from an ELF core header in old memory; its warnings go to <paramref name="log"/>
    /// and to printk (KERN_WARNING). False when the header is not sane: there is no /proc/vmcore.
    /// </summary>
    internal bool InitVmcore(ulong elfcorehdr, ulong size, List<string> log)
    {
        int before = log.Count;
        var vmcore = ProcVmcore.Build(_machine.Memory, Arch, elfcorehdr, size, log);
        for (int i = before; i < log.Count; i++)
        {
            Printk(log[i], 4);
        }

        Vmcore = vmcore;
        return vmcore is not null;
    }

    /// <summary>/proc/vmcore goes away (the dump's memory is released).</summary>
    internal void RemoveVmcore()
    {
        Files.Remove("/proc/vmcore");
        Vmcore = null;
    }

    /// <summary>kstrtoint(buf, 0, ...): optional sign, 0x hex, leading-0 octal or decimal, one trailing newline allowed.</summary>
    internal static bool TryParseInt(string text, out long value)
    {
        value = 0;
        string t = text.EndsWith('\n') ? text[..^1] : text;
        bool neg = t.StartsWith('-');
        if (t.StartsWith('-') || t.StartsWith('+'))
        {
            t = t[1..];
        }

        int numBase = 10;
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            numBase = 16;
            t = t[2..];
        }
        else if (t.Length > 1 && t[0] == '0')
        {
            numBase = 8;
            t = t[1..];
        }

        if (t.Length == 0)
        {
            return false;
        }

        long v = 0;
        foreach (char c in t)
        {
            int d = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : 99;
            if (d >= numBase || v > int.MaxValue)
            {
                return false;
            }

            v = (v * numBase) + d;
        }

        value = neg ? -v : v;
        return value is >= int.MinValue and <= int.MaxValue;
    }
}
