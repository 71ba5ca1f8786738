using Fadump.Formats;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Inspect;

/// <summary>
/// The lockless ring buffer against golden lines derived from makedumpfile's dump_record (printk.c);
/// the x86_64 lines are also what the real makedumpfile 1.7.2 prints (Interop/MakedumpfileDmesgTests).
/// </summary>
public sealed class KernelLogTests
{
    [Fact]
    public void X86_64_log_is_printed_as_makedumpfile_prints_it()
    {
        using var dump = SyntheticScenarios.X86_64WithLog().Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(KernelLogLayout.LocklessRingBuffer, log.Layout);
        Assert.Empty(log.Warnings);
        Assert.Equal(SyntheticLog.ExpectedLines(signedChar: true), log.ToMakedumpfileLines());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ppc64_log_is_printed_with_unsigned_char_escapes(bool bigEndian)
    {
        using var dump = SyntheticScenarios.Ppc64WithLog(bigEndian).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Empty(log.Warnings);
        Assert.Equal(SyntheticLog.ExpectedLines(signedChar: false), log.ToMakedumpfileLines());
    }

    [Fact]
    public void Output_is_the_lines_each_ended_by_a_newline_and_nothing_else()
    {
        using var dump = SyntheticScenarios.X86_64WithLog().Kernel.Open();

        byte[] bytes = KernelLog.Read(dump).ToMakedumpfileBytes();

        string expected = string.Concat(SyntheticLog.ExpectedLines(signedChar: true).Select(l => l + "\n"));
        Assert.Equal(expected, System.Text.Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public void Caller_ids_are_printed_as_makedumpfile_1_7_5_does()
    {
        using var dump = SyntheticScenarios.Ppc64WithLog(bigEndian: true).Kernel.Open();

        var lines = KernelLog.Read(dump).ToMakedumpfileLines(DmesgFormatOptions.Makedumpfile175);

        Assert.Equal(SyntheticLog.ExpectedLines(signedChar: false, callerId: true), lines);
        Assert.StartsWith("[    1.500000] [      C3] first line", lines[3]);
        Assert.Equal(new string(' ', 26) + "second line", lines[4]);
    }

    [Fact]
    public void The_escape_style_can_be_chosen()
    {
        using var dump = SyntheticScenarios.X86_64WithLog().Kernel.Open();

        var lines = KernelLog.Read(dump).ToMakedumpfileLines(new DmesgFormatOptions { SignedChar = false });

        Assert.Equal(SyntheticLog.ExpectedLines(signedChar: false), lines);
    }

    [Fact]
    public void Records_carry_sequence_timestamp_text_and_caller()
    {
        using var dump = SyntheticScenarios.X86_64WithLog().Kernel.Open();

        var r = KernelLog.Read(dump).Records;

        Assert.Equal(8, r.Count);
        Assert.Equal(101UL, r[0].Sequence); // seq 100 is the reusable descriptor
        Assert.Equal(0U, r[0].CallerId);
        Assert.Equal(0x80000003U, r[3].CallerId);
        Assert.Equal(SyntheticLog.NonAscii, r[4].Text.ToArray());
        Assert.Equal(SyntheticLog.LongText.Length, r[6].Text.Length);
        Assert.Equal(123_456_789_012_345UL, r[^1].TimestampNanoseconds);
        Assert.Equal(4242U, r[^1].CallerId);
    }

    [Fact]
    public void A_tail_too_far_behind_the_head_reads_one_ring_of_ids()
    {
        var ring = SyntheticLog.Build(bigEndian: false);
        ring.TailId = unchecked(SyntheticLog.FirstId - 1_000_000_000) & ~(3UL << 62); // corrupt: the walk would be a billion steps
        using var dump = SyntheticScenarios.X86_64WithLog(ring).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Contains(log.Warnings, w => w.Contains("tail_id", StringComparison.Ordinal));
        Assert.Equal(SyntheticLog.ExpectedLines(signedChar: true), log.ToMakedumpfileLines());
    }

    [Fact]
    public void Ids_wrap_inside_the_62_bit_id_space()
    {
        const ulong idMask = ~(3UL << 62);
        var ring = new PrintkRingBuilder(false, 4, 12, idMask - 1, 0);
        Assert.Equal(idMask - 1, ring.Add("a", 1_000));
        Assert.Equal(idMask, ring.Add("b", 2_000));
        Assert.Equal(0UL, ring.Add("c", 3_000));
        Assert.Equal(1UL, ring.Add("d", 4_000));
        using var dump = SyntheticScenarios.X86_64WithLog(ring).Kernel.Open();

        Assert.Equal(
            ["[    0.000001] a", "[    0.000002] b", "[    0.000003] c", "[    0.000004] d"],
            KernelLog.Read(dump).ToMakedumpfileLines());
    }

    [Fact]
    public void A_text_block_past_the_end_of_the_data_ring_is_cut_at_the_end()
    {
        var ring = new PrintkRingBuilder(false, 4, 12, 100, 0);
        ring.Add("ok", 1_000_000);
        ring.AddRaw(4096 - 8, 4096 + 24, 64, 2_000_000); // begin + 8 is the end of the ring; next wraps
        ring.AddRaw(4096 + 4000, 4096 + 4004, 1000, 3_000_000); // next < begin + 8: unsigned next - begin is huge, no truncation
        using var dump = SyntheticScenarios.X86_64WithLog(ring).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(3, log.Records.Count);
        Assert.Equal(16, log.Records[1].Text.Length); // wrapped: data[8..24)
        Assert.Equal(88, log.Records[2].Text.Length); // 4096 - 4008
        Assert.Contains(log.Warnings, w => w.Contains("run past", StringComparison.Ordinal));
    }

    [Fact]
    public void Records_whose_text_is_not_in_the_dump_are_skipped_with_a_warning()
    {
        var x = new SyntheticX86_64();
        var ring = SyntheticLog.Build(bigEndian: false);
        ulong prbVar = x.AllocImage(8, 8), rb = x.AllocImage(88, 64);
        ulong descs = x.AllocImage(24 << 4, 64), infos = x.AllocImage(88 << 4, 64);
        ulong data = x.Vmalloc(2);
        ring.WriteTo(x.Kernel, prbVar, rb, descs, infos, data);
        x.Kernel.WriteU64(rb + 56, data + (16 << 10)); // text_data_ring.data -> unmapped vmalloc space
        using var dump = x.Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Empty(log.Records);
        Assert.Equal(8, log.Warnings.Count);
        Assert.All(log.Warnings, w => Assert.Contains("not in the dump", w, StringComparison.Ordinal));
    }

    [Fact]
    public void Descriptors_not_in_the_dump_give_warnings_not_an_exception()
    {
        var x = new SyntheticX86_64();
        var ring = SyntheticLog.Build(bigEndian: false);
        ulong prbVar = x.AllocImage(8, 8), rb = x.AllocImage(88, 64);
        ulong descs = x.AllocImage(24 << 4, 64), infos = x.AllocImage(88 << 4, 64);
        ring.WriteTo(x.Kernel, prbVar, rb, descs, infos, x.Vmalloc(2));
        x.Kernel.WriteU64(rb + 8, 0xffffb3e1c0100000); // desc_ring.descs -> unmapped
        using var dump = x.Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Empty(log.Records);
        Assert.Single(log.Warnings);
    }

    [Theory]
    [InlineData(0, 27u, "count_bits 27")] // desc_ring.count_bits
    [InlineData(48, 40u, "size_bits 40")] // text_data_ring.size_bits
    [InlineData(48, 2u, "size_bits 2")]
    public void Impossible_ring_sizes_are_rejected_before_anything_is_allocated(int fieldOffset, uint value, string message)
    {
        var x = new SyntheticX86_64();
        var ring = SyntheticLog.Build(bigEndian: false);
        ulong prbVar = x.AllocImage(8, 8), rb = x.AllocImage(88, 64);
        ring.WriteTo(x.Kernel, prbVar, rb, x.AllocImage(24 << 4, 64), x.AllocImage(88 << 4, 64), x.Vmalloc(2));
        x.Kernel.WriteU32(rb + (ulong)fieldOffset, value);
        using var dump = x.Kernel.Open();

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DumpFormatException>(() => KernelLog.Read(dump));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(message, e.Message);

        // Before anything ring-sized is allocated: the reader's own bookkeeping only (the ring is 8 KiB here;
        // the impossible sizes ask for gigabytes).
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated before the size was rejected");
    }

    [Fact]
    public void A_missing_vmcoreinfo_entry_is_named()
    {
        var x = SyntheticScenarios.X86_64WithLog();
        x.Kernel.OmitKeys.Add("OFFSET(printk_info.text_len)");
        using var dump = x.Kernel.Open();

        var e = Assert.Throws<DumpFormatException>(() => KernelLog.Read(dump));
        Assert.Contains("OFFSET(printk_info.text_len)", e.Message);
    }

    [Fact]
    public void An_offset_outside_its_structure_is_rejected()
    {
        var x = SyntheticScenarios.X86_64WithLog();
        x.Kernel.Info.AddOffset("printk_info.ts_nsec", 84);
        using var dump = x.Kernel.Open();

        var e = Assert.Throws<DumpFormatException>(() => KernelLog.Read(dump));
        Assert.Contains("OFFSET(printk_info.ts_nsec)=84", e.Message);
    }

    [Fact]
    public void A_prb_pointer_to_nowhere_is_an_error()
    {
        var x = SyntheticScenarios.X86_64WithLog();
        x.Kernel.WriteU64(x.Kernel.Info.Symbol("prb")!.Value, 0xffffb3e1c0100000);
        using var dump = x.Kernel.Open();

        var e = Assert.Throws<DumpFormatException>(() => KernelLog.Read(dump));
        Assert.Contains("struct printk_ringbuffer", e.Message);
    }

    [Fact]
    public void A_kernel_without_any_log_symbols_is_an_error()
    {
        var x = new SyntheticX86_64();
        using var dump = x.Kernel.Open();

        var e = Assert.Throws<DumpFormatException>(() => KernelLog.Read(dump));
        Assert.Contains("SYMBOL(prb)", e.Message);
    }
}
