//@ begin hardening
//! The hardening chapter. Namespaces decide what a container can see; this module decides what
//! it can do with what it sees. Root inside a container is the host's root, talking to the
//! host's kernel: without these steps it can load kernel modules, write `core_pattern`, or open
//! any host file by handle.
//!
//! [`apply`] runs once in the child, after the root filesystem is in place and just before the
//! command starts: it hides and freezes the dangerous parts of `/proc` and `/sys`, closes the
//! ways to a host device, reduces the capabilities to Docker's default set, sets `no_new_privs`
//! and, last of all, loads the seccomp filter.

pub mod capabilities;
pub mod devices;
pub mod paths;
pub mod seccomp;
pub mod syscalls;

use anyhow::{Context, Result};

/// What `--privileged`, `--cap-add`, `--cap-drop` and `--security-opt` asked for. The default
/// is the hardened container.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// `--privileged`: every capability, no filter, nothing masked. The explicit opt-out.
    pub privileged: bool,
    /// `--cap-add`: capabilities kept on top of the default set, as a bit mask.
    pub cap_add: u64,
    /// `--cap-drop`: capabilities removed from the default set, as a bit mask.
    pub cap_drop: u64,
    /// `--security-opt seccomp=unconfined`: no seccomp filter.
    pub seccomp_unconfined: bool,
}

impl Options {
    /// The capabilities the container keeps, as a bit mask (bit N is capability N).
    pub fn kept_capabilities(&self) -> u64 {
        if self.privileged {
            return capabilities::ALL;
        }
        (capabilities::DOCKER_DEFAULT | self.cap_add) & !self.cap_drop & capabilities::ALL
    }
}

// ANCHOR: apply
/// In the child, after the root filesystem is set up: take away what root inside the container
/// must not have. Each step needs something the next one removes, so the order is the lesson.
pub fn apply(options: &Options) -> Result<()> {
    //@ exercise hardening apply
    if options.privileged {
        return Ok(());
    }
    // Mounts first: they need CAP_SYS_ADMIN and the mount system calls, both gone below.
    paths::mask_and_protect()?;
    paths::close_device_paths()?;
    // No one inside may open this process's /proc entries (its exe is the host's minibox).
    set_dumpable(false)?;
    capabilities::drop_capabilities(options.kept_capabilities())?;
    set_no_new_privs()?;
    // Last: from here on only the system calls the filter allows, and execve is one of them.
    if !options.seccomp_unconfined {
        seccomp::install(options.kept_capabilities())?;
    }
    Ok(())
    //@ stub
    //| let _ = options;
    //| todo!("chapter {chapter}, `apply`: take away, in an order that works, what root inside the container must not have; `cargo xtask hint hardening apply` helps (book: Chapter {chapter}, \"Putting it in order\")")
    //@ end hardening apply
}
// ANCHOR_END: apply

/// `prctl(PR_SET_NO_NEW_PRIVS)`: from now on no `execve` can grant privileges (setuid bits and
/// file capabilities are ignored). It survives fork and exec and can never be unset.
pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_NO_NEW_PRIVS)");
    }
    Ok(())
}

/// `prctl(PR_SET_DUMPABLE)`: a process that is not dumpable has its /proc entries owned by root
/// and out of reach of ptrace checks that lack CAP_SYS_PTRACE. `execve` makes the command
/// dumpable again; what stays non-dumpable is minibox's own code (`--init`'s PID 1).
pub fn set_dumpable(dumpable: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(dumpable), 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_DUMPABLE)");
    }
    Ok(())
}
//@ end hardening
