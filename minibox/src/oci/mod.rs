//@ begin oci
//! The oci chapter: runc's interface. Engines (podman, containerd, CRI-O) do not run
//! containers themselves: they write a bundle (a root filesystem and a `config.json`) and call
//! an OCI runtime, one short-lived process per operation: `create`, `start`, `state`, `kill`,
//! `delete`. Between those calls the container lives on its own, its state in a directory
//! under `--root`.

pub mod cgroup;
pub mod seccomp;
pub mod setup;
pub mod spec;
pub mod state;
pub mod terminal;

use crate::exit::{self, CodedError};
use anyhow::{Context, Result, bail};
use nix::unistd::{ForkResult, Pid, fork};
use state::{Operation, Record, Status};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
//@ exercise oci imports
use std::os::fd::AsRawFd;
//@ end oci imports
use std::path::{Path, PathBuf};

/// What `create` was asked.
pub struct CreateArgs<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
}

/// CVE-2019-5736, for every minibox that joins a container (`create`, `exec`): no process of
/// the container may reach a writable handle on this binary. While minibox's code runs in the
/// container's PID namespace (the process parked at the fifo, an exec before its `execve`), its
/// `/proc/PID/exe` is this binary. Two walls. This process runs from a read-only view of its
/// binary: a read-only bind mount of it in a mount namespace of its own, re-executed through
/// it and then detached, so that whatever reaches the file through this process's
/// `/proc/PID/exe` meets a read-only mount (EROFS), even a process with CAP_SYS_PTRACE; a
/// binary already on a read-only mount needs nothing. And it is not dumpable, so that
/// `/proc/PID/exe` and `/proc/PID/fd` are closed to a process without CAP_SYS_PTRACE.
pub fn guard_own_binary() -> Result<()> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    use nix::sys::statvfs::{FsFlags, statvfs};
    let read_only =
        statvfs("/proc/self/exe").context("statvfs(/proc/self/exe)")?.flags().contains(FsFlags::ST_RDONLY);
    if !read_only {
        let exe = std::fs::read_link("/proc/self/exe").context("reading /proc/self/exe")?;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .context("unshare: a mount namespace to guard minibox's binary in")?;
        // Private first: a mount under a shared one would show up in the host's namespace too.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .context("making the mounts private")?;
        mount(Some(&exe), &exe, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .with_context(|| format!("bind-mounting {}", exe.display()))?;
        let read_only = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, &exe, None::<&str>, read_only, None::<&str>)
            .with_context(|| format!("making {} read-only", exe.display()))?;
        let binary = std::fs::File::open(&exe).with_context(|| format!("opening {}", exe.display()))?;
        // Detached, the mount lives on through `binary` and, after the exec, through the
        // process's exe; no path leads to it, so no one can remount it.
        umount2(&exe, MntFlags::MNT_DETACH).with_context(|| format!("detaching {}", exe.display()))?;
        let cstring = |s: std::ffi::OsString| std::ffi::CString::new(s.into_encoded_bytes());
        let argv: Vec<_> = std::env::args_os().map(cstring).collect::<Result<_, _>>()?;
        let env: Vec<_> = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                cstring(kv)
            })
            .collect::<Result<_, _>>()?;
        let errno = nix::unistd::fexecve(&binary, &argv, &env).unwrap_err();
        bail!("re-executing minibox from its read-only view: {}", errno.desc());
    }
    crate::security::set_dumpable(false)
}

