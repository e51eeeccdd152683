//! The process chapter: running a program as a child process.
//!
//! A process asks the kernel for everything through system calls. Starting another program
//! takes three of them: `fork` makes a copy of the calling process, `execve` replaces the
//! copy's program with the new one, and `waitpid` tells the parent how the child ended.
//! Every container runtime, Docker's included, ends in exactly these calls.

use crate::exit::{self, CodedError};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
//@ exercise process imports
use nix::fcntl::OFlag;
use nix::sys::signal::kill;
use nix::sys::wait::WaitPidFlag;
use nix::unistd::{ForkResult, execve, fork, pipe2};
use std::ffi::CString;
//@ end process imports
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
pub mod channel;

/// What to run: the program with its arguments, and the whole environment it gets.
#[derive(Clone, Debug, Default)]
pub struct Command {
    pub argv: Vec<String>,
    /// `KEY=VALUE` strings, exactly as `execve` takes them.
    pub env: Vec<String>,
}

/// A child that has been forked, with the pipe on which it reports a failure to start.
pub struct Child {
    pub pid: Pid,
    report: File,
}

/// The signals minibox passes on to the command: whoever asks minibox to stop (a user's Ctrl-C,
/// a supervisor's SIGTERM) means the command.
pub const FORWARDED: [Signal; 6] =
    [Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTERM, Signal::SIGUSR1, Signal::SIGUSR2];

/// The signals minibox waits for: the forwarded ones, and SIGCHLD (a child changed state).
pub fn supervised_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for signal in FORWARDED {
        set.add(signal);
    }
    set
}

/// Block the supervised signals in this process. Blocked signals are not lost: they stay pending
/// until `sigwait` takes them. Blocking them before `fork` means none can slip past minibox
/// between the fork and the moment it starts waiting.
pub fn block_supervised_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&supervised_signals()), None).context("blocking signals")
}

/// Undo `block_supervised_signals`. A child must do this before `execve`: the signal mask
/// survives exec, and a command that cannot receive SIGTERM cannot be stopped.
pub fn unblock_supervised_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&supervised_signals()), None).context("unblocking signals")
}

// ANCHOR: spawn
/// Start `command` in a child process. In the child, `setup` runs first (later chapters set up
/// the container there), then the command replaces the child's program.
///
/// The child reports a failure to start (setup failed, command not found) on a pipe that closes
/// by itself when `execve` succeeds (`O_CLOEXEC`): see [`Child::started`].
pub fn spawn(command: &Command, setup: impl FnOnce() -> Result<()>) -> Result<Child> {
    //@ exercise process spawn
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    // SAFETY: minibox has one thread, so the child may do anything the parent could.
    match unsafe { fork() }.context("fork failed")? {
        ForkResult::Parent { child } => {
            drop(report_write);
            Ok(Child { pid: child, report: File::from(report_read) })
        }
        ForkResult::Child => {
            drop(report_read);
            child_main(command, setup, report_write)
        }
    }
    //@ stub
    //| let _ = (command, setup);
    //| todo!("chapter {chapter}, `spawn`: start a child process that runs `child_main`, and return a `Child` for it; `cargo xtask hint process spawn` helps (book: Chapter {chapter}, \"Fork and exec\")")
    //@ end process spawn
}
// ANCHOR_END: spawn

/// What the child writes on the report pipe once its set-up is done, just before `execve`: from
/// then on only `execve` can fail. A pipe that closes without it means the child died while being
/// set up (killed, for example, by a memory limit too small to start in).
pub const SET_UP_DONE: &str = ".";

/// The child's side of `spawn`: set up, then become the command. It never returns: on failure it
/// writes `CODE MESSAGE` to the report pipe and exits with that code.
pub fn child_main(command: &Command, setup: impl FnOnce() -> Result<()>, report: OwnedFd) -> ! {
    // A panic must not unwind into the parent's code that this child inherited with the fork.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Err(error) = die_with_parent(&report) {
            return CodedError::new(exit::RUNTIME_FAILED, format!("{error:#}"));
        }
        if let Err(error) = setup().and_then(|()| close_inherited_fds()).and_then(|()| restore_sigpipe()) {
            return CodedError::new(exit::RUNTIME_FAILED, format!("{error:#}"));
        }
        if let Err(errno) = nix::unistd::write(&report, SET_UP_DONE.as_bytes()) {
            return CodedError::new(exit::RUNTIME_FAILED, format!("reporting to minibox: {}", errno.desc()));
        }
        exec(command)
    }));
    let failure = outcome.unwrap_or_else(|_| {
        CodedError::new(exit::RUNTIME_FAILED, "the container's setup panicked (see above)".into())
    });
    let mut report = File::from(report);
    // If the parent is gone there is no one to tell; the exit code still says it.
    let _ = write!(report, "{} {}", failure.code, failure.message);
    // SAFETY: `_exit` ends the process without running the parent's atexit handlers or
    // flushing buffers that the fork copied from it.
    unsafe { libc::_exit(failure.code) }
}

