using Fadump.Formats.Compression;
using Fadump.Tools.Service;

namespace Fadump.Tools.Tests.Service;

public sealed class KdumpConfigParserTests
{
    [Fact]
    public void Empty_file_gives_kdump_utils_defaults()
    {
        var c = KdumpConfigParser.Parse("# nothing but comments\n\n   \n", "/etc/kdump.conf");

        Assert.Equal("/var/crash", c.Path);
        Assert.Equal("makedumpfile -l --message-level 7 -d 31", c.CoreCollectorText);
        Assert.Equal(31, c.CoreCollector.DumpLevel);
        Assert.Equal(PageCompression.Lzo, c.CoreCollector.Compression);
        Assert.Equal(7, c.CoreCollector.MessageLevel);
        Assert.Null(c.Ssh);
        Assert.Equal("/root/.ssh/kdump_id_rsa", c.SshKey);
        Assert.False(c.SshKeyConfigured);
        Assert.Equal(FailureAction.Reboot, c.FailureAction);
        Assert.Equal(FinalAction.Reboot, c.FinalAction);
        Assert.Null(c.KdumpPre);
        Assert.Null(c.KdumpPost);
        Assert.Equal(new KdumpConfig().CoreCollector.DumpLevel, c.CoreCollector.DumpLevel);
    }

    [Theory]
    [InlineData("ext4 /dev/vdb\n", "ext4", "/dev/vdb")]
    [InlineData("xfs UUID=0b4a4ca5-2b0e-4b44-a1ff-5f6e5ad4c4bb\n", "xfs", "UUID=0b4a4ca5-2b0e-4b44-a1ff-5f6e5ad4c4bb")]
    [InlineData("ext4 LABEL=crash\n", "ext4", "LABEL=crash")]
    [InlineData("nfs dumps.example.com:/export/crash\n", "nfs", "dumps.example.com:/export/crash")]
    [InlineData("virtiofs hostshare\n", "virtiofs", "hostshare")]
    public void File_system_targets_name_the_type_and_the_device(string text, string type, string device)
    {
        var c = KdumpConfigParser.Parse(text + "path /var/crash\n", "/etc/kdump.conf");

        Assert.Equal(new FileSystemTarget(type, device), c.FileSystem);
        Assert.Null(c.Ssh);
    }

    [Fact]
    public void Every_directive_is_read()
    {
        const string text = """
            # kdump.conf
            path /srv/dumps          # trailing comment
            core_collector makedumpfile -c --message-level 1 -d 17
            ssh kdump@dumphost.example.com
            sshkey /root/.ssh/other_key
            failure_action shell
            final_action poweroff
            kdump_pre /usr/local/bin/pre.sh
            kdump_post /usr/local/bin/post.sh
            """;

        var c = KdumpConfigParser.Parse(text, "k.conf");

        Assert.Equal("/srv/dumps", c.Path);
        Assert.Equal("makedumpfile -c --message-level 1 -d 17", c.CoreCollectorText);
        Assert.Equal(PageCompression.Zlib, c.CoreCollector.Compression);
        Assert.Equal(17, c.CoreCollector.DumpLevel);
        Assert.Equal(1, c.CoreCollector.MessageLevel);
        Assert.Equal(new SshDestination("kdump", "dumphost.example.com"), c.Ssh);
        Assert.Equal("/root/.ssh/other_key", c.SshKey);
        Assert.True(c.SshKeyConfigured);
        Assert.Equal(FailureAction.Shell, c.FailureAction);
        Assert.Equal(FinalAction.PowerOff, c.FinalAction);
        Assert.Equal("/usr/local/bin/pre.sh", c.KdumpPre);
        Assert.Equal("/usr/local/bin/post.sh", c.KdumpPost);
        Assert.Equal("k.conf", c.Source);
    }

    [Theory]
    [InlineData("reboot", FailureAction.Reboot)]
    [InlineData("halt", FailureAction.Halt)]
    [InlineData("poweroff", FailureAction.PowerOff)]
    [InlineData("shell", FailureAction.Shell)]
    [InlineData("dump_to_rootfs", FailureAction.DumpToRootfs)]
    public void Failure_actions_and_the_old_name_default(string value, FailureAction expected)
    {
        Assert.Equal(expected, KdumpConfigParser.Parse($"failure_action {value}\n").FailureAction);
        Assert.Equal(expected, KdumpConfigParser.Parse($"default {value}\n").FailureAction);
    }

