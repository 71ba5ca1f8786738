using System.Runtime.InteropServices;
using Fadump.Formats.Compression;
using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Tests.Compression;

/// <summary>
/// The DllImport resolver's handles are references of their own: NativeAOT frees the handle of a thread that lost
/// the race to resolve an import, and with one shared handle that dlclose unmapped the codec library under the
/// threads still compressing (a native save -p killed by SIGSEGV or "symbol lookup error" about once in twenty).
/// </summary>
public sealed class NativeLibraryReferenceTests
{
    public static TheoryData<string> Libraries => ["snappy", "lzo", "zstd", "zlib"];

    private static NativeLibraryInfo Info(string name) => name switch
    {
        "snappy" => NativeLibraries.Snappy,
        "lzo" => NativeLibraries.Lzo,
        "zstd" => NativeLibraries.Zstd,
        _ => NativeLibraries.Zlib,
    };

    private static PageCompression Method(string name) => name switch
    {
        "snappy" => PageCompression.Snappy,
        "lzo" => PageCompression.Lzo,
        "zstd" => PageCompression.Zstd,
        _ => PageCompression.Zlib,
    };

    [Theory]
    [MemberData(nameof(Libraries))]
    public void Freeing_what_the_resolver_handed_out_leaves_the_library_loaded(string name)
    {
        var info = Info(name);
        Assert.True(info.IsAvailable, info.UnavailableReason);
        var page = new byte[65536];
        new Random(7).NextBytes(page.AsSpan(0, 4096));
        var dst = new byte[PageCodec.GetMaxCompressedLength(Method(name), page.Length)];
        Assert.True(PageCodec.Compress(Method(name), page, dst) > 0);

        // What a losing thread's fix-up does, many times over: each handle handed out is freed.
        for (int i = 0; i < 64; i++)
        {
            nint h = info.Acquire();
            Assert.Equal(info.Handle, h);
            NativeLibrary.Free(h);
        }

        // Still mapped: the first reference is ours and was never given away.
        Assert.True(NativeLibrary.TryGetExport(info.Handle, info.RequiredExports[0], out _));
        int n = PageCodec.Compress(Method(name), page, dst);
        Assert.True(n > 0);
        var back = new byte[page.Length];
        PageCodec.Decompress(Method(name), dst.AsSpan(0, n), back);
        Assert.Equal(page, back);
    }
}
