using System.Globalization;
using System.Text;
using Fadump.Formats.Elf;

namespace Fadump.Tools.Collector;

/// <summary>
/// The dump level of a filtered ELF dump (save -E -d N), in an ELF note of our own: name "FADUMP", type
/// <see cref="Type"/>, the text "DUMP_LEVEL=N\n". makedumpfile records nothing of the kind in an ELF dump (its
/// -E output has the input's notes, NT_PRSTATUS and VMCOREINFO unchanged; checked on 1.7.2), so an ELF file
/// otherwise cannot say whether it was filtered. The type is none that crash, gdb (bfd) or libkdumpfile give a
/// meaning to whatever the name (they read NT_PRSTATUS by type alone), and every reader skips a note it does
/// not know. A kdump-compressed output has the level in its sub-header instead and does not carry the note.
/// </summary>
internal static class DumpLevelNote
{
    public const string Name = "FADUMP";

    /// <summary>"FD" and 1: not an NT_* value any reader knows.</summary>
    public const uint Type = 0x46440001;

    private const string Key = "DUMP_LEVEL=";

    public static ElfNote Create(int level) =>
        new(Name, Type, Encoding.ASCII.GetBytes(Key + level.ToString(CultureInfo.InvariantCulture) + "\n"));

    public static bool Is(ElfNote note) => note.Name == Name && note.Type == Type;

    /// <summary>The notes without ours: it says something of the file it is in, not of the next one.</summary>
    public static IReadOnlyList<ElfNote> Without(IReadOnlyList<ElfNote> notes) =>
        notes.Any(Is) ? [.. notes.Where(n => !Is(n))] : notes;

    /// <summary>The level our note records, or null (no note, or not a level 0 to 31).</summary>
    public static int? Find(IReadOnlyList<ElfNote> notes)
    {
        foreach (var n in notes.Where(Is))
        {
            foreach (var line in Encoding.ASCII.GetString(n.Desc).Split('\n'))
            {
                if (line.StartsWith(Key, StringComparison.Ordinal)
                    && int.TryParse(line.AsSpan(Key.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int level)
                    && level is >= 0 and <= 31)
                {
                    return level;
                }
            }
        }

        return null;
    }
}
