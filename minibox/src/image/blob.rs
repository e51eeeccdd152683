//@ begin images
//! Content addressing: a blob's name is the SHA-256 digest of its bytes, so a blob cannot be
//! changed without changing its name, and a wrong or tampered blob is caught before use.

use anyhow::{Result, bail};
use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
//@ exercise images imports
use anyhow::Context;
//@ end images imports

/// `sha256:<hex>` of some bytes.
pub fn sha256_of(bytes: &[u8]) -> Digest {
    digest_from_hasher(Sha256::new_with_prefix(bytes))
}

/// The digest a hasher has computed, as `sha256:<hex>`.
pub fn digest_from_hasher(hasher: Sha256) -> Digest {
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Digest::from_str(&format!("sha256:{hex}")).expect("a sha256 digest of 64 hex digits is valid")
}

/// Copy `reader` to `writer`, returning the digest and size of what went through.
pub fn copy_hashing(mut reader: impl Read, mut writer: impl Write) -> Result<(Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        writer.write_all(&buffer[..n])?;
        size += n as u64;
    }
    Ok((digest_from_hasher(hasher), size))
}

/// A reader that hashes what passes through it (to learn a layer's uncompressed digest, its
/// "diff ID", while unpacking it).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new() }
    }

    pub fn digest(self) -> Digest {
        digest_from_hasher(self.hasher)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Only SHA-256 digests are accepted: they are what every registry and tool writes.
pub fn check_sha256(digest: &Digest) -> Result<&str> {
    match digest.algorithm() {
        oci_spec::image::DigestAlgorithm::Sha256 => Ok(digest.digest()),
        other => bail!("{digest}: unsupported digest algorithm {other} (only sha256 is supported)"),
    }
}

// ANCHOR: verify
/// Check that the file at `path` is exactly the blob that `digest` and `size` name. Images come
/// from strangers: every blob is checked before anything is done with it.
pub fn verify(path: &Path, digest: &Digest, size: u64) -> Result<()> {
    //@ exercise images verify
    check_sha256(digest)?;
    let file = std::fs::File::open(path)
        .with_context(|| format!("blob {digest} is missing ({})", path.display()))?;
    let (actual, actual_size) = copy_hashing(file, std::io::sink())?;
    if actual != *digest || actual_size != size {
        bail!(
            "blob {digest} does not match its digest: its content hashes to {actual} ({actual_size} bytes, {size} expected); \
             the image is corrupt or was tampered with"
        );
    }
    Ok(())
    //@ stub
    //| let _ = (path, digest, size);
    //| todo!("chapter {chapter}, `verify`: check that the file is exactly the blob the descriptor names; `cargo xtask hint images verify` helps (book: Chapter {chapter}, \"Content addressing\")")
    //@ end images verify
}
// ANCHOR_END: verify

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_nothing_is_the_well_known_one() {
        assert_eq!(
            sha256_of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
//@ end images
