using Fadump.Formats;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Inspect;

/// <summary>
/// Property test: the log structures of a valid synthetic kernel overwritten at random with
/// hostile values. Every outcome is a log (possibly partial, with warnings) or a
/// DumpFormatException: never another exception, a hang, or a large allocation.
/// </summary>
public sealed class KernelLogRobustnessTests
{
    private const int Iterations = 200;

    /// <summary>The watchdog per damaged buffer: far above a read's milliseconds, well below a stalled CI run.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public void Damaged_lockless_ring_buffers_fail_cleanly()
    {
        var x = SyntheticScenarios.X86_64WithLog();
        var k = x.Kernel;
        ulong rb = k.Info.Symbol("printk_rb_static")!.Value;
        var regions = new (ulong Start, int Length)[]
        {
            (k.Info.Symbol("prb")!.Value, 8),
            (rb, PrintkRingBuilder.RingBufferSize),
            (ReadU64(k, rb + 8), PrintkRingBuilder.DescSize << SyntheticLog.CountBits),
            (ReadU64(k, rb + 16), PrintkRingBuilder.InfoSize << SyntheticLog.CountBits),
            (ReadU64(k, rb + 56), 1 << SyntheticLog.SizeBits),
        };
        Exercise(k, regions, seed: 0x10c);
    }

    [Fact]
    public void Damaged_variable_length_log_buffers_fail_cleanly()
    {
        var x = LegacyScenarios.X86_64(LegacyScenarios.Build(bigEndian: false));
        var k = x.Kernel;
        ulong vars = k.Info.Symbol("log_buf")!.Value;
        var regions = new (ulong Start, int Length)[] { (vars, 24), (ReadU64(k, vars), LegacyScenarios.BufLen) };
        Exercise(k, regions, seed: 0x35);
    }

    private static void Exercise(SyntheticKernel k, (ulong Start, int Length)[] regions, int seed)
    {
        byte[] original = (byte[])k.Ram.Clone();
        var rng = new Random(seed);
        int failures = 0, partial = 0;
        ulong[] hostile = [0, 1, 3, ulong.MaxValue, 1UL << 63, 3UL << 62, 0x7fff_ffff, 0xffff_ffff_8000_0000, 0xdead_beef_0000_0000];
        for (int i = 0; i < Iterations; i++)
        {
            original.CopyTo(k.Ram, 0);
            string how = "";
            for (int m = rng.Next(1, 4); m > 0; m--)
            {
                var (start, length) = regions[rng.Next(regions.Length)];
                ulong at = start + (ulong)(rng.Next(length) & ~7);
                ulong value = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : hostile[rng.Next(hostile.Length)];
                if (rng.Next(4) == 0)
                {
                    k.WriteU32(at, (uint)value);
                }
                else
                {
                    k.WriteU64(at, value);
                }

                how += $" 0x{at:x}=0x{value:x}";
            }

            using var dump = k.Open();

            // "Never a hang" as a bound per case, not a speed goal: each read runs on its own task, and one that
            // has not finished within the watchdog's generous limit fails the test instead of stalling the suite.
            var read = Task.Run(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var log = KernelLog.Read(dump);
                _ = log.ToMakedumpfileBytes();
                return (Warnings: log.Warnings.Count, Allocated: GC.GetAllocatedBytesForCurrentThread() - before);
            }, TestContext.Current.CancellationToken);
            try
            {
                Assert.True(read.Wait(HangLimit, TestContext.Current.CancellationToken), $"iteration {i} ({how}): the log reader did not finish in {HangLimit.TotalSeconds} s (a hang)");
                partial += read.Result.Warnings > 0 ? 1 : 0;
                Assert.True(read.Result.Allocated < 16L << 20, $"iteration {i} ({how}) allocated {read.Result.Allocated} bytes");
            }
            catch (AggregateException e) when (e.InnerException is DumpFormatException)
            {
                failures++;
            }
            catch (AggregateException e)
            {
                Assert.Fail($"iteration {i} ({how}) threw {e.InnerException!.GetType().Name}: {e.InnerException}");
            }
        }

        Assert.True(failures + partial > Iterations / 10, $"only {failures} errors and {partial} partial logs in {Iterations} damaged buffers: the damage is too weak");
    }

    private static ulong ReadU64(SyntheticKernel k, ulong virt) => k.ReadPhysicalU64(k.ToPhysical(virt));
}
