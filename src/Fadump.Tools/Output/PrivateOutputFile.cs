using System.Globalization;
using Fadump.Formats.IO;
using Microsoft.Win32.SafeHandles;

namespace Fadump.Tools.Output;

/// <summary>
/// A dump file being written: created 0600 under a temporary name in the target directory, fsynced
/// and renamed into place by <see cref="Commit"/>, then the directory fsynced. Dumps hold secrets (memory of
/// every process), and a partial dump must never sit under the final name looking complete.
/// </summary>
/// <remarks>
/// <para>The final name must be new, or a regular file (replaced only with <c>overwrite</c>, makedumpfile -f).
/// A symbolic link, a directory, a FIFO, a device or a socket there is refused with an error naming it: the
/// rename would replace /dev/null with a dump, and writing through a link would put the dump where the link
/// points. The temporary file is created with O_CREAT|O_EXCL (which does not follow a link at that name) and
/// mode 0600 whatever the umask.</para>
/// <para>The temporary name is <c>.NAME.part-PID</c>. A process killed with SIGKILL (or a power loss) leaves
/// it behind; the next writer of the same NAME in that directory removes the ones whose PID is no longer
/// running (<see cref="StaleRemoved"/>). Such a file is never under the final name, and the readers find it
/// truncated (incomplete) anyway.</para>
/// </remarks>
public sealed class PrivateOutputFile : IDisposable
{
    private const string PartInfix = ".part-";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly FileStream _stream;
    private readonly bool _overwrite;
    private bool _done;

    /// <param name="finalPath">The name the finished file gets.</param>
    /// <param name="overwrite">Replace an existing regular file (makedumpfile -f); otherwise it is an error ("File exists").</param>
    public PrivateOutputFile(string finalPath, bool overwrite = true)
    {
        ArgumentNullException.ThrowIfNull(finalPath);
        _overwrite = overwrite;
        FinalPath = Path.GetFullPath(finalPath);
        Directory = Path.GetDirectoryName(FinalPath) ?? "/";
        CheckTarget(finalPath, FinalPath, overwrite);
        string name = Path.GetFileName(FinalPath);
        StaleRemoved = RemoveStale(Directory, name);
        TempPath = Path.Combine(Directory, "." + name + PartInfix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (PosixFile.Kind(TempPath, followSymlinks: false) != FileKind.Missing)
        {
            // Ours from an earlier process with the same PID; unlink removes a link itself, never its target.
            File.Delete(TempPath);
        }

        var options = new FileStreamOptions
        {
            // O_CREAT|O_EXCL: fails on any existing entry, a symbolic link included.
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
        };
        if (!OperatingSystem.IsWindows())
        {
            // Created 0600 from the start: no window in which the dump is world-readable.
            options.UnixCreateMode = Private;
        }

        try
        {
            _stream = new FileStream(TempPath, options);
        }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"{Directory}: Permission denied (cannot create {Path.GetFileName(TempPath)} there)", 13);
        }
        catch (DirectoryNotFoundException)
        {
            throw new IOException($"{Directory}: No such file or directory", 2);
        }

