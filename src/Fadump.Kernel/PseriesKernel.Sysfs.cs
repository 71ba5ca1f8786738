using System.Globalization;
using System.Text;
using Fadump.Firmware.Rtas;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;
using P = Fadump.Kernel.Arch.Ppc64.Ppc64Arch;

namespace Fadump.Kernel;

public sealed partial class PseriesKernel
{
    /// <summary>Called when a write to /proc/sysrq-trigger crashed the kernel (the platform boots the next one).</summary>
    public Action<PseriesKernel, bool>? OnCrashed { get; set; }

    private void CreateSysfs()
    {
        Files.Add(new VirtualFile { Path = "/proc/cmdline", Mode = 0444, Read = () => CommandLine.Text + "\n" });
        Files.Add(new VirtualFile
        {
            Path = "/proc/sysrq-trigger",
            Mode = 0200,
            Write = text =>
            {
                if (text.Length > 0 && text[0] == 'c')
                {
                    bool dumped = Crash(CrashKind.Sysrq);
                    OnCrashed?.Invoke(this, dumped);
                }

                return Errno.None;
            },
        });
        if (!Dump.Supported)
        {
            return;
        }

        // New names under /sys/kernel/fadump/, old names as the kernel's compatibility links.
        AddBoth("/sys/kernel/fadump/enabled", "/sys/kernel/fadump_enabled", new VirtualFile
        {
            Path = "/sys/kernel/fadump/enabled",
            Mode = 0444,
            Read = () => (Dump.Enabled ? "1" : "0") + "\n",
        });
        AddBoth("/sys/kernel/fadump/registered", "/sys/kernel/fadump_registered", new VirtualFile
        {
            Path = "/sys/kernel/fadump/registered",
            Mode = 0644,
            Read = () => (Dump.Registered ? "1" : "0") + "\n",
            Write = WriteRegistered,
        });
        Files.Add(new VirtualFile
        {
            Path = "/sys/kernel/fadump/mem_reserved",
            Mode = 0444,
            Read = () => Dump.ReserveSize.ToString(CultureInfo.InvariantCulture) + "\n",
        });
        Files.Add(new VirtualFile { Path = "/sys/kernel/fadump/hotplug_ready", Mode = 0444, Read = () => "1\n" });
        if (Dump.DumpActive)
        {
            AddBoth("/sys/kernel/fadump/release_mem", "/sys/kernel/fadump_release_mem", new VirtualFile
            {
                Path = "/sys/kernel/fadump/release_mem",
                Mode = 0200,
                Write = WriteReleaseMem,
            });
        }

        if (Dump.ParamArea != 0)
        {
            Files.Add(new VirtualFile
            {
                Path = "/sys/kernel/fadump/bootargs_append",
                Mode = 0600,
                Read = () => ReadParamArea() + "\n",
                Write = WriteBootargsAppend,
            });
        }

        Files.Add(new VirtualFile { Path = "/sys/kernel/debug/powerpc/fadump_region", Mode = 0444, Read = FadumpRegion });
        if (Dump.Vmcore is { } vmcore)
        {
            Files.Add(new VirtualFile { Path = "/proc/vmcore", Mode = 0400, Open = () => vmcore });
        }
    }

