using System.Buffers.Binary;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

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
    /// 2500 mutations per sample by default (one to three stacked), from a seed fixed per sample. FADUMP_MUTATIONS and
    /// FADUMP_MUTATION_SEED run more or other ones (to hunt for bugs; a failure names the seed and iteration).
    /// </summary>
    [Theory]
    [MemberData(nameof(Samples))]
    public void Mutated_files_fail_cleanly(string sample)
    {
        byte[] valid = MutationCorpus.Build(sample);
        int seed = int.TryParse(Environment.GetEnvironmentVariable("FADUMP_MUTATION_SEED"), out int s) ? s : StableHash(sample) ^ 0x5eed;
        int iterations = int.TryParse(Environment.GetEnvironmentVariable("FADUMP_MUTATIONS"), out int n) ? n : 2500;
        var rng = new Random(seed);
        var fields = Fields.Of(valid);
        bool flat = sample.StartsWith("flat-", StringComparison.Ordinal);
        Assert.True(flat == fields.Flattened && (!flat || fields.Known.Count > 0), $"{sample}: the inner file's header fields are the field mutations' targets");
        int failures = 0, opened = 0;
        var reasons = new Dictionary<string, int>();
        for (int i = 0; i < iterations; i++)
        {
            byte[] f = Mutate(valid, rng, fields, MutationCorpus.HotBytes(sample), out string how);
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

    /// <summary>One to three stacked mutations.</summary>
    private static byte[] Mutate(byte[] valid, Random rng, Fields fields, int hot, out string how)
    {
        int rounds = rng.Next(4) == 0 ? 2 + rng.Next(2) : 1;
        byte[] f = valid;
        var hows = new List<string>();
        for (int r = 0; r < rounds && f.Length > 0; r++)
        {
            f = MutateOnce(f, rng, fields, hot, out string h);
            hows.Add(h);
        }

        how = string.Join(", ", hows);
        return f;
    }

    private static byte[] MutateOnce(byte[] valid, Random rng, Fields fields, int hot, out string how)
    {
        byte[] f = (byte[])valid.Clone();

        // Kinds: 0 truncate, 1 bit flips, 2 u64, 3 u32, 4 far record (flattened files only), 5 known field.
        int[] kinds = [0, 1, 2, 3, .. fields.Flattened ? new[] { 4 } : [], .. fields.Known.Count > 0 ? new[] { 5 } : []];
        int kind = kinds[rng.Next(kinds.Length)];
        if (f.Length < 8 && kind is 2 or 3)
        {
            kind = 1;   // too short for a field write
        }

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
            case 3:
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
            case 4:
                return FarRecord(f, rng, out how);
            default:
                return Field(f, rng, fields, out how);
        }
    }

    /// <summary>Flattened files: a record far out (up to 2^60), stretching the logical file over a hole.</summary>
    private static byte[] FarRecord(byte[] f, Random rng, out string how)
    {
        if (f.Length < FlattenedLayout.HeaderSize + 16 || !FlattenedLayout.HasSignature(f)
            || BinaryPrimitives.ReadInt64BigEndian(f.AsSpan(f.Length - 16)) != -1)
        {
            how = "no far record (not a flattened file with an end marker)";
            return f;
        }

        long offset = rng.Next(3) switch
        {
            0 => 1L << (32 + rng.Next(28)),
            1 => rng.NextInt64(1L << 60),
            _ => rng.NextInt64(1L << 24),
        };
        var data = new byte[1 + rng.Next(16)];
        rng.NextBytes(data);
        if (rng.Next(2) == 0)
        {
            data.AsSpan().Fill(0xff);
        }

        how = $"record of {data.Length} bytes at logical 0x{offset:x}";
        var r = new byte[f.Length + 16 + data.Length];
        f.AsSpan(0, f.Length - 16).CopyTo(r);
        BinaryPrimitives.WriteInt64BigEndian(r.AsSpan(f.Length - 16), offset);
        BinaryPrimitives.WriteInt64BigEndian(r.AsSpan(f.Length - 8), data.Length);
        data.CopyTo(r, f.Length);
        BinaryPrimitives.WriteInt64BigEndian(r.AsSpan(r.Length - 16), -1);
        BinaryPrimitives.WriteInt64BigEndian(r.AsSpan(r.Length - 8), -1);
        return r;
    }

    /// <summary>A known header field set to a hostile value, in the file's byte order.</summary>
    private static byte[] Field(byte[] f, Random rng, Fields fields, out string how)
    {
        var (name, at, width) = fields.Known[rng.Next(fields.Known.Count)];
        if (at + width > f.Length)
        {
            how = $"{name}: beyond the file";
            return f;
        }

        ulong old = width == 8 ? Endian.U64(f.AsSpan(at), fields.BigEndian) : width == 4 ? Endian.U32(f.AsSpan(at), fields.BigEndian) : Endian.U16(f.AsSpan(at), fields.BigEndian);
        ulong v = rng.Next(10) switch
        {
            0 => 0,
            1 => 1,
            2 => old + 1,
            3 => old - 1,
            4 => old * 2,
            5 => old << (1 + rng.Next(20)),
            6 => 1UL << rng.Next(width * 8),
            7 => (ulong)f.Length - (ulong)rng.Next(64),
            8 => ulong.MaxValue,
            _ => (ulong)rng.NextInt64(),
        };
        how = $"{name} 0x{old:x} -> 0x{v:x}";
        Span<byte> b = f.AsSpan(at, width);
        switch (width)
        {
            case 8:
                Endian.Write(b, v, fields.BigEndian);
                break;
            case 4:
                Endian.Write(b, (uint)v, fields.BigEndian);
                break;
            default:
                Endian.Write(b, (ushort)v, fields.BigEndian);
                break;
        }

        return f;
    }

    /// <summary>Where a sample's header fields are: kdump header, sub-header and first descriptors; ELF header and program headers.</summary>
    private sealed record Fields(bool BigEndian, List<(string Name, int At, int Width)> Known, bool Flattened = false)
    {
        /// <summary>
        /// A flattened sample's fields are those of the file inside it (kdump or ELF headers), at the file
        /// positions their records put them (fields split across two records are left out).
        /// </summary>
        public static Fields Of(byte[] valid)
        {
            if (!FlattenedLayout.HasSignature(valid))
            {
                return OfPlain(valid);
            }

            var records = new List<(long Logical, int At, int Size)>();
            for (int at = FlattenedLayout.HeaderSize; at + FlattenedLayout.RecordHeaderSize <= valid.Length;)
            {
                long offset = BinaryPrimitives.ReadInt64BigEndian(valid.AsSpan(at));
                long size = BinaryPrimitives.ReadInt64BigEndian(valid.AsSpan(at + 8));
                if (offset < 0)
                {
                    break;
                }

                records.Add((offset, at + FlattenedLayout.RecordHeaderSize, (int)size));
                at += FlattenedLayout.RecordHeaderSize + (int)size;
            }

            var inner = new MemorySink();
            FlattenedRearranger.Rearrange(new MemoryStream(valid), inner);
            var plain = OfPlain(inner.ToArray());
            var known = new List<(string, int, int)>();
            foreach (var (name, logical, width) in plain.Known)
            {
                foreach (var (rl, at, size) in records)
                {
                    if (logical >= rl && logical + width <= rl + size)
                    {
                        known.Add(("inner " + name, at + (int)(logical - rl), width));
                        break;
                    }
                }
            }

            Assert.True(known.Count == plain.Known.Count, $"{known.Count} of the {plain.Known.Count} inner header fields located in the flattened records");
            return new Fields(plain.BigEndian, known, Flattened: true);
        }

        private static Fields OfPlain(byte[] valid)
        {
            var known = new List<(string, int, int)>();
            if (KdumpHeader.HasSignature(valid))
            {
                var h = KdumpHeader.Read(new MemorySource(valid));
                foreach (var (n, o, w) in new[] { ("version", 8, 4), ("status", 424, 4), ("block_size", 428, 4), ("sub_hdr_size", 432, 4), ("bitmap_blocks", 436, 4), ("max_mapnr", 440, 4), ("current_cpu", 456, 4), ("nr_cpus", 460, 4) })
                {
                    known.Add((n, o, w));
                }

                int sub = h.BlockSize;
                foreach (var (n, o, w) in new[] { ("phys_base", 0, 8), ("dump_level", 8, 4), ("split", 12, 4), ("start_pfn", 16, 8), ("end_pfn", 24, 8), ("offset_vmcoreinfo", 32, 8), ("size_vmcoreinfo", 40, 8), ("offset_note", 48, 8), ("size_note", 56, 8), ("offset_eraseinfo", 64, 8), ("size_eraseinfo", 72, 8), ("start_pfn_64", 80, 8), ("end_pfn_64", 88, 8), ("max_mapnr_64", 96, 8) })
                {
                    known.Add((n, sub + o, w));
                }

                for (int i = 0; i < 8; i++)
                {
                    int d = (int)h.DescTableOffset + (i * 24);
                    known.Add(($"page_desc[{i}].offset", d, 8));
                    known.Add(($"page_desc[{i}].size", d + 8, 4));
                    known.Add(($"page_desc[{i}].flags", d + 12, 4));
                }

                return new Fields(h.BigEndian, known);
            }

            if (Formats.Elf.ElfCoreFile.HasMagic(valid))
            {
                bool be = valid[5] == 2;
                int phoff = (int)Endian.U64(valid.AsSpan(32), be), phnum = Endian.U16(valid.AsSpan(56), be);
                foreach (var (n, o, w) in new[] { ("e_phoff", 32, 8), ("e_shoff", 40, 8), ("e_flags", 48, 4), ("e_phentsize", 54, 2), ("e_phnum", 56, 2), ("e_shnum", 60, 2) })
                {
                    known.Add((n, o, w));
                }

                for (int i = 0; i < phnum; i++)
                {
                    int p = phoff + (i * 56);
                    foreach (var (n, o, w) in new[] { ("p_type", 0, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8), ("p_paddr", 24, 8), ("p_filesz", 32, 8), ("p_memsz", 40, 8) })
                    {
                        known.Add(($"phdr[{i}].{n}", p + o, w));
                    }
                }

                return new Fields(be, known);
            }

            return new Fields(false, known);
        }
    }
}