/// `minibox create`: set the container up, with its process held before the user's program
/// until `start`, and return. The process outlives this minibox: whoever started minibox (a
/// shim, conmon) reaps it, or init does.
pub fn create(args: &CreateArgs) -> Result<i32> {
    guard_own_binary()?;
    state::check_id(args.id)?;
    let bundle = args
        .bundle
        .canonicalize()
        .with_context(|| format!("--bundle {}: no such directory", args.bundle.display()))?;
    let spec = spec::load(&bundle)?;
    match (spec.process.terminal, args.console_socket.is_some()) {
        (true, false) => {
            bail!("config.json: `process.terminal` needs --console-socket (where the terminal goes)")
        }
        (false, true) => bail!("--console-socket without `process.terminal`: there is no terminal to send"),
        _ => {}
    }
    let rootfs = bundle.join(&spec.root.path);
    let rootfs = rootfs
        .canonicalize()
        .with_context(|| format!("config.json: `root.path` {}: no such directory", rootfs.display()))?;
    let cgroups = cgroup::placement(&spec.linux.cgroups_path, args.id)?;
    std::fs::create_dir_all(args.root)
        .with_context(|| format!("creating the state root {}", args.root.display()))?;
    let dir = state::dir(args.root, args.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("container `{}` exists already (delete it first)", args.id)
        }
        Err(error) => return Err(error).with_context(|| format!("creating {}", dir.display())),
    }
    let created = create_in(args, &spec, &bundle, &rootfs, &cgroups);
    if created.is_err() {
        let _ = cgroup::remove(&cgroups);
        let _ = std::fs::remove_dir_all(&dir);
    }
    created
}

fn create_in(
    args: &CreateArgs,
    spec: &spec::Spec,
    bundle: &Path,
    rootfs: &Path,
    cgroups: &[PathBuf],
) -> Result<i32> {
    let fifo = state::fifo(args.root, args.id);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .with_context(|| format!("mkfifo {}", fifo.display()))?;
    // Writable by the container's user whoever it is (the umask took that away), with no
    // capability needed: the process may have none left when it opens the fifo.
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o622);
    std::fs::set_permissions(&fifo, mode).with_context(|| format!("chmod {}", fifo.display()))?;
    cgroup::create(cgroups, &spec.linux.resources)?;
    // The PID namespace, made or joined, is the only one that must be settled before the fork.
    if let Some(pid) = spec.linux.namespaces.iter().find(|n| n.kind == "pid") {
        if pid.path.is_empty() {
            crate::namespaces::new_pid_namespace_for_children()?;
        } else {
            let file = std::fs::File::open(&pid.path).with_context(|| format!("opening {}", pid.path))?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWPID)
                .with_context(|| format!("joining the pid namespace {}", pid.path))?;
        }
    }
    // The fifo, opened now (as a path only): after pivot_root its name is out of reach.
    let fifo_path = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context("opening the exec fifo")?;
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let command = crate::process::Command { argv: spec.process.args.clone(), env: spec.process.env.clone() };
    // Connected now: after pivot_root the socket's path is out of reach.
    let console = args
        .console_socket
        .map(|path| {
            std::os::unix::net::UnixStream::connect(path)
                .with_context(|| format!("connecting to --console-socket {}", path.display()))
        })
        .transpose()?;
    // SAFETY: minibox has one thread, so the child may do anything the parent could.
    let pid = match unsafe { fork() }.context("fork failed")? {
        ForkResult::Child => {
            drop(report_read);
            container_main(spec, rootfs, cgroups, &command, fifo_path, report_write, console.as_ref())
        }
        ForkResult::Parent { child } => child,
    };
    drop(report_write);
    drop(fifo_path);
    wait_until_created(pid, report_read)?;
    let record = Record {
        id: args.id.to_string(),
        pid: pid.as_raw(),
        start_time: state::start_time(pid.as_raw())
            .context("the container's process ended as it was created")?,
        bundle: bundle.to_path_buf(),
        annotations: serde_json::to_value(&spec.annotations)?,
        cgroups: cgroups.to_vec(),
        created: state::now_rfc3339(),
    };
    record.save(args.root)?;
    seccomp::save(&state::dir(args.root, args.id), spec.linux.seccomp.as_ref())?;
    if let Some(pid_file) = args.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    Ok(0)
}

/// Write the pid file as engines read it: the number alone, written whole (renamed into place).
fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    state::write_whole(path, pid.as_raw().to_string().as_bytes()).context("writing the pid file")
}

