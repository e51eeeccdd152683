//@ begin daemon
//! The shim: one small process per container, which the daemon starts and which outlives it.
//! It runs `minibox create` (the oci chapter's runtime), becomes the parent of the container's
//! process (a subreaper), and from then on holds the container's standard input, output and
//! error: it writes the output to the container's log, relays it to attached clients, and
//! writes the exit code when the process ends. containerd's shim does the same for runc;
//! conmon does it for podman.
//!
//! The daemon speaks to a shim over a Unix socket, one line first saying what it wants:
//! `attach out=1 err=1 in=1`, `logs out=1 err=0 tail=10`, `wait`, or `resize rows=24 cols=80`.

use super::stream::{self, STDERR, STDOUT, Wanted};
use anyhow::{Context, Result, bail};
use nix::unistd::{ForkResult, Pid, fork};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// `minibox shim`: started by the daemon, never by hand.
#[derive(clap::Args, Debug)]
pub struct ShimArgs {
    /// The container's directory (its bundle, log, exit record).
    #[arg(long)]
    pub dir: PathBuf,
    /// The OCI runtime's state root.
    #[arg(long)]
    pub oci_root: PathBuf,
    /// Where the shim listens for the daemon.
    #[arg(long)]
    pub socket: PathBuf,
    /// The log's size cap in bytes.
    #[arg(long)]
    pub log_max_size: u64,
    /// The container has a terminal.
    #[arg(long)]
    pub tty: bool,
    /// The container's standard input stays open for a client (`docker run -i`).
    #[arg(long)]
    pub stdin: bool,
    pub id: String,
}

/// The files of a container's directory that the shim and the daemon share.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("log")
}
pub fn exit_path(dir: &Path) -> PathBuf {
    dir.join("exit.json")
}

/// A container's log: frames appended to `log`, at most `max` bytes; when it is full it
/// becomes `log.1` and a new one begins.
pub struct LogFile {
    pub path: PathBuf,
    pub file: std::fs::File,
    pub size: u64,
    pub max: u64,
}

impl LogFile {
    pub fn open(path: &Path, max: u64) -> Result<LogFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the log {}", path.display()))?;
        let size = file.metadata()?.len();
        Ok(LogFile { path: path.to_path_buf(), file, size, max })
    }

    /// Where the log goes when it is full: `log.1`.
    pub fn previous(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_os_string();
        name.push(".1");
        PathBuf::from(name)
    }

    // ANCHOR: append
    /// Append one frame. When it would take the file past `max` bytes, the file is renamed
    /// to `log.1` (replacing the one before) and a new file begins with the frame: the log
    /// never holds more than twice `max` on disk, and never loses the latest output.
    pub fn append(&mut self, frame: &[u8]) -> Result<()> {
        //@ exercise daemon append
        if self.size > 0 && self.size + frame.len() as u64 > self.max {
            std::fs::rename(&self.path, Self::previous(&self.path))
                .with_context(|| format!("rotating {}", self.path.display()))?;
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?;
            self.size = 0;
        }
        self.file.write_all(frame).with_context(|| format!("writing {}", self.path.display()))?;
        self.size += frame.len() as u64;
        Ok(())
        //@ stub
        //| let _ = frame;
        //| todo!("chapter {chapter}, `append` (`LogFile::append`): append the frame, keeping the log under its cap; `cargo xtask hint daemon append` helps (book: Chapter {chapter}, \"Logs with a cap\")")
        //@ end daemon append
    }
    // ANCHOR_END: append
}

/// How the container ended, as the shim records it (`exit.json`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    /// Seconds since 1970.
    pub finished: u64,
}

impl Exit {
    pub fn load(dir: &Path) -> Option<Exit> {
        serde_json::from_slice(&std::fs::read(exit_path(dir)).ok()?).ok()
    }
}

