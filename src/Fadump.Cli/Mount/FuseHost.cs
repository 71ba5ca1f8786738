using System.Runtime.InteropServices;
using System.Text;

namespace Fadump.Cli.Mount;

/// <summary>
/// A file system as libfuse's high-level API calls it: paths inside the mount ("/proc/vmcore"), results as 0 or
/// a byte count, failures as a negative errno. Calls come from libfuse's worker threads (fuse_loop_mt), several at once.
/// </summary>
internal interface IFuseFileSystem
{
    int GetAttributes(string path, out FileAttributes attributes);

    int ReadLink(string path, out string target);

    /// <summary>The names in a directory ("." and ".." are added by the host).</summary>
    int ReadDirectory(string path, List<string> names);

    /// <summary>
    /// Opens with open(2)'s flags; <paramref name="directIo"/> asks the kernel to pass every read through (sizes that
    /// are not the content's), <paramref name="keepCache"/> to keep what it cached of the file from an earlier open.
    /// </summary>
    int Open(string path, int flags, out ulong handle, out bool directIo, out bool keepCache);

    int Read(ulong handle, Span<byte> buffer, long offset);

    int Write(ulong handle, ReadOnlySpan<byte> data, long offset);

    int Truncate(string path, long size);

    void Release(ulong handle);

    /// <summary>The errno of a create (O_CREAT of a missing name), mknod, mkdir, symlink, link, unlink, rmdir or rename.</summary>
    int Refuse(string operation, string path);

    /// <summary>Says what went wrong inside a call (the call itself returns EIO).</summary>
    void Report(Exception e);
}

/// <summary>
/// Runs an <see cref="IFuseFileSystem"/> as a FUSE mount through libfuse3: fuse_new with our operations,
/// fuse_mount, fuse_loop_mt until the mount goes away (fusermount3 -u, umount, or <see cref="RequestUnmount"/>
/// from a signal handler), then fuse_unmount and fuse_destroy. One mount per process.
/// </summary>
internal static unsafe class FuseHost
{
    private const int EIO = 5;

    private static IFuseFileSystem? _fs;
    private static string? _mountpoint;
    private static int _unmountRequested;