/// The parent's side: the child writes `.` once it is set up and waiting for `start`, or
/// `CODE MESSAGE` when it failed (and exits).
fn wait_until_created(pid: Pid, report: OwnedFd) -> Result<()> {
    let mut report = std::fs::File::from(report);
    let mut first = [0u8; 1];
    let got = report.read(&mut first).context("reading the container's report")?;
    if got == 1 && first == crate::process::SET_UP_DONE.as_bytes() {
        return Ok(());
    }
    let mut rest = String::new();
    let _ = report.read_to_string(&mut rest);
    let _ = nix::sys::wait::waitpid(pid, None);
    let message = format!("{}{rest}", String::from_utf8_lossy(&first[..got]));
    if message.is_empty() {
        bail!("the container died while it was being set up");
    }
    let (code, message) = message.split_once(' ').unwrap_or(("125", &message));
    Err(CodedError::new(code.parse().unwrap_or(exit::RUNTIME_FAILED), message.to_string()).into())
}

/// The container's process: set up, report, wait for `start` at the fifo, exec.
fn container_main(
    spec: &spec::Spec,
    rootfs: &Path,
    cgroups: &[PathBuf],
    command: &crate::process::Command,
    fifo: OwnedFd,
    report: OwnedFd,
    console: Option<&std::os::unix::net::UnixStream>,
) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let program = setup::set_up(spec, rootfs, cgroups, console)
            .and_then(|()| crate::process::close_inherited_fds())
            .and_then(|()| crate::process::restore_sigpipe())
            .map_err(|e| CodedError::new(exit::RUNTIME_FAILED, format!("{e:#}")))
            .and_then(|()| {
                // Look the program up now, so that `create` (not a silent `start`) says it is missing.
                let program = command.argv.first().cloned().unwrap_or_default();
                crate::process::find_program(&program, crate::process::search_path(&command.env))
            });
        if let Err(error) = program {
            return error;
        }
        if let Err(errno) = nix::unistd::write(&report, crate::process::SET_UP_DONE.as_bytes()) {
            return CodedError::new(exit::RUNTIME_FAILED, format!("reporting to minibox: {}", errno.desc()));
        }
        ended_by_signals_while_waiting();
        if let Err(error) = wait_for_start(&fifo) {
            // No one is listening on the report any more: the exit code says it.
            eprintln!("minibox: {error:#}");
            // SAFETY: see crate::process::child_main.
            unsafe { libc::_exit(exit::RUNTIME_FAILED) }
        }
        crate::process::exec(command)
    }));
    let failure = outcome
        .unwrap_or_else(|_| CodedError::new(exit::RUNTIME_FAILED, "the container's set-up panicked".into()));
    let mut report = std::fs::File::from(report);
    let _ = write!(report, "{} {}", failure.code, failure.message);
    // SAFETY: `_exit` ends the process without running the parent's atexit handlers.
    unsafe { libc::_exit(failure.code) }
}

/// A created container's process is the first of its PID namespace, and the kernel gives such a
/// process no signal it has no handler for (SIGKILL aside), so `kill ID TERM` would leave it
/// waiting. runc's waiting process dies of them: so does minibox's, by handlers that end it.
/// `execve` puts every handled signal back to its default, so the program never sees them.
fn ended_by_signals_while_waiting() {
    extern "C" fn end(signal: libc::c_int) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(exit::SIGNAL_BASE + signal) }
    }
    for signal in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
    ] {
        // SAFETY: the handler only calls `_exit`.
        unsafe { libc::signal(signal, end as *const () as libc::sighandler_t) };
    }
}

// ANCHOR: wait_for_start
/// In the container's process, set up: block until `start`. Opening a fifo for writing blocks
/// until someone opens it for reading, and `start` is that someone. `fifo` is an `O_PATH`
/// descriptor (the fifo's name is outside the new root); `/proc/self/fd/N` reopens it.
pub fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    //@ exercise oci wait_for_start
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the exec fifo ({path}) for writing"))?;
    // One byte says "released": `start` waits for it, so it knows the open went through.
    writer.write_all(b"0").context("writing to the exec fifo")?;
    Ok(())
    //@ stub
    //| let _ = fifo;
    //| todo!("chapter {chapter}, `wait_for_start`: block until `minibox start` releases this process through the exec fifo; `cargo xtask hint oci wait_for_start` helps (book: Chapter {chapter}, \"Holding the process until start\")")
    //@ end oci wait_for_start
}
// ANCHOR_END: wait_for_start

