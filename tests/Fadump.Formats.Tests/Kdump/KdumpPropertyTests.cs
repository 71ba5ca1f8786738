using FsCheck;
using FsCheck.Fluent;
using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

public sealed class KdumpPropertyTests
{
    /// <summary>Random RAM and dump bitmaps (dump ⊆ RAM) over up to 20000 PFNs, crossing rank chunks.</summary>
    private static readonly Gen<(int MaxPfn, byte[] Ram, byte[] Keep)> Bitmaps =
        from maxPfn in Gen.Choose(0, 20000)
        from density in Gen.Choose(0, 3)
        from ram in Gen.Choose(0, 255).Select(b => (byte)(density == 0 ? 0xff : density == 1 ? 0 : b)).ArrayOf((maxPfn + 7) / 8)
        from keep in Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf((maxPfn + 7) / 8)
        select (maxPfn, ram, keep);

    [Fact]
    public void Every_PFN_reads_back_with_the_state_its_bitmaps_give()
    {
        Prop.ForAll(Bitmaps.ToArbitrary(), t =>
        {
            var (maxPfn, ram, keep) = t;
            var dumped = ram.Zip(keep, (r, k) => (byte)(r & k)).ToArray();
            bool Bit(byte[] b, ulong p) => (b[p >> 3] & (1 << (int)(p & 7))) != 0;

            // Zero pages share the zero page (level 1); every 97th page carries its PFN.
            var options = new KdumpWriterOptions
            {
                Machine = DumpMachine.X86_64,
                MaxPfn = (ulong)maxPfn,
                DumpLevel = 1,
                Compression = PageCompression.Zlib,
                RamBitmap = new ByteArrayPfnBitmap(ram),
                DumpBitmap = new ByteArrayPfnBitmap(dumped),
            };
            var sink = new MemorySink();
            var w = new KdumpCompressedWriter(sink, options);
            var page = new byte[4096];
            for (ulong p = 0; p < (ulong)maxPfn; p++)
            {
                if (Bit(dumped, p))
                {
                    page.AsSpan().Clear();
                    if (p % 97 == 0)
                    {
                        BitConverter.TryWriteBytes(page, p + 1);
                    }

                    w.WritePage(p, page);
                }
            }

            w.Complete();
            using var dump = KdumpCompressedDump.Open(new MemorySource(sink.ToArray()));
            for (ulong p = 0; p < (ulong)maxPfn; p++)
            {
                var want = Bit(dumped, p) ? PageState.Dumped : Bit(ram, p) ? PageState.Excluded : PageState.NotPresent;
                var got = want != PageState.Dumped ? dump.GetPageState(p) : dump.ReadPage(p, page);
                Assert.True(want == got, $"PFN {p} of {maxPfn}: {got}, expected {want}");
                if (got == PageState.Dumped)
                {
                    Assert.True(BitConverter.ToUInt64(page) == (p % 97 == 0 ? p + 1 : 0), $"PFN {p} of {maxPfn}: content {BitConverter.ToUInt64(page)}");
                }
            }

            // Padding bits past max PFN in the last byte are not pages.
            ulong count = 0;
            for (ulong p = 0; p < (ulong)maxPfn; p++)
            {
                count += Bit(dumped, p) ? 1UL : 0;
            }

            Assert.Equal(count, dump.DumpedPageCount);
            return true;
        }).QuickCheckThrowOnFailure();
    }
}
