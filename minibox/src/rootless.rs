//@ begin rootless
//! The rootless chapter: containers for an ordinary user, through a user namespace.
//!
//! A user namespace has its own user and group ids, mapped onto the host's by two small tables,
//! `/proc/PID/uid_map` and `/proc/PID/gid_map`. minibox, run by an ordinary user, makes one for
//! itself first, before anything else: root inside it is the user outside, and the capabilities
//! it has there are over the namespaces that it owns (the PID, mount, UTS, IPC and network
//! namespaces that the earlier chapters make, which are now made inside it), never over the host.
//!
//! A process cannot write the full map of its own namespace: a helper, forked before the
//! namespace exists and so still outside it, does that (through the setuid `newuidmap` and
//! `newgidmap` when the user has subordinate ids in `/etc/subuid` and `/etc/subgid`, or itself for
//! a map of the one id the user owns). The set-up channel carries the turn.

use crate::process::channel::{self, Channel, Message};
use crate::step;
use anyhow::{Context, Result, bail};
use nix::unistd::{ForkResult, Pid, fork};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
//@ exercise rootless imports
use nix::sched::{CloneFlags, unshare};
//@ end rootless imports

/// Set once minibox runs inside a user namespace of its own: the steps that differ (cgroups,
/// `/dev`) ask [`active`].
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether this minibox runs rootless, in a user namespace it made.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Whether minibox was started by an ordinary user (effective uid not 0).
pub fn is_ordinary_user() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Where an ordinary user's minibox keeps its state by default: `$XDG_DATA_HOME/minibox`, or
/// `~/.local/share/minibox` (as podman keeps its storage under `~/.local/share/containers`).
/// Root's stays `/var/lib/minibox`.
pub fn default_state_dir() -> PathBuf {
    let system = PathBuf::from("/var/lib/minibox");
    if !is_ordinary_user() {
        return system;
    }
    match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(data), _) if !data.is_empty() => PathBuf::from(data).join("minibox"),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local/share/minibox"),
        _ => system,
    }
}

/// The default of `--network`: an ordinary user cannot make a bridge on the host.
pub fn default_network() -> &'static str {
    if is_ordinary_user() { "none" } else { "bridge" }
}

/// A range of ids: `count` ids from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

// ANCHOR: subordinate_range
/// The first range that `/etc/subuid` (or `/etc/subgid`), given as `contents`, grants to the
/// user named `user` whose uid is `uid`: lines `NAME:START:COUNT`, where NAME may also be the
/// uid in decimal. `None` when no line is theirs.
pub fn subordinate_range(contents: &str, user: &str, uid: u32) -> Option<IdRange> {
    //@ exercise rootless subordinate_range
    let uid = uid.to_string();
    contents.lines().find_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() || (who != user && who != uid) {
            return None;
        }
        let range = IdRange { start: start.parse().ok()?, count: count.parse().ok()? };
        (range.count > 0).then_some(range)
    })
    //@ stub
    //| let _ = (contents, user, uid);
    //| todo!("chapter {chapter}, `subordinate_range`: find the user's line in /etc/subuid's format and read its range; `cargo xtask hint rootless subordinate_range` helps (book: Chapter {chapter}, \"Subordinate ids\")")
    //@ end rootless subordinate_range
}
// ANCHOR_END: subordinate_range

// ANCHOR: id_map
/// The lines of a uid (or gid) map, `INSIDE OUTSIDE COUNT` each, for a user whose own id is
/// `own`: container id 0 is the user; with subordinate ids, container ids 1, 2, ... are those.
pub fn id_map(own: u32, subordinate: Option<IdRange>) -> Vec<[u32; 3]> {
    //@ exercise rootless id_map
    let mut lines = vec![[0, own, 1]];
    if let Some(range) = subordinate {
        lines.push([1, range.start, range.count]);
    }
    lines
    //@ stub
    //| let _ = (own, subordinate);
    //| todo!("chapter {chapter}, `id_map`: the map's lines: who is root inside, and who the other ids are; `cargo xtask hint rootless id_map` helps (book: Chapter {chapter}, \"The map\")")
    //@ end rootless id_map
}
// ANCHOR_END: id_map

/// The ids the user namespace maps: the user's own, and their subordinate ranges if they have
/// both and the setuid helpers that may write them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub uid: u32,
    pub gid: u32,
    pub subordinate: Option<(IdRange, IdRange)>,
}

