using Org.BouncyCastle.Crypto.Digests;

namespace Fadump.Formats.Hashing;

/// <summary>
/// SHA-256 (FIPS 180-4) in managed code, through BouncyCastle's <see cref="Sha256Digest"/>. .NET's own hashes go
/// to OpenSSL's libcrypto on Linux, which is loaded at first use and, when it is missing, aborts the process
/// ("No usable version of libssl was found"): a capture initramfs seldom holds libssl, and the dump service
/// must not die there before its failure action.
/// </summary>
public sealed class Sha256
{
    public const int HashSizeInBytes = 32;

    private readonly Sha256Digest _digest = new();

    public void Append(ReadOnlySpan<byte> data) => _digest.BlockUpdate(data);

    /// <summary>The digest of everything appended so far; appending may go on.</summary>
    public byte[] GetCurrentHash()
    {
        var copy = new Sha256Digest(_digest);
        var hash = new byte[HashSizeInBytes];
        copy.DoFinal(hash);
        return hash;
    }

    /// <summary>The digest of everything appended so far; the hash starts again from nothing.</summary>
    public byte[] GetHashAndReset()
    {
        var hash = new byte[HashSizeInBytes];
        _digest.DoFinal(hash); // DoFinal resets the digest.
        return hash;
    }

    public static byte[] HashData(ReadOnlySpan<byte> data)
    {
        var sha = new Sha256();
        sha.Append(data);
        return sha.GetHashAndReset();
    }
}
