//@ begin rootfs
//! The rootfs chapter: filesystem isolation. The container gets its own mount namespace, a root
//! filesystem of its own (`pivot_root`), and fresh `/proc`, `/dev` and `/sys`.
//!
//! All of it happens in the child, between fork and exec, inside a new mount namespace: the
//! host's mount table never changes, and everything mounted here vanishes with the container.

//@ begin images
use crate::image::overlay::Overlay;
//@ end
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
//@ end

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
    //@ end
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
            //@ end
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
    //@ end
    //@ begin rootless
    let host_devices = crate::rootless::before_pivot(&rootfs.dir)?;
    //@ end
    pivot_into(&rootfs.dir)?;
    mount_proc_and_sys()?;
    populate_dev()?;
    //@ begin rootless
    crate::rootless::bind_host_devices(host_devices)?;
    //@ end
    //@ begin images
    std::fs::create_dir_all(&rootfs.workdir)
        .and_then(|()| std::env::set_current_dir(&rootfs.workdir))
        .with_context(|| format!("entering the working directory {}", rootfs.workdir.display()))?;
    //@ end
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
    //@ end
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
    //@ end
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
    //@ end
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
    //@ end
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
        //@ end
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

// ANCHOR: prepare_state_dir
/// Create minibox's state directory private to its owner (0700), or make an existing one so. It
/// holds images from strangers (a setuid-root program in a layer would be runnable by every host
/// user who can reach it) and the containers' writable layers (where container root can leave
/// one): no other host user may even look inside.
pub fn prepare_state_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("the state directory {}", dir.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making the state directory {} private", dir.display()))?;
        eprintln!(
            "minibox: the state directory {} was open to other users (mode {mode:o}): it is now private (700)",
            dir.display()
        );
    }
    Ok(())
}
// ANCHOR_END: prepare_state_dir

/// Is the process that made a temporary entry gone? Temporary entries end with `-PID` (or
/// `.PID`): `rootfs/.busybox-1234`. A PID that is alive keeps its entry, even if the number was
/// reused: a leftover then waits for a later sweep, which is safe; removing a live one is not.
pub fn maker_is_gone(name: &str) -> bool {
    let Some(pid) = name.rsplit(['-', '.']).next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
}

/// Remove the entries of `dir` whose name starts with `prefix` and whose maker is gone. Returns
/// how many went.
pub fn sweep(dir: &Path, prefix: &str) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && maker_is_gone(&name) {
            let path = entry.path();
            if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
                .with_context(|| format!("removing {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The rootfs chapter's leftovers: a default root filesystem whose building was interrupted.
pub fn reclaim(state_dir: &Path) -> Result<usize> {
    sweep(&state_dir.join("rootfs"), ".busybox-")
}

/// Where minibox looks for a static busybox: `MINIBOX_BUSYBOX`, then the `busybox-static`
/// package's places.
pub fn find_static_busybox() -> Result<PathBuf> {
    let candidates = std::env::var_os("MINIBOX_BUSYBOX")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/bin/busybox", "/usr/bin/busybox"].map(PathBuf::from));
    for path in candidates {
        if let Ok(bytes) = std::fs::read(&path) {
            if is_static_elf(&bytes) {
                return Ok(path);
            }
            bail!(
                "{} is dynamically linked, so it cannot run inside a bare root filesystem: install busybox-static \
                 (apt install busybox-static), or pass --rootfs DIR",
                path.display()
            );
        }
    }
    bail!(
        "no busybox found for the default root filesystem: install busybox-static (apt install busybox-static), or pass --rootfs DIR"
    )
}

/// Is this an ELF executable with no program interpreter, that is, statically linked?
pub fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read = |at: usize, len: usize| bytes.get(at..at + len);
    let (Some(magic), Some(class)) = (read(0, 4), bytes.get(4)) else { return false };
    if magic != b"\x7fELF" || *class != 2 {
        return false; // not a 64-bit ELF file
    }
    let u16_at = |at| read(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |at| read(at, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize);
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..phnum).all(|i| {
        read(phoff + i * phentsize, 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// Build a busybox root filesystem in `dir`: the static binary, a symbolic link per applet, and
/// the few files programs expect.
pub fn build_busybox_rootfs(busybox: &Path, dir: &Path) -> Result<()> {
    for sub in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).context("copying busybox")?;
    let list =
        std::process::Command::new(busybox).arg("--list-full").output().context("busybox --list-full")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join(applet);
        if applet != "bin/busybox" && !link.exists() {
            symlink("/bin/busybox", &link).with_context(|| format!("linking {applet}"))?;
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// The busybox root built on first use under the state directory: `minibox run`'s root when
/// given none, and from the images chapter the content of the default image.
pub fn default_busybox_rootfs(state_dir: &Path) -> Result<PathBuf> {
    let dir = state_dir.join("rootfs/busybox");
    if dir.join("bin/busybox").exists() {
        return Ok(dir);
    }
    let busybox = find_static_busybox()?;
    // Build aside and rename into place, so that a failure (or a second minibox racing this
    // one) never leaves a half-built root behind.
    let building = state_dir.join(format!("rootfs/.busybox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let built = build_busybox_rootfs(&busybox, &building);
    if let Err(error) = built.and_then(|()| std::fs::rename(&building, &dir).map_err(Into::into)) {
        let _ = std::fs::remove_dir_all(&building);
        if !dir.join("bin/busybox").exists() {
            return Err(error).context(format!("building the default root filesystem in {}", dir.display()));
        }
    }
    crate::step!("built the default busybox root filesystem in {}", dir.display());
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(with_interp: bool) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x40 + 2 * 56];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        bytes[0x40..0x44].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        let second = if with_interp { 3u32 } else { 1 };
        bytes[0x40 + 56..0x40 + 60].copy_from_slice(&second.to_le_bytes());
        bytes
    }

    #[test]
    fn static_and_dynamic_programs_are_told_apart() {
        assert!(is_static_elf(&elf(false)));
        assert!(!is_static_elf(&elf(true)));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&elf(false)[..0x30]));
    }

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
    fn a_temporary_entry_belongs_to_its_maker_while_it_lives() {
        assert!(!maker_is_gone(&format!(".busybox-{}", std::process::id())));
        assert!(maker_is_gone(".unpacking-abc-2147483646"));
        assert!(!maker_is_gone("no-pid-here"));
    }

    #[test]
    fn a_missing_rootfs_is_refused_in_one_line() {
        let error = check_dir(Path::new("/no/such/rootfs")).unwrap_err();
        assert!(format!("{error:#}").starts_with("--rootfs /no/such/rootfs: no such directory"), "{error:#}");
    }
}
//@ end
