//! The few system calls the bench needs that std does not offer: `wait4` (a child's exit status
//! with its resource usage, for peak memory), `unshare` and `mount` (the bench's private mount
//! namespace), `umount2`, `sync`.

use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags};
use std::io;
use std::path::Path;

/// How a child ended, with the resources it used.
#[derive(Clone, Copy, Debug)]
pub struct Ended {
    pub pid: i32,
    /// The exit code, or 128 + N for signal N.
    pub code: i32,
    /// The largest resident set of the child or of any descendant it waited for, in KiB:
    /// the kernel keeps the high-water mark across `execve` and passes it up on each wait.
    pub max_rss_kib: u64,
}

/// Wait for the child `pid` (or for any child, with -1) to end. nix has no `wait4`, the one
/// call that gives the resource usage of the very child waited for.
pub fn wait(pid: i32) -> Result<Ended> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes of their own types.
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got > 0 {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            return Ok(Ended { pid: got, code, max_rss_kib: usage.ru_maxrss.max(0) as u64 });
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            bail!("wait4({pid}): {error}");
        }
    }
}

/// Write every dirty page to disk (sync(2)): a lab must not compete with the writeback of
/// the previous one's files.
pub fn sync_disks() {
    nix::unistd::sync();
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Move this process into a mount namespace of its own whose mounts are all private: what is
/// mounted or unmounted here from now on (by the bench or by its children) never reaches the
/// host. The process must not have started other threads.
pub fn private_mount_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount --make-rprivate /")
}

/// Detach the mount at `path` (in the bench's own mount namespace: the host keeps it).
pub fn detach(path: &Path) -> Result<()> {
    nix::mount::umount2(path, MntFlags::MNT_DETACH).with_context(|| format!("umount -l {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn an_exit_code_and_the_peak_memory_are_reported() {
        let child = Command::new("/bin/sh").args(["-c", "exit 3"]).spawn().expect("starting sh");
        let ended = wait(child.id() as i32).expect("waiting for sh");
        let pid = child.id() as i32;
        drop(child); // reaped by wait4 above
        assert_eq!((ended.pid, ended.code), (pid, 3), "sh's pid and exit code");
        assert!(ended.max_rss_kib > 0, "a process uses some memory: {ended:?}");
    }

    #[test]
    fn death_by_a_signal_is_128_plus_its_number() {
        let child = Command::new("/bin/sh").args(["-c", "kill -KILL $$"]).spawn().expect("starting sh");
        let ended = wait(child.id() as i32).expect("waiting for sh");
        drop(child); // reaped by wait4 above
        assert_eq!(ended.code, 128 + libc::SIGKILL, "killed by SIGKILL");
    }
}