impl Plan {
    /// Read the user's subordinate ids; without them (or without `newuidmap`), one id each.
    pub fn for_this_user() -> Plan {
        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        let read = |file: &str| {
            std::fs::read_to_string(file).ok().and_then(|text| subordinate_range(&text, &name, uid))
        };
        let helpers =
            ["/usr/bin/newuidmap", "/usr/bin/newgidmap"].iter().all(|p| std::path::Path::new(p).exists());
        let subordinate = match (read("/etc/subuid"), read("/etc/subgid")) {
            (Some(u), Some(g)) if helpers => Some((u, g)),
            (Some(_), Some(_)) => {
                step!("no newuidmap/newgidmap (Debian package uidmap): one id mapped");
                None
            }
            _ => {
                step!("no range for {name} in /etc/subuid and /etc/subgid: one id mapped");
                None
            }
        };
        Plan { uid, gid, subordinate }
    }
}

/// Format map lines as the kernel reads them.
pub fn map_text(lines: &[[u32; 3]]) -> String {
    lines.iter().map(|[inside, outside, count]| format!("{inside} {outside} {count}\n")).collect()
}

// ANCHOR: write_single_id_maps
/// Map root inside the user namespace of `pid` onto the user's own uid and gid, and nothing
/// else: what an ordinary user may write without a setuid helper.
pub fn write_single_id_maps(pid: Pid, uid: u32, gid: u32) -> Result<()> {
    //@ exercise rootless write_single_id_maps
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &str, text: String| {
        std::fs::write(proc.join(file), &text)
            .with_context(|| format!("writing {text:?} to /proc/{pid}/{file}"))
    };
    write("uid_map", map_text(&id_map(uid, None)))?;
    write("setgroups", "deny".to_string())?;
    write("gid_map", map_text(&id_map(gid, None)))
    //@ stub
    //| let _ = (pid, uid, gid);
    //| todo!("chapter {chapter}, `write_single_id_maps`: write the uid and gid maps of one id each, in an order the kernel accepts; `cargo xtask hint rootless write_single_id_maps` helps (book: Chapter {chapter}, \"One id, no helper\")")
    //@ end rootless write_single_id_maps
}
// ANCHOR_END: write_single_id_maps