    [Theory]
    [InlineData("reboot", FinalAction.Reboot)]
    [InlineData("halt", FinalAction.Halt)]
    [InlineData("poweroff", FinalAction.PowerOff)]
    public void Final_actions(string value, FinalAction expected) =>
        Assert.Equal(expected, KdumpConfigParser.Parse($"final_action {value}\n").FinalAction);

    [Fact]
    public void Blanks_and_tabs_around_names_and_values_are_dropped()
    {
        var c = KdumpConfigParser.Parse("  \tpath\t\t/var/crash/x  \r\n\tfinal_action   halt\t#why\n");

        Assert.Equal("/var/crash/x", c.Path);
        Assert.Equal(FinalAction.Halt, c.FinalAction);
    }

    [Fact]
    public void Initramfs_only_directives_are_accepted_and_reported()
    {
        var c = KdumpConfigParser.Parse("extra_modules nvme\n\nforce_rebuild 1\ndracut_args --omit-drivers foo\n", "k.conf");

        Assert.Equal(["k.conf:1: extra_modules", "k.conf:3: force_rebuild", "k.conf:4: dracut_args"], c.Ignored);
    }

    [Theory]
    [InlineData("path /a\nbogus 1\n", 2, "unknown kdump config option 'bogus'")]
    [InlineData("\n\n\npath\n", 4, "option 'path' needs a value")]
    [InlineData("path relative/dir\n", 1, "path 'relative/dir': expected an absolute path")]
    [InlineData("path /a\npath /b\n", 2, "option 'path' is given twice (first on line 1)")]
    [InlineData("failure_action reboot\ndefault halt\n", 2, "option 'default' is given twice (first on line 1)")]
    [InlineData("failure_action explode\n", 1, "failure_action 'explode': expected reboot, halt, poweroff, shell or dump_to_rootfs")]
    [InlineData("default explode\n", 1, "default 'explode': expected reboot")]
    [InlineData("final_action shell\n", 1, "final_action 'shell': expected reboot, halt or poweroff")]
    [InlineData("ssh dumphost\n", 1, "ssh 'dumphost': expected user@host")]
    [InlineData("ssh -oProxyCommand=x@host\n", 1, "expected user@host")]
    [InlineData("ssh root@host;reboot\n", 1, "expected user@host")]
    [InlineData("ssh a@b\nssh c@d\n", 2, "more than one dump target (the first is on line 1)")]
    [InlineData("raw /dev/sdb1\n", 1, "dump target 'raw' is not supported")]
    [InlineData("path /../../tmp/escape\n", 1, "path '/../../tmp/escape': '.' and '..' are not allowed")]
    [InlineData("path /var/./crash\n", 1, "'.' and '..' are not allowed")]
    [InlineData("nfs server\n", 1, "nfs 'server': expected HOST:/EXPORT")]
    [InlineData("ext4 -oremount /dev/sdb1\n", 1, "expected one device")]
    [InlineData("xfs /dev/sdb1;reboot\n", 1, "expected one device")]
    [InlineData("ext4 /dev/vdb\nssh a@b\n", 2, "more than one dump target (the first is on line 1)")]
    [InlineData("sshkey id_rsa\n", 1, "sshkey 'id_rsa': expected an absolute path")]
    [InlineData("kdump_pre pre.sh\n", 1, "kdump_pre 'pre.sh': expected an absolute path")]
    [InlineData("kdump_post /usr/bin/post with args\n", 1, "kdump_post '/usr/bin/post with args': expected an absolute path")]
    [InlineData("# header\ncore_collector cat\n", 2, "core_collector 'cat': only makedumpfile, cp and scp are supported")]
    [InlineData("core_collector cp -r\n", 1, "core_collector cp option -r is not supported")]
    [InlineData("core_collector makedumpfile -E -z\n", 1, "/etc/kdump.conf:1: -E cannot be used with -c, -l, -p or -z: the ELF format has no compressed pages")]
    [InlineData("ssh a@b\ncore_collector cp --sparse=always\n", 2, "core_collector cp cannot save to an ssh target: kdump-utils pipes the collector's standard output to ssh, and cp writes none (cp: missing destination file operand); use scp, or makedumpfile (saved as vmcore.flat)")]
    [InlineData("core_collector cp\nssh a@b\n", 1, "core_collector cp cannot save to an ssh target")]
    [InlineData("core_collector makedumpfile -d 99\n", 1, "-d '99': expected an integer from 0 to 31")]
    [InlineData("core_collector makedumpfile -x vmlinux\n", 1, "core_collector option -x is not supported")]
    [InlineData("core_collector makedumpfile --split\n", 1, "core_collector option --split is not supported")]
    [InlineData("core_collector makedumpfile -l /proc/vmcore /tmp/x\n", 1, "core_collector argument '/proc/vmcore'")]
    [InlineData("link_delay 10\n", 1, "deprecated kdump config option 'link_delay'")]
    [InlineData("path /a\u0007b\n", 1, "control characters are not allowed")]
    public void Errors_name_the_file_and_the_line(string text, int line, string expected)
    {
        var e = Assert.Throws<KdumpConfigException>(() => KdumpConfigParser.Parse(text, "/etc/kdump.conf"));

        Assert.Equal("/etc/kdump.conf", e.File);
        Assert.Equal(line, e.Line);
        Assert.StartsWith($"/etc/kdump.conf:{line}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hash_inside_a_value_starts_a_comment_as_in_kdump_utils()
    {
        // kdump_read_conf: sed 's/#.*//' - a '#' anywhere ends the line.
        var c = KdumpConfigParser.Parse("path /var/crash#notpart\n");

        Assert.Equal("/var/crash", c.Path);
    }

    [Fact]
    public void ParseFile_names_the_file_in_errors()
    {
        string f = Path.Combine(Directory.CreateTempSubdirectory("fadump-conf-").FullName, "kdump.conf");
        File.WriteAllText(f, "path /var/crash\nfinal_action sleep\n");

        var e = Assert.Throws<KdumpConfigException>(() => KdumpConfigParser.ParseFile(f));

        Assert.StartsWith($"{f}:2: final_action 'sleep'", e.Message, StringComparison.Ordinal);
        Directory.Delete(Path.GetDirectoryName(f)!, recursive: true);
    }

    [Fact]
    public void ParseFile_reads_at_most_a_mebibyte_of_an_endless_file()
    {
        // /dev/zero as the config: an error naming it, not 4 GB of memory and an abort.
        long before = GC.GetAllocatedBytesForCurrentThread();

        var e = Assert.Throws<KdumpConfigException>(() => KdumpConfigParser.ParseFile("/dev/zero"));

        Assert.Equal("/dev/zero: larger than 1 MiB: not a kdump.conf", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 8L << 20, "more than 8 MiB allocated to read the config");
    }

    [Fact]
    public void ParseFile_of_a_directory_says_so()
    {
        var e = Assert.Throws<KdumpConfigException>(() => KdumpConfigParser.ParseFile("/tmp"));

        Assert.Equal("/tmp: is a directory", e.Message);
    }

    [Fact]
    public async Task ParseFile_of_a_fifo_refuses_it_instead_of_waiting_for_a_writer()
    {
        string dir = Directory.CreateTempSubdirectory("fadump-conf-").FullName;
        string fifo = Path.Combine(dir, "kdump.conf");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            mk.WaitForExit();
            Assert.Equal(0, mk.ExitCode);
        }

        var parse = Task.Run(() => Assert.Throws<KdumpConfigException>(() => KdumpConfigParser.ParseFile(fifo)), TestContext.Current.CancellationToken);
        bool finished = await Task.WhenAny(parse, Task.Delay(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken)) == parse;
        if (!finished)
        {
            File.WriteAllText(fifo, string.Empty); // a writer, so that the blocked open returns
        }

        Assert.True(finished, "ParseFile blocked on a FIFO");
        Assert.Equal($"{fifo}: is a FIFO: expected a kdump.conf file", (await parse).Message);
        Directory.Delete(dir, recursive: true);
    }
}
