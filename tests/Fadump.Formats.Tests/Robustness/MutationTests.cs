using System.Buffers.Binary;
using Fadump.Formats.IO;

namespace Fadump.Formats.Tests.Robustness;

/// <summary>
/// Property test: thousands of mutated valid files (truncations, bit flips, field overwrites with
/// hostile values). Every outcome is a successful read or a DumpFormatException / InvalidDataException:
/// never another exception, a hang, or an allocation out of proportion to the file.
/// </summary>
public sealed class MutationTests
{
    public static TheoryData<string> Samples => new(MutationCorpus.Names);

    /// <summary>
    /// 1500 mutations per sample by default, from a seed fixed per sample. FADUMP_MUTATIONS and
    /// FADUMP_MUTATION_SEED run more or other ones (to hunt for bugs; a failure names the seed and iteration).
    /// </summary>
    [Theory]
    [MemberData(nameof(Samples))]
    public void Mutated_files_fail_cleanly(string sample)
    {
        byte[] valid = MutationCorpus.Build(sample);
        int seed = int.TryParse(Environment.GetEnvironmentVariable("FADUMP_MUTATION_SEED"), out int s) ? s : StableHash(sample) ^ 0x5eed;
        int iterations = int.TryParse(Environment.GetEnvironmentVariable("FADUMP_MUTATIONS"), out int n) ? n : 1500;
        var rng = new Random(seed);
        int failures = 0, opened = 0;
        var reasons = new Dictionary<string, int>();
        for (int i = 0; i < iterations; i++)
        {
            byte[] f = Mutate(valid, rng, MutationCorpus.HotBytes(sample), out string how);
            long before = GC.GetAllocatedBytesForCurrentThread();
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                using var dump = DumpFile.Open(new MemorySource(f, sample));
                DumpExerciser.Exercise(dump, rng);
                opened++;
            }
            catch (Exception e) when (e is DumpFormatException or InvalidDataException)
            {
                failures++;
                string reason = e is DumpFormatException d && d.Offset >= 0 ? e.Message.Split(':', 3)[^1] : e.Message;
                reason = e.GetType().Name + ":" + new string([.. reason.TakeWhile(c => !char.IsDigit(c)).Take(60)]);
                reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, iteration {i} ({how}) threw {e.GetType().Name}: {e}");
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < (64L << 20) + (4L * f.Length), $"seed {seed}, iteration {i} ({how}) allocated {allocated} bytes for a {f.Length}-byte file");
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            Assert.True(elapsed < TimeSpan.FromSeconds(2), $"seed {seed}, iteration {i} ({how}) took {elapsed.TotalSeconds:F1} s for a {f.Length}-byte file");
        }

        foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value).Take(12))
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{count,5}  {reason}");
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{opened} opened, {failures} rejected ({reasons.Count} kinds), seed {seed}");
        Assert.True(failures > iterations / 10, $"only {failures} of {iterations} mutations were rejected: the mutator is too weak");
        Assert.True(opened > 0 || sample.Contains("strict", StringComparison.Ordinal), "no mutation survived: the mutator never leaves a file readable");
    }

    /// <summary>string.GetHashCode is randomised per process: a failure must be reproducible.</summary>
    private static int StableHash(string s) => s.Aggregate(17, (h, c) => unchecked((h * 31) + c));

    private static byte[] Mutate(byte[] valid, Random rng, int hot, out string how)
    {
        byte[] f = (byte[])valid.Clone();
        int kind = rng.Next(4);
        // Most interesting structure is in the first pages: bias positions there.
        int Pos(int width) => Math.Max(0, (rng.Next(3) == 0 ? rng.Next(f.Length) : rng.Next(Math.Min(f.Length, hot))) - width);
        switch (kind)
        {
            case 0:
                int len = rng.Next(f.Length);
                how = $"truncate to {len}";
                return f[..len];
            case 1:
                int flips = 1 + rng.Next(8);
                how = $"{flips} bit flips";
                for (int i = 0; i < flips; i++)
                {
                    int p = Pos(0);
                    f[p] ^= (byte)(1 << rng.Next(8));
                }

                return f;
            case 2:
                int at = Pos(8) & ~3;
                ulong v = rng.Next(6) switch
                {
                    0 => 0,
                    1 => ulong.MaxValue,
                    2 => 0x7fff_ffff_ffff_ffff,
                    3 => 0x8000_0000,
                    4 => (ulong)f.Length + (ulong)rng.Next(100),
                    _ => (ulong)rng.NextInt64(),
                };
                how = $"u64 0x{v:x} at {at}";
                if (rng.Next(2) == 0)
                {
                    BinaryPrimitives.WriteUInt64BigEndian(f.AsSpan(at), v);
                }
                else
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(at), v);
                }

                return f;
            default:
                int at4 = Pos(4) & ~3;
                uint v4 = rng.Next(3) switch { 0 => uint.MaxValue, 1 => 0, _ => (uint)rng.Next() };
                how = $"u32 0x{v4:x} at {at4}";
                if (rng.Next(2) == 0)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(at4), v4);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(at4), v4);
                }

                return f;
        }
    }
}
