using System.Globalization;
using Fadump.Formats.IO;

namespace Fadump.Tools.Service;

/// <summary>A kdump.conf error, naming the file and the line (1-based).</summary>
public sealed class KdumpConfigException(string file, int line, string message)
    : IOException(line > 0
        ? string.Create(CultureInfo.InvariantCulture, $"{file}:{line}: {message}")
        : $"{file}: {message}")
{
    public string File { get; } = file;

    public int Line { get; } = line;

    public string Reason { get; } = message;
}

/// <summary>
/// Reads kdump.conf. Lines are cleaned as kdump-utils' kdump_read_conf does (everything from <c>#</c> on is a
/// comment, blanks around the name and value are dropped, blank lines skipped); then each directive is
/// checked as kdumpctl's check_config does at service start, so that a mistake is reported with its line
/// instead of silently ignored in the capture environment: unknown and deprecated directives, empty values,
/// duplicates and a second dump target are errors, and so is <c>core_collector cp</c> with an ssh target (which
/// kdump-utils accepts and then fails to dump with).
/// </summary>
public static class KdumpConfigParser
{
    /// <summary>Read when building the capture initramfs only: harmless here.</summary>
    private static readonly HashSet<string> FirstKernelOnly = new(StringComparer.Ordinal)
    {
        "extra_bins", "extra_modules", "dracut_args", "force_rebuild", "force_no_rebuild",
        "auto_reset_crashkernel", "fence_kdump_args", "fence_kdump_nodes",
    };

    /// <summary>kdump-utils file-system targets: <c>TYPE DEVICE</c>, mounted by the service (mount -t TYPE DEVICE).</summary>
    private static readonly HashSet<string> FileSystemTargets = new(StringComparer.Ordinal)
    {
        "nfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "virtiofs",
    };

    /// <summary>kdump-utils targets the service cannot write: raw (dd of makedumpfile -F onto a partition).</summary>
    private static readonly HashSet<string> UnsupportedTargets = new(StringComparer.Ordinal) { "raw" };

    /// <summary>kdumpctl: "Deprecated kdump config option".</summary>
    private static readonly HashSet<string> Deprecated = new(StringComparer.Ordinal)
    {
        "net", "options", "link_delay", "disk_timeout", "debug_mem_level", "blacklist",
    };

    /// <summary>kdump.conf is a few KiB; anything past this is not one (and /dev/zero must not fill memory).</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>
    /// Reads and parses a kdump.conf, at most <see cref="MaxFileBytes"/> of it. Its type is checked before it
    /// is opened: a FIFO would block the open until a writer came.
    /// </summary>
    public static KdumpConfig ParseFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var kind = PosixFile.Kind(path, followSymlinks: true);
        switch (kind)
        {
            case FileKind.Missing:
                throw new KdumpConfigException(path, 0, "no such file");
            case FileKind.Directory:
                throw new KdumpConfigException(path, 0, "is a directory");
            case FileKind.Fifo or FileKind.Socket:
                throw new KdumpConfigException(path, 0, $"is {PosixFile.Describe(kind)}: expected a kdump.conf file");
        }

