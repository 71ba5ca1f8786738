using Fadump.Formats;

namespace Fadump.Formats.Tests.Units;

/// <summary>The formatter behind the pictures' Human (PictureTests has the small sizes); here the large units and the edges.</summary>
public sealed class BinarySizeTests
{
    [Theory]
    [InlineData(69632UL, "68 KiB")]
    [InlineData(651264UL, "636 KiB")]
    [InlineData(62277025792UL + (100UL << 20), "58.1 GiB")]
    [InlineData((1UL << 30) - (40UL << 10), "1 GiB")] // 1023.96 MiB rounds to a whole GiB, not "1024.0 MiB"
    [InlineData(2848182258UL, "2.7 GiB")]
    [InlineData(1UL << 40, "1 TiB")]
    [InlineData(64UL << 40, "64 TiB")]
    [InlineData(ulong.MaxValue, "16 EiB")]
    public void Formats_in_the_largest_binary_unit(ulong bytes, string text) => Assert.Equal(text, BinarySize.Format(bytes));

    [Fact]
    public void A_negative_size_keeps_its_sign() => Assert.Equal("-64 KiB", BinarySize.Format(-65536L));
}
