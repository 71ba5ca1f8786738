using System.Text;
using Fadump.Formats;
using Fadump.Formats.IO;
using Fadump.Kernel;
using Fadump.Kernel.Sysfs;

namespace Fadump.Cli.Mount;

/// <summary>
/// The running simulated kernel's /proc, /sys, /sys/kernel/debug and /dev/mem as a FUSE file system, with the
/// modes, sizes and errors of the kernel's own file systems: sysfs text attributes are 4096 bytes long and refuse
/// an open for an access they lack (EACCES, kernfs's extra open check); proc files are 0 bytes long and fail the
/// read or write they do not implement with EIO (pde_read, pde_write); debugfs files fail it with EINVAL
/// (vfs_read, vfs_write); binary files (/proc/vmcore, device-tree properties, the OPAL core) have their real size.
/// Links are symbolic links (an absolute target made relative, to stay inside the mount). Creating, removing or renaming fails as on sysfs and proc (EACCES, EPERM).
/// When a write changes which kernel runs (sysrq c, b), the tree becomes the new kernel's at once; sysrq o powers
/// the machine off, which ends the mount.
/// Calls come from libfuse's worker threads: reads run concurrently, every other call alone (a write can crash
/// the machine under them).
/// </summary>
internal sealed class KernelTree(Func<LinuxKernel?> running, Action<LinuxKernel?, LinuxKernel?> kernelChanged, Func<bool> isPoweredOff, Action poweredOff, TextWriter errors) : IFuseFileSystem
{
    private const int EPERM = 1, ENOENT = 2, EIO = 5, EBADF = 9, EACCES = 13, EISDIR = 21, EINVAL = 22, ENOTDIR = 20;
    private const int OAccMode = 3, OWronly = 1, ORdwr = 2;

    private readonly Dictionary<ulong, OpenFile> _open = [];
    private readonly ReaderWriterLockSlim _lock = new();
    private readonly Dictionary<string, VirtualFile> _cachedSources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _inodes = new(StringComparer.Ordinal);
    private readonly long _time = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private ulong _nextHandle = 1;
    private LinuxKernel? _indexed;
    private long _indexedVersion = -1;
    private Dictionary<string, SortedSet<string>> _dirs = new(StringComparer.Ordinal);

    private sealed record OpenFile(LinuxKernel Kernel, VirtualFile File, string Path, bool Write, byte[]? Text, IRandomAccessSource? Source);

    private enum Kind
    {
        Proc,
        Sysfs,
        Debugfs,
        Dev,
    }

    private static Kind KindOf(string path) =>
        path.StartsWith("/sys/kernel/debug/", StringComparison.Ordinal) ? Kind.Debugfs
        : path.StartsWith("/sys/", StringComparison.Ordinal) ? Kind.Sysfs
        : path.StartsWith("/dev/", StringComparison.Ordinal) ? Kind.Dev
        : Kind.Proc;

    private LinuxKernel? Kernel => running();

    private Dictionary<string, SortedSet<string>> Directories()
    {
        var k = Kernel;
        if (ReferenceEquals(k, _indexed) && k?.Files.Version == _indexedVersion)
        {
            return _dirs;
        }

        var dirs = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        void Add(string dir, string name)
        {
            if (!dirs.TryGetValue(dir, out var set))
            {
                dirs[dir] = set = new SortedSet<string>(StringComparer.Ordinal);
            }

            set.Add(name);
        }

        foreach (string top in (ReadOnlySpan<string>)["dev", "proc", "sys"])
        {
            Add("/", top);
            Add("/" + top, ".");
        }

        foreach (var f in k?.Files.Files ?? [])
        {
            string path = f.Path;
            int slash = path.LastIndexOf('/');
            while (slash >= 0)
            {
                string dir = slash == 0 ? "/" : path[..slash];
                Add(dir, path[(slash + 1)..]);
                path = dir;
                slash = dir == "/" ? -1 : dir.LastIndexOf('/');
            }
        }

        foreach (var set in dirs.Values)
        {
            set.Remove(".");
        }

        _dirs = dirs;
        _indexed = k;
        _indexedVersion = k?.Files.Version ?? -1;
        return dirs;
    }

