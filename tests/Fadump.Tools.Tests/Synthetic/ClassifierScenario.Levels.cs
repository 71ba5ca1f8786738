namespace Fadump.Tools.Tests.Synthetic;

/// <summary>The expectations, apart from the kernel, so that non-xunit projects (the fuzzer) can link the kernel.</summary>
internal static partial class ClassifierScenario
{
    /// <summary>Dump level → the test-page offsets makedumpfile excludes (worked out by hand from its rules).</summary>
    public static TheoryData<int, int[]> Levels => new()
    {
        { 0, [20, 21] },
        { 2, [8, 12, 20, 21, .. Enumerable.Range(48, 16)] },
        { 4, [8, 9, 12, 20, 21, .. Enumerable.Range(48, 16)] },
        { 8, [10, 16, 17, 18, 19, 20, 21, .. Enumerable.Range(24, 8)] },
        { 16, [0, 1, 2, 3, 4, 5, 6, 7, 20, 21] },
        { 30, [.. Enumerable.Range(0, 11), 12, 16, 17, 18, 19, 20, 21, .. Enumerable.Range(24, 8), .. Enumerable.Range(48, 16)] },
    };
}