/// `minibox shim`: report `ok` (or `CODE MESSAGE`) on standard output once the container is
/// created, then supervise it until it ends.
pub fn main(args: &ShimArgs) -> Result<i32> {
    // The daemon waits for this process; the work goes on in a child of a session of its own,
    // which no signal to the daemon's process group reaches and which outlives the daemon.
    // SAFETY: minibox has one thread here.
    if let ForkResult::Parent { .. } = unsafe { fork() }.context("fork failed")? {
        return Ok(0);
    }
    nix::unistd::setsid().context("setsid")?;
    // Its name in `ps -e` and `pgrep`.
    let _ = nix::sys::prctl::set_name(c"minibox-shim");
    // Orphans (the container's process, once `create` exits) become our children.
    crate::security::capabilities::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0)
        .context("becoming a subreaper")?;
    let mut report = std::io::stdout();
    let supervised = match create(args) {
        Ok(supervised) => supervised,
        Err(error) => {
            let code = crate::exit::code_of(&error);
            let _ = writeln!(report, "{code} {}", crate::log::printable(&format!("{error:#}")));
            return Ok(code);
        }
    };
    let _ = writeln!(report, "ok");
    let _ = report.flush();
    // The daemon reads until the pipe closes: stop holding it (and the daemon's stderr).
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null).and_then(|()| nix::unistd::dup2_stdout(&null)).context("dup2")?;
    nix::unistd::dup2_stderr(&null).context("dup2")?;
    supervised.run(args)
}

/// A created container under supervision.
struct Supervised {
    pid: Pid,
    pidfd: OwnedFd,
    listener: UnixListener,
    /// The container's input: the pipe's writing end, or the terminal's master.
    input: Option<std::fs::File>,
    /// Its output: (stream, reading end); with a terminal, the master once, as stdout.
    outputs: Vec<(u8, std::fs::File)>,
    master: Option<std::fs::File>,
    log: LogFile,
}

/// Run `minibox create` with the container's standard streams ours to hold.
fn create(args: &ShimArgs) -> Result<Supervised> {
    use std::process::Stdio;
    let dir = &args.dir;
    let log = LogFile::open(&log_path(dir), args.log_max_size)?;
    let mut command = std::process::Command::new("/proc/self/exe");
    command.arg("--root").arg(&args.oci_root).arg("--log").arg(dir.join("create.log"));
    command.arg("create").arg("--bundle").arg(dir.join("bundle")).arg("--pid-file").arg(dir.join("pid"));
    let console_path = PathBuf::from(format!("{}.console", args.socket.display()));
    let mut console = None;
    let (mut input, mut outputs) = (None, Vec::new());
    if args.tty {
        let _ = std::fs::remove_file(&console_path);
        console = Some(UnixListener::bind(&console_path).context("binding the console socket")?);
        command.arg("--console-socket").arg(&console_path);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    } else {
        if args.stdin {
            let (read, write) = pipe()?;
            command.stdin(Stdio::from(read));
            input = Some(std::fs::File::from(write));
        } else {
            command.stdin(Stdio::null());
        }
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        command.stdout(Stdio::from(out_write)).stderr(Stdio::from(err_write));
        outputs.push((STDOUT, std::fs::File::from(out_read)));
        outputs.push((STDERR, std::fs::File::from(err_read)));
    }
    command.arg(&args.id);
    let mut child = command.spawn().context("running minibox create")?;
    // Our copies of the container's ends go now, or its output would never end.
    drop(command);
    let status = child.wait().context("waiting for minibox create")?;
    let created = (|| {
        if !status.success() {
            let logged = std::fs::read_to_string(dir.join("create.log")).unwrap_or_default();
            let message = logged.lines().last().unwrap_or("minibox create failed").to_string();
            let message = message.strip_prefix("minibox: ").unwrap_or(&message).to_string();
            let code = status.code().unwrap_or(crate::exit::RUNTIME_FAILED);
            return Err(crate::exit::CodedError::new(code, message).into());
        }
        let pid: i32 = std::fs::read_to_string(dir.join("pid"))
            .context("reading the pid file")?
            .trim()
            .parse()
            .context("the pid file holds no number")?;
        let pid = Pid::from_raw(pid);
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        if pidfd < 0 {
            return Err(std::io::Error::last_os_error()).context("pidfd_open");
        }
        // SAFETY: the descriptor was just made, for us alone.
        let pidfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd as i32) };
        let mut master = None;
        if let Some(console) = &console {
            // `create` connected and sent the master before it exited: it waits in the backlog.
            let (connection, _) = console.accept().context("accepting the console")?;
            let fd = stream::receive_fd(&connection)?;
            let file = std::fs::File::from(fd);
            input = Some(file.try_clone()?);
            outputs.push((STDOUT, file.try_clone()?));
            master = Some(file);
        }
        let _ = std::fs::remove_file(&args.socket);
        let listener = UnixListener::bind(&args.socket).context("binding the shim's socket")?;
        Ok(Supervised {
            pid,
            pidfd,
            listener,
            input: input.take(),
            outputs: std::mem::take(&mut outputs),
            master,
            log,
        })
    })();
    let _ = std::fs::remove_file(&console_path);
    created
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")
}

