using System.Globalization;
using System.Text;
using Fadump.Formats;
using Fadump.Tools.Inspect;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>
/// The directory a dump is saved in: <c>&lt;host&gt;-&lt;%Y-%m-%d-%H:%M:%S&gt;</c>, kdump-utils' <c>$HOST_IP-$DATEDIR</c>
/// with <c>DATEDIR=$(date +%Y-%m-%d-%T)</c> (local time of the capture). The host is the crashed kernel's
/// nodename (init_uts_ns, found through VMCOREINFO) rather than kdump-utils' IP address: it names the machine
/// that crashed even when the capture kernel has no network; then the running system's
/// /proc/sys/kernel/hostname; then kdump-utils' own default, 127.0.0.1.
/// </summary>
public static class DumpDirectoryName
{
    public const string DefaultHost = "127.0.0.1";

    /// <summary>struct new_utsname: six fields of __NEW_UTS_LEN + 1 = 65 chars; nodename is the second.</summary>
    private const int UtsFieldLength = 65;
    private const int NodenameOffset = UtsFieldLength;

    public static string For(IDump dump, ISysroot root, DateTimeOffset now) => Host(dump, root) + "-" + Timestamp(now);

    /// <summary>%Y-%m-%d-%H:%M:%S.</summary>
    public static string Timestamp(DateTimeOffset t) => t.ToString("yyyy'-'MM'-'dd'-'HH':'mm':'ss", CultureInfo.InvariantCulture);

    public static string Host(IDump dump, ISysroot root)
    {
        ArgumentNullException.ThrowIfNull(dump);
        ArgumentNullException.ThrowIfNull(root);
        return Clean(CrashedNodename(dump)) ?? Clean(RunningHostname(root)) ?? DefaultHost;
    }

    /// <summary>init_uts_ns.name.nodename of the crashed kernel, or null when the dump cannot say.</summary>
    public static string? CrashedNodename(IDump dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        if (dump is IUtsInfo { NodeName: { Length: > 0 } node })
        {
            return node;
        }

        var info = dump.VmcoreInfo;
        try
        {
            // Symbol and Offset throw on a malformed value: that is "the dump cannot say" too.
            if (info?.Symbol("init_uts_ns") is not { } uts || info.Offset("uts_namespace.name") is not { } nameOffset)
            {
                return null;
            }

            var kernel = KernelAddressSpace.Create(dump);
            var b = new byte[UtsFieldLength];
            int n = kernel.ReadVirtual(uts + (ulong)nameOffset + NodenameOffset, b);
            if (n < b.Length)
            {
                return null;
            }

            int end = b.AsSpan().IndexOf((byte)0);
            return Encoding.ASCII.GetString(b, 0, end < 0 ? b.Length : end);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            return null;
        }
    }

    private static string? RunningHostname(ISysroot root)
    {
        try
        {
            return root.Exists("/proc/sys/kernel/hostname") ? root.ReadText("/proc/sys/kernel/hostname").Trim() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A host name as a path component: letters, digits, '.', '-', '_' only; "(none)" and empty mean unknown.</summary>
    private static string? Clean(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name == "(none)")
        {
            return null;
        }

        var sb = new StringBuilder();
        foreach (char c in name.Trim())
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        }

        string s = sb.ToString().TrimStart('.');
        return s.Length == 0 ? null : s;
    }
}