    private ulong Inode(string path)
    {
        if (!_inodes.TryGetValue(path, out ulong ino))
        {
            _inodes[path] = ino = (ulong)_inodes.Count + 1;
        }

        return ino;
    }

    public int GetAttributes(string path, out FileAttributes attributes)
    {
        using var scope = Exclusive();
        attributes = default;
        var dirs = Directories();
        if (dirs.TryGetValue(path, out var children))
        {
            uint mode = (uint)VirtualFile.Octal(path switch
            {
                _ when path == "/proc" || path.StartsWith("/proc/", StringComparison.Ordinal) => 555,
                "/sys/kernel/debug" => 700,
                _ => 755,
            });
            attributes = new FileAttributes(FileAttributes.Directory | mode, 0, 2 + (ulong)children.Count(c => dirs.ContainsKey(Child(path, c))), Inode(path), _time);
            return 0;
        }

        var entry = Kernel?.Files.GetEntry(path);
        if (entry is null)
        {
            return -ENOENT;
        }

        if (entry.LinkTarget is not null)
        {
            attributes = new FileAttributes(FileAttributes.SymbolicLink | (uint)VirtualFile.Octal(777), Encoding.UTF8.GetByteCount(InsideMount(entry)), 1, Inode(path), _time);
            return 0;
        }

        long size = entry.Open is not null ? SourceLength(entry) : KindOf(path) == Kind.Sysfs ? 4096 : 0;
        attributes = new FileAttributes(FileAttributes.Regular | (uint)entry.Permissions, size, 1, Inode(path), _time);
        return 0;
    }

