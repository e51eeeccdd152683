//@ begin images
//! Unpacking a layer: a tar archive of the files that one build step added, changed or deleted.
//!
//! Layers come from strangers, and a tar archive can name any path: `/etc/passwd`,
//! `../../root/.ssh/authorized_keys`, or a file "inside" a directory that an earlier entry made a
//! symbolic link to `/`. Each entry is checked before it is written, and the layer is unpacked
//! into a temporary directory that is renamed into place only once all of it succeeded.

use super::blob::HashingReader;
use anyhow::{Context, Result, bail};
use oci_spec::image::{Digest, MediaType};
use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};
//@ exercise images imports
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use std::path::Component;
//@ end images imports

/// What to do with whiteout entries: turn them into overlayfs's form (image layers), or keep
/// them as the plain files they are (an archive that is not a layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whiteouts {
    Apply,
    Keep,
}

/// The prefix of a whiteout entry: `.wh.NAME` deletes NAME from the layers below.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque whiteout: `DIR/.wh..wh..opq` hides everything the layers below had in DIR.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// Unpack the layer blob at `blob` into `layers/<digest>`, once: a layer that is already there
/// is shared, not unpacked again. Returns the directory and, when it was unpacked now, the
/// digest of the uncompressed tar (its "diff ID").
pub fn unpack_once(
    blob: &Path,
    media_type: &MediaType,
    digest: &Digest,
    layers: &Path,
) -> Result<(PathBuf, Option<Digest>)> {
    let hex = super::blob::check_sha256(digest)?;
    is_gzip(media_type)?;
    let target = layers.join(hex);
    if target.is_dir() {
        crate::step!("layer {} is already unpacked: shared", short(digest));
        return Ok((target, None));
    }
    let building = layers.join(format!(".unpacking-{hex}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).with_context(|| format!("creating {}", building.display()))?;
    let unpacked = unpack_blob(blob, media_type, digest, &building);
    match unpacked {
        Ok(diff_id) => {
            if let Err(error) = std::fs::rename(&building, &target) {
                let _ = std::fs::remove_dir_all(&building);
                if !target.is_dir() {
                    return Err(error).with_context(|| format!("moving layer {} into place", short(digest)));
                }
            }
            crate::step!("unpacked layer {} into {}", short(digest), target.display());
            Ok((target, Some(diff_id)))
        }
        Err(error) => {
            // Leave nothing half-made behind.
            let _ = std::fs::remove_dir_all(&building);
            Err(error.context(format!("layer {digest}")))
        }
    }
}

/// Check that the file at `path` starts like a tar archive (decompressed first when `gzip`): a
/// first block of 512 bytes whose checksum field matches its bytes, or a block of zeros (an empty
/// archive). A file that is no archive is then refused in one line, rather than with whatever its
/// bytes would make the tar reader say.
pub fn check_tar_start(path: &Path, gzip: bool) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader: Box<dyn Read> =
        if gzip { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut block = [0u8; 512];
    let what =
        if gzip { "its gzip-compressed content is not a tar archive" } else { "it is not a tar archive" };
    if let Err(error) = reader.read_exact(&mut block) {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            bail!("{what} (shorter than one tar header)");
        }
        bail!("{what} ({error})");
    }
    if block.iter().all(|b| *b == 0) {
        return Ok(());
    }
    let field = std::str::from_utf8(&block[148..156]).unwrap_or("");
    let stored = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok();
    let actual: u32 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    if stored != Some(actual) {
        bail!("{what} (its first header's checksum does not match)");
    }
    Ok(())
}

/// Is a layer of this media type gzip-compressed? An error for a type that is no tar at all.
pub fn is_gzip(media_type: &MediaType) -> Result<bool> {
    match media_type {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Ok(false),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => Ok(true),
        MediaType::Other(other) if other == "application/vnd.docker.image.rootfs.diff.tar.gzip" => Ok(true),
        other => bail!("layers of media type {other} are not supported (plain and gzip-compressed tar are)"),
    }
}

/// The digest of a layer blob's uncompressed tar (its diff ID), read again from the blob.
pub fn diff_id_of(blob: &Path, media_type: &MediaType) -> Result<Digest> {
    let file = std::fs::File::open(blob).with_context(|| format!("opening {}", blob.display()))?;
    let tar: Box<dyn Read> =
        if is_gzip(media_type)? { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    Ok(super::blob::copy_hashing(tar, std::io::sink())?.0)
}

/// `sha256:1a2b3c4d5e6f` for messages.
pub fn short(digest: &Digest) -> String {
    format!("{}:{}", digest.algorithm(), &digest.digest()[..12.min(digest.digest().len())])
}

fn unpack_blob(blob: &Path, media_type: &MediaType, digest: &Digest, into: &Path) -> Result<Digest> {
    let file = std::fs::File::open(blob).with_context(|| format!("opening {}", blob.display()))?;
    let size = file.metadata()?.len();
    let progress = Progress::new(file, size, short(digest));
    let tar: Box<dyn Read> = if is_gzip(media_type)? {
        Box::new(flate2::read::GzDecoder::new(progress))
    } else {
        Box::new(progress)
    };
    let mut hashing = HashingReader::new(tar);
    unpack_tar(&mut hashing, into, Whiteouts::Apply)?;
    std::io::copy(&mut hashing, &mut std::io::sink())?; // the archive's padding counts towards the diff ID
    Ok(hashing.digest())
}

// ANCHOR: unpack_tar
/// Unpack a tar archive into `into`, entry by entry, refusing any entry that would land outside.
pub fn unpack_tar(reader: impl Read, into: &Path, whiteouts: Whiteouts) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    for entry in archive.entries().context("reading the tar archive")? {
        let mut entry = entry.context("reading a tar entry")?;
        let raw = entry.path().context("a tar entry's path")?.into_owned();
        let relative = safe_relative_path(&raw)?;
        if relative.as_os_str().is_empty() {
            continue; // the archive's root directory itself, "./"
        }
        refuse_symlinks_on_the_way(into, &relative)?;
        let target = into.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if whiteouts == Whiteouts::Apply && name.starts_with(WHITEOUT_PREFIX) {
            apply_whiteout(into, &relative)?;
            continue;
        }
        // An entry replaces what an earlier entry put at the same path; a symbolic link left
        // there must not be followed.
        if let Ok(meta) = std::fs::symlink_metadata(&target)
            && !(meta.is_dir() && entry.header().entry_type().is_dir())
        {
            if meta.is_dir() { std::fs::remove_dir_all(&target) } else { std::fs::remove_file(&target) }
                .with_context(|| format!("replacing {}", target.display()))?;
        }
        if entry.header().entry_type().is_hard_link() {
            let link = entry.link_name()?.context("a hard link without a target")?.into_owned();
            let source = safe_relative_path(&link)?;
            refuse_symlinks_on_the_way(into, &source)?;
            std::fs::hard_link(into.join(&source), &target)
                .with_context(|| format!("hard link {} -> {}", relative.display(), source.display()))?;
            continue;
        }
        entry.unpack(&target).with_context(|| format!("unpacking {}", relative.display()))?;
    }
    Ok(())
}
// ANCHOR_END: unpack_tar

// ANCHOR: safe_relative_path
/// The path of a tar entry, checked: relative, and without `..`. `./a/b` becomes `a/b`.
pub fn safe_relative_path(path: &Path) -> Result<PathBuf> {
    //@ exercise images safe_relative_path
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                bail!("refused entry `{}`: `..` would climb out of the layer", path.display())
            }
            Component::RootDir | Component::Prefix(_) => {
                bail!("refused entry `{}`: an absolute path would write outside the layer", path.display())
            }
        }
    }
    Ok(clean)
    //@ stub
    //| let _ = path;
    //| todo!("chapter {chapter}, `safe_relative_path`: the entry's path under the root, or an error if it could lead out of it; `cargo xtask hint images safe_relative_path` helps (book: Chapter {chapter}, \"Unpacking layers safely\")")
    //@ end images safe_relative_path
}
// ANCHOR_END: safe_relative_path