// ANCHOR: release
/// `start`'s side: open the fifo for reading (which lets the container's open through), read
/// its byte, and remove the fifo, which marks the container running. A process that died before
/// it opened the fifo never writes: give up once it is gone.
pub fn release(fifo: &Path, pid: i32, start_time: u64) -> Result<()> {
    //@ exercise oci release
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .with_context(|| format!("opening the exec fifo {}", fifo.display()))?;
    let mut byte = [0u8; 1];
    loop {
        let mut poll = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the length given.
        unsafe { libc::poll(&mut poll, 1, 100) };
        // Look before the read, decide after it: a process that writes its byte and ends
        // between the two has still been started.
        let alive = state::start_time(pid) == Some(start_time);
        match reader.read(&mut byte) {
            Ok(1) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error).context("reading the exec fifo"),
        }
        if !alive {
            bail!("the container's process ended before it could be started");
        }
    }
    std::fs::remove_file(fifo).with_context(|| format!("removing {}", fifo.display()))
    //@ stub
    //| let _ = (fifo, pid, start_time);
    //| todo!("chapter {chapter}, `release`: let the container's process through the exec fifo, and mark the container running; `cargo xtask hint oci release` helps (book: Chapter {chapter}, \"Holding the process until start\")")
    //@ end oci release
}
// ANCHOR_END: release

/// `minibox start ID`.
pub fn start(root: &Path, id: &str) -> Result<i32> {
    let record = Record::load(root, id)?;
    state::check_allowed(Operation::Start, record.status(root), false)?;
    release(&state::fifo(root, id), record.pid, record.start_time)?;
    Ok(0)
}

/// `minibox state ID`: the state JSON of the runtime spec.
pub fn print_state(root: &Path, id: &str) -> Result<i32> {
    let record = Record::load(root, id)?;
    println!("{}", serde_json::to_string_pretty(&record.to_json(root))?);
    Ok(0)
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(text: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(number) = text.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(number)
            .map_err(|_| anyhow::anyhow!("signal {text}: no such signal"));
    }
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("SIG") { name } else { format!("SIG{name}") };
    nix::sys::signal::Signal::from_str(&name)
        .map_err(|_| anyhow::anyhow!("signal {text}: no such signal (try TERM, KILL, 9)"))
}

/// `minibox kill ID [SIGNAL]`.
pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<i32> {
    let signal = parse_signal(signal)?;
    let record = Record::load(root, id)?;
    let status = record.status(root);
    let mut pids = Vec::new();
    // `kill --all` of an ended container signals what is left in its cgroup and succeeds, as
    // runc's does: containerd sends it after every stop, and takes a failure for a stop that
    // did not happen. The container's own pid is not signalled: it may be another process's now.
    if !(all && status == Status::Stopped) {
        // runc's words, which engines look for: containerd takes "container not running" for
        // a process already gone.
        state::check_allowed(Operation::Kill, status, false).context("container not running")?;
        pids.push(record.pid);
    }
    if all {
        pids.extend(cgroup::procs(&record.cgroups));
    }
    for pid in pids {
        match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(errno) => return Err(errno).with_context(|| format!("kill({pid}, {signal})")),
        }
    }
    Ok(0)
}

