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
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var log = KernelLog.Read(dump);
                _ = log.ToMakedumpfileBytes();
                partial += log.Warnings.Count > 0 ? 1 : 0;
            }
            catch (DumpFormatException)
            {
                failures++;
            }
            catch (Exception e)
            {
                Assert.Fail($"iteration {i} ({how}) threw {e.GetType().Name}: {e}");
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 16L << 20, $"iteration {i} ({how}) allocated {allocated} bytes");
        }

        Assert.True(failures + partial > Iterations / 10, $"only {failures} errors and {partial} partial logs in {Iterations} damaged buffers: the damage is too weak");
    }

    private static ulong ReadU64(SyntheticKernel k, ulong virt) => k.ReadPhysicalU64(k.ToPhysical(virt));
}
