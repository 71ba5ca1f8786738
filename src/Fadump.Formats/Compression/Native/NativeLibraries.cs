using System.Reflection;
using System.Runtime.InteropServices;

namespace Fadump.Formats.Compression.Native;

/// <summary>
/// One native compression library: the name our [LibraryImport]s use, the file names to try, the
/// exports it must have and the Debian package to tell the user about when it is missing.
/// Loaded once, on first use; the handle is kept for the life of the process.
/// </summary>
internal sealed class NativeLibraryInfo
{

    private readonly Lazy<LoadResult> _load;

    public NativeLibraryInfo(string codec, string importName, string package, string[] candidates, string[] requiredExports)
    {
        Codec = codec;
        ImportName = importName;
        Package = package;
        Candidates = candidates;
        RequiredExports = requiredExports;
        _load = new Lazy<LoadResult>(Load, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Codec name used in messages ("lzo").</summary>
    public string Codec { get; }

    /// <summary>Library name of the [LibraryImport]s, mapped by <see cref="NativeLibraries"/>' resolver.</summary>
    public string ImportName { get; }

    /// <summary>Debian package that ships the library.</summary>
    public string Package { get; }

    /// <summary>File names tried in order with <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>.</summary>
    public IReadOnlyList<string> Candidates { get; }

    public IReadOnlyList<string> RequiredExports { get; }

    public bool IsAvailable => _load.Value.Handle != 0;

    public nint Handle => _load.Value.Handle;

    /// <summary>
    /// A new reference to the loaded library (loaded again: the same handle, one more count), or 0. The DllImport
    /// resolver hands out these, never <see cref="Handle"/> itself: NativeAOT resolves an import once per call site
    /// and, when two threads race to do it, frees the handle of the one that lost (InteropHelpers' module cell
    /// fix-up). Given our one shared handle, that dlclose dropped the library's last count and unmapped libsnappy
    /// under the other compression threads: a save -p died about once in twenty, with a SIGSEGV inside snappy or a
    /// "symbol lookup error" from the dynamic linker (exit 127).
    /// </summary>
    public nint Acquire()
    {
        if (_load.Value.LoadedName is not { } name)
        {
            return 0;
        }

        return Open(name, out nint h) ? h : 0;
    }

    /// <summary>The candidate that was loaded, or null.</summary>
    public string? LoadedName => _load.Value.LoadedName;

    /// <summary>Why the library cannot be used, or null when it is available.</summary>
    public string? UnavailableReason => _load.Value.Error;

    public string MissingMessage => $"{Codec} compression needs {Candidates[0]}: install the Debian package {Package}";

    /// <summary>Throws <see cref="CodecUnavailableException"/> when the library is not available.</summary>
    public void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw new CodecUnavailableException(UnavailableReason ?? MissingMessage);
        }
    }

    private LoadResult Load()
    {
        string? error = null;
        foreach (string name in Candidates)
        {
            if (!Open(name, out nint handle))
            {
                continue;
            }

            string? missing = RequiredExports.FirstOrDefault(e => !NativeLibrary.TryGetExport(handle, e, out _));
            if (missing is null)
            {
                return new LoadResult(handle, name, null);
            }

            NativeLibrary.Free(handle);
            error ??= $"{Codec} compression needs {Candidates[0]}, but the loaded {name} has no {missing}: install the Debian package {Package}";
        }

        return new LoadResult(0, null, error ?? MissingMessage);
    }

    private readonly record struct LoadResult(nint Handle, string? LoadedName, string? Error);

    /// <summary>One reference to <paramref name="name"/> (dlopen: the library's count goes up by one).</summary>
    private static bool Open(string name, out nint handle) => NativeLibrary.TryLoad(name, out handle);
}

/// <summary>
/// The native libraries used by the codecs, and the assembly's DllImport resolver that maps their import
/// names to the handles loaded with <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>. This is the
/// only resolver of Fadump.Formats (a second SetDllImportResolver call would throw): add new native
/// libraries here.
/// </summary>
internal static class NativeLibraries
{
    public const string ZlibImport = "fadump-native-zlib";
    public const string LzoImport = "fadump-native-lzo2";
    public const string SnappyImport = "fadump-native-snappy";
    public const string ZstdImport = "fadump-native-zstd";
    public const string Lz4Import = "fadump-native-lz4";

    public static readonly NativeLibraryInfo Zlib = new(
        "zlib", ZlibImport, "zlib1g",
        ["libz.so.1", "libz.so", "z", "libz.1.dylib", "zlib1"],
        ["zlibVersion", "deflateInit2_", "deflateReset", "deflate", "deflateEnd", "inflateInit2_", "inflateReset", "inflate", "inflateEnd"]);

    public static readonly NativeLibraryInfo Lzo = new(
        "lzo", LzoImport, "liblzo2-2",
        ["liblzo2.so.2", "liblzo2.so", "lzo2", "liblzo2.2.dylib"],
        ["__lzo_init_v2", "lzo_version", "lzo1x_1_compress", "lzo1x_decompress_safe"]);

    public static readonly NativeLibraryInfo Snappy = new(
        "snappy", SnappyImport, "libsnappy1v5",
        ["libsnappy.so.1", "libsnappy.so", "snappy", "libsnappy.1.dylib"],
        ["snappy_compress", "snappy_uncompress", "snappy_uncompressed_length", "snappy_max_compressed_length"]);

    public static readonly NativeLibraryInfo Zstd = new(
        "zstd", ZstdImport, "libzstd1",
        ["libzstd.so.1", "libzstd.so", "zstd", "libzstd.1.dylib"],
        ["ZSTD_createCCtx", "ZSTD_freeCCtx", "ZSTD_compressCCtx", "ZSTD_createDCtx", "ZSTD_freeDCtx", "ZSTD_decompressDCtx",
         "ZSTD_getFrameContentSize", "ZSTD_isError", "ZSTD_getErrorCode", "ZSTD_getErrorName", "ZSTD_versionString"]);

    public static readonly NativeLibraryInfo Lz4 = new(
        "lz4", Lz4Import, "liblz4-1",
        ["liblz4.so.1", "liblz4.so", "lz4", "liblz4.1.dylib"],
        ["LZ4_compress_default", "LZ4_decompress_safe", "LZ4_versionString"]);

#pragma warning disable CA1810 // the resolver must be registered before any import is bound, not lazily
    static NativeLibraries() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
#pragma warning restore CA1810

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
    {
        ZlibImport => Zlib.Acquire(),
        LzoImport => Lzo.Acquire(),
        SnappyImport => Snappy.Acquire(),
        ZstdImport => Zstd.Acquire(),
        Lz4Import => Lz4.Acquire(),
        _ => 0,
    };
}
