using Fadump.Formats.VmcoreInfo;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Structures;

namespace Fadump.Kernel;

/// <summary>
/// One generation of Linux as the simulated kernel lays it out where generations differ: printk's buffer, the
/// VMCOREINFO entries that describe it, struct page's reference count name and the banner. The common kernel
/// asks its profile; nothing else branches on the version.
/// </summary>
public abstract class KernelProfile
{
    /// <summary>Linux 6.1 (Debian 12): the lockless printk ring buffer.</summary>
    public static KernelProfile Linux61 { get; } = new Linux61Profile();

    /// <summary>Linux 2.6.32 (Debian 6.0, the kernel of the Power6 years): the plain-text __log_buf.</summary>
    public static KernelProfile Linux2632 { get; } = new Linux2632Profile();

    /// <summary>The kernel's name for the struct page reference count in VMCOREINFO (page._refcount since 4.6).</summary>
    public abstract string RefcountOffsetName { get; }

    /// <summary>The first line printk logs: "Linux version ...".</summary>
    public abstract string Banner(string release, string version);

    /// <summary>/sys/kernel/vmcoreinfo (kernel/ksysfs.c): the note's physical address and size.</summary>
    public abstract string VmcoreInfoSysfs(ulong notePhys);

    /// <summary>Lays out printk's buffer at the image's symbols.</summary>
    internal abstract IKernelLog CreateLog(KernelMemoryWriter writer, KernelArch arch);

    /// <summary>The VMCOREINFO entries that locate and describe printk's buffer (log_buf_vmcoreinfo_setup).</summary>
    public abstract void AddPrintk(VmcoreInfo v, KernelArch arch);

    /// <summary>
    /// Where the unflattened device tree is: /sys/firmware/devicetree/base since 3.17 (drivers/of/kobj.c), with
    /// /proc/device-tree a symbolic link to it (of_core_init); a directory of proc itself before (proc_device_tree.c).
    /// </summary>
    public abstract string DeviceTreeDirectory { get; }

    private sealed class Linux61Profile : KernelProfile
    {
        public override string RefcountOffsetName => "page._refcount";

        public override string DeviceTreeDirectory => "/sys/firmware/devicetree/base";

        public override string Banner(string release, string version) =>
            FormattableString.Invariant($"Linux version {release} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) {version}");

        internal override IKernelLog CreateLog(KernelMemoryWriter writer, KernelArch arch) => new PrintkRingBuffer(writer, arch);

        // "%pa %x\n" of vmcore_base and VMCOREINFO_NOTE_SIZE.
        public override string VmcoreInfoSysfs(ulong notePhys) =>
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"0x{notePhys:x16} {Kexec.KdumpMechanism.VmcoreInfoNoteSize:x}\n");

        public override void AddPrintk(VmcoreInfo v, KernelArch arch)
        {
            var image = arch.Image;
        v.AddSymbol("prb", arch.Sym(image.Prb));
        v.AddSymbol("printk_rb_static", arch.Sym(image.PrintkRbStatic));
        v.AddSymbol("clear_seq", arch.Sym(image.ClearSeq));
        v.AddSize("printk_ringbuffer", 88);
        v.AddOffset("printk_ringbuffer.desc_ring", 0);
        v.AddOffset("printk_ringbuffer.text_data_ring", 48);
        v.AddOffset("printk_ringbuffer.fail", 80);
        v.AddSize("prb_desc_ring", 48);
        v.AddOffset("prb_desc_ring.count_bits", 0);
        v.AddOffset("prb_desc_ring.descs", 8);
        v.AddOffset("prb_desc_ring.infos", 16);
        v.AddOffset("prb_desc_ring.head_id", 24);
        v.AddOffset("prb_desc_ring.tail_id", 32);
        v.AddSize("prb_desc", 24);
        v.AddOffset("prb_desc.state_var", 0);
        v.AddOffset("prb_desc.text_blk_lpos", 8);
        v.AddSize("prb_data_blk_lpos", 16);
        v.AddOffset("prb_data_blk_lpos.begin", 0);
        v.AddOffset("prb_data_blk_lpos.next", 8);
        v.AddSize("printk_info", 88);
        v.AddOffset("printk_info.seq", 0);
        v.AddOffset("printk_info.ts_nsec", 8);
        v.AddOffset("printk_info.text_len", 16);
        v.AddOffset("printk_info.caller_id", 20);
        v.AddOffset("printk_info.dev_info", 24);
        v.AddSize("dev_printk_info", 64);
        v.AddOffset("dev_printk_info.subsystem", 0);
        v.AddLength("printk_info_subsystem", 16);
        v.AddOffset("dev_printk_info.device", 16);
        v.AddLength("printk_info_device", 48);
        v.AddSize("prb_data_ring", 32);
        v.AddOffset("prb_data_ring.size_bits", 0);
        v.AddOffset("prb_data_ring.data", 8);
        v.AddOffset("prb_data_ring.head_lpos", 16);
        v.AddOffset("prb_data_ring.tail_lpos", 24);
        v.AddSize("atomic_long_t", 8);
        v.AddOffset("atomic_long_t.counter", 0);
        v.AddSize("latched_seq", 24);
        v.AddOffset("latched_seq.val", 8);
        }
    }

    private sealed class Linux2632Profile : KernelProfile
    {
        // struct page's count was "_count" until 4.6 (commit 0139aa7b7fa1, "mm: rename _count, field of the struct page, to _refcount").
        public override string RefcountOffsetName => "page._count";

        public override string DeviceTreeDirectory => "/proc/device-tree";

        // init/version.c linux_banner of 2.6.32: "(gcc version ...)" with a space before the closing parenthesis.
        public override string Banner(string release, string version) =>
            FormattableString.Invariant($"Linux version {release} (Debian 2.6.32-48squeeze20) (dannf@debian.org) (gcc version 4.3.5 (Debian 4.3.5-4) ) {version}");

        internal override IKernelLog CreateLog(KernelMemoryWriter writer, KernelArch arch) => new PrintkLogBuffer(writer, arch);

        // "%lx %x\n" of paddr_vmcoreinfo_note() and vmcoreinfo_max_size (sizeof vmcoreinfo_data: 4096).
        public override string VmcoreInfoSysfs(ulong notePhys) =>
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{notePhys:x} {Structures.KernelVmcoreInfo.NoteSize:x}\n");

        // kernel/printk.c log_buf_kexec_setup (2.6.26 – 3.4).
        public override void AddPrintk(VmcoreInfo v, KernelArch arch)
        {
            v.AddSymbol("log_buf", PrintkLogBuffer.LogBufSymbol(arch));
            v.AddSymbol("log_end", PrintkLogBuffer.LogEndSymbol(arch));
            v.AddSymbol("log_buf_len", PrintkLogBuffer.LogBufLenSymbol(arch));
            v.AddSymbol("logged_chars", PrintkLogBuffer.LoggedCharsSymbol(arch));
        }
    }
}
