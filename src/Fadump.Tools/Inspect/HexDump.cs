using System.Globalization;
using System.Text;

namespace Fadump.Tools.Inspect;

/// <summary>`hexdump -C`-style lines, addressed by the dump address rather than a file offset.</summary>
public static class HexDump
{
    public static string Format(ulong address, ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < data.Length; i += 16)
        {
            var row = data.Slice(i, Math.Min(16, data.Length - i));
            sb.Append(CultureInfo.InvariantCulture, $"{address + (ulong)i:x16}  ");
            for (int j = 0; j < 16; j++)
            {
                sb.Append(j < row.Length ? row[j].ToString("x2", CultureInfo.InvariantCulture) + " " : "   ");
                if (j == 7)
                {
                    sb.Append(' ');
                }
            }

            sb.Append(" |");
            foreach (byte b in row)
            {
                sb.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
            }

            sb.Append("|\n");
        }

        return sb.ToString();
    }
}
