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

    [Fact]
    public void Any_sequence_of_positioned_writes_reads_back_as_a_direct_file_would()
    {
        Prop.ForAll(Writes.ToArbitrary(), writes =>
        {
            var direct = new MemorySink();
            var ms = new MemoryStream();
            using (var sink = new FlattenedSink(ms, leaveOpen: true))
            {
                foreach (var (offset, length, seed) in writes)
                {
                    var data = Enumerable.Range(0, length).Select(i => (byte)(seed + i)).ToArray();
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
        }).QuickCheckThrowOnFailure();
    }
}
