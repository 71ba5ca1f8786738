using System.Diagnostics;
using System.Text;
using Fadump.Formats.Compression;
using Fadump.Formats.Compression.Native;
using FsCheck;
using FsCheck.Fluent;

namespace Fadump.Formats.Tests.Compression;

public class PageCodecTests
{
    public static readonly PageCompression[] Methods =
        [PageCompression.Zlib, PageCompression.Lzo, PageCompression.Snappy, PageCompression.Zstd];

    public static readonly string[] Kinds = ["zero", "nibbles", "text", "kernel", "incompressible"];

    public static TheoryData<PageCompression> AllMethods() => new(Methods);

    public static TheoryData<PageCompression, string, int> AllPages()
    {
        var data = new TheoryData<PageCompression, string, int>();
        foreach (PageCompression m in Methods)
        {
            foreach (string kind in Kinds)
            {
                data.Add(m, kind, 4096);
                data.Add(m, kind, 65536);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllPages))]
    public void RoundTrips(PageCompression method, string kind, int size)
    {
        byte[] page = Pages.Make(kind, size, seed: size + kind.Length);
        byte[] compressed = new byte[PageCodec.GetMaxCompressedLength(method, size)];
        int n = PageCodec.Compress(method, page, compressed);
        Assert.InRange(n, 1, compressed.Length);

        byte[] back = new byte[size];
        PageCodec.Decompress(method, compressed.AsSpan(0, n), back);
        Assert.Equal(page, back);

        // makedumpfile's rule: a page is stored compressed only when smaller than the page.
        byte[] small = new byte[size - 1];
        int m = PageCodec.Compress(method, page, small);
        if (n < size)
        {
            Assert.Equal(n, m);
            Assert.Equal(compressed.AsSpan(0, n), small.AsSpan(0, m));
        }
        else
        {
            Assert.Equal(-1, m);
        }

        if (kind is "zero" or "text" or "kernel")
        {
            Assert.True(n < size / 2, $"{method} compressed a {kind} page to {n} bytes");
        }

        if (kind == "incompressible")
        {
            Assert.Equal(-1, m);
        }
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void OutputIsDeterministicAndFitsExactly(PageCompression method)
    {
        byte[] page = Pages.Make("kernel", 4096, seed: 7);
        byte[] a = new byte[PageCodec.GetMaxCompressedLength(method, page.Length)];
        byte[] b = new byte[a.Length];
        int n = PageCodec.Compress(method, page, a);
        PageCodec.Compress(method, Pages.Make("text", 4096, seed: 8), b); // state from another page must not leak
        Assert.Equal(n, PageCodec.Compress(method, page, b));
        Assert.Equal(a.AsSpan(0, n), b.AsSpan(0, n));

        // A dst of exactly the compressed size is enough, one byte less is not.
        byte[] exact = new byte[n];
        Assert.Equal(n, PageCodec.Compress(method, page, exact));
        Assert.Equal(a.AsSpan(0, n).ToArray(), exact);
        Assert.Equal(-1, PageCodec.Compress(method, page, new byte[n - 1]));
        Assert.Equal(-1, PageCodec.Compress(method, page, Span<byte>.Empty));
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void CompressNeverWritesPastDst(PageCompression method)
    {
        byte[] page = Pages.Make("incompressible", 4096, seed: 3);
        foreach (int len in new[] { 1, 17, 2048, 4095 })
        {
            byte[] buf = new byte[len + 64];
            Array.Fill(buf, (byte)0xA5);
            Assert.Equal(-1, PageCodec.Compress(method, page, buf.AsSpan(0, len)));
            Assert.All(buf[len..], b => Assert.Equal(0xA5, b));
        }
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void WrongOutputLengthIsDetected(PageCompression method)
    {
        byte[] page = Pages.Make("text", 4096, seed: 5);
        byte[] c = Compress(method, page);
        string name = method.ToString().ToLowerInvariant();

        var shorter = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(method, c, new byte[4095]));
        Assert.Contains(name, shorter.Message, StringComparison.Ordinal);
        var longer = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(method, c, new byte[4097]));
        Assert.Contains(name, longer.Message, StringComparison.Ordinal);
        Assert.Contains("4097", longer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorMessagesSayWhatWentWrong()
    {
        byte[] page = Pages.Make("text", 4096, seed: 1);
        var snappy = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(PageCompression.Snappy, Compress(PageCompression.Snappy, page), new byte[8192]));
        Assert.Equal("snappy page decompresses to 4096 bytes: expected 8192", snappy.Message);

        var zstd = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(PageCompression.Zstd, Compress(PageCompression.Zstd, page), new byte[100]));
        Assert.Equal("zstd page decompresses to 4096 bytes: expected 100", zstd.Message);

        // An lzo match reaching back before the start of the output.
        byte[] lookbehind = [0x00, 0x11, 0x00, 0x00];
        var lzo = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(PageCompression.Lzo, [0x12, 0x41, 0x42, 0x43, 0x20, 0xff, 0xff, .. lookbehind], new byte[4096]));
        Assert.StartsWith("corrupt lzo page: lzo1x_decompress_safe returned -", lzo.Message, StringComparison.Ordinal);

        var zlib = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(PageCompression.Zlib, "garbage!"u8, new byte[4096]));
        Assert.StartsWith("corrupt zlib page: inflate returned -3", zlib.Message, StringComparison.Ordinal);

