using System.Security.Cryptography;
using System.Text;
using Fadump.Formats.Hashing;

namespace Fadump.Formats.Tests.Hashing;

/// <summary>The managed SHA-256 against FIPS 180-4's examples and against OpenSSL (through .NET) on random input.</summary>
public sealed class Sha256Tests
{
    [Theory]
    [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")]
    public void The_FIPS_180_examples(string text, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(Sha256.HashData(Encoding.ASCII.GetBytes(text))));
    }

    [Fact]
    public void Incremental_hashing_equals_OpenSSL_and_the_current_hash_leaves_the_state_alone()
    {
        var rng = new Random(7);
        var data = new byte[1 << 20];
        rng.NextBytes(data);
        var sha = new Sha256();
        int at = 0;
        while (at < data.Length)
        {
            int n = Math.Min(rng.Next(1, 70_000), data.Length - at);
            sha.Append(data.AsSpan(at, n));
            at += n;
            if (rng.Next(4) == 0)
            {
                Assert.Equal(SHA256.HashData(data.AsSpan(0, at)), sha.GetCurrentHash());
            }
        }

        Assert.Equal(SHA256.HashData(data), sha.GetCurrentHash());
        Assert.Equal(SHA256.HashData(data), sha.GetHashAndReset());
        Assert.Equal(SHA256.HashData([]), sha.GetHashAndReset());
    }
}
