using System.CommandLine;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Cli;

/// <summary>
/// <c>fadump collect [--root DIR] [--config FILE]</c>: the dump service (DESIGN.md §4). Exit status 0 when
/// there was nothing to collect or the dump was saved, verified, released and re-armed; 1 otherwise.
/// </summary>
internal static class CollectCommand
{
    public const string DefaultConfig = "/etc/kdump.conf";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var root = new Option<string>("--root") { Description = "the root holding proc/ and sys/ of the capture kernel", DefaultValueFactory = _ => "/" };
        var config = new Option<string?>("--config") { Description = $"kdump.conf to read (default {DefaultConfig}; kdump-utils' defaults when it does not exist)" };
        var printActions = new Option<bool>("--print-actions") { Description = "print the failure and final actions instead of executing them" };
        var sshOptions = new Option<string[]>("--ssh-option") { Description = "an ssh -o option (Port=2222, UserKnownHostsFile=...), before the service's own; repeatable" };
        var cmd = new Command("collect", "The dump service: save vmcore-dmesg.txt and the vmcore as kdump.conf says, verify, release the memory, re-register, then the final action")
        {
            root, config, printActions, sshOptions,
        };
        cmd.SetAction(p =>
        {
            KdumpConfig cfg;
            try
            {
                cfg = LoadConfig(p.GetValue(config), stdout);
            }
            catch (KdumpConfigException e)
            {
                stderr.WriteLine($"fadump: {e.Message}");
                return FadumpCommand.ExitFailure;
            }

            string rootDir = p.GetValue(root)!;
            var rootKind = Fadump.Formats.IO.PosixFile.Kind(rootDir, followSymlinks: true);
            if (rootKind != Fadump.Formats.IO.FileKind.Directory)
            {
                stderr.WriteLine(rootKind == Fadump.Formats.IO.FileKind.Missing
                    ? $"fadump: {rootDir}: No such file or directory"
                    : $"fadump: {rootDir}: Not a directory (--root is {Fadump.Formats.IO.PosixFile.Describe(rootKind)})");
                return FadumpCommand.ExitFailure;
            }

            IActionRunner actions = p.GetValue(printActions) ? new PrintingActionRunner(stdout) : new SystemActionRunner(stdout);
            var service = new CollectService(cfg, new CollectOptions
            {
                Actions = actions,
                Log = stdout,
                SshOptions = p.GetValue(sshOptions) ?? [],
            });
            var result = service.Run(new DirectorySysroot(rootDir));
            foreach (var e in result.Errors)
            {
                stderr.WriteLine($"fadump: {e}");
            }

            return result.ExitCode;
        });
        return cmd;
    }

    private static KdumpConfig LoadConfig(string? path, TextWriter log)
    {
        if (path is not null)
        {
            return KdumpConfigParser.ParseFile(path);
        }

        if (File.Exists(DefaultConfig))
        {
            return KdumpConfigParser.ParseFile(DefaultConfig);
        }

        log.WriteLine($"{DefaultConfig} not found: using kdump-utils' defaults (path {KdumpConfig.DefaultPath}, core_collector {KdumpConfig.DefaultCoreCollector})");
        return new KdumpConfig();
    }
}