/// `minibox delete [--force] ID`: nothing of the container is left (its process, its cgroup,
/// its state); mounts lived in its mount namespace and went with it.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<i32> {
    let record = match Record::load(root, id) {
        Ok(record) => record,
        // `delete --force` of what does not exist succeeds, as runc's does (engines clean up twice).
        Err(_)
            if force && state::check_id(id).is_ok() && !state::dir(root, id).join("state.json").exists() =>
        {
            let _ = std::fs::remove_dir_all(state::dir(root, id));
            return Ok(0);
        }
        Err(error) => return Err(error),
    };
    let status = record.status(root);
    state::check_allowed(Operation::Delete, status, force)?;
    if status != Status::Stopped {
        let _ = nix::sys::signal::kill(Pid::from_raw(record.pid), nix::sys::signal::SIGKILL);
        for _ in 0..500 {
            if state::start_time(record.pid) != Some(record.start_time) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    cgroup::remove(&record.cgroups)?;
    std::fs::remove_dir_all(state::dir(root, id)).with_context(|| format!("removing the state of `{id}`"))?;
    Ok(0)
}

/// `minibox ps ID`: the processes in the container's cgroup (host pids), as a table or, for
/// containerd's shim, a JSON list.
pub fn ps(root: &Path, id: &str, json: bool) -> Result<i32> {
    let record = Record::load(root, id)?;
    let pids = cgroup::procs(&record.cgroups);
    if json {
        println!("{}", serde_json::to_string(&pids)?);
    } else {
        println!("PID");
        for pid in pids {
            println!("{pid}");
        }
    }
    Ok(0)
}

/// `minibox list`: the containers under the root.
pub fn list(root: &Path) -> Result<i32> {
    println!("{:<24} {:<8} {:<10} {:<22} BUNDLE", "ID", "PID", "STATUS", "CREATED");
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(0) };
    let mut ids: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    ids.sort();
    for id in ids {
        let Ok(record) = Record::load(root, &id) else { continue };
        let status = record.status(root);
        let pid = if status == Status::Stopped { 0 } else { record.pid };
        println!(
            "{id:<24} {pid:<8} {:<10} {:<22} {}",
            status.as_str(),
            record.created,
            record.bundle.display()
        );
    }
    Ok(0)
}

/// `minibox features`: what this runtime implements, in the runtime spec's features format.
pub fn features() -> Result<i32> {
    let capabilities: Vec<String> =
        crate::security::capabilities::NAMES[..41 - 1].iter().map(|n| format!("CAP_{n}")).collect();
    let features = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": [],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
            "noatime", "atime", "nodiratime", "diratime", "relatime", "norelatime", "strictatime", "bind", "rbind",
            "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"],
        "linux": {
            "namespaces": spec::NAMESPACES,
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": ["SCMP_ARCH_X86_64"],
                "knownFlags": seccomp::FLAGS,
                "supportedFlags": seccomp::FLAGS
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.minibox.honoured": spec::HONOURED.join(" ")}
    });
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(0)
}

/// `minibox spec`: write a starting config.json into the bundle directory.
pub fn write_spec(bundle: &Path) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} exists already (remove it first)", path.display());
    }
    std::fs::write(&path, serde_json::to_string_pretty(&spec::example())?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}