    private static string Child(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    private static long SourceLength(VirtualFile f)
    {
        using var s = f.Open!();
        return s.Length;
    }

    public int ReadLink(string path, out string target)
    {
        using var scope = Exclusive();
        target = "";
        if (Kernel?.Files.GetEntry(path) is not { LinkTarget: not null })
        {
            return Directories().ContainsKey(path) || Kernel?.Files.GetEntry(path) is not null ? -EINVAL : -ENOENT;
        }

        target = InsideMount(Kernel!.Files.GetEntry(path)!);
        return 0;
    }

    /// <summary>
    /// A link's target as the mount serves it: an absolute one (/proc/device-tree → /sys/firmware/devicetree/base)
    /// made relative to the link's directory (../sys/firmware/devicetree/base), so that it stays inside DIR.
    /// </summary>
    public static string InsideMount(VirtualFile link)
    {
        string target = link.LinkTarget!;
        if (!target.StartsWith('/'))
        {
            return target;
        }

        int depth = link.Path.Count(c => c == '/') - 1;
        return string.Concat(Enumerable.Repeat("../", depth)) + target.TrimStart('/');
    }

    public int ReadDirectory(string path, List<string> names)
    {
        using var scope = Exclusive();
        if (!Directories().TryGetValue(path, out var children))
        {
            return Kernel?.Files.GetEntry(path) is null ? -ENOENT : -ENOTDIR;
        }

        names.AddRange(children);
        return 0;
    }

    public int Open(string path, int flags, out ulong handle, out bool directIo, out bool keepCache)
    {
        using var scope = Exclusive();
        handle = 0;
        directIo = true;
        keepCache = false;
        if (Directories().ContainsKey(path))
        {
            return -EISDIR;
        }

        var k = Kernel;
        var f = k?.Files.Get(path);
        if (k is null || f is null)
        {
            return -ENOENT;
        }

        int acc = flags & OAccMode;
        bool wantWrite = acc is OWronly or ORdwr, wantRead = acc != OWronly;
        bool canRead = f.Read is not null || f.Open is not null, canWrite = f.Write is not null;
        if (KindOf(f.Path) == Kind.Sysfs
            && ((wantWrite && (!canWrite || (f.Permissions & VirtualFile.Octal(222)) == 0)) || (wantRead && (!canRead || (f.Permissions & VirtualFile.Octal(444)) == 0))))
        {
            return -EACCES;
        }

        byte[]? text = null;
        IRandomAccessSource? source = null;
        if (wantRead && f.Open is not null)
        {
            source = f.Open();
            directIo = false; // /proc/vmcore: through the page cache, so mmap works and large reads are not split
            // What the page cache holds stays valid while the same file is served (a new capture kernel's vmcore is another).
            keepCache = _cachedSources.TryGetValue(f.Path, out var cached) && ReferenceEquals(cached, f);
            _cachedSources[f.Path] = f;
        }
        else if (wantRead && f.Read is not null)
        {
            text = Encoding.Latin1.GetBytes(f.Read());
        }

        lock (_open)
        {
            handle = _nextHandle++;
            _open[handle] = new OpenFile(k, f, f.Path, wantWrite, text, source);
        }
        return 0;
    }

    public int Read(ulong handle, Span<byte> buffer, long offset)
    {
        // Reads run side by side (the kernel's readahead keeps several in flight); everything else runs alone.
        using var scope = Shared();
        OpenFile? o;
        lock (_open)
        {
            if (!_open.TryGetValue(handle, out o))
            {
                return -EBADF;
            }
        }

        if (o.Text is null && o.Source is null)
        {
            return KindOf(o.Path) == Kind.Debugfs ? -EINVAL : -EIO;
        }

        if (!Current(o))
        {
            return -EIO; // the kernel that served it is gone, or the file was removed (release_mem)
        }

        if (o.Text is { } text)
        {
            if (offset >= text.Length)
            {
                return 0;
            }

            int n = (int)Math.Min(buffer.Length, text.Length - offset);
            text.AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }

        try
        {
            int total = 0;
            while (total < buffer.Length)
            {
                int n = o.Source!.Read(offset + total, buffer[total..]);
                if (n <= 0)
                {
                    break;
                }

                total += n;
            }

            return total;
        }
        catch (KernelFileException e)
        {
            return -(int)e.Errno;
        }
        catch (DumpFormatException)
        {
            return -EIO;
        }
    }

    /// <summary>Holds the tree's lock, shared (reads) or exclusive (every other call), until disposed.</summary>
    private readonly struct LockScope(ReaderWriterLockSlim rw, bool exclusive) : IDisposable
    {
        public void Dispose()
        {
            if (exclusive)
            {
                rw.ExitWriteLock();
            }
            else
            {
                rw.ExitReadLock();
            }
        }
    }

    private LockScope Shared()
    {
        _lock.EnterReadLock();
        return new LockScope(_lock, exclusive: false);
    }

    private LockScope Exclusive()
    {
        _lock.EnterWriteLock();
        return new LockScope(_lock, exclusive: true);
    }

    private bool Current(OpenFile o) => ReferenceEquals(o.Kernel, Kernel) && ReferenceEquals(o.Kernel.Files.Get(o.Path), o.File);

    public int Write(ulong handle, ReadOnlySpan<byte> data, long offset)
    {
        using var scope = Exclusive();
        OpenFile? o;
        lock (_open)
        {
            if (!_open.TryGetValue(handle, out o) || !o.Write)
            {
                return -EBADF;
            }
        }

        if (o.File.Write is null)
        {
            return KindOf(o.Path) == Kind.Debugfs ? -EINVAL : -EIO;
        }

        if (!Current(o))
        {
            return -EIO;
        }

        var before = Kernel;
        bool wasOff = isPoweredOff();
        var e = o.File.Write(Encoding.Latin1.GetString(data));
        var after = Kernel;
        if (!ReferenceEquals(before, after))
        {
            kernelChanged(before, after);
        }

        if (!wasOff && isPoweredOff())
        {
            poweredOff(); // sysrq o: the machine is off, so the mount ends
        }

        return e == Errno.None ? data.Length : -(int)e;
    }

    public int Truncate(string path, long size)
    {
        using var scope = Exclusive();
        // open(O_TRUNC) of an attribute: sysfs and proc ignore the truncation.
        var f = Kernel?.Files.Get(path);
        return f is null ? (Directories().ContainsKey(path) ? -EISDIR : -ENOENT) : f.Write is null && KindOf(f.Path) == Kind.Sysfs ? -EACCES : 0;
    }

    public void Release(ulong handle)
    {
        OpenFile? o;
        lock (_open)
        {
            _open.Remove(handle, out o);
        }

        o?.Source?.Dispose();
    }

    public int Refuse(string operation, string path) => operation is "create" ? -EACCES : -EPERM;

    public void Report(Exception e) => errors.WriteLine("fadump: sim mount: " + e.Message);
}