        byte[] buf = new byte[MaxFileBytes + 1];
        int n = 0;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0))
        {
            int got;
            while (n < buf.Length && (got = fs.Read(buf, n, buf.Length - n)) > 0)
            {
                n += got;
            }
        }

        if (n > MaxFileBytes)
        {
            throw new KdumpConfigException(path, 0, string.Create(CultureInfo.InvariantCulture, $"larger than {MaxFileBytes >> 20} MiB: not a kdump.conf"));
        }

        return Parse(System.Text.Encoding.UTF8.GetString(buf, 0, n), path);
    }

    public static KdumpConfig Parse(string text, string fileName = "kdump.conf")
    {
        ArgumentNullException.ThrowIfNull(text);
        var config = new KdumpConfig { Source = fileName };
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var ignored = new List<string>();
        string[] lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            int lineNo = n + 1;
            string line = lines[n];
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                line = line[..hash];
            }

            line = line.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            int gap = line.IndexOfAny([' ', '\t']);
            string name = gap < 0 ? line : line[..gap];
            string value = gap < 0 ? string.Empty : line[gap..].Trim();
            KdumpConfigException Error(string message) => new(fileName, lineNo, message);

            if (line.Any(c => char.IsControl(c) && c != '\t'))
            {
                throw Error("control characters are not allowed");
            }

            if (Deprecated.Contains(name))
            {
                throw Error($"deprecated kdump config option '{name}' (see kdump.conf(5) for its replacement)");
            }

            bool known = name is "path" or "core_collector" or "ssh" or "sshkey" or "failure_action" or "default"
                or "final_action" or "kdump_pre" or "kdump_post" || FirstKernelOnly.Contains(name) || UnsupportedTargets.Contains(name) || FileSystemTargets.Contains(name);
            if (!known)
            {
                throw Error($"unknown kdump config option '{name}'");
            }

            if (value.Length == 0 && name is not ("force_rebuild" or "force_no_rebuild" or "auto_reset_crashkernel"))
            {
                throw Error($"option '{name}' needs a value");
            }

            // failure_action and its old name default are one option; every target is the one "target" option.
            string key = name == "default" ? "failure_action" : name == "ssh" || UnsupportedTargets.Contains(name) || FileSystemTargets.Contains(name) ? "target" : name;
            if (seen.TryGetValue(key, out int first))
            {
                throw Error(key == "target"
                    ? string.Create(CultureInfo.InvariantCulture, $"more than one dump target (the first is on line {first})")
                    : string.Create(CultureInfo.InvariantCulture, $"option '{name}' is given twice (first on line {first})"));
            }

            seen[key] = lineNo;
            if (UnsupportedTargets.Contains(name))
            {
                throw Error($"dump target '{name}' is not supported by fadump collect: use a file system target (ext4 DEVICE, xfs DEVICE, nfs HOST:/EXPORT...), 'path' on a mounted file system, or 'ssh'");
            }

            if (FileSystemTargets.Contains(name))
            {
                config = config with { FileSystem = ParseFileSystem(name, value, Error) };
                continue;
            }

            if (FirstKernelOnly.Contains(name))
            {
                ignored.Add(string.Create(CultureInfo.InvariantCulture, $"{fileName}:{lineNo}: {name}"));
                continue;
            }

            config = name switch
            {
                "path" => config with { Path = DumpPath(value, Error) },
                "core_collector" => config with { CoreCollectorText = value, CoreCollector = Collector(value, Error) },
                "ssh" => config with { Ssh = ParseSsh(value, Error) },
                "sshkey" => config with { SshKey = AbsolutePath(value, name, Error), SshKeyConfigured = true },
                "failure_action" or "default" => config with { FailureAction = ParseFailureAction(value, name, Error) },
                "final_action" => config with { FinalAction = ParseFinalAction(value, Error) },
                "kdump_pre" => config with { KdumpPre = AbsolutePath(value, name, Error) },
                "kdump_post" => config with { KdumpPost = AbsolutePath(value, name, Error) },
                _ => throw Error($"unknown kdump config option '{name}'"),
            };
        }

        if (config.Ssh is not null && config.CoreCollector.Program == CoreCollectorProgram.Cp)
        {
            // kdump-utils' mkdumprd lets any non-makedumpfile collector through; its dump_ssh would then run
            // "cp /proc/vmcore | ssh ... dd", and cp fails in the capture kernel. Said here, with the line, instead.
            throw new KdumpConfigException(fileName, seen["core_collector"],
                "core_collector cp cannot save to an ssh target: kdump-utils pipes the collector's standard output to ssh, and cp writes none (cp: missing destination file operand); use scp, or makedumpfile (saved as vmcore.flat)");
        }

        return config with { Ignored = ignored };
    }

    private static CoreCollectorOptions Collector(string value, Func<string, KdumpConfigException> error)
    {
        try
        {
            return CoreCollectorParser.Parse(value);
        }
        catch (FormatException e)
        {
            throw error(e.Message);
        }
    }

    /// <summary>An absolute path with no "." or ".." component: under a mounted target it may not climb out of it.</summary>
    private static string DumpPath(string value, Func<string, KdumpConfigException> error)
    {
        string path = AbsolutePath(value, "path", error);
        return path.Split('/').Any(c => c is "." or "..")
            ? throw error($"path '{value}': '.' and '..' are not allowed (the dump must stay on its target)")
            : path;
    }

    private static string AbsolutePath(string value, string name, Func<string, KdumpConfigException> error) =>
        value.StartsWith('/') && !value.Any(char.IsWhiteSpace)
            ? value
            : throw error($"{name} '{value}': expected an absolute path without blanks");

    /// <summary>user@host; neither part may start with '-' (it would reach ssh as an option) or hold blanks or quotes.</summary>
    private static SshDestination ParseSsh(string value, Func<string, KdumpConfigException> error)
    {
        int at = value.LastIndexOf('@');
        string user = at > 0 ? value[..at] : string.Empty;
        string host = at > 0 ? value[(at + 1)..] : string.Empty;
        static bool Valid(string s) => s.Length > 0 && s[0] != '-' && !s.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '\\' or '`' or '$' or ';');
        if (!Valid(user) || !Valid(host) || user.Contains('@', StringComparison.Ordinal))
        {
            throw error($"ssh '{value}': expected user@host");
        }

        return new SshDestination(user, host);
    }

    /// <summary>
    /// One word, as mount(8) takes it: /dev/..., UUID=..., LABEL=..., PARTUUID=..., HOST:/EXPORT for nfs, a tag
    /// for virtiofs. A leading '-' would reach mount as an option.
    /// </summary>
    private static FileSystemTarget ParseFileSystem(string type, string value, Func<string, KdumpConfigException> error)
    {
        if (value[0] == '-' || value.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '\\' or '`' or '$' or ';'))
        {
            throw error($"{type} '{value}': expected one device (/dev/..., UUID=..., LABEL=...)");
        }

        if (type == "nfs" && !value.Contains(":/", StringComparison.Ordinal))
        {
            throw error($"nfs '{value}': expected HOST:/EXPORT");
        }

        return new FileSystemTarget(type, value);
    }

    private static FailureAction ParseFailureAction(string value, string name, Func<string, KdumpConfigException> error) => value switch
    {
        "reboot" => FailureAction.Reboot,
        "halt" => FailureAction.Halt,
        "poweroff" => FailureAction.PowerOff,
        "shell" => FailureAction.Shell,
        "dump_to_rootfs" => FailureAction.DumpToRootfs,
        _ => throw error($"{name} '{value}': expected reboot, halt, poweroff, shell or dump_to_rootfs"),
    };

    private static FinalAction ParseFinalAction(string value, Func<string, KdumpConfigException> error) => value switch
    {
        "reboot" => FinalAction.Reboot,
        "halt" => FinalAction.Halt,
        "poweroff" => FinalAction.PowerOff,
        _ => throw error($"final_action '{value}': expected reboot, halt or poweroff"),
    };
}
