using Fadump.Tools.Collector;
using Fadump.Formats.Compression;
using Fadump.Tools.Service;

namespace Fadump.Tools.Tests.Service;

public sealed class CoreCollectorParserTests
{
    [Fact]
    public void Kdump_utils_default_collector()
    {
        var o = CoreCollectorParser.Parse("makedumpfile -l --message-level 7 -d 31");

        Assert.Equal(31, o.DumpLevel);
        Assert.Empty(o.FallbackLevels);
        Assert.Equal(PageCompression.Lzo, o.Compression);
        Assert.Equal(SaveFormat.Kdump, o.Format);
        Assert.False(o.FlattenedRequested);
        Assert.Equal(7, o.MessageLevel);
        Assert.Equal(0, o.Threads);
        Assert.Null(o.SizeLimit);
    }

    [Theory]
    [InlineData("-c", PageCompression.Zlib)]
    [InlineData("-l", PageCompression.Lzo)]
    [InlineData("-p", PageCompression.Snappy)]
    [InlineData("-z", PageCompression.Zstd)]
    [InlineData("-c -z", PageCompression.Zstd)]
    [InlineData("", PageCompression.None)]
    public void Compression_flags_last_one_wins(string flags, PageCompression expected) =>
        Assert.Equal(expected, CoreCollectorParser.Parse("makedumpfile " + flags).Compression);

    /// <summary>As makedumpfile's getopt: the last compression is used; the ones before it are listed as ignored (logged by collect).</summary>
    [Fact]
    public void Overridden_compressions_are_listed()
    {
        var o = CoreCollectorParser.Parse("makedumpfile -c -l -d 31 -c -z");

        Assert.Equal(PageCompression.Zstd, o.Compression);
        Assert.Equal(
            ["-c (-z comes after it: the last compression given wins, as in makedumpfile)", "-l (-z comes after it: the last compression given wins, as in makedumpfile)"],
            o.IgnoredOptions);
    }

    [Fact]
    public void Getopt_forms_clusters_attached_values_and_long_equals()
    {
        var o = CoreCollectorParser.Parse("/usr/sbin/makedumpfile -eEF -d11,31 -L 2G --num-threads=8 --message-level=23");

        Assert.Equal(PageCompression.None, o.Compression);
        Assert.Equal(["-e"], o.IgnoredOptions);
        Assert.Equal(SaveFormat.Elf, o.Format);
        Assert.True(o.FlattenedRequested);
        Assert.Equal(11, o.DumpLevel);
        Assert.Equal([31], o.FallbackLevels);
        Assert.Equal(2L << 30, o.SizeLimit);
        Assert.Equal(8, o.Threads);
        Assert.Equal(23, o.MessageLevel);
    }

    [Fact]
    public void Tuning_options_are_accepted_and_listed()
    {
        var o = CoreCollectorParser.Parse("makedumpfile -e --cyclic-buffer 1024 --work-dir /tmp --non-mmap -d 1");

        Assert.Equal(["-e", "--cyclic-buffer=1024", "--work-dir=/tmp", "--non-mmap"], o.IgnoredOptions);
        Assert.Equal(1, o.DumpLevel);
    }

    [Theory]
    [InlineData("cp", false)]
    [InlineData("/usr/bin/cp --sparse=always", true)]
    [InlineData("cp --sparse=always --sparse=never", false)]
    [InlineData("cp --sparse=auto", false)]
    public void Cp_copies_the_vmcore_as_it_is(string line, bool sparse)
    {
        var o = CoreCollectorParser.Parse(line);

        Assert.Equal(CoreCollectorProgram.Cp, o.Program);
        Assert.Equal(sparse, o.Sparse);
        Assert.Equal(0, o.DumpLevel);
        Assert.Equal(SaveFormat.Elf, o.Format);
    }

    /// <summary>kdump-utils runs scp from the first word only (${CORE_COLLECTOR%%[[:blank:]]*}): the rest is listed as ignored.</summary>
    [Fact]
    public void Scp_keeps_what_follows_as_ignored()
    {
        var o = CoreCollectorParser.Parse("scp -l 8000");

        Assert.Equal(CoreCollectorProgram.Scp, o.Program);
        Assert.Equal(["-l", "8000"], o.IgnoredOptions);
        Assert.Equal(CoreCollectorProgram.Makedumpfile, CoreCollectorParser.Parse("makedumpfile -l -d 31").Program);
    }

    [Theory]
    [InlineData("", "core_collector is empty")]
    [InlineData("makedumpfile -E -l", "-E cannot be used with -c, -l, -p or -z: the ELF format has no compressed pages")]
    [InlineData("cat", "core_collector 'cat': only makedumpfile, cp and scp are supported")]
    [InlineData("cp -a", "core_collector cp option -a is not supported (fadump collect copies /proc/vmcore as it is; it honours --sparse=always, --sparse=auto and --sparse=never)")]
    [InlineData("cp --sparse=sometimes", "core_collector cp option --sparse=sometimes is not supported")]
    [InlineData("cp /proc/vmcore", "core_collector argument '/proc/vmcore': the dump files are added by the service")]
    [InlineData("makedumpfile -d", "option -d needs a value")]
    [InlineData("makedumpfile -d x", "-d 'x': expected an integer from 0 to 31")]
    [InlineData("makedumpfile -d 3,32", "-d '32'")]
    [InlineData("makedumpfile --num-threads 0", "--num-threads '0': expected an integer from 1")]
    [InlineData("makedumpfile --message-level", "option --message-level needs a value")]
    [InlineData("makedumpfile -L 0", "-L '0': expected a positive size")]
    [InlineData("makedumpfile -L 12Q", "-L '12Q'")]
    [InlineData("makedumpfile -R", "option -R is not supported")]
    [InlineData("makedumpfile --dump-dmesg", "option --dump-dmesg is not supported")]
    [InlineData("makedumpfile vmcore", "argument 'vmcore'")]
    public void Bad_lines_are_errors(string line, string expected)
    {
        var e = Assert.Throws<FormatException>(() => CoreCollectorParser.Parse(line));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