/// Run `newuidmap` or `newgidmap` for `pid` with these map lines.
fn run_map_helper(program: &str, pid: Pid, lines: &[[u32; 3]]) -> Result<()> {
    let mut command = std::process::Command::new(program);
    command.arg(pid.to_string());
    for line in lines {
        command.args(line.iter().map(u32::to_string));
    }
    let output = command.output().with_context(|| format!("running {program} (Debian package uidmap)"))?;
    if !output.status.success() {
        bail!(
            "{program} {} failed: {} (check the user's line in /etc/subuid and /etc/subgid)",
            pid,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Write the maps of `pid`'s user namespace, from outside it.
pub fn write_maps(pid: Pid, plan: &Plan) -> Result<()> {
    match plan.subordinate {
        Some((uids, gids)) => {
            run_map_helper("newuidmap", pid, &id_map(plan.uid, Some(uids)))?;
            run_map_helper("newgidmap", pid, &id_map(plan.gid, Some(gids)))
        }
        None => write_single_id_maps(pid, plan.uid, plan.gid),
    }
}

/// The helper's side: wait for the turn, write the maps of `parent`, say so, end. What went wrong
/// goes to minibox on `report`, which puts it in its one line of error.
fn helper_main(parent: Pid, plan: &Plan, channel: &Channel, report: OwnedFd) -> ! {
    let code = match channel.receive() {
        // minibox ended its side without a turn (its unshare failed): nothing to write, nor say.
        Ok(None) => 1,
        Ok(Some(Message::UserNamespaceMade)) => match write_maps(parent, plan) {
            Ok(()) => i32::from(channel.send(Message::IdsMapped).is_err()),
            Err(error) => {
                let mut report = std::fs::File::from(report);
                let _ = std::io::Write::write_all(&mut report, format!("{error:#}").as_bytes());
                1
            }
        },
        Ok(Some(_)) | Err(_) => 1,
    };
    // SAFETY: a forked child ends without running the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

/// A helper process, forked before the user namespace exists, that writes its maps from outside.
pub struct MapHelper {
    pid: Pid,
    channel: Channel,
    /// Why the helper failed, if it did (closed, empty, when it succeeds).
    report: std::fs::File,
}

impl MapHelper {
    /// Fork the helper. It waits for [`Message::UserNamespaceMade`].
    pub fn start(plan: &Plan) -> Result<MapHelper> {
        let parent = nix::unistd::getpid();
        let (ours, theirs) = channel::pair()?;
        let (report_read, report_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
        // SAFETY: minibox has one thread; the child only writes files, runs programs and exits.
        match unsafe { fork() }.context("fork for the uid map helper")? {
            ForkResult::Parent { child } => {
                Ok(MapHelper { pid: child, channel: ours, report: std::fs::File::from(report_read) })
            }
            ForkResult::Child => {
                drop((ours, report_read));
                helper_main(parent, plan, &theirs, report_write)
            }
        }
    }

    /// Tell the helper the namespace exists, and wait until it has written the maps.
    pub fn map_ids(mut self) -> Result<()> {
        let sent = self.channel.send(Message::UserNamespaceMade);
        let mapped = sent.and_then(|()| self.channel.expect(Message::IdsMapped, "the uid map helper"));
        let _ = nix::sys::wait::waitpid(self.pid, None);
        if mapped.is_err() {
            let mut why = String::new();
            let _ = std::io::Read::read_to_string(&mut self.report, &mut why);
            if !why.is_empty() {
                bail!("writing the user namespace's uid and gid maps: {why}");
            }
        }
        mapped.context("writing the user namespace's uid and gid maps")
    }
}

// ANCHOR: enter_user_namespace
/// Make minibox root of a user namespace of its own, with `plan`'s ids mapped. It comes first:
/// every namespace made after it (by minibox, or by the container's process) is owned by it.
pub fn enter_user_namespace(plan: &Plan) -> Result<()> {
    //@ exercise rootless enter_user_namespace
    let helper = MapHelper::start(plan)?;
    unshare(CloneFlags::CLONE_NEWUSER).context("unshare(CLONE_NEWUSER): creating a user namespace")?;
    helper.map_ids()
    //@ stub
    //| // The calls you need are not imported yet: add this line to the `use` lines at the top.
    //| // use nix::sched::{CloneFlags, unshare};
    //| let _ = plan;
    //| todo!("chapter {chapter}, `enter_user_namespace`: make a user namespace for minibox and have its ids mapped from outside; `cargo xtask hint rootless enter_user_namespace` helps (book: Chapter {chapter}, \"Taking turns\")")
    //@ end rootless enter_user_namespace
}
// ANCHOR_END: enter_user_namespace

/// `minibox run`'s first step for an ordinary user: check what a rootless container cannot do
/// (its `--network`, `-p`, and whether it runs an image rather than its own `--rootfs`), then
/// enter the user namespace. Nothing for root.
pub fn prepare(
    network: crate::network::Mode,
    publish: &[crate::network::Published],
    image: bool,
) -> Result<()> {
    if !is_ordinary_user() {
        return Ok(());
    }
    let refused = match network {
        crate::network::Mode::None => None,
        crate::network::Mode::Host => Some("host"),
        crate::network::Mode::Bridge => Some("bridge"),
    };
    if let Some(mode) = refused {
        bail!("--network {mode} needs root: a rootless container has --network none (its own loopback only)");
    }
    if !publish.is_empty() {
        bail!("-p needs root (a port on the host's bridge): a rootless container has --network none");
    }
    if image && !kernel_at_least(5, 11) {
        bail!(
            "an image needs overlayfs in a user namespace, which Linux 5.11 brought: on this kernel, \
             give a rootless container --rootfs DIR"
        );
    }
    let plan = Plan::for_this_user();
    step!("rootless: uid map {:?}", id_map(plan.uid, plan.subordinate.map(|(u, _)| u)));
    if let Err(error) = enter_user_namespace(&plan) {
        if !user_namespaces_refused(&error) {
            return Err(error);
        }
        let hint = "are unprivileged user namespaces allowed? see sysctl user.max_user_namespaces, \
                    and on Ubuntu kernel.apparmor_restrict_unprivileged_userns";
        return Err(error).context(format!("a rootless container needs a user namespace ({hint})"));
    }
    ACTIVE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether `error` is the kernel refusing an unprivileged user namespace, told by its errno
/// (whatever the message around it says): EPERM (a sysctl, AppArmor, or a seccomp filter of the
/// calling sandbox), ENOSPC (user.max_user_namespaces reached, or 0), EUSERS (the same, before
/// Linux 4.9), EINVAL (a kernel without user namespaces).
fn user_namespaces_refused(error: &anyhow::Error) -> bool {
    use nix::errno::Errno;
    let errno = error.chain().find_map(|cause| {
        cause
            .downcast_ref::<Errno>()
            .copied()
            .or_else(|| cause.downcast_ref::<std::io::Error>()?.raw_os_error().map(Errno::from_raw))
    });
    matches!(errno, Some(Errno::EPERM | Errno::ENOSPC | Errno::EUSERS | Errno::EINVAL))
}

/// Whether the running kernel is at least `major.minor` (`uname -r`).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: uname fills the struct it is given; a zeroed utsname is a valid one.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `names` is ours, and of the size uname writes.
    if unsafe { libc::uname(&mut names) } != 0 {
        return false;
    }
    // SAFETY: the kernel NUL-terminates release.
    let release = unsafe { std::ffi::CStr::from_ptr(names.release.as_ptr()) }.to_string_lossy();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (major, minor)
}

/// The container's cgroup, rootless: none, said once when limits were asked for. (Where systemd
/// delegates a cgroup v2 subtree to the user, a runtime asks it for a scope; minibox does not yet.)
pub fn cgroup(id: &str, limits: crate::cgroups::Limits) -> Result<crate::cgroups::ContainerCgroup> {
    if !active() {
        return crate::cgroups::ContainerCgroup::create(id, limits);
    }
    if limits.memory.is_some() || limits.pids.is_some() || limits.cpus.is_some() {
        let why = if crate::cgroups::is_v2() {
            "a rootless minibox does not yet ask systemd for a delegated cgroup v2 subtree"
        } else {
            "on cgroup v1 no cgroup can be delegated to an ordinary user"
        };
        eprintln!("minibox: note: no limits for this rootless container: {why}");
    }
    Ok(crate::cgroups::ContainerCgroup::none(limits))
}

/// In the child, before `pivot_root`, what a user namespace needs done while the host's
/// filesystems are still in view; it returns the host's harmless devices, opened (`O_PATH`).
///
/// - The kernel lets a user namespace mount `proc` or `sysfs` only where one is already fully
///   visible in its mount namespace (so that a new one cannot reveal what an overmount hides).
///   After `pivot_root` none would be: so a first one goes into the new root now.
/// - `mknod` is refused in a user namespace: the container's `/dev` gets bind mounts of the
///   host's devices instead ([`bind_host_devices`]).
pub fn before_pivot(
    new_root: &std::path::Path,
    devices: &[(&'static str, u64, u64)],
) -> Result<Vec<(&'static str, OwnedFd)>> {
    if !active() {
        return Ok(Vec::new());
    }
    let hardened =
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC;
    // sysfs goes on /dev, not /sys: the kernel refuses the same sysfs twice on one mount point
    // (EBUSY), and the rootfs chapter's /dev tmpfs covers this one.
    let read_only = nix::mount::MsFlags::MS_RDONLY;
    for (kind, dir, flags) in [("proc", "proc", hardened), ("sysfs", "dev", hardened | read_only)] {
        let target = new_root.join(dir);
        std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
        nix::mount::mount(Some(kind), &target, Some(kind), flags, None::<&str>)
            .with_context(|| format!("mounting {kind} on {} (in the user namespace)", target.display()))?;
    }
    devices
        .iter()
        .map(|(name, _, _)| {
            let path = std::ffi::CString::new(format!("/dev/{name}")).expect("no NUL in a device name");
            // open_tree(OPEN_TREE_CLONE): a bind mount of the device not yet attached anywhere,
            // which survives pivot_root's detaching of the host's tree (a plain bind mount
            // after it would need the source in this mount namespace, and it no longer is).
            // SAFETY: a valid C string; the call returns a new descriptor or -1.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_open_tree,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    OPEN_TREE_CLONE | libc::O_CLOEXEC as u32,
                )
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error()).with_context(|| format!("open_tree({path:?})"));
            }
            // SAFETY: the descriptor was just made and is ours alone.
            Ok((*name, unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) }))
        })
        .collect()
}

const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 4;

/// Attach the devices cloned by [`before_pivot`] onto empty files in the container's `/dev`.
pub fn bind_host_devices(devices: Vec<(&'static str, OwnedFd)>) -> Result<()> {
    for (name, fd) in devices {
        let target = format!("/dev/{name}");
        std::fs::File::create(&target).with_context(|| format!("creating {target}"))?;
        let c_target = std::ffi::CString::new(target.clone()).expect("no NUL in a device name");
        // SAFETY: valid descriptors and C strings; move_mount touches no memory of ours otherwise.
        let moved = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                fd.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                c_target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if moved != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("move_mount of the host's {target}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_user_namespace_is_told_by_its_errno_not_its_words() {
        let worded_anyhow = Err::<(), _>(nix::errno::Errno::EPERM).context("making the namespace");
        assert!(user_namespaces_refused(&worded_anyhow.unwrap_err()));
        let io = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSPC)).context("unshare");
        assert!(user_namespaces_refused(&io));
        assert!(!user_namespaces_refused(&anyhow::anyhow!("unshare(CLONE_NEWUSER): EPERM")));
        let other = Err::<(), _>(nix::errno::Errno::ENOENT).context("unshare(CLONE_NEWUSER)");
        assert!(!user_namespaces_refused(&other.unwrap_err()));
    }
}
//@ end rootless