// ANCHOR: refuse_symlinks
/// Refuse to write `relative` below `root` if a directory on the way there is a symbolic link:
/// an earlier entry could have made `etc` a link to `/etc`, and `etc/passwd` would then land on
/// the host.
pub fn refuse_symlinks_on_the_way(root: &Path, relative: &Path) -> Result<()> {
    //@ exercise images refuse_symlinks_on_the_way
    let mut walked = root.to_path_buf();
    let parents = relative.parent().map(|p| p.components().collect::<Vec<_>>()).unwrap_or_default();
    for component in parents {
        walked.push(component);
        match std::fs::symlink_metadata(&walked) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "refused entry `{}`: it would be written through the symbolic link `{}`",
                relative.display(),
                walked.strip_prefix(root).unwrap_or(&walked).display()
            ),
            Ok(_) => {}
            Err(_) => break, // does not exist yet: nothing below it can be a link
        }
    }
    Ok(())
    //@ stub
    //| let _ = (root, relative);
    //| todo!("chapter {chapter}, `refuse_symlinks_on_the_way`: refuse the entry if anything on its way under the root is a symbolic link; `cargo xtask hint images refuse_symlinks_on_the_way` helps (book: Chapter {chapter}, \"Unpacking layers safely\")")
    //@ end images refuse_symlinks_on_the_way
}
// ANCHOR_END: refuse_symlinks

