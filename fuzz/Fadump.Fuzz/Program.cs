using System.Diagnostics;
using SharpFuzz;

namespace Fadump.Fuzz;

/// <summary>
/// Fuzz targets for fadump's readers and parsers (see fuzz/README.md).
/// <code>
///   Fadump.Fuzz list                      the targets
///   Fadump.Fuzz TARGET                    under afl-fuzz (SharpFuzz's fork server); alone: runs stdin once
///   Fadump.Fuzz replay TARGET PATH...     runs files or directories of inputs; exit 1 on a finding
///   Fadump.Fuzz seeds DIR                 writes the seed corpora DIR/TARGET/*
/// </code>
/// </summary>
internal static class Program
{
    /// <summary>afl-fuzz's own maximum input size (MAX_FILE).</summary>
    private const int MaxInput = 1 << 20;

    private static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "list")
        {
            foreach (var t in Targets.All)
            {
                Console.WriteLine($"{t.Name,-16}{t.Description}");
            }

            return 0;
        }

        if (args.Length == 2 && args[0] == "seeds")
        {
            Seeds.Write(args[1]);
            return 0;
        }

        if (args.Length >= 3 && args[0] == "replay")
        {
            return Replay(Targets.Find(args[1]) ?? throw Usage($"unknown target '{args[1]}'"), args[2..]);
        }

        if (args.Length == 1 && Targets.Find(args[0]) is { } target)
        {
            Fuzzer.Run(stream =>
            {
                using var ms = new MemoryStream();
                var buf = new byte[65536];
                int n;
                while (ms.Length < MaxInput && (n = stream.Read(buf, 0, buf.Length)) > 0)
                {
                    ms.Write(buf, 0, n);
                }

                target.Run(ms.ToArray());
            });
            return 0;
        }

        Console.Error.WriteLine("usage: Fadump.Fuzz list | TARGET | replay TARGET PATH... | seeds DIR");
        return 2;
    }

    private static ArgumentException Usage(string message)
    {
        Console.Error.WriteLine($"Fadump.Fuzz: {message}");
        return new ArgumentException(message);
    }

    private static unsafe void EnsureCoverageMap()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
        }
    }

    /// <summary>Runs every input; an escaping exception is printed with the file name and counts as a finding.</summary>
    private static int Replay(Target target, string[] paths)
    {
        var files = new List<string>();
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
            {
                files.AddRange(Directory.EnumerateFiles(p).Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "README.txt").Order(StringComparer.Ordinal));
            }
            else
            {
                files.Add(p);
            }
        }

        // Assemblies instrumented by sharpfuzz write their coverage to SharpFuzz.Common.Trace.SharedMem, which
        // only Fuzzer.Run sets (to afl-fuzz's shared memory): give them a private map outside afl-fuzz.
        EnsureCoverageMap();
        int failed = 0;
        var slowest = (Name: string.Empty, Ms: 0L);
        foreach (var f in files)
        {
            var sw = Stopwatch.StartNew();
            try
            {
                target.Run(File.ReadAllBytes(f));
            }
#pragma warning disable CA1031 // every escaping exception is the finding being reported
            catch (Exception e)
#pragma warning restore CA1031
            {
                failed++;
                Console.Error.WriteLine($"FINDING {target.Name} {f}: {e.GetType().FullName}: {e.Message}");
                Console.Error.WriteLine(e.StackTrace);
            }

            if (sw.ElapsedMilliseconds > slowest.Ms)
            {
                slowest = (f, sw.ElapsedMilliseconds);
            }
        }

        Console.WriteLine($"{target.Name}: {files.Count} inputs replayed, slowest {slowest.Ms} ms ({Path.GetFileName(slowest.Name)})");
        Console.WriteLine($"{target.Name}: {failed} findings");
        return failed == 0 ? 0 : 1;
    }
}