        var empty = Assert.Throws<InvalidDataException>(() => PageCodec.Decompress(PageCompression.Zstd, [], new byte[4096]));
        Assert.Equal("corrupt zstd page: empty input", empty.Message);
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void TruncatedInputIsRejected(PageCompression method)
    {
        byte[] page = Pages.Make("kernel", 4096, seed: 11);
        byte[] c = Compress(method, page);
        for (int len = 0; len < c.Length; len += len < 64 ? 1 : 13)
        {
            AssertCorruptOrSame(method, c.AsSpan(0, len), page, mustFail: true);
        }
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void BitFlipsNeverCrashOrOverrun(PageCompression method)
    {
        byte[] page = Pages.Make("kernel", 4096, seed: 12);
        byte[] c = Compress(method, page);
        var rng = new Random(99);
        for (int i = 0; i < c.Length; i++)
        {
            byte[] bad = (byte[])c.Clone();
            bad[i] ^= (byte)(1 << rng.Next(8));
            AssertCorruptOrSame(method, bad, page, mustFail: false);
        }
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void GarbageIsRejected(PageCompression method)
    {
        var rng = new Random(1234);
        for (int i = 0; i < 300; i++)
        {
            byte[] junk = new byte[rng.Next(1, 6000)];
            rng.NextBytes(junk);
            if (i % 3 == 0 && junk.Length > 8)
            {
                // Valid-looking headers followed by junk.
                Compress(method, Pages.Make("text", 4096, i)).AsSpan(0, 8).CopyTo(junk);
            }

            AssertCorruptOrSame(method, junk, expected: null, mustFail: false);
        }
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void RoundTripsArbitraryData(PageCompression method)
    {
        Prop.ForAll<byte[]>(data =>
        {
            byte[] c = new byte[PageCodec.GetMaxCompressedLength(method, data.Length)];
            int n = PageCodec.Compress(method, data, c);
            byte[] back = new byte[data.Length];
            PageCodec.Decompress(method, c.AsSpan(0, n), back);
            return n > 0 && back.AsSpan().SequenceEqual(data);
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>
    /// Page-sized and larger inputs (FsCheck's byte[] stays small): 4 KiB and 64 KiB pages, 256 KiB, and any size
    /// up to 300 000 bytes, filled with a random mix of random bytes and repeated runs so that both the
    /// compressible and the incompressible paths are taken. Every page size is reached.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllMethods))]
    public void RoundTripsArbitraryPageSizedData(PageCompression method)
    {
        int[] sizes = [4096, 65536, 262144];
        var reached = new HashSet<int>();
        var gen = from size in Gen.OneOf(Gen.Elements(sizes), Gen.Choose(1, 300_000))
                  from seed in Gen.Choose(0, int.MaxValue)
                  from runs in Gen.Choose(0, 100)
                  select (size, seed, runs);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (size, seed, runPercent) = t;
            var rng = new Random(seed);
            byte[] data = new byte[size];
            for (int at = 0; at < size;)
            {
                int len = Math.Min(size - at, rng.Next(1, 2048));
                if (rng.Next(100) < runPercent)
                {
                    data.AsSpan(at, len).Fill((byte)rng.Next(256));
                }
                else
                {
                    rng.NextBytes(data.AsSpan(at, len));
                }

                at += len;
            }

            lock (reached)
            {
                reached.Add(size);
            }

            byte[] c = new byte[PageCodec.GetMaxCompressedLength(method, size)];
            int n = PageCodec.Compress(method, data, c);
            byte[] back = new byte[size];
            PageCodec.Decompress(method, c.AsSpan(0, n), back);
            return n > 0 && back.AsSpan().SequenceEqual(data);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
        Assert.Superset(sizes.ToHashSet(), reached);
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void WorksFromManyThreads(PageCompression method)
    {
        byte[][] pages = Enumerable.Range(0, 64).Select(i => Pages.Make(Kinds[i % Kinds.Length], 4096, i)).ToArray();
        byte[][] expected = pages.Select(p => Compress(method, p)).ToArray();
        Parallel.For(0, 512, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            int k = i % pages.Length;
            byte[] c = new byte[PageCodec.GetMaxCompressedLength(method, 4096)];
            int n = PageCodec.Compress(method, pages[k], c);
            Assert.Equal(expected[k], c.AsSpan(0, n).ToArray());
            byte[] back = new byte[4096];
            PageCodec.Decompress(method, c.AsSpan(0, n), back);
            Assert.Equal(pages[k], back);
        });
    }

    [Fact]
    public void AllCodecsAreAvailableHere()
    {
        foreach (PageCompression m in Methods)
        {
            Assert.True(PageCodec.IsAvailable(m, out string? reason), reason);
            Assert.Null(reason);
        }

        Assert.True(Lz4Codec.IsAvailable(out _));
        Assert.True(PageCodec.IsAvailable(PageCompression.None, out _));
        Assert.False(PageCodec.IsAvailable((PageCompression)0x8, out string? why));
        Assert.Equal("unknown page compression 0x8", why);
        Assert.Contains("liblzo2.so.2", PageCodec.DescribeImplementation(PageCompression.Lzo), StringComparison.Ordinal);
    }

    [Fact]
    public void NoneAndUnknownMethodsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PageCodec.Compress(PageCompression.None, new byte[16], new byte[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PageCodec.Compress((PageCompression)0x3, new byte[16], new byte[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PageCodec.Compress((PageCompression)0x3, new byte[16], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => PageCodec.Decompress(PageCompression.None, new byte[16], new byte[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PageCodec.Decompress((PageCompression)0x40, [], new byte[16]));
    }

    [Fact]
    public void MissingLibraryNamesTheDebianPackage()
    {
        var missing = new NativeLibraryInfo("lzo", "fadump-test-missing", "liblzo2-2", ["liblzo2-fadump-missing.so.2", "lzo2-fadump-missing"], ["lzo1x_1_compress"]);
        Assert.False(missing.IsAvailable);
        Assert.Equal("lzo compression needs liblzo2-fadump-missing.so.2: install the Debian package liblzo2-2", missing.UnavailableReason);
        NotSupportedException e = Assert.Throws<CodecUnavailableException>(missing.EnsureAvailable);
        Assert.Equal(missing.UnavailableReason, e.Message);

        var wrong = new NativeLibraryInfo("lzo", "fadump-test-wrong", "liblzo2-2", ["libz.so.1"], ["lzo1x_1_compress"]);
        Assert.False(wrong.IsAvailable);
        Assert.Contains("has no lzo1x_1_compress", wrong.UnavailableReason, StringComparison.Ordinal);

        Assert.Equal("lzo compression needs liblzo2.so.2: install the Debian package liblzo2-2", NativeLibraries.Lzo.MissingMessage);
        Assert.Equal("zstd compression needs libzstd.so.1: install the Debian package libzstd1", NativeLibraries.Zstd.MissingMessage);
        Assert.Equal("lz4 compression needs liblz4.so.1: install the Debian package liblz4-1", NativeLibraries.Lz4.MissingMessage);
    }

    [Fact]
    public void LzoFacts()
    {
        Assert.True(LzoNative.IsAvailable(out string? reason), reason); // lzo_init() succeeded
        Assert.Equal(16384 * IntPtr.Size, LzoNative.WorkMemorySize);
        Assert.Equal(4419, PageCodec.GetMaxCompressedLength(PageCompression.Lzo, 4096));
    }

    [Fact]
    public void ManagedZlibFallbackInteroperates()
    {
        byte[] page = Pages.Make("kernel", 4096, 21);
        byte[] c = new byte[8192];
        int n = ZlibCodec.CompressManaged(page, c);
        Assert.InRange(n, 1, 4095);
        byte[] back = new byte[4096];
        PageCodec.Decompress(PageCompression.Zlib, c.AsSpan(0, n), back);
        Assert.Equal(page, back);

        byte[] native = Compress(PageCompression.Zlib, page);
        Array.Clear(back);
        ZlibCodec.DecompressManaged(native, back);
        Assert.Equal(page, back);

        Assert.Throws<InvalidDataException>(() => ZlibCodec.DecompressManaged(native, new byte[4095]));
        Assert.Throws<InvalidDataException>(() => ZlibCodec.DecompressManaged(native, new byte[4097]));
        Assert.Throws<InvalidDataException>(() => ZlibCodec.DecompressManaged(native.AsSpan(0, native.Length / 2), back));
        Assert.Throws<InvalidDataException>(() => ZlibCodec.DecompressManaged("garbage!"u8, back));
        Assert.Equal(-1, ZlibCodec.CompressManaged(Pages.Make("incompressible", 4096, 1), new byte[4095]));
    }

    [Fact]
    public void ManagedSnappyFallbackInteroperates()
    {
        byte[] page = Pages.Make("text", 4096, 22);
        byte[] c = new byte[8192];
        int n = SnappyCodec.CompressManaged(page, c);
        byte[] back = new byte[4096];
        PageCodec.Decompress(PageCompression.Snappy, c.AsSpan(0, n), back);
        Assert.Equal(page, back);

        byte[] native = Compress(PageCompression.Snappy, page);
        Array.Clear(back);
        SnappyCodec.DecompressManaged(native, back);
        Assert.Equal(page, back);

        var e = Assert.Throws<InvalidDataException>(() => SnappyCodec.DecompressManaged(native, new byte[4000]));
        Assert.Equal("snappy page decompresses to 4096 bytes: expected 4000", e.Message);

        // A header announcing 4 GiB must be rejected before IronSnappy allocates it.
        e = Assert.Throws<InvalidDataException>(() => SnappyCodec.DecompressManaged([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0], back));
        Assert.Equal("snappy page decompresses to 4294967295 bytes: expected 4096", e.Message);
        Assert.Throws<InvalidDataException>(() => SnappyCodec.DecompressManaged([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], back));

        var rng = new Random(5);
        for (int i = 0; i < native.Length; i++)
        {
            byte[] bad = (byte[])native.Clone();
            bad[i] ^= (byte)(1 << rng.Next(8));
            try
            {
                SnappyCodec.DecompressManaged(bad, back);
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    [Fact]
    public void ZlibOutputIsWhatPythonZlibProducesAndDecodes()
    {
        string python = Tools.Require(Tools.DebianPython);
        byte[] page = Pages.Make("kernel", 4096, 31);
        byte[] c = Compress(PageCompression.Zlib, page);

        byte[] decoded = Tools.Run(python, "-c \"import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))\"", c);
        Assert.Equal(page, decoded);

        // compress2(Z_BEST_SPEED) == zlib.compress(data, 1), byte for byte: Debian's python3 and we both load
        // Debian's libz (zlib1g), so the versions are the same; if they ever differ the test says so rather
        // than dropping the check.
        string pyVersion = Encoding.ASCII.GetString(Tools.Run(python, "-c \"import zlib; print(zlib.ZLIB_RUNTIME_VERSION, end='')\"", [])).Trim();
        byte[] py = Tools.Run(python, "-c \"import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read(), 1))\"", page);
        Assert.True(ZlibNative.IsAvailable, "the native libz is not loaded");
        Assert.Equal(pyVersion, ZlibNative.Version);
        Assert.Equal(py, c);

        // And the format, independently of any libz: a zlib stream with a 32 KiB window at the fastest level
        // (CMF 0x78, FLEVEL 0: 78 01) ending in the page's Adler-32, big-endian.
        Assert.Equal(new byte[] { 0x78, 0x01 }, c[..2]);
        uint s1 = 1, s2 = 0;
        foreach (byte x in page)
        {
            s1 = (s1 + x) % 65521;
            s2 = (s2 + s1) % 65521;
        }

        Assert.Equal((s2 << 16) | s1, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(c.AsSpan(c.Length - 4)));

        byte[] back = new byte[4096];
        PageCodec.Decompress(PageCompression.Zlib, py, back);
        Assert.Equal(page, back);
    }

    [Fact]
    public void ZstdOutputDecodesWithTheZstdCli()
    {
        string zstd = Tools.Require("zstd");
        byte[] page = Pages.Make("text", 4096, 32);
        byte[] c = Compress(PageCompression.Zstd, page);
        Assert.Equal(page, Tools.Run(zstd, "-d -c -q", c));

        byte[] cli = Tools.Run(zstd, "-1 -c -q", page);
        byte[] back = new byte[4096];
        PageCodec.Decompress(PageCompression.Zstd, cli, back);
        Assert.Equal(page, back);
    }

    [Fact]
    public void Lz4RoundTripsAndRejectsCorruption()
    {
        foreach (string kind in Kinds)
        {
            foreach (int size in new[] { 4096, 65536 })
            {
                byte[] data = Pages.Make(kind, size, size);
                byte[] c = new byte[Lz4Codec.GetMaxCompressedLength(size)];
                int n = Lz4Codec.Compress(data, c);
                Assert.InRange(n, 1, c.Length);
                byte[] back = new byte[size];
                Lz4Codec.Decompress(c.AsSpan(0, n), back);
                Assert.Equal(data, back);
                if (kind == "incompressible")
                {
                    Assert.Equal(-1, Lz4Codec.Compress(data, new byte[size - 1]));
                }
            }
        }

        byte[] page = Pages.Make("kernel", 4096, 40);
        byte[] block = new byte[Lz4Codec.GetMaxCompressedLength(4096)];
        int len = Lz4Codec.Compress(page, block);
        block = block[..len];
        byte[] exact = new byte[len];
        Assert.Equal(len, Lz4Codec.Compress(page, exact));
        Assert.Equal(block, exact);
        Assert.Equal(-1, Lz4Codec.Compress(page, new byte[len - 1]));
        var e = Assert.Throws<InvalidDataException>(() => Lz4Codec.Decompress(block, new byte[8192]));
        Assert.Equal("lz4 block decompresses to 4096 bytes: expected 8192", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Lz4Codec.Decompress(block, new byte[4095]));
        Assert.StartsWith("corrupt lz4 block: LZ4_decompress_safe returned -", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => Lz4Codec.Decompress([], new byte[16]));

        var rng = new Random(41);
        byte[] guard = new byte[4096 + 64];
        for (int i = 0; i < block.Length; i++)
        {
            byte[] bad = (byte[])block.Clone();
            bad[i] ^= (byte)(1 << rng.Next(8));
            Array.Fill(guard, (byte)0x5A);
            try
            {
                Lz4Codec.Decompress(bad, guard.AsSpan(0, 4096));
            }
            catch (InvalidDataException)
            {
            }

            Assert.All(guard[4096..], b => Assert.Equal(0x5A, b));
        }

        for (int l = 0; l < block.Length; l += 7)
        {
            Assert.Throws<InvalidDataException>(() => Lz4Codec.Decompress(block.AsSpan(0, l), new byte[4096]));
        }
    }

    private static byte[] Compress(PageCompression method, byte[] page)
    {
        byte[] c = new byte[PageCodec.GetMaxCompressedLength(method, page.Length)];
        int n = PageCodec.Compress(method, page, c);
        Assert.True(n > 0);
        return c[..n];
    }

    /// <summary>
    /// Decompresses into a page-sized window of a larger buffer: corrupt input must give InvalidDataException
    /// (or, codecs without checksums, some other page), never another exception or a write past the window.
    /// </summary>
    private static void AssertCorruptOrSame(PageCompression method, ReadOnlySpan<byte> src, byte[]? expected, bool mustFail)
    {
        const int PageSize = 4096;
        byte[] buf = new byte[PageSize + 128];
        Array.Fill(buf, (byte)0xC3);
        bool ok;
        try
        {
            PageCodec.Decompress(method, src, buf.AsSpan(0, PageSize));
            ok = true;
        }
        catch (InvalidDataException e)
        {
            Assert.Contains(PageCodec.Name(method), e.Message, StringComparison.Ordinal);
            ok = false;
        }

        Assert.All(buf[PageSize..], b => Assert.Equal(0xC3, b));
        if (ok && mustFail)
        {
            Assert.Fail($"{method}: truncated input of {src.Length} bytes decoded");
        }

        if (ok && expected is not null && method == PageCompression.Zlib)
        {
            // Only zlib has a checksum (adler32); makedumpfile's zstd frames have none, lzo and snappy never do.
            Assert.Equal(expected, buf[..PageSize]);
        }
    }
}

internal static class Pages
{
    private static readonly string[] Words =
        ["the", "kernel", "page", "memory", "struct", "task", "mutex", "irq", "cpu", "node", "zone", "slab", "inode",
         "dentry", "file", "socket", "buffer", "queue", "timer", "worker", "0x", "ffff", "error", "return", "int", "long"];

    public static byte[] Make(string kind, int size, int seed)
    {
        var rng = new Random(seed);
        byte[] p = new byte[size];
        switch (kind)
        {
            case "zero":
                break;
            case "nibbles":
                for (int i = 0; i < size; i++)
                {
                    p[i] = (byte)rng.Next(16);
                }

                break;
            case "incompressible":
                rng.NextBytes(p);
                break;
            case "text":
                var sb = new StringBuilder(size + 64);
                while (sb.Length < size)
                {
                    sb.Append(Words[rng.Next(Words.Length)]).Append(rng.Next(12) == 0 ? ".\n" : " ");
                }

                Encoding.ASCII.GetBytes(sb.ToString(0, size), p);
                break;
            case "kernel":
                FillKernelLike(p, rng);
                break;
            default:
                throw new ArgumentException(kind, nameof(kind));
        }

        return p;
    }

    /// <summary>Something like a slab page of 64-byte objects: pointers, list heads, small ints, flags, zeros.</summary>
    public static void FillKernelLike(Span<byte> p, Random rng)
    {
        ulong baseAddr = 0xffff888100000000UL + ((ulong)rng.Next(1 << 20) << 12);
        for (int obj = 0; obj + 64 <= p.Length; obj += 64)
        {
            Span<byte> o = p.Slice(obj, 64);
            ulong self = baseAddr + (ulong)obj;
            BitConverter.TryWriteBytes(o[0..], self + 8);                         // list_head next
            BitConverter.TryWriteBytes(o[8..], self - 56);                        // list_head prev
            BitConverter.TryWriteBytes(o[16..], (ulong)rng.Next(4));              // refcount
            BitConverter.TryWriteBytes(o[24..], 0xffffffff81000000UL + (ulong)(rng.Next(4096) * 16)); // ops pointer
            BitConverter.TryWriteBytes(o[32..], (uint)rng.Next(1 << 16));         // flags
            BitConverter.TryWriteBytes(o[36..], (uint)(obj / 64));                // id
            if (rng.Next(3) == 0)
            {
                BitConverter.TryWriteBytes(o[40..], baseAddr + (ulong)rng.Next(4096)); // some pointer
            }
        }
    }
}

internal static class Tools
{
    /// <summary>Debian's python3 (.ci/run installs it), not whatever python3 comes first on PATH.</summary>
    public const string DebianPython = "/usr/bin/python3";

    /// <summary>The tool's path; a missing tool fails the test loudly (.ci/run installs python3 and zstd).</summary>
    public static string Require(string tool)
    {
        string? found = Path.IsPathRooted(tool)
            ? (File.Exists(tool) ? tool : null)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
        Assert.True(found is not null, $"{tool} is not installed: .ci/run installs it (Debian package); this test cannot run without it");
        return found;
    }

    public static byte[] Run(string tool, string args, byte[] stdin)
    {
        var psi = new ProcessStartInfo(tool, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process p = Process.Start(psi)!;
        using var output = new MemoryStream();
        Task copy = p.StandardOutput.BaseStream.CopyToAsync(output, TestContext.Current.CancellationToken);
        Task<string> err = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        p.StandardInput.BaseStream.Write(stdin);
        p.StandardInput.Close();
        Assert.True(p.WaitForExit(20_000), $"{tool} timed out");
        copy.GetAwaiter().GetResult();
        Assert.True(p.ExitCode == 0, $"{tool} {args} failed: {err.GetAwaiter().GetResult()}");
        return output.ToArray();
    }
}