    private void AddBoth(string path, string oldPath, VirtualFile f)
    {
        Files.Add(f);
        Files.Add(new VirtualFile { Path = oldPath, Mode = f.Mode, Read = f.Read, Write = f.Write });
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

    private Errno WriteRegistered(string text)
    {
        if (!Dump.Enabled || Dump.DumpActive)
        {
            return Errno.EPERM;
        }

        if (!TryParseInt(text, out long v) || v is not (0 or 1))
        {
            return Errno.EINVAL;
        }

        if (v == 0)
        {
            if (Dump.Registered)
            {
                return UnregisterFadump() == 0 ? Errno.None : Errno.EIO;
            }

            return Errno.None;
        }

        if (Dump.Registered)
        {
            // Re-register: unregister first (kdump-utils' "reload").
            if (UnregisterFadump() != 0)
            {
                return Errno.EIO;
            }
        }

        InitCrashInfoHeader();
        int rc = RegisterFadump();
        return rc == 0 ? Errno.None : (Errno)(-rc);
    }

    private Errno WriteReleaseMem(string text)
    {
        if (!Dump.DumpActive)
        {
            return Errno.EPERM;
        }

        if (!TryParseInt(text, out long v) || v != 1)
        {
            return Errno.EINVAL;
        }

        InvalidateAndRelease();
        return Errno.None;
    }

    private string ReadParamArea()
    {
        var b = new byte[ParamAreaSize];
        _machine.Memory.Read(Dump.ParamArea, b);
        int nul = b.AsSpan().IndexOf((byte)0);
        return Encoding.ASCII.GetString(b, 0, nul < 0 ? b.Length : nul);
    }

    private Errno WriteBootargsAppend(string text)
    {
        if (!Dump.Enabled || Dump.DumpActive)
        {
            return Errno.EPERM;
        }

        if (text.Length >= (int)ParamAreaSize)
        {
            return Errno.EINVAL;
        }

        if (CommandLine.Text.Length + text.Length >= CommandLineSize)
        {
            return Errno.ENOSPC;
        }

        string t = text.EndsWith('\n') ? text[..^1] : text;
        var b = new byte[ParamAreaSize];
        Encoding.ASCII.GetBytes(t, b);
        _machine.Memory.Write(Dump.ParamArea, b);
        return Errno.None;
    }

    /// <summary>/sys/kernel/debug/powerpc/fadump_region (rtas_fadump_region_show).</summary>
    private string FadumpRegion()
    {
        if (!Dump.Enabled || Dump.Structure is null)
        {
            return string.Empty;
        }

        var s = Dump.Structure;
        var sb = new StringBuilder();
        foreach (var sec in s.Sections)
        {
            switch (sec.Type)
            {
                case FadumpStructure.CpuStateData:
                    sb.Append(FormattableString.Invariant($"CPU :[{CFormat.Hex016(sec.DestinationAddress)}-{CFormat.Hex016(sec.DestinationAddress + sec.SourceLength - 1)}] {CFormat.Hex(sec.SourceLength)} bytes, Dumped: {CFormat.Hex(sec.BytesDumped)}\n"));
                    break;
                case FadumpStructure.HpteRegion:
                    sb.Append(FormattableString.Invariant($"HPTE:[{CFormat.Hex016(sec.DestinationAddress)}-{CFormat.Hex016(sec.DestinationAddress + sec.SourceLength - 1)}] {CFormat.Hex(sec.SourceLength)} bytes, Dumped: {CFormat.Hex(sec.BytesDumped)}\n"));
                    break;
                case FadumpStructure.RealModeRegion:
                    sb.Append(FormattableString.Invariant($"DUMP: Src: {CFormat.Hex016(sec.SourceAddress)}, Dest: {CFormat.Hex016(sec.DestinationAddress)}, Size: {CFormat.Hex(sec.SourceLength)}, Dumped: {CFormat.Hex(sec.BytesDumped)} bytes\n"));
                    break;
                case FadumpStructure.ParamArea:
                    sb.Append(FormattableString.Invariant($"\n[{CFormat.Hex016(sec.DestinationAddress)}-{CFormat.Hex016(sec.DestinationAddress + sec.SourceLength - 1)}]: cmdline append: '{ReadParamArea()}'\n"));
                    break;
            }
        }

        if (Dump.DumpActive)
        {
            sb.Append(FormattableString.Invariant($"\nMemory above {CFormat.Hex016(Dump.ReserveStart)} is reserved for saving crash dump\n"));
        }

        return sb.ToString();
    }

    /// <summary>
    /// fadump_invalidate_release_mem: drop /proc/vmcore, invalidate the dump with the firmware, free
    /// every page above boot_mem_top except the reserved dump area (kept for the next registration)
    /// and reserved-ranges, then rebuild the registration structure.
    /// </summary>
    private void InvalidateAndRelease()
    {
        Files.Remove("/proc/vmcore");
        Dump.Vmcore = null;
        _rtas.ConfigureKernelDump(RtasFirmware.CmdInvalidate, 0, FadumpStructure.FullSize);
        ulong released = 0;
        var keep = new List<MemoryRange>(ReservedRanges) { new(Dump.ReserveStart, Align(Dump.ReserveSize, Page)) };
        _memblockReserved.RemoveAll(r => r.Start >= Dump.BootMemTop);
        foreach (var r in Memory)
        {
            ulong start = Math.Max(r.Start, Dump.BootMemTop);
            if (start >= r.End)
            {
                continue;
            }

            released += r.End - start;
            foreach (var k in keep)
            {
                ulong a = Math.Max(k.Start, start), b = Math.Min(k.End, r.End);
                if (a < b)
                {
                    released -= b - a;
                }
            }
        }

        _memblockReserved.AddRange(keep);
        Dump.ReleasedBytes = released;
        Dump.Released = true;
        Dump.DumpActive = false;
        _machine.Clock.Advance(_machine.Cost.Release(released));
        // The area stays reserved; the next registration uses it (and the capture kernel's layout).
        Dump.BootMemDestAddr = Dump.ReserveStart + Align(Dump.CpuStateDataSize + Dump.HpteRegionSize, Page);
        Dump.HeaderAddress = Dump.BootMemDestAddr + Dump.BootRegions.Aggregate(0UL, (a, r) => a + r.Size);
        Dump.ParamArea = P.FadumpParamAreaOffset;
        Dump.Structure = BuildStructure();
    }

    /// <summary>Memory the running kernel may use: RAM minus its reservations.</summary>
    public ulong AvailableMemory()
    {
        ulong total = 0;
        foreach (var r in Memory)
        {
            ulong free = r.Size;
            foreach (var res in _memblockReserved)
            {
                ulong a = Math.Max(res.Start, r.Start), b = Math.Min(res.End, r.End);
                if (a < b)
                {
                    free -= b - a;
                }
            }

            total += free;
        }

        return total;
    }
}
