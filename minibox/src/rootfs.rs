//@ begin rootfs
//! The rootfs chapter: filesystem isolation. The container gets its own mount namespace, a root
//! filesystem of its own (`pivot_root`), and fresh `/proc`, `/dev` and `/sys`.
//!
//! All of it happens in the child, between fork and exec, inside a new mount namespace: the
//! host's mount table never changes, and everything mounted here vanishes with the container.

//@ begin images
use crate::image::overlay::Overlay;
//@ end images
use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
//@ exercise rootfs imports
use nix::mount::{MntFlags, umount2};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{chdir, pivot_root};
//@ end rootfs imports

/// How the container's root filesystem is set up.
#[derive(Clone, Debug)]
pub struct Rootfs {
    /// The directory that becomes the container's `/`.
    pub dir: PathBuf,
    /// `--read-only`: mount it read-only.
    pub read_only: bool,
    //@ begin images
    /// An image's layers, mounted on `dir` with overlayfs (the images chapter).
    pub overlay: Option<Overlay>,
    /// Where the command starts: the image's working directory.
    pub workdir: PathBuf,
    //@ end images
}

impl Rootfs {
    /// A directory as it is, as the container's root.
    pub fn directory(dir: PathBuf, read_only: bool) -> Rootfs {
        Rootfs {
            dir,
            read_only,
            //@ begin images
            overlay: None,
            workdir: PathBuf::from("/"),
            //@ end images
        }
    }
}

/// Check `--rootfs` before anything is created: it must be an existing directory, on a mount
/// that may be bind-mounted.
pub fn check_dir(dir: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(dir).with_context(|| {
        format!("--rootfs {}: no such directory (give the path of a root filesystem)", dir.display())
    })?;
    if !meta.is_dir() {
        bail!("--rootfs {}: not a directory (give the path of a root filesystem)", dir.display());
    }
    let dir = dir.canonicalize().with_context(|| format!("--rootfs {}", dir.display()))?;
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    if let Some(mount) = unbindable_mount_holding(&mountinfo, &dir) {
        bail!(
            "--rootfs {}: it is on {mount}, a mount marked unbindable, so it cannot be bind-mounted as a root \
             (copy the root filesystem elsewhere)",
            dir.display()
        );
    }
    Ok(dir)
}

/// The mount point holding `path`, when that mount is marked unbindable. In
/// /proc/self/mountinfo the fifth field is the mount point and the optional fields after the
/// sixth (up to a lone `-`) carry the propagation type: `shared:N`, `master:N` or `unbindable`.
/// A mount namespace copy made private would lose the mark, so minibox checks the host's view.
fn unbindable_mount_holding(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, bool, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(point) = fields.get(4).map(|p| p.replace("\\040", " ")) else { continue };
        if !path.starts_with(&point) {
            continue;
        }
        let dash = fields.iter().position(|f| *f == "-").unwrap_or(fields.len());
        let unbindable = fields.get(6..dash).is_some_and(|optional| optional.contains(&"unbindable"));
        // The longest mount point wins; of equal ones, the last mounted (it is on top).
        if best.as_ref().is_none_or(|(len, _, _)| point.len() >= *len) {
            best = Some((point.len(), unbindable, point));
        }
    }
    best.and_then(|(_, unbindable, point)| unbindable.then_some(point))
}

// ANCHOR: enter
/// In the child: a new mount namespace whose `/` is `rootfs.dir`, with `/proc`, `/dev` and
/// `/sys` of its own. The order matters; each step explains why in the book.
pub fn enter(rootfs: &Rootfs) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS): creating a mount namespace")?;
    prepare_new_root(&rootfs.dir)?;
    //@ begin images
    if let Some(overlay) = &rootfs.overlay {
        overlay.mount_on(&rootfs.dir)?;
    }
    //@ end images
    //@ begin rootless
    let host_devices = crate::rootless::before_pivot(&rootfs.dir, &DEVICES)?;
    //@ end rootless
    pivot_into(&rootfs.dir)?;
    mount_proc_and_sys()?;
    populate_dev()?;
    //@ begin rootless
    crate::rootless::bind_host_devices(host_devices)?;
    //@ end rootless
    //@ begin images
    std::fs::create_dir_all(&rootfs.workdir)
        .and_then(|()| std::env::set_current_dir(&rootfs.workdir))
        .with_context(|| format!("entering the working directory {}", rootfs.workdir.display()))?;
    //@ end images
    if rootfs.read_only {
        remount_root_read_only()?;
    }
    Ok(())
}
// ANCHOR_END: enter

