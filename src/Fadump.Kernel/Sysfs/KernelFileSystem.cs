using System.Text;
using Fadump.Formats.IO;

namespace Fadump.Kernel.Sysfs;

/// <summary>Linux errno values the virtual files return.</summary>
public enum Errno
{
    None = 0,
    EPERM = 1,
    ENOENT = 2,
    EIO = 5,
    ENOEXEC = 8,
    EBADF = 9,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ENOSPC = 28,
    EADDRNOTAVAIL = 99,
}

/// <summary>A failed read or write on a virtual file, carrying the errno a real kernel would return.</summary>
public sealed class KernelFileException(string path, Errno errno)
    : IOException($"{path}: {Describe(errno)}")
{
    public Errno Errno { get; } = errno;

    public string Path { get; } = path;

    public static string Describe(Errno e) => e switch
    {
        Errno.EPERM => "Operation not permitted",
        Errno.ENOENT => "No such file or directory",
        Errno.EIO => "Input/output error",
        Errno.ENOEXEC => "Exec format error",
        Errno.EBADF => "Bad file descriptor",
        Errno.ENOMEM => "Cannot allocate memory",
        Errno.EACCES => "Permission denied",
        Errno.EFAULT => "Bad address",
        Errno.EBUSY => "Device or resource busy",
        Errno.EEXIST => "File exists",
        Errno.ENODEV => "No such device",
        Errno.EINVAL => "Invalid argument",
        Errno.ENOSPC => "No space left on device",
        Errno.EADDRNOTAVAIL => "Cannot assign requested address",
        _ => e.ToString(),
    };
}

/// <summary>One virtual file: a mode, a text read handler, a write handler returning an errno.</summary>
public sealed class VirtualFile
{
    public required string Path { get; init; }

    /// <summary>
    /// Permission bits as the kernel's source writes them (0444, 0200, 0600 ...), read as octal digits: C# has no
    /// octal literals, so 0444 here is the number 444 and <see cref="Permissions"/> is the mode's real value.
    /// </summary>
    public required int Mode { get; init; }

    /// <summary>The permission bits <see cref="Mode"/> spells (0444 → 0x124), for st_mode.</summary>
    public int Permissions => Octal(Mode);

    /// <summary>A number whose decimal digits are octal ones (755) as the value they spell (0x1ed).</summary>
    public static int Octal(int digits)
    {
        int value = 0;
        for (int scale = 1; digits > 0; digits /= 10, scale *= 8)
        {
            value += digits % 10 * scale;
        }

        return value;
    }

    public Func<string>? Read { get; init; }

    public Func<string, Errno>? Write { get; init; }

    /// <summary>Large binary files (/proc/vmcore) are served as random-access sources.</summary>
    public Func<IRandomAccessSource>? Open { get; init; }

    /// <summary>A symbolic link's target, relative to its directory (sysfs's compatibility links: fadump_enabled → fadump/enabled).</summary>
    public string? LinkTarget { get; init; }

    /// <summary>A symbolic link (<see cref="LinkTarget"/>), not a file.</summary>
    public bool IsLink => LinkTarget is not null;
}

/// <summary>
/// The kernel's virtual files (/proc, /sys, /sys/kernel/debug), as a running Linux serves them. A
/// root-directory adapter (in-process or FUSE) exposes them to the real tools.
/// </summary>
public sealed class KernelFileSystem
{
    private readonly SortedDictionary<string, VirtualFile> _files = new(StringComparer.Ordinal);

    public IEnumerable<VirtualFile> Files => _files.Values;

    /// <summary>Counts every change to the set of files, so a view of the tree (the FUSE mount's directories) knows when to rebuild.</summary>
    public long Version { get; private set; }

    public void Add(VirtualFile f)
    {
        _files[f.Path] = f;
        Version++;
    }

    /// <summary>A symbolic link at <paramref name="path"/> to <paramref name="target"/> (relative to the link's directory).</summary>
    public void AddLink(string path, string target) => Add(new VirtualFile { Path = path, Mode = 0777, LinkTarget = target });

    public void Remove(string path)
    {
        if (_files.Remove(path))
        {
            Version++;
        }
    }

    public bool Exists(string path) => Get(path) is not null;

    /// <summary>The file at a path, through symbolic links anywhere in it (a bounded number, as the kernel's 40).</summary>
    public VirtualFile? Get(string path)
    {
        for (int hops = 0; hops < 40; hops++)
        {
            path = ResolveDirectories(path);
            if (!_files.TryGetValue(path, out var f))
            {
                return null;
            }

            if (f.LinkTarget is not { } target)
            {
                return f;
            }

            path = Resolve(path, target);
        }

        return null;
    }

    /// <summary>The path with a link among its directories replaced by its target ("/proc/device-tree/rtas" → "/sys/firmware/devicetree/base/rtas").</summary>
    public string ResolveDirectories(string path)
    {
        for (int hops = 0; hops < 40; hops++)
        {
            int slash = path.IndexOf('/', 1);
            bool changed = false;
            while (slash > 0)
            {
                if (_files.TryGetValue(path[..slash], out var dir) && dir.LinkTarget is { } target)
                {
                    path = Resolve(path[..slash], target) + path[slash..];
                    changed = true;
                    break;
                }

                slash = path.IndexOf('/', slash + 1);
            }

            if (!changed)
            {
                return path;
            }
        }

        return path;
    }

    /// <summary>The entry at a path itself: a link is returned as the link (lstat, readlink).</summary>
    public VirtualFile? GetEntry(string path) => _files.TryGetValue(path, out var f) ? f : null;

    /// <summary>A link's target as an absolute path ("/sys/kernel/fadump_enabled", "fadump/enabled" → "/sys/kernel/fadump/enabled").</summary>
    public static string Resolve(string linkPath, string target)
    {
        var parts = new List<string>(target.StartsWith('/') ? [] : linkPath[..linkPath.LastIndexOf('/')].Split('/', StringSplitOptions.RemoveEmptyEntries));
        foreach (string part in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
            }
            else if (part != ".")
            {
                parts.Add(part);
            }
        }

        return "/" + string.Join('/', parts);
    }

    public string ReadText(string path)
    {
        var f = Get(path) ?? throw new KernelFileException(path, Errno.ENOENT);
        if (f.Read is null)
        {
            throw new KernelFileException(path, Errno.EACCES);
        }

        return f.Read();
    }

    /// <summary>Writes as `echo TEXT > path` would (the text normally ends with a newline).</summary>
    public void WriteText(string path, string text)
    {
        var f = Get(path) ?? throw new KernelFileException(path, Errno.ENOENT);
        if (f.Write is null)
        {
            throw new KernelFileException(path, Errno.EACCES);
        }

        var e = f.Write(text);
        if (e != Errno.None)
        {
            throw new KernelFileException(path, e);
        }
    }

    public IRandomAccessSource OpenRead(string path)
    {
        var f = Get(path) ?? throw new KernelFileException(path, Errno.ENOENT);
        if (f.Open is not null)
        {
            return f.Open();
        }

        if (f.Read is null)
        {
            throw new KernelFileException(path, Errno.EACCES);
        }

        return new MemorySource(Encoding.ASCII.GetBytes(f.Read()), path);
    }

    /// <summary>Directory entries under a path, for listings.</summary>
    public IEnumerable<string> List(string dir)
    {
        if (_files.TryGetValue(dir, out var link) && link.LinkTarget is { } target)
        {
            dir = Resolve(dir, target);
        }

        string prefix = ResolveDirectories(dir.TrimEnd('/')) + "/";
        return _files.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k[prefix.Length..].Split('/')[0]).Distinct();
    }
}
