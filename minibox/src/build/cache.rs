//@ begin build
//! The build cache: a step whose inputs are all the same as last time reuses last time's layer.
//!
//! A step's key is a digest of its parent (the key of the step before, which starts from the
//! base image's manifest digest), its instruction as written with the variables it sees, and for
//! `COPY` the digest of what it copies. The cache maps keys to layers:
//! `STATE/build-cache/<key>` holds the layer's digest.

use anyhow::{Context, Result};
use oci_spec::image::Digest;
use std::path::{Path, PathBuf};
//@ exercise build imports
use sha2::{Digest as _, Sha256};
//@ end build imports

// ANCHOR: cache_key
/// The cache key of a step: a SHA-256 (`sha256:HEX`) over the parent's key, the instruction and,
/// when the step copies files, the digest of their content. Different inputs must give
/// different keys, so no two lists of inputs may be written as the same bytes.
pub fn cache_key(parent: &str, instruction: &str, content: Option<&Digest>) -> String {
    //@ exercise build cache_key
    let mut hasher = Sha256::new();
    for part in [parent, instruction, &content.map(|d| d.to_string()).unwrap_or_default()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
    //@ stub
    //| let _ = (parent, instruction, content);
    //| todo!("chapter {chapter}, `cache_key`: one digest over everything the step's result depends on; `cargo xtask hint build cache_key` helps (book: Chapter {chapter}, \"The build cache\")")
    //@ end build cache_key
}
// ANCHOR_END: cache_key

/// The cache of a state directory.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open(state_dir: &Path) -> Result<Cache> {
        let dir = state_dir.join("build-cache");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Cache { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key.trim_start_matches("sha256:"))
    }

    /// The layer recorded for `key`, if its blob is still in the store.
    pub fn lookup(&self, key: &str, store: &crate::image::Store) -> Option<Digest> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        let digest = Digest::try_from(text.trim()).ok()?;
        store.blob_path(&digest).ok()?.is_file().then_some(digest)
    }

    /// Remember that `key` made `layer` (written aside and renamed: never half a record).
    pub fn record(&self, key: &str, layer: &Digest) -> Result<()> {
        let path = self.path(key);
        let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&temporary, format!("{layer}\n"))?;
        std::fs::rename(&temporary, &path).context("recording a build step in the cache")
    }
}
//@ end build