// ANCHOR: prepare_new_root
/// Stop mount events from travelling between the container and the host, then make the new
/// root a mount point of its own (pivot_root wants one).
pub fn prepare_new_root(new_root: &Path) -> Result<()> {
    //@ exercise rootfs prepare_new_root
    // Private, recursively: nothing we mount or unmount from now on reaches the host, and
    // pivot_root refuses (EINVAL) to move a shared mount.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("making all mounts private (mount --make-rprivate /)")?;
    // A bind mount of the directory onto itself turns it into a mount point; without it,
    // pivot_root fails with EBUSY or EINVAL.
    mount(Some(new_root), new_root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .with_context(|| {
            format!(
                "bind-mounting the root filesystem {} onto itself (is it on an unbindable mount?)",
                new_root.display()
            )
        })?;
    Ok(())
    //@ stub
    //| let _ = new_root;
    //| todo!("chapter {chapter}, `prepare_new_root`: make the new root ready for pivot_root, without any mount change reaching the host; `cargo xtask hint rootfs prepare_new_root` helps (book: Chapter {chapter}, \"Preparing the new root\")")
    //@ end rootfs prepare_new_root
}
// ANCHOR_END: prepare_new_root

// ANCHOR: pivot_into
/// Make `new_root` the root of this mount namespace, and detach the old root so that nothing of
/// the host's filesystem stays reachable.
pub fn pivot_into(new_root: &Path) -> Result<()> {
    //@ exercise rootfs pivot_into
    // pivot_root(".", "."): the old root ends up mounted on top of the new one, at "/", where it
    // can be detached at once. No directory for the old root is needed inside the container.
    chdir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    pivot_root(".", ".").context("pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the old root")?;
    chdir("/").context("chdir /")?;
    Ok(())
    //@ stub
    //| let _ = new_root;
    //| todo!("chapter {chapter}, `pivot_into`: make the new root this mount namespace's `/`, with nothing of the host's left reachable; `cargo xtask hint rootfs pivot_into` helps (book: Chapter {chapter}, \"pivot_root, not chroot\")")
    //@ end rootfs pivot_into
}
// ANCHOR_END: pivot_into

// ANCHOR: mount_proc_and_sys
/// A `/proc` of the container's own PID namespace, and a read-only `/sys`.
pub fn mount_proc_and_sys() -> Result<()> {
    //@ exercise rootfs mount_proc_and_sys
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    make_mount_point("/proc")?;
    // A procfs shows the PID namespace of the process that mounts it: this one.
    mount(Some("proc"), "/proc", Some("proc"), hardened, None::<&str>).context("mounting /proc")?;
    make_mount_point("/sys")?;
    mount(Some("sysfs"), "/sys", Some("sysfs"), hardened | MsFlags::MS_RDONLY, None::<&str>)
        .context("mounting /sys read-only")?;
    Ok(())
    //@ stub
    //| todo!("chapter {chapter}, `mount_proc_and_sys`: give the container a /proc of its own and a read-only /sys, both safe to expose; `cargo xtask hint rootfs mount_proc_and_sys` helps (book: Chapter {chapter}, \"/proc, /dev and /sys\")")
    //@ end rootfs mount_proc_and_sys
}
// ANCHOR_END: mount_proc_and_sys

// ANCHOR: remount_read_only
/// `--read-only`: make the container's `/` read-only. Only that mount changes: /proc, /dev and
/// /sys are mounts of their own.
pub fn remount_root_read_only() -> Result<()> {
    //@ exercise rootfs remount_root_read_only
    // A bind remount sets this mount's flags anew: keep the restrictions it has (a root on a
    // nosuid mount must stay nosuid), and add read-only.
    let current = statvfs("/").context("reading the flags of /")?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (has, keep) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if current.contains(has) {
            flags |= keep;
        }
    }
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("remounting / read-only")
    //@ stub
    //| todo!("chapter {chapter}, `remount_root_read_only`: make the container's root filesystem read-only; `cargo xtask hint rootfs remount_root_read_only` helps (book: Chapter {chapter}, \"/proc, /dev and /sys\")")
    //@ end rootfs remount_root_read_only
}
// ANCHOR_END: remount_read_only

/// Create a directory to mount on, when the root filesystem lacks it.
fn make_mount_point(path: &str) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating the mount point {path}"))
}

/// The device nodes a container gets: the harmless ones every program expects.
pub const DEVICES: [(&str, u64, u64); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// A small `/dev` on a tmpfs: a few character devices, the usual symbolic links, a private
/// `/dev/pts` for terminals and a `/dev/shm` for shared memory. Not the host's `/dev`, which
/// would hand the container every disk.
pub fn populate_dev() -> Result<()> {
    make_mount_point("/dev")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), "/dev", Some("tmpfs"), flags, Some("mode=755,size=64k")).context("mounting /dev")?;
    for (name, major, minor) in DEVICES {
        //@ begin rootless
        if crate::rootless::active() {
            break; // no mknod in a user namespace: the rootless chapter binds the host's instead
        }
        //@ end rootless
        let path = format!("/dev/{name}");
        mknod(path.as_str(), SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
            .with_context(|| format!("mknod {path}"))?;
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        symlink(target, link).with_context(|| format!("symlink {link}"))?;
    }
    make_mount_point("/dev/pts")?;
    // newinstance: the container's terminals are numbered apart from the host's.
    mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .context("mounting /dev/pts")?;
    make_mount_point("/dev/shm")?;
    mount(Some("shm"), "/dev/shm", Some("tmpfs"), flags | MsFlags::MS_NODEV, Some("mode=1777,size=65536k"))
        .context("mounting /dev/shm")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbindable_mount_is_found_by_the_longest_mount_point() {
        let mountinfo = "\
22 1 8:1 / / rw shared:1 - ext4 /dev/vda rw
30 22 0:40 / /tmp/un rw unbindable - tmpfs t rw
31 22 0:41 / /tmp/unx rw - tmpfs t rw
";
        assert_eq!(unbindable_mount_holding(mountinfo, Path::new("/tmp/un/rootfs")), Some("/tmp/un".into()));
        assert_eq!(unbindable_mount_holding(mountinfo, Path::new("/tmp/unx/rootfs")), None);
        assert_eq!(unbindable_mount_holding(mountinfo, Path::new("/srv")), None);
    }

    #[test]
    fn a_missing_rootfs_is_refused_in_one_line() {
        let error = check_dir(Path::new("/no/such/rootfs")).unwrap_err();
        assert!(format!("{error:#}").starts_with("--rootfs /no/such/rootfs: no such directory"), "{error:#}");
    }
}
//@ end rootfs
