using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Fadump.Formats.IO;

/// <summary>The type of a directory entry (stat's S_IFMT), as lstat or stat sees it.</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    Unknown,
}

/// <summary>
/// The few POSIX calls .NET does not offer: the type of a file without opening it (a FIFO would block the
/// open), and fsync of a directory after a rename. Errors come back as <see cref="IOException"/> in the
/// "PATH: strerror" form of the Linux tools.
/// </summary>
public static partial class PosixFile
{
    private const int AtFdcwd = -100;
    private const int AtSymlinkNofollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 0x1c;
    private const int StatxSize = 256;
    private const int ORdonly = 0;
    private const int ODirectory = 0x10000;
    private const int OCloexec = 0x80000;
    private const int Enoent = 2;
    private const int Enotdir = 20;

    /// <summary>The type of path: lstat (the link itself) unless followSymlinks. Missing for ENOENT / ENOTDIR.</summary>
    public static FileKind Kind(string path, bool followSymlinks)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux())
        {
            return FallbackKind(path, followSymlinks);
        }

        var buf = new byte[StatxSize];
        if (statx(AtFdcwd, path, followSymlinks ? 0 : AtSymlinkNofollow, StatxType, buf) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is Enoent or Enotdir)
            {
                return FileKind.Missing;
            }

            throw Error(path, errno);
        }

        // struct statx is in the host's byte order.
        int mode = (BitConverter.IsLittleEndian
            ? BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(StatxModeOffset))
            : BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(StatxModeOffset))) & 0xf000;

        return mode switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0xa000 => FileKind.Symlink,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0xc000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
    }

    /// <summary>"a FIFO", "a directory", ... for messages.</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.Symlink => "a symbolic link",
        FileKind.Fifo => "a FIFO",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        FileKind.Missing => "missing",
        _ => "a special file",
    };

    /// <summary>Opens the directory read-only and fsyncs it, so that a rename in it survives a power loss.</summary>
    public static void FsyncDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        int fd = open(directory, ORdonly | ODirectory | OCloexec);
        if (fd < 0)
        {
            throw Error(directory, Marshal.GetLastPInvokeError());
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw Error(directory, Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

    /// <summary>
    /// write(2) of all of data to a file descriptor at its own file offset (standard output: a pipe, a terminal,
    /// a file shared with other processes). EPIPE and every other error are thrown as "name: strerror".
    /// </summary>
    public static void WriteAll(int fd, ReadOnlySpan<byte> data, string name)
    {
        const int Eintr = 4;
        const int Eagain = 11;
        while (!data.IsEmpty)
        {
            nint n = write(fd, data, data.Length);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Eintr)
                {
                    continue;
                }

                if (errno == Eagain)
                {
                    // A non-blocking descriptor inherited from the parent: wait for room.
                    Thread.Sleep(1);
                    continue;
                }

                throw Error(name, errno);
            }

            data = data[(int)n..];
        }
    }

    /// <summary>An IOException "PATH: strerror(errno)", with the errno in HResult as .NET does on Unix.</summary>
    public static IOException Error(string path, int errno) =>
        new($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    private static FileKind FallbackKind(string path, bool followSymlinks)
    {
        var info = new FileInfo(path);
        if (!followSymlinks && info.LinkTarget is not null)
        {
            return FileKind.Symlink;
        }

        return Directory.Exists(path) ? FileKind.Directory : File.Exists(path) ? FileKind.Regular : FileKind.Missing;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buf);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint write(int fd, ReadOnlySpan<byte> buf, nint count);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}
