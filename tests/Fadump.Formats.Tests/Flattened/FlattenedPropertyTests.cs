using FsCheck;
using FsCheck.Fluent;
using Xunit;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;

namespace Fadump.Formats.Tests.Flattened;

public sealed class FlattenedPropertyTests
{
    private static readonly Gen<(int Offset, int Length, byte Seed)[]> Writes =
        (from offset in Gen.Choose(0, 3000)
         from length in Gen.Choose(0, 400)
         from seed in Gen.Choose(0, 255)
         select (offset, length, (byte)seed)).ArrayOf();

    /// <summary>
    /// Runs of back-to-back writes (chunks of up to 256 KiB, up to 24 of them: up to 6 MiB contiguous) at random
    /// offsets up to 8 MiB, so that pending records fill up to <see cref="FlattenedSink.MaxRecordSize"/> and split.
    /// </summary>
    private static readonly Gen<(int Offset, int Length, byte Seed)[]> LargeWrites =
        (from offset in Gen.Choose(0, 8 << 20)
         from chunk in Gen.Choose(1, 256 << 10)
         from count in Gen.Choose(1, 24)
         from seed in Gen.Choose(0, 255)
         select Enumerable.Range(0, count).Select(i => (offset + (i * chunk), chunk, (byte)(seed + i))).ToArray())
        .ListOf(2).Select(runs => runs.SelectMany(r => r).ToArray());

    [Fact]
    public void Any_sequence_of_positioned_writes_reads_back_as_a_direct_file_would() => Check(Writes, maxTest: 100);

    [Fact]
    public void Large_contiguous_writes_split_at_the_record_limit_and_read_back()
    {
        int crossed = 0;
        Check(LargeWrites, maxTest: 30, onCase: writes =>
        {
            long run = 0, end = -1;
            foreach (var (offset, length, _) in writes)
            {
                run = offset == end ? run + length : length;
                end = offset + length;
                if (run > FlattenedSink.MaxRecordSize)
                {
                    Interlocked.Increment(ref crossed);
                    return;
                }
            }
        });
        Assert.True(crossed > 0, "no case wrote a contiguous run longer than the 4 MiB record limit");
    }

    private static void Check(Gen<(int Offset, int Length, byte Seed)[]> gen, int maxTest, Action<(int Offset, int Length, byte Seed)[]>? onCase = null)
    {
        Prop.ForAll(gen.ToArbitrary(), writes =>
        {
            onCase?.Invoke(writes);
            var direct = new MemorySink();
            var ms = new MemoryStream();
            using (var sink = new FlattenedSink(ms, leaveOpen: true))
            {
                foreach (var (offset, length, seed) in writes)
                {
                    var data = new byte[length];
                    for (int i = 0; i < length; i++)
                    {
                        data[i] = (byte)(seed + i);
                    }

                    direct.Write(offset, data);
                    sink.Write(offset, data);
                }

                sink.Flush();
            }

            var expected = direct.ToArray();
            using var src = FlattenedSource.Open(new MemorySource(ms.ToArray(), "p"));
            var actual = new byte[src.Length];
            int n = src.Read(0, actual);

            var rearranged = new MemorySink();
            FlattenedRearranger.Rearrange(new MemoryStream(ms.ToArray()), rearranged);
            return src.Length == expected.Length && n == expected.Length && actual.AsSpan().SequenceEqual(expected)
                && rearranged.ToArray().AsSpan().SequenceEqual(expected);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(maxTest));
    }
}
