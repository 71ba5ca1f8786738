using System.Globalization;
using System.Text;
using Fadump.Kernel.Sysfs;

namespace Fadump.Kernel.Fadump;

public sealed partial class FadumpCore
{
    /// <summary>fadump_init_files: /sys/kernel/fadump/* (and the old names as compatibility links), debugfs fadump_region.</summary>
    public void AddFiles(KernelFileSystem files)
    {
        if (!Dump.Supported && !_filesAtInit)
        {
            return;
        }

        AddBoth(files, "/sys/kernel/fadump_enabled", new VirtualFile
        {
            Path = "/sys/kernel/fadump/enabled",
            Mode = 0444,
            Read = () => (Dump.Enabled ? "1" : "0") + "\n",
        });
        AddBoth(files, "/sys/kernel/fadump_registered", new VirtualFile
        {
            Path = "/sys/kernel/fadump/registered",
            Mode = 0644,
            Read = () => (Dump.Registered ? "1" : "0") + "\n",
            Write = WriteRegistered,
        });
        files.Add(new VirtualFile
        {
            Path = "/sys/kernel/fadump/mem_reserved",
            Mode = 0444,
            Read = () => Dump.ReserveSize.ToString(CultureInfo.InvariantCulture) + "\n",
        });
        files.Add(new VirtualFile { Path = "/sys/kernel/fadump/hotplug_ready", Mode = 0444, Read = () => "1\n" });
        if (Dump.DumpActive)
        {
            AddBoth(files, "/sys/kernel/fadump_release_mem", new VirtualFile
            {
                Path = "/sys/kernel/fadump/release_mem",
                Mode = 0200,
                Write = WriteReleaseMem,
            });
        }

        if (Dump.ParamArea != 0)
        {
            files.Add(new VirtualFile
            {
                Path = "/sys/kernel/fadump/bootargs_append",
                Mode = 0600,
                Read = () => ReadParamArea() + "\n",
                Write = WriteBootargsAppend,
            });
        }

        files.Add(new VirtualFile { Path = "/sys/kernel/debug/powerpc/fadump_region", Mode = 0444, Read = RegionShow });
    }

    /// <summary>The file, and its old name as compat_only_sysfs_link_entry_to_kobj makes it: a link into fadump/.</summary>
    private static void AddBoth(KernelFileSystem files, string oldPath, VirtualFile f)
    {
        files.Add(f);
        files.AddLink(oldPath, f.Path["/sys/kernel/".Length..]);
    }

    private Errno WriteRegistered(string text)
    {
        if (!Dump.Enabled || Dump.DumpActive)
        {
            return Errno.EPERM;
        }

        if (!LinuxKernel.TryParseInt(text, out long v) || v is not (0 or 1))
        {
            return Errno.EINVAL;
        }

        if (v == 0)
        {
            if (Dump.Registered)
            {
                return _ops.Unregister(this) == 0 ? Errno.None : Errno.EIO;
            }

            return Errno.None;
        }

        if (Dump.Registered)
        {
            // Re-register: unregister first (kdump-utils' "reload").
            if (_ops.Unregister(this) != 0)
            {
                return Errno.EIO;
            }
        }

        InitCrashInfoHeader();
        int rc = Register();
        return rc == 0 ? Errno.None : (Errno)(-rc);
    }

    private Errno WriteReleaseMem(string text)
    {
        if (!Dump.DumpActive)
        {
            return Errno.EPERM;
        }

        if (!LinuxKernel.TryParseInt(text, out long v) || v != 1)
        {
            return Errno.EINVAL;
        }

        InvalidateAndRelease();
        return Errno.None;
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

        if (Kernel.CommandLine.Text.Length + text.Length >= LinuxKernel.CommandLineSize)
        {
            return Errno.ENOSPC;
        }

        string t = text.EndsWith('\n') ? text[..^1] : text;
        var b = new byte[ParamAreaSize];
        Encoding.ASCII.GetBytes(t, b);
        Machine.Memory.Write(Dump.ParamArea, b);
        return Errno.None;
    }

    /// <summary>fadump_region_show: nothing unless enabled, then the platform's listing.</summary>
    private string RegionShow() => Dump.Enabled ? _ops.RegionShow(this) : string.Empty;
}
