using Fadump.Kernel.Sysfs;

namespace Fadump.Kernel.Tests;

/// <summary>A sysfs write as a shell's echo sees it: the errno the kernel answered, or none.</summary>
internal static class SysfsWrite
{
    public static Errno Errno(LinuxKernel k, string path, string text)
    {
        try
        {
            k.Files.WriteText(path, text);
            return Sysfs.Errno.None;
        }
        catch (KernelFileException e)
        {
            return e.Errno;
        }
    }
}
