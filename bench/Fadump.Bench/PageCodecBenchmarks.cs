using System.Text;
using BenchmarkDotNet.Attributes;
using Fadump.Formats.Compression;

namespace Fadump.Bench;

/// <summary>
/// One realistic 4 KiB kernel page (text, slab-like objects with pointers and small integers, a zero tail)
/// compressed into a page-size-minus-one buffer, as a dump writer would, and decompressed back.
/// </summary>
[MemoryDiagnoser]
public class PageCodecBenchmarks
{
    private const int PageSize = 4096;
    private readonly byte[] _page = MakePage();
    private readonly byte[] _out = new byte[PageSize - 1];
    private readonly byte[] _back = new byte[PageSize];
    private byte[] _compressed = [];

    [Params("zlib", "lzo", "snappy", "zstd", "lz4")]
    public string Codec { get; set; } = "zlib";

    [GlobalSetup]
    public void Setup()
    {
        int n = Compress();
        if (n <= 0)
        {
            throw new InvalidOperationException($"{Codec} did not compress the page");
        }

        _compressed = _out[..n];
        Console.WriteLine($"// {Codec}: 4096 -> {n} bytes");
    }

    [Benchmark]
    public int Compress() => Codec switch
    {
        "lz4" => Lz4Codec.Compress(_page, _out),
        _ => PageCodec.Compress(Method, _page, _out),
    };

    [Benchmark]
    public void Decompress()
    {
        if (Codec == "lz4")
        {
            Lz4Codec.Decompress(_compressed, _back);
        }
        else
        {
            PageCodec.Decompress(Method, _compressed, _back);
        }
    }

    private PageCompression Method => Codec switch
    {
        "zlib" => PageCompression.Zlib,
        "lzo" => PageCompression.Lzo,
        "snappy" => PageCompression.Snappy,
        "zstd" => PageCompression.Zstd,
        _ => PageCompression.None,
    };

    private static byte[] MakePage()
    {
        var rng = new Random(4096);
        byte[] p = new byte[PageSize];

        // 1 KiB of log-like text.
        string[] words = ["task", "pid", "cpu", "irq", "mm", "page", "fault", "at", "ip", "sp", "ffff8881", "0x", "comm", "kworker"];
        var sb = new StringBuilder();
        while (sb.Length < 1024)
        {
            sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(10) == 0 ? '\n' : ' ');
        }

        Encoding.ASCII.GetBytes(sb.ToString(0, 1024), p);

        // 2.5 KiB of 64-byte slab objects: list heads, refcounts, ops pointers, flags, ids, random words.
        ulong baseAddr = 0xffff888104a3c000UL;
        for (int off = 1024; off + 64 <= 3584; off += 64)
        {
            Span<byte> o = p.AsSpan(off, 64);
            ulong self = baseAddr + (ulong)off;
            BitConverter.TryWriteBytes(o[0..], self + 64);
            BitConverter.TryWriteBytes(o[8..], self - 64);
            BitConverter.TryWriteBytes(o[16..], (ulong)rng.Next(3));
            BitConverter.TryWriteBytes(o[24..], 0xffffffff82a00000UL + (ulong)(rng.Next(512) * 32));
            BitConverter.TryWriteBytes(o[32..], (uint)rng.Next(1 << 16));
            BitConverter.TryWriteBytes(o[36..], (uint)(off / 64));
            BitConverter.TryWriteBytes(o[40..], (ulong)rng.NextInt64());
        }

        // The last 512 bytes stay zero.
        return p;
    }
}
