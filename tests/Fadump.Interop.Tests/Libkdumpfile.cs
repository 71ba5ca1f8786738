using System.Buffers.Binary;
using System.Globalization;

namespace Fadump.Interop.Tests;

/// <summary>
/// Reads many physical (or kernel virtual) ranges from dumps with the real libkdumpfile 0.5.1 (Debian's
/// python3-libkdumpfile), in one python3 process for all of them. Files whose architecture it cannot detect
/// (QEMU's kdump files carry none it recognises) get arch.name x86_64 first. Kernel virtual reads set
/// addrxlat.ostype linux: 0.5.1 does not set it itself for an ELF vmcore, and without it its x86_64 Linux
/// translation (page tables from init_top_pgt, 4 or 5 levels from NUMBER(pgtable_l5_enabled)) is not set
/// up: a vmemmap read then fails with "Cannot determine 5-level paging", on QEMU's real dumps as on ours.
/// </summary>
internal static class Libkdumpfile
{
    public const string Python = "/usr/bin/python3";

    private const string Script = """
        import sys, struct, kdumpfile, kdumpfile.exceptions
        samples = [tuple(int(x, 16) for x in line.split()) for line in open(sys.argv[1])]
        space = getattr(kdumpfile, sys.argv[2])
        args = sys.argv[3:]
        for i in range(0, len(args), 2):
            path, out = args[i], args[i + 1]
            k = kdumpfile.kdumpfile(path)
            detected = k.attr.get('arch.name')
            if detected is None:
                k.attr['arch.name'] = 'x86_64'
            if space == kdumpfile.KDUMP_KVADDR:
                k.attr['addrxlat.ostype'] = 'linux'
            print(path, k.attr['file.format'], detected, k.attr['linux.uts.release'])
            with open(out, 'wb') as f:
                for addr, size in samples:
                    try:
                        data = k.read(space, addr, size)
                        f.write(struct.pack('<q', len(data)))
                        f.write(data)
                    except (kdumpfile.exceptions.NoDataException, kdumpfile.exceptions.AddressTranslationException) as e:
                        print("%s: 0x%x+%d: %s" % (path, addr, size, e), file=sys.stderr)
                        f.write(struct.pack('<q', -1))
        """;

    public sealed record Reads(string Path, string Format, string Arch, string Release, byte[]?[] Data);

    /// <summary>
    /// Reads every (address, length) from each dump; a null entry is a read libkdumpfile refused. Arch is the
    /// architecture libkdumpfile detected ("None" when it detected none and the script set x86_64).
    /// </summary>
    public static Reads[] Read(IReadOnlyList<(ulong Address, int Length)> samples, params string[] dumps) =>
        Read(samples, virtualAddresses: false, dumps);

    /// <summary>As <see cref="Read(IReadOnlyList{ValueTuple{ulong, int}}, string[])"/>, at kernel virtual addresses (KDUMP_KVADDR) when asked.</summary>
    public static Reads[] Read(IReadOnlyList<(ulong Address, int Length)> samples, bool virtualAddresses, params string[] dumps)
    {
        using var dir = new RealTool.TempDir();
        string script = dir.File("read.py"), list = dir.File("samples.txt");
        File.WriteAllText(script, Script);
        File.WriteAllLines(list, samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Address:x} {s.Length:x}")));
        var args = new List<string> { script, list, virtualAddresses ? "KDUMP_KVADDR" : "KDUMP_MACHPHYSADDR" };
        for (int i = 0; i < dumps.Length; i++)
        {
            args.AddRange([dumps[i], dir.File($"out.{i}")]);
        }

        var r = RealTool.Run(Python, args, timeoutSeconds: 300);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        Assert.True(r.ExitCode == 0, $"libkdumpfile script failed ({r.ExitCode}): {r.All}");
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var result = new Reads[dumps.Length];
        for (int i = 0; i < dumps.Length; i++)
        {
            var f = lines[i].Split(' ');
            Assert.Equal(dumps[i], f[0]);
            byte[] all = File.ReadAllBytes(dir.File($"out.{i}"));
            var data = new byte[]?[samples.Count];
            int pos = 0;
            for (int s = 0; s < samples.Count; s++)
            {
                long n = BinaryPrimitives.ReadInt64LittleEndian(all.AsSpan(pos));
                pos += 8;
                if (n >= 0)
                {
                    data[s] = all.AsSpan(pos, (int)n).ToArray();
                    pos += (int)n;
                }
            }

            Assert.Equal(all.Length, pos);
            result[i] = new Reads(dumps[i], f[1], f[2], f[3], data);
        }

        return result;
    }
}