// ANCHOR: die_with_parent
/// Make the kernel SIGKILL this process when minibox dies, so a container never outlives the
/// runtime that supervises it (and cleans up after it).
///
/// `PR_SET_PDEATHSIG` only covers a death that happens after the call: if minibox died between
/// the fork and here, no signal will ever come. `getppid` cannot tell (in a new PID namespace it
/// is 0 whoever the parent is), so ask the report pipe: its reading end belongs to minibox alone,
/// and `poll` flags the writing end with `POLLERR` once no reader is left.
pub fn die_with_parent(report: &OwnedFd) -> Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_PDEATHSIG)");
    }
    let mut poll = libc::pollfd { fd: report.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd, for the length given; a timeout of 0 only looks.
    if unsafe { libc::poll(&mut poll, 1, 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context("poll on the report pipe");
    }
    if poll.revents & libc::POLLERR != 0 {
        // SAFETY: see child_main: no one is left to report to.
        unsafe { libc::_exit(exit::RUNTIME_FAILED) }
    }
    Ok(())
}
// ANCHOR_END: die_with_parent

// ANCHOR: restore_sigpipe
/// Give the command the default action for SIGPIPE. Rust's runtime ignores SIGPIPE in minibox
/// (so that a write to a closed pipe is an error, not a death), and an ignored signal stays
/// ignored across `execve`: without this, `yes | head -n 1` in the container would leave `yes`
/// writing into a closed pipe, complaining, instead of dying quietly as it does on the host.
pub fn restore_sigpipe() -> Result<()> {
    // SAFETY: SIG_DFL is a valid disposition, and this process has one thread.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(std::io::Error::last_os_error()).context("signal(SIGPIPE, SIG_DFL)");
    }
    Ok(())
}
// ANCHOR_END: restore_sigpipe

// ANCHOR: close_inherited_fds
/// Mark every descriptor above 2 close-on-exec, so the command starts with stdin, stdout and
/// stderr only, whatever minibox inherited from whoever started it. A descriptor that reaches the
/// container is a door out of it: a directory descriptor from the host reaches any host file
/// through `/proc/self/fd/N/..`, `pivot_root` or not.
///
/// Marked, not closed: until `execve` the report pipe must stay open, and closing descriptors
/// that Rust values still own would make them close a reused number later.
pub fn close_inherited_fds() -> Result<()> {
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC it only sets flags.
    let marked =
        unsafe { libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if marked == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Kernels before 5.11 lack the call or the flag: mark each open descriptor ourselves.
        Errno::ENOSYS | Errno::EINVAL => {}
        errno => return Err(errno).context("close_range(3, ~0, CLOSE_RANGE_CLOEXEC)"),
    }
    for fd in open_fds()?.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: fcntl on a number that may be closed fails with EBADF; it touches no memory.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 && Errno::last() != Errno::EBADF {
            return Err(Errno::last()).with_context(|| format!("marking descriptor {fd} close-on-exec"));
        }
    }
    Ok(())
}
// ANCHOR_END: close_inherited_fds

/// Close every descriptor above 2 now (for a process that goes on without exec, such as the
/// container's init): the same call as [`close_inherited_fds`], without its flag.
pub fn close_fds_above_2() -> Result<()> {
    // SAFETY: close_range takes plain integers; this process owns no descriptor above 2 that
    // it uses afterwards.
    if unsafe { libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, 0) } == 0 {
        return Ok(());
    }
    if Errno::last() != Errno::ENOSYS {
        return Err(Errno::last()).context("close_range(3, ~0, 0)");
    }
    for fd in open_fds()?.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: as above; EBADF (the directory that listed them, already closed) is fine.
        if unsafe { libc::close(fd) } != 0 && Errno::last() != Errno::EBADF {
            return Err(Errno::last()).with_context(|| format!("closing descriptor {fd}"));
        }
    }
    Ok(())
}

