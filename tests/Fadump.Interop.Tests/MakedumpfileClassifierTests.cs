using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Kdump;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Interop.Tests;

/// <summary>
/// The classifier's hand-worked cases (<see cref="ClassifierScenario"/>: free buddy block, page cache, private
/// cache, anon, slab, swap cache, hugetlbfs, hwpoison, offline, anon THP, cache folio) checked by the real
/// makedumpfile 1.7.2 on the same synthetic vmcore: the pages it excludes at each level are the ones the
/// unit tests expect of us, with one recorded difference: 1.7.2 takes any page whose mapping has
/// PAGE_MAPPING_ANON for user data, slab pages included (test page 11); we follow the later makedumpfile
/// (1.7.3, "Fix wrong exclusion of Slab pages on Linux 6.2-rc1"), which keeps slab pages.
/// </summary>
[Trait("Category", "Interop")]
public sealed class MakedumpfileClassifierTests
{
    /// <summary>The scenario's PG_slab page whose mapping has the anon bit.</summary>
    private const int SlabWithAnonMapping = 11;

    public static TheoryData<int, int[]> Levels => ClassifierScenario.Levels;

    [Theory]
    [MemberData(nameof(Levels))]
    public void Makedumpfile_excludes_the_hand_worked_pages(int level, int[] excludedOffsets)
    {
        var version = RealTool.Run("makedumpfile", ["-v"]);
        Assert.Contains("version 1.7.2 ", version.All, StringComparison.Ordinal);
        int[] expected = (level & 8) != 0 ? [.. excludedOffsets, SlabWithAnonMapping] : excludedOffsets;
        var (kernel, b) = ClassifierScenario.BuildKernel();
        using var dir = new RealTool.TempDir();
        string vmcore = dir.File("vmcore"), output = dir.File("out.kdump");
        File.WriteAllBytes(vmcore, kernel.ToElf());
        var r = RealTool.Run("makedumpfile", ["-f", "-d", level.ToString(CultureInfo.InvariantCulture), "--message-level", "31", vmcore, output]);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        Assert.True(r.ExitCode == 0, $"makedumpfile failed ({r.ExitCode}): {r.All}");
        using var dump = KdumpCompressedDump.Open(output);
        var excluded = Enumerable.Range(0, 64).Where(o => dump.GetPageState(b + (ulong)o) == PageState.Excluded).ToArray();
        Assert.Equal(expected.Order(), excluded);
    }
}
