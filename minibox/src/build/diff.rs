//@ begin build
//! A layer from an overlay's upper directory: every file the step added or changed, and a
//! whiteout for every file it deleted, in a tar archive that is the same bytes for the same
//! files (names in order, times set to one date, no user or group names).
//!
//! overlayfs marks a deleted file in the upper directory as a character device 0:0 and a
//! directory whose lower contents are hidden with the `trusted.overlay.opaque` attribute; the
//! OCI image specification writes the first as an empty file `.wh.NAME` and the second as an
//! entry `DIR/.wh..wh..opq`.

use crate::image::blob;
use crate::image::layer::OPAQUE_WHITEOUT;
use anyhow::{Context, Result};
use oci_spec::image::Digest;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};
//@ exercise build imports
use std::os::unix::fs::FileTypeExt;
//@ end build imports

// ANCHOR: header_for
/// The tar entry for one file of an upper directory: its path in the layer and its header.
/// `relative` is the file's path inside the upper directory, `metadata` its `lstat`. A whiteout
/// (a character device 0:0) becomes an empty regular file named `.wh.NAME` in the same
/// directory; anything else keeps its type, permission bits (with setuid, setgid and sticky),
/// uid and gid, and its size if it is a regular file. Every time is `epoch`.
pub fn header_for(relative: &Path, metadata: &Metadata, epoch: u64) -> Result<(PathBuf, Header)> {
    //@ exercise build header_for
    let mut header = Header::new_gnu();
    header.set_mtime(epoch);
    let file_type = metadata.file_type();
    if file_type.is_char_device() && metadata.rdev() == 0 {
        let name = relative.file_name().context("a whiteout without a name")?.to_string_lossy();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        return Ok((relative.with_file_name(format!(".wh.{name}")), header));
    }
    let (entry_type, size) = if file_type.is_dir() {
        (EntryType::Directory, 0)
    } else if file_type.is_symlink() {
        (EntryType::Symlink, 0)
    } else if file_type.is_file() {
        (EntryType::Regular, metadata.len())
    } else if file_type.is_char_device() {
        (EntryType::Char, 0)
    } else if file_type.is_block_device() {
        (EntryType::Block, 0)
    } else {
        (EntryType::Fifo, 0)
    };
    header.set_entry_type(entry_type);
    header.set_size(size);
    header.set_mode(metadata.mode() & 0o7777);
    header.set_uid(metadata.uid().into());
    header.set_gid(metadata.gid().into());
    Ok((relative.to_path_buf(), header))
    //@ stub
    //| let _ = (relative, metadata, epoch);
    //| todo!("chapter {chapter}, `header_for`: the tar entry for one file of the upper directory, a whiteout included; `cargo xtask hint build header_for` helps (book: Chapter {chapter}, \"The overlay's diff becomes a layer\")")
    //@ end build header_for
}
// ANCHOR_END: header_for

/// The value of the extended attribute `name` of `path` (not following a link), if it has one.
fn xattr(path: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).ok()?;
    let mut value = [0u8; 256];
    // SAFETY: both strings are NUL-terminated and `value` is writable for its length.
    let n = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
    usize::try_from(n).ok().map(|n| value[..n].to_vec())
}

/// Is `path` a directory overlayfs made opaque (the lower layers' contents hidden)?
fn is_opaque(path: &Path) -> bool {
    xattr(path, c"trusted.overlay.opaque").as_deref() == Some(b"y")
}

/// overlayfs with `redirect_dir` or `metacopy` on records a renamed directory or a chmod as a
/// pointer into the lower layers, not as files: such an upper directory is not a diff on its own.
fn check_plain(path: &Path) -> Result<()> {
    for name in [c"trusted.overlay.redirect", c"trusted.overlay.metacopy"] {
        if xattr(path, name).is_some() {
            anyhow::bail!(
                "{} carries {}: this kernel's overlayfs has redirect_dir or metacopy on, and its upper \
                 directory is no layer (mount with redirect_dir=off,metacopy=off)",
                path.display(),
                name.to_string_lossy()
            );
        }
    }
    Ok(())
}

/// Every path under `root` (relative, `root` itself excluded), parents before children, each
/// directory's entries in byte order: the same files give the same order on any machine.
pub fn walk(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let mut names: Vec<_> = std::fs::read_dir(root.join(&dir))
            .with_context(|| format!("reading {}", root.join(&dir).display()))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let relative = dir.join(&name);
            found.push(relative.clone());
            if std::fs::symlink_metadata(root.join(&relative))?.is_dir() {
                subdirs.push(relative);
            }
        }
        // Depth first, in order: push the subdirectories in reverse.
        pending.extend(subdirs.into_iter().rev());
    }
    // Depth-first order by path components, so parents come before their contents.
    found.sort_by(|a, b| a.components().cmp(b.components()));
    Ok(found)
}

/// Write the layer of `upper` to the file `out` as a tar archive; return its digest (also the
/// layer's diff ID: minibox does not compress its layers) and size.
pub fn write_layer(upper: &Path, out: &Path, epoch: u64) -> Result<(Digest, u64)> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    for relative in walk(upper)? {
        let path = upper.join(&relative);
        let metadata = std::fs::symlink_metadata(&path)?;
        check_plain(&path)?;
        let (name, mut header) = header_for(&relative, &metadata, epoch)?;
        if header.entry_type() == EntryType::Symlink {
            let target = std::fs::read_link(&path)?;
            builder.append_link(&mut header, &name, &target)?;
        } else if header.entry_type() == EntryType::Regular && header.size()? > 0 {
            let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            builder.append_data(&mut header, &name, file)?;
        } else {
            if matches!(header.entry_type(), EntryType::Char | EntryType::Block) {
                header.set_device_major(libc::major(metadata.rdev()))?;
                header.set_device_minor(libc::minor(metadata.rdev()))?;
            }
            builder.append_data(&mut header, &name, std::io::empty())?;
        }
        if metadata.is_dir() && is_opaque(&path) {
            let mut opaque = Header::new_gnu();
            opaque.set_entry_type(EntryType::Regular);
            opaque.set_mode(0o644);
            opaque.set_mtime(epoch);
            opaque.set_size(0);
            builder.append_data(&mut opaque, relative.join(OPAQUE_WHITEOUT), std::io::empty())?;
        }
    }
    let mut writer = builder.into_inner()?;
    writer.flush()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    digest_of(out)
}

/// The digest and size of the file at `path`.
pub fn digest_of(path: &Path) -> Result<(Digest, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    blob::copy_hashing(file, std::io::sink())
}
//@ end build