    /// <summary>Mounts and serves until unmounted. <paramref name="onMounted"/> runs once the mount is in place. Returns false (with the reason) when it could not mount.</summary>
    public static bool Serve(IFuseFileSystem fs, string mountpoint, IReadOnlyList<string> options, Action onMounted, out string? error)
    {
        error = null;
        if (Interlocked.CompareExchange(ref _fs, fs, null) is not null)
        {
            throw new InvalidOperationException("one FUSE mount per process");
        }

        _mountpoint = mountpoint;
        var ops = new LibFuse.FuseOperations
        {
            Getattr = &Getattr,
            Readlink = &Readlink,
            Mknod = &Mknod,
            Mkdir = &Mkdir,
            Unlink = &Unlink,
            Rmdir = &Rmdir,
            Rename = &Rename,
            Symlink = &Symlink,
            Link = &Link,
            Truncate = &Truncate,
            Open = &Open,
            Read = &Read,
            Write = &Write,
            Release = &Release,
            Readdir = &Readdir,
            Create = &Create,
        };

        string[] argv = ["fadump", .. options.SelectMany(o => new[] { "-o", o })];
        var strings = argv.Select(a => Marshal.StringToCoTaskMemUTF8(a)).ToArray();
        var argvPtr = (byte**)NativeMemory.Alloc((nuint)(strings.Length + 1), (nuint)sizeof(nint));
        nint fuse = 0;
        try
        {
            for (int i = 0; i < strings.Length; i++)
            {
                argvPtr[i] = (byte*)strings[i];
            }

            argvPtr[strings.Length] = null;
            var args = new LibFuse.FuseArgs { Argc = strings.Length, Argv = argvPtr, Allocated = 0 };
            fuse = LibFuse.New(&args, &ops, (nuint)sizeof(LibFuse.FuseOperations), 0);
            if (fuse == 0)
            {
                error = "fuse_new failed (libfuse printed why above)";
                return false;
            }

            if (LibFuse.Mount(fuse, mountpoint) != 0)
            {
                error = "fuse_mount failed (libfuse printed why above)";
                return false;
            }

            onMounted();
            nint config = LibFuse.LoopConfigCreate();
            try
            {
                LibFuse.LoopConfigSetMaxThreads(config, (uint)Math.Max(2, Environment.ProcessorCount * 2));
                LibFuse.LoopMt(fuse, config);
            }
            finally
            {
                LibFuse.LoopConfigDestroy(config);
            }

            LibFuse.Unmount(fuse);
            return true;
        }
        finally
        {
            if (fuse != 0)
            {
                LibFuse.Destroy(fuse);
            }

            NativeMemory.Free(argvPtr);
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }

            _fs = null;
        }
    }

    /// <summary>
    /// Ends the loop from another thread (a signal handler): a lazy unmount, as `fusermount3 -u -z` does, after
    /// which the kernel ends the connection and fuse_loop returns. Root calls umount2; others run fusermount3.
    /// </summary>
    public static void RequestUnmount()
    {
        if (_mountpoint is not { } mp || Interlocked.Exchange(ref _unmountRequested, 1) != 0)
        {
            return;
        }

        if (Environment.IsPrivilegedProcess && LibFuse.Umount2(mp, LibFuse.MntDetach) == 0)
        {
            return;
        }

        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("fusermount3", ["-u", "-z", "--", mp]) { UseShellExecute = false });
        p?.WaitForExit();
    }

    private static string PathOf(byte* path) => Marshal.PtrToStringUTF8((nint)path) ?? "/";

    private static int Guard(Func<IFuseFileSystem, int> call)
    {
        var fs = _fs;
        if (fs is null)
        {
            return -EIO;
        }

        try
        {
            return call(fs);
        }
        catch (Exception e)
        {
            fs.Report(e);
            return -EIO;
        }
    }

    [UnmanagedCallersOnly]
    private static int Getattr(byte* path, byte* st, byte* fi)
    {
        string p = PathOf(path);
        return Guard(fs =>
        {
            int r = fs.GetAttributes(p, out var a);
            if (r == 0)
            {
                LibFuse.WriteStat(st, a);
            }

            return r;
        });
    }

    [UnmanagedCallersOnly]
    private static int Readlink(byte* path, byte* buf, nuint size)
    {
        string p = PathOf(path);
        return Guard(fs =>
        {
            int r = fs.ReadLink(p, out string target);
            if (r != 0)
            {
                return r;
            }

            // readlink's buffer gets the target NUL-terminated, truncated to size - 1 bytes.
            var dest = new Span<byte>(buf, (int)Math.Min(size, int.MaxValue));
            int n = Math.Min(Encoding.UTF8.GetByteCount(target), dest.Length - 1);
            Encoding.UTF8.GetBytes(target).AsSpan(0, n).CopyTo(dest);
            dest[n] = 0;
            return 0;
        });
    }

    [UnmanagedCallersOnly]
    private static int Readdir(byte* path, byte* buf, delegate* unmanaged<byte*, byte*, byte*, long, int, int> filler, long offset, byte* fi, int flags)
    {
        string p = PathOf(path);
        return Guard(fs =>
        {
            var names = new List<string> { ".", ".." };
            int r = fs.ReadDirectory(p, names);
            if (r != 0)
            {
                return r;
            }

            foreach (string name in names)
            {
                byte[] b = Encoding.UTF8.GetBytes(name + "\0");
                fixed (byte* n = b)
                {
                    if (filler(buf, n, null, 0, 0) != 0)
                    {
                        break;
                    }
                }
            }

            return 0;
        });
    }

    [UnmanagedCallersOnly]
    private static int Open(byte* path, byte* fi)
    {
        string p = PathOf(path);
        int flags = LibFuse.OpenFlags(fi);
        return Guard(fs =>
        {
            int r = fs.Open(p, flags, out ulong handle, out bool directIo, out bool keepCache);
            if (r == 0)
            {
                LibFuse.SetHandle(fi, handle, directIo, keepCache);
            }

            return r;
        });
    }

    [UnmanagedCallersOnly]
    private static int Read(byte* path, byte* buf, nuint size, long offset, byte* fi)
    {
        ulong h = LibFuse.Handle(fi);
        var bufPtr = (nint)buf;
        int len = (int)Math.Min(size, int.MaxValue);
        return Guard(fs => fs.Read(h, new Span<byte>((byte*)bufPtr, len), offset));
    }

    [UnmanagedCallersOnly]
    private static int Write(byte* path, byte* buf, nuint size, long offset, byte* fi)
    {
        ulong h = LibFuse.Handle(fi);
        var bufPtr = (nint)buf;
        int len = (int)Math.Min(size, int.MaxValue);
        return Guard(fs => fs.Write(h, new ReadOnlySpan<byte>((byte*)bufPtr, len), offset));
    }

    [UnmanagedCallersOnly]
    private static int Release(byte* path, byte* fi)
    {
        ulong h = LibFuse.Handle(fi);
        return Guard(fs =>
        {
            fs.Release(h);
            return 0;
        });
    }

    [UnmanagedCallersOnly]
    private static int Truncate(byte* path, long size, byte* fi)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Truncate(p, size));
    }

    [UnmanagedCallersOnly]
    private static int Create(byte* path, uint mode, byte* fi)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Refuse("create", p));
    }

    [UnmanagedCallersOnly]
    private static int Mknod(byte* path, uint mode, ulong dev)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Refuse("mknod", p));
    }

    [UnmanagedCallersOnly]
    private static int Mkdir(byte* path, uint mode)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Refuse("mkdir", p));
    }

    [UnmanagedCallersOnly]
    private static int Unlink(byte* path)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Refuse("unlink", p));
    }

    [UnmanagedCallersOnly]
    private static int Rmdir(byte* path)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Refuse("rmdir", p));
    }

    [UnmanagedCallersOnly]
    private static int Rename(byte* from, byte* to, uint flags)
    {
        string p = PathOf(from);
        return Guard(fs => fs.Refuse("rename", p));
    }

    [UnmanagedCallersOnly]
    private static int Symlink(byte* target, byte* path)
    {
        string p = PathOf(path);
        return Guard(fs => fs.Refuse("symlink", p));
    }

    [UnmanagedCallersOnly]
    private static int Link(byte* from, byte* to)
    {
        string p = PathOf(to);
        return Guard(fs => fs.Refuse("link", p));
    }
}
