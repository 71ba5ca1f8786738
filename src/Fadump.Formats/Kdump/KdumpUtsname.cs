using System.Text;

namespace Fadump.Formats.Kdump;

/// <summary>
/// struct new_utsname as stored in disk_dump_header: six NUL-padded 65-byte fields. makedumpfile copies the
/// crashed kernel's init_uts_ns; QEMU fills only Machine.
/// </summary>
public sealed record KdumpUtsname(string Sysname, string Nodename, string Release, string Version, string Machine, string Domainname)
{
    public const int FieldLength = KdumpLayout.UtsFieldLength;

    public static KdumpUtsname Empty { get; } = new(string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty);

    /// <summary>A utsname as a Linux kernel of this machine would report it ("Linux", machine string from <see cref="DumpMachine.UtsMachine"/>).</summary>
    public static KdumpUtsname ForMachine(DumpMachine machine, string release, string nodename = "", string version = "") =>
        new("Linux", nodename, release, version, machine.UtsMachine, "(none)");

    internal IEnumerable<string> Fields => [Sysname, Nodename, Release, Version, Machine, Domainname];

    internal static KdumpUtsname Parse(ReadOnlySpan<byte> uts)
    {
        var f = new string[KdumpLayout.UtsFieldCount];
        for (int i = 0; i < f.Length; i++)
        {
            var field = uts.Slice(i * FieldLength, FieldLength);
            int nul = field.IndexOf((byte)0);
            f[i] = Encoding.UTF8.GetString(nul >= 0 ? field[..nul] : field);
        }

        return new KdumpUtsname(f[0], f[1], f[2], f[3], f[4], f[5]);
    }

    /// <summary>Writes the six fields; a field longer than 64 bytes is an error (the kernel's limit).</summary>
    internal void Encode(Span<byte> uts)
    {
        uts[..(KdumpLayout.UtsFieldCount * FieldLength)].Clear();
        int i = 0;
        foreach (var s in Fields)
        {
            if (Encoding.UTF8.GetByteCount(s) >= FieldLength)
            {
                throw new ArgumentException(FormattableString.Invariant($"utsname field '{s}' is longer than {FieldLength - 1} bytes"));
            }

            Encoding.UTF8.GetBytes(s, uts.Slice(i * FieldLength, FieldLength));
            i++;
        }
    }
}
