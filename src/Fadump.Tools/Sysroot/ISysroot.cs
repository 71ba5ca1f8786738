using Fadump.Formats.IO;

namespace Fadump.Tools.Sysroot;

/// <summary>
/// The root directory the tools work under: /proc/vmcore, /sys/kernel/fadump/... exactly as on a real
/// capture kernel. A real directory on a real machine; the simulator serves the same view in-process
/// and through FUSE. Paths are absolute inside the root ("/proc/vmcore").
/// </summary>
public interface ISysroot
{
    /// <summary>What this root is, for messages ("/" or "simulated pseries LPAR").</summary>
    string Description { get; }

    bool Exists(string path);

    string ReadText(string path);

    /// <summary>Writes as `echo TEXT > path`; a refused write throws an IOException naming the errno.</summary>
    void WriteText(string path, string text);

    IRandomAccessSource OpenRead(string path);
}

/// <summary>A real directory tree (/, or a FUSE mount of the simulator).</summary>
public sealed class DirectorySysroot(string root) : ISysroot
{
    public string Description => root;

    private string Full(string path) => Path.Combine(root, path.TrimStart('/'));

    public bool Exists(string path) => File.Exists(Full(path)) || Directory.Exists(Full(path));

    public string ReadText(string path) => File.ReadAllText(Full(path));

    public void WriteText(string path, string text)
    {
        // sysfs wants one write() of the whole text, like echo.
        using var fs = new FileStream(Full(path), FileMode.Open, FileAccess.Write);
        var b = System.Text.Encoding.ASCII.GetBytes(text);
        fs.Write(b);
        fs.Flush();
    }

    /// <summary>
    /// Regular files by their size; a device under /dev (/dev/mem reports size 0) by offset, unbounded. Anything
    /// else (a FIFO as proc/vmcore, a directory) is refused by FileSource before it is opened, so it cannot hang.
    /// </summary>
    public IRandomAccessSource OpenRead(string path)
    {
        string full = Full(path);
        if (path.StartsWith("/dev/", StringComparison.Ordinal)
            && PosixFile.Kind(full, followSymlinks: true) is FileKind.CharacterDevice or FileKind.BlockDevice)
        {
            return new DeviceSource(full);
        }

        return new FileSource(full);
    }
}