/// A connection from the daemon.
struct Client {
    stream: UnixStream,
    /// Output it wants (none for `wait`).
    wanted: Option<Wanted>,
    /// It sends the container's standard input, until it shuts its side down.
    stdin: bool,
    reading: bool,
    /// Its connection failed: it is dropped at the end of the turn.
    gone: bool,
}

impl Client {
    fn new(stream: UnixStream, wanted: Option<Wanted>, stdin: bool) -> Client {
        Client { stream, wanted, stdin, reading: true, gone: false }
    }
}

impl Supervised {
    fn run(mut self, args: &ShimArgs) -> Result<i32> {
        let mut clients: Vec<Client> = Vec::new();
        let mut open: Vec<bool> = vec![true; self.outputs.len()];
        let mut buffer = vec![0u8; 32 * 1024];
        let code = loop {
            let mut fds =
                vec![readable(self.pidfd.as_raw_fd(), true), readable(self.listener.as_raw_fd(), true)];
            fds.extend(self.output_fds(&open));
            fds.extend(clients.iter().map(|c| readable(c.stream.as_raw_fd(), c.reading)));
            // SAFETY: `fds` is a valid array of pollfd, of the length given.
            if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error).context("poll");
            }
            let outputs_start = 2;
            let clients_start = outputs_start + self.outputs.len();
            // New clients first: one that attached before `start` must see the first output,
            // which may have arrived in the same turn.
            let polled = clients.len();
            if fds[1].revents != 0
                && let Ok((connection, _)) = self.listener.accept()
                && let Some(client) = self.greet(connection)
            {
                clients.push(client);
            }
            self.relay_ready(&fds[outputs_start..clients_start], &mut open, &mut buffer, &mut clients);
            for (i, client) in clients.iter_mut().enumerate().take(polled) {
                if fds[clients_start + i].revents != 0
                    && !client.gone
                    && !self.take_input(client, &mut buffer)
                {
                    client.gone = true;
                }
            }
            clients.retain(|client| !client.gone);
            if fds[0].revents != 0 {
                let status = nix::sys::wait::waitpid(self.pid, None).context("waitpid")?;
                break crate::process::exit_code(status);
            }
        };
        // The last output: the pipes close once every process of the container is gone, which
        // ends of its PID 1 brings about; a terminal's master reads EIO.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while open.iter().any(|o| *o) && std::time::Instant::now() < deadline {
            let mut fds = self.output_fds(&open);
            // SAFETY: as above.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
            self.relay_ready(&fds, &mut open, &mut buffer, &mut clients);
        }
        let exit = Exit { code, finished: crate::oci::state::now_unix() };
        crate::oci::state::write_whole(&exit_path(&args.dir), &serde_json::to_vec(&exit)?)?;
        // Closing the connections tells every waiting client that the container is gone.
        drop(clients);
        let _ = std::fs::remove_file(&args.socket);
        // Anything else that was reparented to us.
        while let Ok(status) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        Ok(0)
    }

    /// The outputs to poll: those still open.
    fn output_fds(&self, open: &[bool]) -> Vec<libc::pollfd> {
        self.outputs.iter().zip(open).map(|((_, file), open)| readable(file.as_raw_fd(), *open)).collect()
    }

    /// Relay every output that `fds` (one per output) found ready, noting those that ended.
    fn relay_ready(
        &mut self,
        fds: &[libc::pollfd],
        open: &mut [bool],
        buffer: &mut [u8],
        clients: &mut [Client],
    ) {
        for (i, polled) in fds.iter().enumerate() {
            if polled.revents != 0 {
                open[i] = self.relay(i, buffer, clients);
            }
        }
    }

    /// Move what output `i` has to the log and the clients; false once it has ended.
    fn relay(&mut self, i: usize, buffer: &mut [u8], clients: &mut [Client]) -> bool {
        let (stream, file) = &mut self.outputs[i];
        let stream = *stream;
        let got = match file.read(buffer) {
            Ok(0) => return false,
            Ok(got) => got,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => return true,
            // EIO: the terminal's other side is closed.
            Err(_) => return false,
        };
        let payload = &buffer[..got];
        // A full disk must not stop the container: its output still reaches the clients.
        let _ = self.log.append(&stream::encode_frame(stream, payload));
        for client in clients.iter_mut().filter(|c| !c.gone) {
            let Some(wanted) = client.wanted else { continue };
            let mut out = Vec::new();
            wanted.render(stream, payload, &mut out);
            if !out.is_empty() && client.stream.write_all(&out).is_err() {
                client.gone = true;
            }
        }
        true
    }

    /// Input from a client; false when the client is gone.
    fn take_input(&mut self, client: &mut Client, buffer: &mut [u8]) -> bool {
        match client.stream.read(buffer) {
            Ok(0) | Err(_) if client.stdin => {
                // The end of the client's input is the end of the container's (`-i` without
                // a terminal: `cat` then ends); the client still reads the output.
                if self.master.is_none() {
                    self.input = None;
                }
                client.reading = false;
                true
            }
            Ok(0) | Err(_) => false,
            Ok(got) => {
                if client.stdin
                    && let Some(input) = &mut self.input
                    && input.write_all(&buffer[..got]).is_err()
                {
                    self.input = None;
                }
                true
            }
        }
    }

    /// Read the client's first line and do what it asks.
    fn greet(&mut self, connection: UnixStream) -> Option<Client> {
        let _ = connection.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        // Byte by byte: what follows the line (a client's input) is not ours to take.
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 256 && (&connection).read(&mut byte).ok()? == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let _ = connection.set_read_timeout(None);
        let line = String::from_utf8_lossy(&line).into_owned();
        let mut words = line.split_whitespace();
        let verb = words.next()?;
        let options: std::collections::HashMap<&str, &str> =
            words.filter_map(|w| w.split_once('=')).collect();
        let on = |key: &str| options.get(key) == Some(&"1");
        let wanted = Wanted { stdout: on("out"), stderr: on("err"), raw: self.master.is_some() };
        match verb {
            "attach" => Some(Client::new(connection, Some(wanted), on("in"))),
            "logs" => {
                let tail = options.get("tail").and_then(|t| t.parse().ok());
                let previous = LogFile::previous(&self.log.path);
                let history = stream::replay(&[&previous, &self.log.path], wanted, tail).ok()?;
                let mut client = Client::new(connection, Some(wanted), false);
                client.stream.write_all(&history).ok()?;
                Some(client)
            }
            "wait" => Some(Client::new(connection, None, false)),
            "resize" => {
                let rows = options.get("rows").and_then(|v| v.parse().ok()).unwrap_or(24);
                let cols = options.get("cols").and_then(|v| v.parse().ok()).unwrap_or(80);
                if let Some(master) = &self.master {
                    set_size(master.as_fd(), rows, cols);
                }
                None
            }
            _ => None,
        }
    }
}

/// A pollfd waiting for input on `fd`, or one poll skips (-1) when `wanted` is false.
fn readable(fd: std::os::fd::RawFd, wanted: bool) -> libc::pollfd {
    libc::pollfd { fd: if wanted { fd } else { -1 }, events: libc::POLLIN, revents: 0 }
}

/// The terminal's size, which full-screen programs ask for.
pub fn set_size(master: std::os::fd::BorrowedFd, rows: u16, cols: u16) {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize, which `size` is.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

/// Refuse a shim socket path that the kernel would cut short (108 bytes with the NUL).
pub fn check_socket_path(path: &Path) -> Result<()> {
    if path.as_os_str().len() + ".console".len() >= 108 {
        bail!("{}: too long for a Unix socket (use a shorter --data directory)", path.display());
    }
    Ok(())
}
//@ end daemon