        Handle = _stream.SafeFileHandle;
        if (!OperatingSystem.IsWindows())
        {
            // fchmod: 0600 whatever the umask or a default ACL made of the creation mode.
            File.SetUnixFileMode(Handle, Private);
        }
    }

    public string FinalPath { get; }

    /// <summary>The directory of the final name (where the temporary file is, too).</summary>
    public string Directory { get; }

    public string TempPath { get; }

    public SafeFileHandle Handle { get; }

    /// <summary>Temporary files of dead writers of the same name that the constructor removed.</summary>
    public IReadOnlyList<string> StaleRemoved { get; }

    /// <summary>
    /// Refuses a final name that is a directory, a symbolic link or anything but a regular file, and an existing
    /// file without overwrite. The error names the path as the user gave it.
    /// </summary>
    public static void CheckTarget(string path, bool overwrite)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckTarget(path, Path.GetFullPath(path), overwrite);
    }

    private static void CheckTarget(string given, string full, bool overwrite)
    {
        var kind = PosixFile.Kind(full, followSymlinks: false);
        switch (kind)
        {
            case FileKind.Missing:
                string dir = Path.GetDirectoryName(full) ?? "/";
                var dirKind = PosixFile.Kind(dir, followSymlinks: true);
                if (dirKind == FileKind.Missing)
                {
                    throw new IOException($"{given}: No such file or directory (the directory {dir} does not exist)", 2);
                }

                if (dirKind != FileKind.Directory)
                {
                    throw new IOException($"{given}: Not a directory ({dir} is {PosixFile.Describe(dirKind)})", 20);
                }

                return;
            case FileKind.Regular:
                if (!overwrite)
                {
                    throw new IOException($"{given}: File exists (give -f to overwrite it)", 17);
                }

                return;
            case FileKind.Directory:
                throw new IOException($"{given}: Is a directory (expected the name of the dump file to write)", 21);
            case FileKind.Symlink:
                throw new IOException($"{given}: is a symbolic link: refusing to write a dump through it or to replace it", 40);
            default:
                throw new IOException($"{given}: is {PosixFile.Describe(kind)}, not a regular file: refusing to replace it with a dump", 1);
        }
    }

    /// <summary>fsync, rename to the final name, fsync the directory.</summary>
    public void Commit()
    {
        RandomAccess.FlushToDisk(Handle);
        _stream.Dispose();
        Rename();
        PosixFile.FsyncDirectory(Directory);
        _done = true;
    }

    /// <summary>
    /// Keeps a partial dump that the writer has flagged incomplete (status 0x8 / e_flags bit 0): it is
    /// renamed to the final name so the user finds it, and its format says it is incomplete.
    /// </summary>
    public void CommitIncomplete()
    {
        try
        {
            RandomAccess.FlushToDisk(Handle);
        }
        catch (IOException)
        {
            // Best effort: the device may be full or gone.
        }

        _stream.Dispose();
        Rename();
        _done = true;
        try
        {
            PosixFile.FsyncDirectory(Directory);
        }
        catch (IOException)
        {
            // Best effort, as above.
        }
    }

    public void Dispose()
    {
        if (!_done)
        {
            _done = true;
            _stream.Dispose();
            File.Delete(TempPath);
        }
    }

    private void Rename()
    {
        // Checked again just before the rename: something may have appeared under the name meanwhile.
        try
        {
            CheckTarget(FinalPath, FinalPath, _overwrite);
        }
        catch
        {
            File.Delete(TempPath);
            _done = true;
            throw;
        }

        File.Move(TempPath, FinalPath, overwrite: _overwrite);
    }

    /// <summary>
    /// The <c>.NAME.part-PID</c> regular files in dir whose PID is not a running process: what a writer killed with
    /// SIGKILL left (flagged incomplete inside), newest first. Best effort: an unreadable directory gives none.
    /// </summary>
    public static List<string> StaleParts(string dir, string name)
    {
        var stale = new List<string>();
        if (!OperatingSystem.IsLinux())
        {
            return stale;
        }

        string prefix = "." + name + PartInfix;
        try
        {
            foreach (string path in System.IO.Directory.EnumerateFiles(dir, prefix + "*"))
            {
                string suffix = Path.GetFileName(path)[prefix.Length..];
                if (!int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                    || pid == Environment.ProcessId
                    || System.IO.Directory.Exists("/proc/" + suffix)
                    || PosixFile.Kind(path, followSymlinks: false) != FileKind.Regular)
                {
                    continue;
                }

                stale.Add(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return stale;
        }

        return [.. stale.OrderByDescending(File.GetLastWriteTimeUtc)];
    }

    /// <summary>Removes <see cref="StaleParts"/>.</summary>
    private static List<string> RemoveStale(string dir, string name)
    {
        var removed = new List<string>();
        foreach (string path in StaleParts(dir, name))
        {
            try
            {
                File.Delete(path);
                removed.Add(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Cleaning up after others is best effort; the save itself goes on.
            }
        }

        return removed;
    }
}
