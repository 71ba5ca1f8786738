namespace Fadump.Tools.Inspect;

/// <summary>`hexdump -C`-style lines, addressed by the dump address rather than a file offset.</summary>
public static class HexDump
{
    /// <summary>Characters of one full line: address, two blanks, 16 bytes with an extra blank after 8, |text|, newline.</summary>
    private const int LineChars = 16 + 2 + (16 * 3) + 1 + 2 + 16 + 2;

    /// <summary>Writes the lines one at a time: memory stays constant whatever the length.</summary>
    public static void Write(TextWriter writer, ulong address, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Span<char> line = stackalloc char[LineChars];
        for (int i = 0; i < data.Length; i += 16)
        {
            var row = data.Slice(i, Math.Min(16, data.Length - i));
            int n = 0;
            ulong a = address + (ulong)i;
            for (int d = 15; d >= 0; d--)
            {
                line[n + d] = Hex((int)(a & 0xf));
                a >>= 4;
            }

            n += 16;
            line[n++] = ' ';
            line[n++] = ' ';
            for (int j = 0; j < 16; j++)
            {
                if (j < row.Length)
                {
                    line[n++] = Hex(row[j] >> 4);
                    line[n++] = Hex(row[j] & 0xf);
                }
                else
                {
                    line[n++] = ' ';
                    line[n++] = ' ';
                }

                line[n++] = ' ';
                if (j == 7)
                {
                    line[n++] = ' ';
                }
            }

            line[n++] = ' ';
            line[n++] = '|';
            foreach (byte b in row)
            {
                line[n++] = b is >= 0x20 and < 0x7f ? (char)b : '.';
            }

            line[n++] = '|';
            line[n++] = '\n';
            writer.Write(line[..n]);
        }
    }

    private static char Hex(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
}
