using Microsoft.Win32.SafeHandles;

namespace Fadump.Tools.Output;

/// <summary>
/// A dump file being written: created 0600 under a temporary name in the target directory, fsynced
/// and renamed into place by <see cref="Commit"/>. Dumps hold secrets (memory of every process),
/// and a partial dump must never sit under the final name looking complete.
/// </summary>
public sealed class PrivateOutputFile : IDisposable
{
    private readonly FileStream _stream;
    private bool _done;

    public PrivateOutputFile(string finalPath)
    {
        FinalPath = Path.GetFullPath(finalPath);
        string dir = Path.GetDirectoryName(FinalPath) ?? ".";
        TempPath = Path.Combine(dir, "." + Path.GetFileName(FinalPath) + ".part-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (File.Exists(TempPath))
        {
            File.Delete(TempPath);
        }

        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
        };
        if (!OperatingSystem.IsWindows())
        {
            // Created 0600 from the start: no window in which the dump is world-readable.
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        _stream = new FileStream(TempPath, options);
        Handle = _stream.SafeFileHandle;
    }

    public string FinalPath { get; }

    public string TempPath { get; }

    public SafeFileHandle Handle { get; }

    /// <summary>fsync, rename to the final name, fsync the directory.</summary>
    public void Commit()
    {
        RandomAccess.FlushToDisk(Handle);
        _stream.Dispose();
        File.Move(TempPath, FinalPath, overwrite: true);
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
        File.Move(TempPath, FinalPath, overwrite: true);
        _done = true;
    }

    public void Dispose()
    {
        if (!_done)
        {
            _stream.Dispose();
            File.Delete(TempPath);
        }
    }
}
