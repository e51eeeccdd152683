//@ begin namespaces
//! The namespaces chapter: namespaces, the kernel's answer to "what can this process see?".
//!
//! A namespace wraps one kind of global resource (hostnames, process IDs, IPC objects, mounts,
//! network devices, users, cgroups, clocks) so that the processes inside it see their own
//! instance. minibox gives the container new UTS, PID and IPC namespaces here; the rootfs chapter adds a
//! mount namespace.

use anyhow::{Context, Result, bail};
use std::io::Read;
//@ exercise namespaces imports
use nix::sched::{CloneFlags, unshare};
use nix::unistd::sethostname;
//@ end namespaces imports

/// A container's id: 12 random hex digits, as Docker's short ids. It names the container's
/// hostname (unless `--hostname` is given), and in later chapters its cgroup and directories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerId(String);

impl ContainerId {
    pub fn random() -> Result<ContainerId> {
        let mut bytes = [0u8; 6];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("reading /dev/urandom for a container id")?;
        Ok(ContainerId(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest hostname the kernel accepts (`HOST_NAME_MAX`).
pub const HOSTNAME_MAX: usize = 64;

/// Check a hostname before anything is created (RFC 1123: letters, digits, `-` and `.`).
pub fn check_hostname(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if name.is_empty() || name.len() > HOSTNAME_MAX || !ok_chars || name.starts_with('-') {
        bail!(
            "--hostname `{name}` is not a valid hostname: use up to {HOSTNAME_MAX} letters, digits, `-` and `.`"
        );
    }
    Ok(())
}

// ANCHOR: pid_namespace
/// Make the next process that minibox forks the first process, PID 1, of a new PID namespace.
///
/// `unshare(CLONE_NEWPID)` does not move the caller: a process keeps its PID namespace for life.
/// It changes the namespace the caller's *children* are born into. So minibox calls it in the
/// parent, just before `fork`.
pub fn new_pid_namespace_for_children() -> Result<()> {
    //@ exercise namespaces new_pid_namespace_for_children
    unshare(CloneFlags::CLONE_NEWPID).context("unshare(CLONE_NEWPID): creating a PID namespace")
    //@ stub
    //| todo!("chapter {chapter}, `new_pid_namespace_for_children`: make the children that minibox forks from now on start in a new PID namespace; `cargo xtask hint namespaces new_pid_namespace_for_children` helps (book: Chapter {chapter}, \"PID namespaces\")")
    //@ end namespaces new_pid_namespace_for_children
}
// ANCHOR_END: pid_namespace

//@ begin network
/// This process's own PID namespace, kept open to come back to (see
/// [`restore_pid_namespace_for_children`]).
pub fn own_pid_namespace() -> Result<std::fs::File> {
    std::fs::File::open("/proc/self/ns/pid").context("opening /proc/self/ns/pid")
}

/// Make minibox's later children start in minibox's own PID namespace again. Once the
/// container's first process has been forked into the new namespace, every later fork would go
/// there too, and after that process ends the namespace takes no new process (fork fails with
/// ENOMEM): the programs minibox runs itself (`nft`, the network chapter) belong on the host's side.
pub fn restore_pid_namespace_for_children(own: &std::fs::File) -> Result<()> {
    //@ begin rootless
    // A rootless minibox may not go back (its own PID namespace belongs to the host's user
    // namespace, where it has no CAP_SYS_ADMIN), and needs not: it runs no program of its own later.
    if crate::rootless::active() {
        return Ok(());
    }
    //@ end rootless
    nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID)
        .context("setns(CLONE_NEWPID): back to minibox's own PID namespace for its children")
}

//@ end network
// ANCHOR: enter
/// In the child, between fork and exec: move into new UTS and IPC namespaces, then give the
/// container its hostname. Only the new UTS namespace changes; the host keeps its name.
pub fn enter(hostname: &str) -> Result<()> {
    //@ exercise namespaces enter
    unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
        .context("unshare(CLONE_NEWUTS | CLONE_NEWIPC)")?;
    sethostname(hostname).with_context(|| format!("sethostname({hostname})"))?;
    Ok(())
    //@ stub
    //| let _ = hostname;
    //| todo!("chapter {chapter}, `enter`: give this process a hostname and IPC objects of its own, and set the hostname; `cargo xtask hint namespaces enter` helps (book: Chapter {chapter}, \"UTS and IPC namespaces\")")
    //@ end namespaces enter
}
// ANCHOR_END: enter

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_hex_digits_and_differ() {
        let a = ContainerId::random().unwrap();
        let b = ContainerId::random().unwrap();
        assert_eq!(a.as_str().len(), 12);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn hostnames_are_checked() {
        assert!(check_hostname("web-1.example").is_ok());
        for bad in ["", "-x", "a b", "x/y", &"a".repeat(65)] {
            assert!(check_hostname(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
//@ end namespaces