/// This process's open descriptors: from /proc/self/fd, or every number below the limit on open
/// files when /proc is not there.
fn open_fds() -> Result<Vec<i32>> {
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        return Ok(entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect());
    }
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit, which `limit` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    Ok((0..i32::try_from(limit.rlim_cur).unwrap_or(i32::MAX).min(1 << 20)).collect())
}

// ANCHOR: exec
/// Replace this process's program with `command`. Returns only if that failed, with the exit
/// code a shell would use: 127 when the program does not exist, 126 when it cannot be run.
pub fn exec(command: &Command) -> CodedError {
    //@ exercise process exec
    let Some(program) = command.argv.first() else {
        return CodedError::new(exit::RUNTIME_FAILED, "no command given".into());
    };
    let path = match find_program(program, search_path(&command.env)) {
        Ok(path) => path,
        Err(error) => return error,
    };
    let (Ok(argv), Ok(envp)) = (c_strings(&command.argv), c_strings(&command.env)) else {
        return CodedError::new(exit::RUNTIME_FAILED, "an argument contains a NUL byte".into());
    };
    let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return CodedError::new(exit::RUNTIME_FAILED, "the program path contains a NUL byte".into());
    };
    if let Err(error) = unblock_supervised_signals() {
        return CodedError::new(exit::RUNTIME_FAILED, format!("{error:#}"));
    }
    let Err(errno) = execve(&c_path, &argv, &envp);
    exec_failure(&path, errno)
    //@ stub
    //| let _ = command;
    //| todo!("chapter {chapter}, `exec`: replace this process with the command; if that fails, return why, with the shell's exit code; `cargo xtask hint process exec` helps (book: Chapter {chapter}, \"Fork and exec\")")
    //@ end process exec
}
// ANCHOR_END: exec

/// Explain why `execve` failed, with the shell's exit code for it.
pub fn exec_failure(path: &Path, errno: Errno) -> CodedError {
    let shown = path.display();
    match errno {
        Errno::ENOENT => CodedError::new(exit::NOT_FOUND, format!("{shown}: no such file or directory")),
        Errno::EACCES => {
            CodedError::new(exit::NOT_EXECUTABLE, format!("{shown}: permission denied (is it executable?)"))
        }
        Errno::ENOEXEC => CodedError::new(
            exit::NOT_EXECUTABLE,
            format!("{shown}: exec format error (not a program this kernel can run)"),
        ),
        other => CodedError::new(exit::NOT_EXECUTABLE, format!("{shown}: cannot execute: {}", other.desc())),
    }
}

/// The `PATH` the command is looked up in: the command's own, or the usual default.
pub fn search_path(env: &[String]) -> &str {
    env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH)
}

/// The `PATH` a command gets when nothing sets one (Docker uses the same).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Find `program` the way a shell does: a name with a `/` is a path; any other name is looked up
/// in each directory of `path` in turn.
pub fn find_program(program: &str, path: &str) -> Result<PathBuf, CodedError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let mut not_executable = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        let Ok(meta) = std::fs::metadata(&candidate) else { continue };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        not_executable.get_or_insert(candidate);
    }
    Err(match not_executable {
        Some(found) => exec_failure(&found, Errno::EACCES),
        None => CodedError::new(exit::NOT_FOUND, format!("{program}: command not found (PATH={path})")),
    })
}

//@ exercise process c_strings
fn c_strings(strings: &[String]) -> Result<Vec<CString>, std::ffi::NulError> {
    strings.iter().map(|s| CString::new(s.as_bytes())).collect()
}
//@ end process c_strings

impl Child {
    /// Wait until the child's command is running. The report pipe closes after the child's
    /// [`SET_UP_DONE`] byte alone when `execve` succeeds; otherwise the child wrote why it failed,
    /// or died before its set-up was done, and has exited.
    pub fn started(mut self) -> Result<Pid, CodedError> {
        let mut report = String::new();
        if let Err(error) = self.report.read_to_string(&mut report) {
            return Err(CodedError::new(
                exit::RUNTIME_FAILED,
                format!("reading the child's report: {error}"),
            ));
        }
        let failure = match report.strip_prefix(SET_UP_DONE) {
            Some("") => return Ok(self.pid), // set up, and execve succeeded
            Some(exec_failure) => exec_failure,
            None if report.is_empty() => return Err(self.died_during_set_up()),
            None => &report, // the set-up failed
        };
        // The child has exited (or is about to): reap it so it leaves no zombie.
        let _ = waitpid(self.pid, None);
        let (code, message) = failure.split_once(' ').unwrap_or(("125", failure));
        Err(CodedError::new(code.parse().unwrap_or(exit::RUNTIME_FAILED), message.to_string()))
    }

