using Fadump.Tools.Inspect;

namespace Fadump.Tools.Tests.Inspect;

/// <summary>CrashingCpuFinder's rules on logs written the way Linux writes them.</summary>
public sealed class CrashingCpuFinderTests
{
    private const uint Task1 = 1;

    private static uint Cpu(int cpu) => 0x80000000u | (uint)cpu;

    [Fact]
    public void A_panic_logged_outside_task_context_names_its_cpu_by_caller_id()
    {
        var found = CrashingCpuFinder.Find([("sysrq: Trigger a crash", Cpu(2)), ("Kernel panic - not syncing: sysrq triggered crash", Cpu(2))], notes: 4);
        Assert.Equal(2, found?.Index);
        Assert.Equal("the panic message was logged by CPU 2 (printk caller_id C2)", found?.Evidence);
    }

    [Theory]
    [InlineData("CPU: 1 PID: 1 Comm: init Kdump: loaded Not tainted 6.1.0-57-amd64 #1  Debian 6.1.192-3", 1)]
    [InlineData("CPU: 3 UID: 0 PID: 812 Comm: bash Not tainted 6.12.0 #1", 3)]
    public void A_panic_in_a_task_names_its_cpu_in_dump_stack_s_line(string line, int cpu)
    {
        var found = CrashingCpuFinder.Find(
            [("CPU: 0 PID: 9 Comm: kworker/0:1 Not tainted", Task1), ("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", Task1), (line, Task1), ("Hardware name: QEMU", Task1)],
            notes: 4);
        Assert.Equal(cpu, found?.Index);
        Assert.StartsWith("dump_stack after the panic message: \"CPU: ", found?.Evidence);
    }

    [Fact]
    public void An_oops_names_its_cpu_before_the_panic_that_follows_it()
    {
        var found = CrashingCpuFinder.Find(
            [("BUG: kernel NULL pointer dereference, address: 0000000000000000", 77), ("Oops: 0002 [#1] PREEMPT SMP NOPTI", 77), ("CPU: 1 PID: 77 Comm: bash Not tainted 6.1.0 #1", 77), ("RIP: 0010:sysrq_handle_crash+0x16/0x20", 77), ("Kernel panic - not syncing: Fatal exception", 77)],
            notes: 2);
        Assert.Equal(1, found?.Index);
    }

    [Fact]
    public void Nothing_is_named_without_a_panic_or_for_a_cpu_with_no_note_or_from_a_task_id()
    {
        Assert.Null(CrashingCpuFinder.Find([("CPU: 0 PID: 1 Comm: init", Task1), ("all is well", Task1)], notes: 2));
        Assert.Null(CrashingCpuFinder.Find([("Kernel panic - not syncing: x", Cpu(5))], notes: 2));
        Assert.Null(CrashingCpuFinder.Find([("Kernel panic - not syncing: x", Task1), ("CPU: 7 PID: 1 Comm: init", Task1)], notes: 2));

        // A task's caller_id (PID 1) is not matched to a note's pr_pid: QEMU's notes have vCPU + 1 there.
        Assert.Null(CrashingCpuFinder.Find([("Kernel panic - not syncing: x", Task1)], notes: 2));
    }
}
