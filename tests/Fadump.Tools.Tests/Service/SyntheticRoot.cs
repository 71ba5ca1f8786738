using System.Text;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// A capture kernel's root as a temporary directory: proc/vmcore written with ElfCoreWriter (a synthetic
/// ppc64le kernel with a printk ring and utsname "synthetic" in its first 4 MiB, then a recognisable pattern
/// range), and the sysfs files of the mechanism asked for.
/// </summary>
internal sealed class SyntheticRoot : IDisposable
{
    public const ulong PatternStart = 64UL << 20;

    private SyntheticRoot(string dir) => Dir = dir;

    public string Dir { get; }

    /// <summary>The lines vmcore-dmesg.txt must hold.</summary>
    public static string ExpectedDmesg => string.Concat(SyntheticLog.ExpectedLines(signedChar: false).Select(l => l + "\n"));

    public static byte PatternByte(ulong paddr) => (byte)((paddr * 2654435761UL) >> 13);

    public static SyntheticRoot Kdump(int patternBytes = 1 << 20)
    {
        var r = new SyntheticRoot(Directory.CreateTempSubdirectory("fadump-root-").FullName);
        r.WriteVmcore(patternBytes);
        return r;
    }

    public static SyntheticRoot Fadump(bool oldNames, int patternBytes = 1 << 20)
    {
        var r = Kdump(patternBytes);
        if (oldNames)
        {
            r.WriteFile("sys/kernel/fadump_enabled", "1\n");
            r.WriteFile("sys/kernel/fadump_registered", "0\n");
            r.WriteFile("sys/kernel/fadump_release_mem", string.Empty);
        }
        else
        {
            r.WriteFile("sys/kernel/fadump/enabled", "1\n");
            r.WriteFile("sys/kernel/fadump/registered", "0\n");
            r.WriteFile("sys/kernel/fadump/release_mem", string.Empty);
            r.WriteFile("sys/kernel/fadump/mem_reserved", "1073741824\n");
        }

        return r;
    }

    /// <summary>An empty root: a normal boot, nothing to collect.</summary>
    public static SyntheticRoot Empty()
    {
        var r = new SyntheticRoot(Directory.CreateTempSubdirectory("fadump-root-").FullName);
        r.WriteFile("proc/cmdline", "root=/dev/sda2\n");
        return r;
    }

    /// <summary>
    /// A PowerNV capture kernel's OPAL core: sys/firmware/opal/mpipl/core with the link sys/firmware/opal/core to
    /// it and mpipl/release_core, or (old kernels) only sys/firmware/opal/core.
    /// </summary>
    public void AddOpalCore(byte[] core, bool oldNameOnly = false)
    {
        string opal = Path.Combine(Dir, "sys/firmware/opal");
        Directory.CreateDirectory(Path.Combine(opal, "mpipl"));
        if (oldNameOnly)
        {
            File.WriteAllBytes(Path.Combine(opal, "core"), core);
            return;
        }

        File.WriteAllBytes(Path.Combine(opal, "mpipl/core"), core);
        File.SetUnixFileMode(Path.Combine(opal, "mpipl/core"), UnixFileMode.UserRead);
        File.CreateSymbolicLink(Path.Combine(opal, "core"), "mpipl/core");
        WriteFile("sys/firmware/opal/mpipl/release_core", string.Empty);
    }

    public void WriteFile(string relative, string text)
    {
        string p = Path.Combine(Dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, text, Encoding.ASCII);
    }

    public string ReadFile(string relative) => File.ReadAllText(Path.Combine(Dir, relative));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The synthetic kernel's RAM [0, 4 MiB) then [64 MiB, 64 MiB + patternBytes) of pattern, as /proc/vmcore.</summary>
    private void WriteVmcore(int patternBytes)
    {
        var ppc = SyntheticScenarios.Ppc64WithLog(bigEndian: false);
        IReadOnlyList<ElfNote> notes;
        using (var k = ppc.Kernel.Open())
        {
            notes = k.Notes;
        }

        var loads = new List<ElfSegmentSpec>
        {
            new(0, SyntheticPpc64.PageOffset, SyntheticPpc64.RamSize, SyntheticPpc64.RamSize),
        };
        if (patternBytes > 0)
        {
            loads.Add(new ElfSegmentSpec(PatternStart, SyntheticPpc64.PageOffset + PatternStart, (ulong)patternBytes, (ulong)patternBytes));
        }

        string path = Path.Combine(Dir, "proc", "vmcore");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        using var w = new ElfCoreWriter(new FileSink(handle), DumpMachine.Ppc64le, notes, loads, SyntheticPpc64.PageSize);
        w.Write(ppc.Kernel.Ram);
        var chunk = new byte[1 << 20];
        for (ulong off = 0; off < (ulong)patternBytes; off += (ulong)chunk.Length)
        {
            int n = (int)Math.Min((ulong)chunk.Length, (ulong)patternBytes - off);
            for (int i = 0; i < n; i++)
            {
                chunk[i] = PatternByte(PatternStart + off + (ulong)i);
            }

            w.Write(chunk.AsSpan(0, n));
        }

        w.Complete();
    }

    /// <summary>The kernel log of a saved or source dump, as makedumpfile --dump-dmesg prints it.</summary>
    public static string Dmesg(IDump dump) => Encoding.Latin1.GetString(KernelLog.Read(dump).ToMakedumpfileBytes());
}
