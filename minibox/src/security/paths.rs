//@ begin hardening
//! The parts of `/proc` and `/sys` a container must not read or write, and the ways to a host
//! device. `/proc` and `/sys` are not namespaced file by file: `/proc/kcore` is the host's
//! memory, `/proc/sys/kernel/core_pattern` the host's crash handler, `/sys/firmware` the host's
//! firmware tables, whichever container reads them.

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use nix::sys::statvfs::{FsFlags, statvfs};
use std::path::Path;
//@ exercise hardening imports
use std::io::ErrorKind;
//@ end hardening imports

/// Paths hidden from the container (runc's and Docker's default list): files become
/// `/dev/null`, directories an empty read-only tmpfs.
pub const MASKED: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths the container may read but not write: the host's kernel settings and triggers.
pub const READ_ONLY: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Mask every path of [`MASKED`] and make every path of [`READ_ONLY`] read-only.
pub fn mask_and_protect() -> Result<()> {
    for path in MASKED {
        mask_path(Path::new(path))?;
    }
    for path in READ_ONLY {
        make_read_only(Path::new(path))?;
    }
    Ok(())
}

// ANCHOR: mask_path
/// Hide `path` from the container: nothing may be read from it, nothing written into it. A
/// path this kernel does not have is fine: there is nothing to hide.
pub fn mask_path(path: &Path) -> Result<()> {
    //@ exercise hardening mask_path
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("masking {}", path.display())),
    };
    if meta.is_dir() {
        // An empty tmpfs on top, read-only so that nothing can be left there either.
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), path, Some("tmpfs"), flags, Some("size=0"))
    } else {
        // /dev/null on top: reads give nothing, writes go nowhere.
        mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
    }
    .with_context(|| format!("masking {}", path.display()))
    //@ stub
    //| let _ = path;
    //| todo!("chapter {chapter}, `mask_path`: hide `path` (a file or a directory) so that nothing can be read from or written into it; `cargo xtask hint hardening mask_path` helps (book: Chapter {chapter}, \"Masked and read-only paths\")")
    //@ end hardening mask_path
}
// ANCHOR_END: mask_path

/// Make `path` a read-only mount of its own: bind it onto itself, then remount that bind
/// read-only (a bind mount takes new flags only through a remount).
pub fn make_read_only(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    mount(Some(path), path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .with_context(|| format!("bind-mounting {} onto itself", path.display()))?;
    remount_adding(path, MsFlags::MS_RDONLY)
}

/// Remount the mount at `path` with `extra` flags, keeping the restrictions it has (a bind
/// remount sets every flag anew).
pub fn remount_adding(path: &Path, extra: MsFlags) -> Result<()> {
    let current = statvfs(path).with_context(|| format!("reading the flags of {}", path.display()))?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra;
    for (has, keep) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if current.contains(has) {
            flags |= keep;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("remounting {} with {extra:?}", path.display()))
}

// ANCHOR: close_device_paths
/// Leave the container no way to a host device. Root keeps CAP_MKNOD (Docker's default set has
/// it), and a device node is only a number: `mknod sda b 8 0` anywhere writable, or a node
/// shipped in an image layer, would open the host's disk. So device nodes work only in /dev,
/// which holds the harmless few minibox made and is read-only from now on; everywhere else the
/// root filesystem is `nodev` (/dev/shm and the masks already are).
pub fn close_device_paths() -> Result<()> {
    remount_adding(Path::new("/"), MsFlags::MS_NODEV)?;
    remount_adding(Path::new("/dev"), MsFlags::MS_RDONLY)
}
// ANCHOR_END: close_device_paths
//@ end hardening
