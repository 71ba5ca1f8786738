using System.Text.Json;
using Fadump.Formats;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;
using Fadump.Tools.Inspect;

namespace Fadump.Interop.Tests;

/// <summary>`fadump regs` marks the crashing CPU (CrashingCpuFinder): on simulated dumps whose crashing CPU is known, and on the real crash.</summary>
[Trait("Category", "Interop")]
public sealed class CrashingCpuTests(SimulatedKdumpFixture fx) : IClassFixture<SimulatedKdumpFixture>
{
    private static List<string> CpuLines(string text) => [.. text.Split('\n').Where(l => l.StartsWith("CPU ", StringComparison.Ordinal))];

    private static void AssertOnlyCrashing(string json, int expected)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(expected, doc.RootElement.GetProperty("crashing_cpu").GetInt32());
        var flags = doc.RootElement.GetProperty("cpus").EnumerateArray().Select(c => c.GetProperty("crashing").GetBoolean()).ToList();
        Assert.Equal(Enumerable.Range(0, flags.Count).Select(i => i == expected), flags);
    }

    [Fact]
    public void Regs_mark_the_cpu_that_panicked_in_the_simulated_x86_64_kdump()
    {
        var (code, text, err) = InProcessCli.Run("regs", fx.Vmcore);
        Assert.True(code == 0, err);
        var lines = CpuLines(text);
        Assert.Equal(4, lines.Count);
        Assert.Equal("CPU 1 (crashing CPU): pid 1, signal 0", lines[SimulatedKdumpFixture.CrashingCpu]);
        Assert.Single(lines, l => l.Contains("(crashing CPU)", StringComparison.Ordinal));
        Assert.Equal("CPU 0: pid 0, signal 0", lines[0]);
        var (jcode, json, _) = InProcessCli.Run("regs", "--json", fx.Vmcore);
        Assert.Equal(0, jcode);
        AssertOnlyCrashing(json, SimulatedKdumpFixture.CrashingCpu);
    }

    [Theory]
    [InlineData(CrashKind.Panic, 2)]
    [InlineData(CrashKind.Sysrq, 3)]
    [InlineData(CrashKind.Oops, 1)]
    public void Regs_mark_the_crashing_cpu_of_a_pseries_fadump(CrashKind kind, int cpu)
    {
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 1UL << 30, Cpus = 4 });
        lpar.Boot();
        Assert.True(lpar.Crash(kind, crashingCpu: cpu));
        using var dump = DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore"));
        var found = CrashingCpuFinder.Find(dump);
        Assert.NotNull(found);
        Assert.Equal(cpu, found.Index);
        var lines = CpuLines(RegisterReport.ToText(dump));
        Assert.Equal(4, lines.Count);

        // The simulation's quirk: FADump notes have pr_pid = CPU + 1 (Linux leaves 0).
        Assert.Equal($"CPU {cpu} (crashing CPU): pid {cpu + 1}, signal 0", lines[cpu]);
        Assert.Single(lines, l => l.Contains("(crashing CPU)", StringComparison.Ordinal));
        AssertOnlyCrashing(RegisterReport.ToJson(dump), cpu);
    }

    [Fact]
    public void Regs_mark_cpu_1_of_the_real_crash_and_no_cpu_of_a_live_qemu_dump()
    {
        // The real Debian kernel panicked in init (sysrq) on whichever of its 2 vCPUs ran init: each build of the
        // fixture may differ, and the log says which ("CPU: N PID: 1 Comm: init" after the panic line).
        string full = Fixtures.Require("realcrash/vmcore.full");
        var (dcode, dmesg, derr) = InProcessCli.Run("dmesg", full);
        Assert.True(dcode == 0, derr);
        var said = System.Text.RegularExpressions.Regex.Match(dmesg[dmesg.IndexOf("Kernel panic - not syncing", StringComparison.Ordinal)..], @"\] CPU: ([0-9]+) PID: 1 Comm: init");
        Assert.True(said.Success, "no 'CPU: N PID: 1 Comm: init' line after the panic");
        int cpu = int.Parse(said.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var (code, text, err) = InProcessCli.Run("regs", full);
        Assert.True(code == 0, err);
        // QEMU's notes carry the running task's pid: init (1) on the crashing CPU, the idle task (0) on the other.
        Assert.Equal(Enumerable.Range(0, 2).Select(i => i == cpu ? $"CPU {i} (crashing CPU): pid 1, signal 0" : $"CPU {i}: pid 0, signal 0"), CpuLines(text));
        AssertOnlyCrashing(InProcessCli.Run("regs", "--json", full).Out, cpu);

        // QEMU's dump-guest-memory of a running guest: no panic, so no CPU is named.
        string live = Fixtures.Require("vmcore.elf");
        var (lcode, ltext, lerr) = InProcessCli.Run("regs", live);
        Assert.True(lcode == 0, lerr);
        Assert.DoesNotContain("(crashing CPU)", ltext);
        using var doc = JsonDocument.Parse(InProcessCli.Run("regs", "--json", live).Out);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("crashing_cpu").ValueKind);
        Assert.All(doc.RootElement.GetProperty("cpus").EnumerateArray(), c => Assert.False(c.GetProperty("crashing").GetBoolean()));
    }
}