/// `minibox exec`: a further process in a running container's namespaces and cgroup.
pub fn exec(
    root: &Path,
    id: &str,
    process: spec::Process,
    pid_file: Option<&Path>,
    detach: bool,
    console_socket: Option<&Path>,
) -> Result<i32> {
    guard_own_binary()?;
    let record = Record::load(root, id)?;
    state::check_allowed(Operation::Exec, record.status(root), false)?;
    if process.args.is_empty() {
        bail!("exec needs a command: minibox exec ID -- COMMAND, or --process FILE");
    }
    match (process.terminal, console_socket.is_some()) {
        (true, false) => bail!("exec with a terminal needs --console-socket (where the terminal goes)"),
        (false, true) => bail!("--console-socket without a terminal (--tty, or `terminal` in --process)"),
        _ => {}
    }
    // As in create: connected before the fork, while its path is in view.
    let console = console_socket
        .map(|path| {
            std::os::unix::net::UnixStream::connect(path)
                .with_context(|| format!("connecting to --console-socket {}", path.display()))
        })
        .transpose()?;
    // The namespaces that differ from ours, joined in an order that works: mnt last (it changes
    // the root), pid before the fork (it takes effect for children).
    let mut namespaces = Vec::new();
    for kind in ["cgroup", "ipc", "uts", "net", "pid", "mnt"] {
        let theirs = format!("/proc/{}/ns/{kind}", record.pid);
        if std::fs::read_link(&theirs).ok() != std::fs::read_link(format!("/proc/self/ns/{kind}")).ok() {
            let file = std::fs::File::open(&theirs).with_context(|| format!("opening {theirs}"))?;
            namespaces.push((kind, file));
        }
    }
    if state::start_time(record.pid) != Some(record.start_time) {
        bail!("container `{id}` stopped as exec began");
    }
    for (kind, file) in namespaces.iter().filter(|(kind, _)| *kind == "pid") {
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWPID)
            .with_context(|| format!("joining the {kind} namespace"))?;
    }
    let command = crate::process::Command { argv: process.args.clone(), env: process.env.clone() };
    let profile = seccomp::saved(&state::dir(root, id))?;
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    // SAFETY: minibox has one thread, so the child may do anything the parent could.
    let pid = match unsafe { fork() }.context("fork failed")? {
        ForkResult::Child => {
            drop(report_read);
            let joined = cgroup::join(&record.cgroups).and_then(|()| {
                for (kind, file) in namespaces.iter().filter(|(kind, _)| *kind != "pid") {
                    nix::sched::setns(file, nix::sched::CloneFlags::empty())
                        .with_context(|| format!("joining the {kind} namespace"))?;
                }
                if let Some(socket) = &console {
                    let user = &process.user;
                    terminal::attach(socket, process.console_size, user.uid, user.gid)?;
                }
                seccomp::around(profile.as_ref(), process.no_new_privileges, || {
                    setup::become_process(&process)
                })
            });
            let failure = match joined.and_then(|()| crate::process::close_inherited_fds()) {
                Ok(()) => crate::process::exec(&command),
                Err(error) => CodedError::new(exit::RUNTIME_FAILED, format!("{error:#}")),
            };
            let mut report = std::fs::File::from(report_write);
            let _ = write!(report, "{} {}", failure.code, failure.message);
            // SAFETY: see container_main.
            unsafe { libc::_exit(failure.code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(report_write);
    // The pipe closes at the child's exec (close-on-exec) or carries why it failed.
    let mut failure = String::new();
    let _ = std::fs::File::from(report_read).read_to_string(&mut failure);
    if !failure.is_empty() {
        let _ = nix::sys::wait::waitpid(pid, None);
        let (code, message) = failure.split_once(' ').unwrap_or(("125", &failure));
        return Err(CodedError::new(code.parse().unwrap_or(exit::RUNTIME_FAILED), message.to_string()).into());
    }
    if let Some(pid_file) = pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if detach {
        return Ok(0);
    }
    let status = nix::sys::wait::waitpid(pid, None).context("waitpid")?;
    Ok(crate::process::exit_code(status))
}

/// The process of `minibox exec ID -- COMMAND` (no `--process`): the container's own, from its
/// config.json, as runc's exec takes it (its user, capabilities, rlimits, no new privileges,
/// environment and working directory), running COMMAND, with `--env` and `--cwd` on top.
pub fn exec_process(
    root: &Path,
    id: &str,
    command: Vec<String>,
    env: &[String],
    cwd: Option<String>,
    tty: bool,
) -> Result<spec::Process> {
    let record = Record::load(root, id)?;
    let mut process = spec::load(&record.bundle)?.process;
    process.args = command;
    for kv in env {
        crate::container::set_env(&mut process.env, kv);
    }
    if let Some(cwd) = cwd {
        process.cwd = cwd;
    }
    process.terminal = tty;
    process.console_size = None;
    Ok(process)
}

/// `exec --process FILE`: the `process` object of a config.json, checked as config.json is.
pub fn load_process(file: &Path) -> Result<spec::Process> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", file.display()))?;
    let honoured: Vec<&str> = spec::HONOURED.iter().filter_map(|p| p.strip_prefix("process.")).collect();
    spec::refuse_unhonoured(&value, "", &honoured).with_context(|| file.display().to_string())?;
    serde_json::from_value(value).with_context(|| format!("{}: a field has the wrong type", file.display()))
}

/// Write an error where the engine reads it: `--log FILE`, as JSON lines with `--log-format json`.
pub fn log_error(log: &Path, json: bool, message: &str) {
    let line = if json {
        serde_json::json!({"level": "error", "msg": message, "time": state::now_rfc3339()}).to_string()
    } else {
        format!("minibox: {message}")
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "{line}");
    }
}
//@ end oci
