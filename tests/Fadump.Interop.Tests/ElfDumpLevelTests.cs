using System.Text.Json;
using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Interop.Tests;

/// <summary>
/// info reports the dump level of a filtered ELF dump (save -E -d N), recorded in our FADUMP note because
/// makedumpfile records none; an unfiltered /proc/vmcore stays "none (unfiltered)". The real tools read the file
/// with the note as before.
/// </summary>
[Trait("Category", "Interop")]
public sealed class ElfDumpLevelTests(SimulatedKdumpFixture fx) : IClassFixture<SimulatedKdumpFixture>
{
    [Fact]
    public void Info_shows_the_dump_level_of_a_filtered_elf_and_none_for_proc_vmcore()
    {
        using var dir = new RealTool.TempDir();
        string elf = dir.File("d31.elf");
        var (code, _, err) = InProcessCli.Run("save", "-E", "-d", "31", fx.Vmcore, elf);
        Assert.True(code == 0, err);

        var (icode, text, ierr) = InProcessCli.Run("info", elf);
        Assert.True(icode == 0, ierr);
        Assert.Contains("Dump level:   31\n", text);
        using (var doc = JsonDocument.Parse(InProcessCli.Run("info", "--json", elf).Out))
        {
            Assert.Equal(31, doc.RootElement.GetProperty("dump_level").GetInt32());
            Assert.Equal("elf", doc.RootElement.GetProperty("format").GetString());
        }

        Assert.Contains("Dump level:   none (unfiltered)\n", InProcessCli.Run("info", fx.Vmcore).Out);
        using (var doc = JsonDocument.Parse(InProcessCli.Run("info", "--json", fx.Vmcore).Out))
        {
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("dump_level").ValueKind);
        }

        // Saved again at -d 1, the file is still filtered at 31: the pages excluded before stay out.
        string again = dir.File("again.elf");
        Assert.Equal(0, InProcessCli.Run("save", "-E", "-d", "1", elf, again).Code);
        Assert.Contains("Dump level:   31\n", InProcessCli.Run("info", again).Out);
        using (var d = DumpFile.Open(again))
        {
            Assert.Single(d.Notes, n => n.Name == "FADUMP");
        }

        // To kdump-compressed the level goes to the sub-header and the note stays behind.
        string kdump = dir.File("d31.kdump");
        Assert.Equal(0, InProcessCli.Run("save", "-l", "-d", "31", elf, kdump).Code);
        using (var k = DumpFile.Open(kdump))
        {
            Assert.Equal(31, k.DumpLevel);
            Assert.DoesNotContain(k.Notes, n => n.Name == "FADUMP");
        }
    }

    [Fact]
    public void Makedumpfile_records_no_level_in_its_elf_and_the_real_tools_read_ours()
    {
        using var dir = new RealTool.TempDir();
        string ours = dir.File("ours.elf"), theirs = dir.File("md.elf");
        Assert.Equal(0, InProcessCli.Run("save", "-E", "-d", "31", fx.Vmcore, ours).Code);
        var md = RealTool.Run("makedumpfile", ["-E", "-d", "31", fx.Vmcore, theirs], 300);
        Assert.True(md.ExitCode == 0, md.All);

        // makedumpfile's -E output has the input's notes, unchanged: nothing says it was filtered.
        using (var input = DumpFile.Open(fx.Vmcore))
        using (var m = DumpFile.Open(theirs))
        using (var o = DumpFile.Open(ours))
        {
            Assert.Equal(input.Notes.Select(n => (n.Name, n.Type, Convert.ToHexString(n.Desc))), m.Notes.Select(n => (n.Name, n.Type, Convert.ToHexString(n.Desc))));
            Assert.Equal(input.Notes.Select(n => (n.Name, n.Type)).Append(("FADUMP", 0x46440001u)), o.Notes.Select(n => (n.Name, n.Type)));
            Assert.Equal("DUMP_LEVEL=31\n", System.Text.Encoding.ASCII.GetString(o.Notes[^1].Desc));
            Assert.Equal(input.Notes.Count(n => n.Type == ElfNote.NT_PRSTATUS), o.CpuStates().Count);
        }

        Assert.Contains("Dump level:   none (unfiltered)\n", InProcessCli.Run("info", theirs).Out);

        var crash = RealTool.Run("crash", ["--osrelease", ours]);
        Assert.True(crash.ExitCode == 0, crash.All);
        Assert.Equal(fx.First.Options.Release, crash.Stdout.Trim());

        // gdb sees the threads it sees in /proc/vmcore, one per NT_PRSTATUS, none for our note.
        var gdb = RealTool.Run("gdb-multiarch", ["-batch", "-ex", "info threads", "/dev/null", ours]);
        Assert.True(gdb.ExitCode == 0, gdb.All);
        var gdbInput = RealTool.Run("gdb-multiarch", ["-batch", "-ex", "info threads", "/dev/null", fx.Vmcore]);
        static int Threads(string s) => s.Split('\n').Count(l => l.StartsWith("[New ", StringComparison.Ordinal));
        Assert.Equal(Threads(gdbInput.Stdout), Threads(gdb.Stdout));
        Assert.True(Threads(gdb.Stdout) >= 3, gdb.All);

        // makedumpfile re-filters our file, and libkdumpfile opens it.
        string refiltered = dir.File("refiltered.kdump");
        var re = RealTool.Run("makedumpfile", ["-l", "-d", "31", ours, refiltered], 300);
        Assert.True(re.ExitCode == 0, re.All);
        var reads = Libkdumpfile.Read([(0x1000UL, 64)], ours);
        Assert.Equal("elf", reads.Single().Format);
    }
}
