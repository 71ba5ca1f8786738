using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Fadump.Cli.Mount;

/// <summary>
/// The part of libfuse3's high-level API (fuse.h, FUSE_USE_VERSION 31, Debian 12's 3.14) that a
/// getattr/readlink/readdir/open/read/write/release file system needs: fuse_new, fuse_mount, fuse_loop_mt,
/// fuse_unmount, fuse_destroy. Structures are laid out as on x86_64 Linux (LP64): struct stat is 144 bytes,
/// struct fuse_file_info 40, struct fuse_operations 42 function pointers.
/// </summary>
internal static unsafe partial class LibFuse
{
    public const string Library = "libfuse3.so.3";

    [LibraryImport(Library, EntryPoint = "fuse_new")]
    public static partial nint New(FuseArgs* args, FuseOperations* op, nuint opSize, nint privateData);

    [LibraryImport(Library, EntryPoint = "fuse_mount", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(nint fuse, string mountpoint);

    /// <summary>fuse_loop_mt (FUSE_3.12): worker threads as requests need them, up to the config's maximum.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_loop_mt_312")]
    public static partial int LoopMt(nint fuse, nint config);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_create")]
    public static partial nint LoopConfigCreate();

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    public static partial void LoopConfigSetMaxThreads(nint config, uint max);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_destroy")]
    public static partial void LoopConfigDestroy(nint config);

    [LibraryImport(Library, EntryPoint = "fuse_unmount")]
    public static partial void Unmount(nint fuse);

    [LibraryImport(Library, EntryPoint = "fuse_destroy")]
    public static partial void Destroy(nint fuse);

    /// <summary>umount2(2), for the lazy unmount (MNT_DETACH) that ends the loop on a signal.</summary>
    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);

    public const int MntDetach = 2;

    /// <summary>struct fuse_args.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FuseArgs
    {
        public int Argc;
        public byte** Argv;
        public int Allocated;
    }

    /// <summary>struct fuse_operations (fuse.h, 3.14): only the members this file system uses are set.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FuseOperations
    {
        public delegate* unmanaged<byte*, byte*, byte*, int> Getattr;
        public delegate* unmanaged<byte*, byte*, nuint, int> Readlink;
        public delegate* unmanaged<byte*, uint, ulong, int> Mknod;
        public delegate* unmanaged<byte*, uint, int> Mkdir;
        public delegate* unmanaged<byte*, int> Unlink;
        public delegate* unmanaged<byte*, int> Rmdir;
        public delegate* unmanaged<byte*, byte*, int> Symlink;
        public delegate* unmanaged<byte*, byte*, uint, int> Rename;
        public delegate* unmanaged<byte*, byte*, int> Link;
        public nint Chmod;
        public nint Chown;
        public delegate* unmanaged<byte*, long, byte*, int> Truncate;
        public delegate* unmanaged<byte*, byte*, int> Open;
        public delegate* unmanaged<byte*, byte*, nuint, long, byte*, int> Read;
        public delegate* unmanaged<byte*, byte*, nuint, long, byte*, int> Write;
        public nint Statfs;
        public nint Flush;
        public delegate* unmanaged<byte*, byte*, int> Release;
        public nint Fsync;
        public nint Setxattr;
        public nint Getxattr;
        public nint Listxattr;
        public nint Removexattr;
        public nint Opendir;
        public delegate* unmanaged<byte*, byte*, delegate* unmanaged<byte*, byte*, byte*, long, int, int>, long, byte*, int, int> Readdir;
        public nint Releasedir;
        public nint Fsyncdir;
        public nint Init;
        public nint Destroy;
        public nint Access;
        public delegate* unmanaged<byte*, uint, byte*, int> Create;
        public nint Lock;
        public nint Utimens;
        public nint Bmap;
        public nint Ioctl;
        public nint Poll;
        public nint WriteBuf;
        public nint ReadBuf;
        public nint Flock;
        public nint Fallocate;
        public nint CopyFileRange;
        public nint Lseek;
    }

    public const int StatSize = 144;

    /// <summary>struct fuse_file_info: flags at 0, the bit fields at 4 (direct_io is bit 1), fh at 16.</summary>
    public const int FileInfoSize = 40;

    public static int OpenFlags(byte* fi) => BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(fi, 4));

    public static ulong Handle(byte* fi) => fi is null ? 0 : BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(fi + 16, 8));

    /// <summary>fh, and the bits direct_io (1) and keep_cache (2).</summary>
    public static void SetHandle(byte* fi, ulong handle, bool directIo, bool keepCache)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(fi + 16, 8), handle);
        var bits = new Span<byte>(fi + 4, 4);
        uint b = BinaryPrimitives.ReadUInt32LittleEndian(bits) & ~6u;
        BinaryPrimitives.WriteUInt32LittleEndian(bits, b | (directIo ? 2u : 0) | (keepCache ? 4u : 0));
    }

    /// <summary>Fills a struct stat (x86_64 layout: st_nlink 16, st_mode 24, st_uid 28, st_gid 32, st_size 48, st_blksize 56, times 72/88/104).</summary>
    public static void WriteStat(byte* st, in FileAttributes a)
    {
        var s = new Span<byte>(st, StatSize);
        s.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], a.Inode);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], a.Links);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], a.Mode);
        BinaryPrimitives.WriteInt64LittleEndian(s[48..], a.Size);
        BinaryPrimitives.WriteInt64LittleEndian(s[56..], 4096);
        // st_blocks stays 0, as for every file of proc, sysfs and debugfs: none of them takes space on a disk.
        foreach (int at in (ReadOnlySpan<int>)[72, 88, 104])
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[at..], a.Time);
        }
    }
}

/// <summary>What getattr reports of a node: st_mode with its type bits, st_size, st_nlink, st_ino, and one time for all three.</summary>
internal readonly record struct FileAttributes(uint Mode, long Size, ulong Links, ulong Inode, long Time)
{
    public const uint Directory = 0x4000;   // S_IFDIR
    public const uint Regular = 0x8000;     // S_IFREG
    public const uint SymbolicLink = 0xa000; // S_IFLNK
}