// ANCHOR: whiteout
/// Turn an OCI whiteout entry into the form overlayfs understands: `.wh.NAME` becomes a
/// character device 0/0 named NAME; `.wh..wh..opq` marks its directory opaque with the extended
/// attribute `trusted.overlay.opaque=y`.
pub fn apply_whiteout(root: &Path, relative: &Path) -> Result<()> {
    //@ exercise images apply_whiteout
    let parent = root.join(relative.parent().unwrap_or(Path::new("")));
    let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name == OPAQUE_WHITEOUT {
        return set_xattr(&parent, "trusted.overlay.opaque", b"y");
    }
    let hidden = parent.join(&name[WHITEOUT_PREFIX.len()..]);
    mknod(&hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
        .with_context(|| format!("making the whiteout {}", hidden.display()))
    //@ stub
    //| let _ = (root, relative);
    //| todo!("chapter {chapter}, `apply_whiteout`: turn an OCI whiteout entry into the form overlayfs understands; `cargo xtask hint images apply_whiteout` helps (book: Chapter {chapter}, \"Whiteouts\")")
    //@ end images apply_whiteout
}
// ANCHOR_END: whiteout

/// Set an extended attribute on `path` (not following a symbolic link).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())?;
    let c_name = CString::new(name)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; value is a valid slice.
    let rc =
        unsafe { libc::lsetxattr(c_path.as_ptr(), c_name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!("setting {name} on {} (overlayfs needs a filesystem with trusted xattrs)", path.display())
        });
    }
    Ok(())
}

/// Reports progress on stderr while a large layer is read.
struct Progress<R> {
    inner: R,
    read: u64,
    total: u64,
    shown: u64,
    label: String,
}

/// Layers smaller than this unpack too fast for progress to matter.
const PROGRESS_FROM: u64 = 32 << 20;

impl<R: Read> Progress<R> {
    fn new(inner: R, total: u64, label: String) -> Self {
        Progress { inner, read: 0, total, shown: 0, label }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.total >= PROGRESS_FROM {
            let tenths = self.read * 10 / self.total;
            if tenths > self.shown {
                self.shown = tenths;
                eprintln!(
                    "minibox: unpacking layer {} ({} MiB): {}%",
                    self.label,
                    self.total >> 20,
                    tenths * 10
                );
            }
        }
        Ok(n)
    }
}
//@ end images