    /// The pipe closed without a word: the child died before its set-up was done. That is a
    /// failure to start (125), not a command that ran and was killed.
    fn died_during_set_up(self) -> CodedError {
        let how = match waitpid(self.pid, None) {
            Ok(WaitStatus::Signaled(_, signal, _)) => format!("was killed by {signal}"),
            Ok(WaitStatus::Exited(_, code)) => format!("exited with code {code}"),
            other => format!("ended ({other:?})"),
        };
        CodedError::new(exit::RUNTIME_FAILED, format!("the container {how} while it was being set up"))
    }
}

// ANCHOR: wait
/// Wait for `child` to end, passing on every forwarded signal that minibox receives meanwhile.
/// The supervised signals must be blocked (see [`block_supervised_signals`]).
pub fn wait_for_exit(child: Pid) -> Result<WaitStatus> {
    //@ exercise process wait_for_exit
    let signals = supervised_signals();
    //@ begin namespaces
    let mut stop_requests = 0;
    //@ end namespaces
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal == Signal::SIGCHLD {
            // SIGCHLD says that some child changed state; WNOHANG asks about ours without blocking.
            match waitpid(child, Some(WaitPidFlag::WNOHANG)).context("waitpid")? {
                status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(status),
                _ => continue, // still running, or only stopped or continued
            }
        }
        //@ begin namespaces
        // A command that is PID 1 ignores signals it has no handler for (the namespaces chapter). A second
        // request to stop is the user insisting: SIGKILL cannot be ignored.
        let forwarded = if matches!(signal, Signal::SIGINT | Signal::SIGTERM) {
            stop_requests += 1;
            if stop_requests > 1 { Signal::SIGKILL } else { signal }
        } else {
            signal
        };
        //@ end namespaces
        //@ until namespaces
        //| let forwarded = signal;
        //@ end namespaces
        match kill(child, forwarded) {
            Ok(()) | Err(Errno::ESRCH) => {} // ESRCH: it has just exited; SIGCHLD will follow
            Err(errno) => return Err(errno).context("forwarding a signal"),
        }
    }
    //@ stub
    //| let _ = child;
    //| todo!("chapter {chapter}, `wait_for_exit`: wait until the child ends, passing on every signal minibox receives meanwhile; `cargo xtask hint process wait_for_exit` helps (book: Chapter {chapter}, \"Waiting, and passing signals on\")")
    //@ end process wait_for_exit
}
// ANCHOR_END: wait

// ANCHOR: exit_code
/// The exit code minibox reports for a child that ended with `status`: its own exit code, or
/// 128 + N when signal N killed it (what a shell reports, and what Docker does).
pub fn exit_code(status: WaitStatus) -> i32 {
    //@ exercise process exit_code
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => exit::SIGNAL_BASE + signal as i32,
        other => unreachable!("exit_code is only called for a child that has ended, not {other:?}"),
    }
    //@ stub
    //| let _ = status;
    //| todo!("chapter {chapter}, `exit_code`: turn how the child ended into the exit code a shell would report; `cargo xtask hint process exit_code` helps (book: Chapter {chapter}, \"Exit statuses\")")
    //@ end process exit_code
}
// ANCHOR_END: exit_code

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_a_slash_is_a_path() {
        assert_eq!(find_program("./x", "/bin").unwrap(), PathBuf::from("./x"));
    }

    #[test]
    fn a_missing_program_is_127_and_names_the_path_searched() {
        let error = find_program("no-such-program-here", "/nonexistent-dir").unwrap_err();
        assert_eq!(error.code, exit::NOT_FOUND);
        assert!(error.message.contains("PATH=/nonexistent-dir"), "{}", error.message);
    }

    #[test]
    fn the_default_path_is_used_when_none_is_set() {
        assert_eq!(search_path(&["HOME=/".into()]), DEFAULT_PATH);
        assert_eq!(search_path(&["PATH=/x".into()]), "/x");
    }
}
