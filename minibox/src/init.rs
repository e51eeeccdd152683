//@ begin namespaces
//! The namespaces chapter: `minibox run --init`, a small init to stand in front of the command as PID 1.
//!
//! The first process of a PID namespace has two duties that ordinary processes do not:
//!
//! - **It inherits every orphan.** A process whose parent dies is re-parented to PID 1 of its
//!   namespace, and when it ends it stays a zombie until PID 1 reaps it.
//! - **Signals without a handler do not reach it.** The kernel protects PID 1 from signals it has
//!   not asked for; only SIGKILL and SIGSTOP from an ancestor namespace get through. A command
//!   that never expected to be PID 1 therefore ignores a polite SIGTERM.
//!
//! `--init` makes the container's PID 1 this small loop instead, with the command as its child,
//! as `docker run --init` does with `tini`.

use crate::process;
use anyhow::{Context, Result};
use nix::sys::wait::WaitStatus;
use nix::unistd::{ForkResult, Pid, fork};
//@ exercise namespaces imports
use crate::process::supervised_signals;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
//@ end namespaces imports

/// Split in two: the child returns (it goes on to exec the command, as PID 2); this process
/// stays behind as the container's PID 1 and never returns.
pub fn fork_init() -> Result<()> {
    // SAFETY: minibox has one thread, so the child may do anything the parent could.
    match unsafe { fork() }.context("fork for --init")? {
        ForkResult::Child => Ok(()),
        ForkResult::Parent { child } => {
            // PID 1 needs no open files but its standard streams; in particular it must not hold
            // the start-up report pipe, or minibox would wait for it to close until the end.
            let code = match process::close_fds_above_2().and_then(|()| supervise(child)) {
                Ok(status) => process::exit_code(status),
                Err(error) => {
                    eprintln!("minibox init: {error:#}");
                    crate::exit::RUNTIME_FAILED
                }
            };
            std::process::exit(code)
        }
    }
}

// ANCHOR: supervise
/// PID 1's loop: pass every forwarded signal on to `command`, reap every child that ends (the
/// command and any orphan), and return the command's status once it has ended.
pub fn supervise(command: Pid) -> Result<WaitStatus> {
    //@ exercise namespaces supervise
    let signals = supervised_signals();
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal != Signal::SIGCHLD {
            match kill(command, signal) {
                Ok(()) | Err(Errno::ESRCH) => continue,
                Err(errno) => return Err(errno).context("forwarding a signal"),
            }
        }
        // One SIGCHLD can stand for many children: reap until none is left to reap.
        let mut command_status = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                    if pid == command {
                        command_status = Some(status);
                    }
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) => continue, // stopped or continued: not an ending
                Err(errno) => return Err(errno).context("waitpid"),
            }
        }
        if let Some(status) = command_status {
            return Ok(status);
        }
    }
    //@ stub
    //| let _ = command;
    //| todo!("chapter {chapter}, `supervise`: run as PID 1 until the command ends: pass signals on to it, and reap every child that ends; `cargo xtask hint namespaces supervise` helps (book: Chapter {chapter}, \"The duties of PID 1\")")
    //@ end namespaces supervise
}
// ANCHOR_END: supervise
//@ end namespaces
