//! What every graded test shares: running this chapter's `minibox`, the root check, fixtures,
//! the leak check after every run, and failure reports that tell a learner what to do.
//!
//! Whatever the code under test does, a test ends in bounded time. Every run has a time limit;
//! when minibox ends, or its time is up, every process of the run is killed *before* anything
//! waits for minibox's output (a process left running could hold it open forever), and what
//! was still running is reported. The run's processes are found without relying on the code
//! under test: see [`RunProcesses`].
//!
//! The same test files grade every snapshot (`chapter-NN` and `solution-NN`); `env!` values
//! below are those of the crate being tested.
#![allow(dead_code)] // each test file uses its own part of this module

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Display;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

// The network chapter: test hosts (network namespaces of the tests' own) and the leak check's view of a network.
pub mod network;
// The rootless chapter: an ordinary user made for a test, to run minibox as.
pub mod rootless;

/// The package under test, for example `chapter-03`.
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");
/// Its `minibox` binary.
pub const MINIBOX: &str = env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME")));
/// The static probe built by `tests/support/build.rs`.
pub const PROBE: &str = env!("MINIBOX_PROBE");

/// The book sections that this module's own reports point to.
const FORK_AND_EXEC: &str = "process, \"Fork and exec\"";
const SIGNALS: &str = "process, \"Waiting, and passing signals on\"";

/// How long one minibox run may take: 60 s, or `MINIBOX_TEST_TIMEOUT` seconds. Once a run of
/// this test binary has used up its time, the code under test is known to hang, and later runs
/// get at most [`AFTER_A_TIMEOUT`]: a chapter's tests then end in minutes, not in an hour.
pub fn run_timeout() -> Duration {
    let configured = std::env::var("MINIBOX_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(Duration::from_secs(60), Duration::from_secs_f64);
    if A_RUN_TIMED_OUT.load(Ordering::Relaxed) { configured.min(AFTER_A_TIMEOUT) } else { configured }
}

/// The limit of every run after one has timed out (see [`run_timeout`]).
pub const AFTER_A_TIMEOUT: Duration = Duration::from_secs(10);
static A_RUN_TIMED_OUT: AtomicBool = AtomicBool::new(false);

/// How long minibox's stdout and stderr may stay open once every process of the run is dead.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// The chapter of the snapshot under test (`chapter-03` and `solution-03` are both 3).
pub fn snapshot_chapter() -> u32 {
    PACKAGE.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(u32::MAX)
}

/// Does the snapshot under test have chapter `slug`'s code (written, or still a stub)?
pub fn snapshot_has(slug: &str) -> bool {
    let chapter = fixtures::chapters::by_slug(slug);
    snapshot_chapter() >= chapter.unwrap_or_else(|| panic!("no chapter `{slug}` in chapters.txt")).number
}

/// Fail the test with a report a learner can act on.
#[track_caller]
pub fn fail(expected: impl Display, seen: impl Display, cause: &str, book: &str) -> ! {
    let seen = seen.to_string();
    // An unwritten stub explains itself better than any guess of ours.
    let stub = seen.split("not yet implemented: ").nth(1).and_then(|rest| rest.lines().next());
    // A stub names its own section at its end ("(book: CHAPTER, SECTION)"): send the learner there,
    // even when an earlier chapter's test is the one that met the stub.
    let stub_book = stub.and_then(|message| message.rsplit_once("(book: ")).map(|(_, rest)| rest);
    let stub_book = stub_book.map(|rest| rest.trim_end().trim_end_matches(')').to_string());
    let stub = stub.map(|message| format!("minibox stopped at a todo!() stub: {message}"));
    let cause = stub.as_deref().unwrap_or(cause);
    // Tests cite by slug (`rootfs, "Pivot"`), which the learner reads as `Chapter 3, "Pivot"`.
    let book = stub_book.unwrap_or_else(|| fixtures::chapters::cite(book));
    panic!(
        "\n  expected:     {expected}\n  seen:         {seen}\n  likely cause: {cause}\n  read:         book, {book}\n"
    )
}

/// Check `ok`; when it is false, fail with `expected`, `seen`, the likely cause and the book section.
#[track_caller]
pub fn ensure(ok: bool, expected: impl Display, seen: impl Display, cause: &str, book: &str) {
    if !ok {
        fail(expected, seen, cause, book);
    }
}

/// One test's private corner of the machine: a temporary directory (minibox's state directory
/// and the test's files), removed when the test ends.
pub struct Sandbox {
    pub dir: PathBuf,
    /// minibox's state directory (`MINIBOX_ROOT`) for this test.
    pub state: PathBuf,
    /// The network chapter: the network namespace minibox runs in (a test host), or the test's own.
    pub network_namespace: Option<PathBuf>,
    /// The rootless chapter: run minibox as this user (`runuser -u`), from this copy of it.
    pub run_as: Option<(String, PathBuf)>,
    /// The network chapter: the test host that `run`s go to when `network_namespace` names none
    /// (see `start_with`), made at the first; removed with the sandbox.
    own_host: std::sync::OnceLock<network::TestHost>,
}

/// A new directory in the system's temporary directory, with a name nobody can predict and
/// mode 0700 (mkdtemp(3)), so that no other user can plant files or links in it first.
pub fn private_temp_dir(prefix: &str) -> PathBuf {
    let template = std::env::temp_dir().join(format!("{prefix}XXXXXX"));
    let mut bytes = template.into_os_string().into_vec();
    bytes.push(0);
    // SAFETY: `bytes` is a writable, NUL-terminated template ending in XXXXXX, as mkdtemp requires.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        let error = std::io::Error::last_os_error();
        panic!("creating a private directory in {}: {error}", std::env::temp_dir().display());
    }
    bytes.pop();
    let dir = PathBuf::from(OsString::from_vec(bytes));
    dir.canonicalize().unwrap_or(dir)
}

impl Sandbox {
    /// A fresh sandbox. From the namespaces chapter on, minibox needs root: without it the test stops here
    /// with one clear message rather than a wall of permission errors.
    pub fn new() -> Sandbox {
        require_root();
        cgroups_of_our_own();
        let dir = private_temp_dir("minibox-test-");
        let state = dir.join("state");
        Sandbox { dir, state, network_namespace: None, run_as: None, own_host: std::sync::OnceLock::new() }
    }

    /// The rootless chapter: run minibox as `user` from now on. The sandbox becomes the user's (its
    /// state directory and files), and minibox is copied into it, where the user can run it.
    pub fn run_as_user(mut self, user: &rootless::TestUser) -> Sandbox {
        let copy = self.dir.join("minibox");
        std::fs::copy(MINIBOX, &copy).expect("copying minibox into the sandbox");
        std::fs::create_dir_all(&self.state).expect("creating the state directory");
        user.give(&self.dir);
        self.run_as = Some((user.name.clone(), copy));
        self
    }

    /// The network chapter: run minibox inside `host`'s network namespace from now on.
    pub fn in_test_host(mut self, host: &network::TestHost) -> Sandbox {
        self.network_namespace = Some(host.path.clone());
        self
    }

    /// Run `minibox ARGS...` to the end and check that it left nothing behind.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.start(args).wait()
    }

    /// Start `minibox ARGS...` in the background (for tests that signal it while it runs).
    pub fn start(&self, args: &[&str]) -> Running {
        self.start_with(args, |_| {})
    }

    /// Run `minibox ARGS...` with `input` on its standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Ran {
        let mut running = self.start_with(args, |c| {
            c.stdin(Stdio::piped());
        });
        let mut stdin = running.child.stdin.take().expect("stdin is piped");
        // A command that exits without reading its input closes the pipe: not this test's concern.
        let _ = std::io::Write::write_all(&mut stdin, input.as_bytes());
        drop(stdin);
        running.wait()
    }

    /// Like `start`, with a chance to adjust the command (environment, stdin) first.
    pub fn start_with(&self, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Running {
        let marker = format!("minibox-test-{}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed));
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        // Tag the container's processes, so that any left running afterwards can be found.
        if args.first().map(String::as_str) == Some("run") {
            args.insert(1, format!("--env=MINIBOX_TEST_RUN={marker}"));
        }
        let mut command = match &self.run_as {
            None => Command::new(MINIBOX),
            Some((user, copy)) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(copy);
                command
            }
        };
        command
            .args(&args)
            .env("MINIBOX_ROOT", &self.state)
            .env("MINIBOX_TEST_RUN", &marker)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A process group of its own: the container's processes stay in it (unless they
            // leave it on purpose) when minibox is gone and they have a new parent.
            .process_group(0);
        // A signal ignored here (a script's background job ignores SIGINT, nohup SIGHUP) would
        // stay ignored in minibox's command, and a shell cannot trap a signal ignored at its
        // start: give minibox the defaults a terminal gives.
        // SAFETY: between fork and exec the closure calls only signal(2), which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                for signal in
                    [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2]
                {
                    libc::signal(signal, libc::SIG_DFL);
                }
                Ok(())
            })
        };
        // From the network chapter on, `run` makes a bridge, NAT rules and a forwarding setting in the
        // network namespace it runs in. A sandbox given no test host runs them in one of its own, so
        // that two test runs on one machine never share a bridge, nor look at or clean up each
        // other's; the sandbox's runs share it, so that one run reclaims what a killed one left.
        let own_host = self.network_namespace.is_none()
            && snapshot_has("network")
            && args.first().map(String::as_str) == Some("run");
        let network_namespace = match own_host {
            true => Some(self.own_host.get_or_init(network::TestHost::new).path.clone()),
            false => self.network_namespace.clone(),
        };
        // The network chapter: minibox runs in the test host's network namespace (its mounts, cgroups and
        // processes are the host's as ever).
        if let Some(namespace) = &network_namespace {
            let namespace = std::fs::File::open(namespace).expect("opening the test host's namespace");
            // SAFETY: between fork and exec the closure calls only setns(2).
            unsafe {
                command.pre_exec(move || match libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                })
            };
        }
        adjust(&mut command);
        let scope = self.scope(&args);
        let before = HostState::now(&scope, &self.state, network_namespace.as_deref());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {MINIBOX}: {e}"));
        // Read the output from the start: a full pipe would stop minibox and its command.
        let stdout = Capture::start(child.stdout.take());
        let stderr = Capture::start(child.stderr.take());
        let pipes = [&stdout, &stderr].iter().filter_map(|c| c.pipe).collect();
        let processes = RefCell::new(RunProcesses::new(child.id() as i32, &marker, pipes));
        Running {
            child,
            shown: format!("minibox {}", args.join(" ")),
            processes,
            stdout,
            stderr,
            before,
            scope,
            state: self.state.clone(),
            network_namespace,
            finished: false,
        }
    }

    /// The directories a run may make mounts under: this sandbox (state and root filesystems
    /// included), and a `--rootfs` given elsewhere (but not `/`, which would take in every mount
    /// on the machine). The leak check looks at these only, so a mount made elsewhere on the
    /// machine at the same time is never taken for a leak.
    fn scope(&self, args: &[String]) -> Vec<PathBuf> {
        let mut dirs = vec![self.dir.clone(), self.state.clone()];
        for (i, arg) in args.iter().enumerate() {
            let rootfs = match arg.strip_prefix("--rootfs=") {
                Some(value) => Some(value),
                None if arg == "--rootfs" => args.get(i + 1).map(String::as_str),
                None => None,
            };
            if let Some(rootfs) = rootfs {
                let path = PathBuf::from(rootfs);
                let path = path.canonicalize().unwrap_or(path);
                if path.parent().is_some() {
                    dirs.push(path);
                }
            }
        }
        dirs
    }

    /// A root filesystem made of the host's static busybox and the probe (`/probe`), in a fresh
    /// directory of this sandbox.
    pub fn busybox_rootfs(&self, name: &str) -> PathBuf {
        let root = self.dir.join(name);
        fixtures::busybox::build_rootfs(&busybox(), &root)
            .unwrap_or_else(|e| panic!("building a busybox root filesystem in {}: {e}", root.display()));
        std::fs::copy(PROBE, root.join("probe")).expect("copying the probe into the rootfs");
        root
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // minibox leaves its empty `minibox` parent cgroups in place (as Docker leaves its own);
        // the tests remove them, so that a test run leaves the machine as it found it. A parent
        // still in use is not empty, and rmdir leaves it alone.
        for parent in minibox_parent_cgroups() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

static RUNS: AtomicU32 = AtomicU32::new(0);

/// The host's static busybox: `MINIBOX_BUSYBOX`, or the one the `busybox-static` package installs.
pub fn busybox() -> PathBuf {
    fixtures::busybox::locate_static().unwrap_or_else(|error| {
        fail(
            "a static busybox at /bin/busybox",
            error,
            "the test root filesystems are built from busybox: `apt install busybox-static` (or run `cargo xtask doctor`)",
            "Setting up",
        )
    })
}

/// Stop here, with one clear message, when the tests need root and do not have it: the first
/// test to find out explains, the others point to it.
pub fn require_root() {
    static EXPLAINED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // The process chapter only forks and execs; from the namespaces chapter on, minibox makes namespaces.
    // SAFETY: geteuid has no preconditions.
    if !snapshot_has("namespaces") || unsafe { libc::geteuid() } == 0 {
        return;
    }
    if EXPLAINED.swap(true, Ordering::Relaxed) {
        panic!("needs root, like every test here (see the first failure)");
    }
    panic!(
        "\n  {PACKAGE}'s graded tests need root: containers are made of namespaces, mounts and \
         cgroups.\n  Run `cargo test -p {PACKAGE}` as root, or install sudo: cargo then runs the test \
         binaries through sudo by itself (tools/sudo-runner).\n  read: book, Setting up\n"
    );
}

/// The cgroup v1 hierarchies minibox places containers in (its controllers and the devices one).
const PLACED_IN: [&str; 4] = ["cpu", "memory", "pids", "devices"];
/// The prefix of a test process's own cgroups: `minibox-tests-PID`.
const OWN_CGROUP: &str = "minibox-tests-";
/// The cgroups this process moved into, each with the one it came from (see [`cgroups_of_our_own`]).
static MOVED: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// On cgroup v1, minibox nests its containers' cgroups under its own (`minibox/ID`), which it
/// inherits from the test; two test runs started from one cgroup would share that parent, and
/// each run's leak check would take the other's containers for its own leaks (and remove them).
/// So, once, a test process moves itself into a cgroup of its own, `minibox-tests-PID`, under the
/// one it was in, in each hierarchy minibox uses; it moves back and removes it when it exits.
/// The leftovers of a test process killed before its exit are swept by the next. On cgroup v2
/// minibox puts containers under `/minibox` at the root, whoever runs it: nothing to move.
fn cgroups_of_our_own() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let pid = std::process::id();
        for mount in fixtures::mounts::Mount::all().into_iter().filter(|m| m.fstype == "cgroup") {
            let options: Vec<&str> = mount.options.split(',').collect();
            if !PLACED_IN.iter().any(|c| options.contains(c)) {
                continue;
            }
            let Some(path) = own.lines().find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let controllers = parts.nth(1)?;
                let path = parts.next()?;
                (!controllers.is_empty() && controllers.split(',').all(|c| options.contains(&c)))
                    .then_some(path)
            }) else {
                continue;
            };
            let parent = mount.point.join(path.trim_start_matches('/'));
            sweep_stale_own_cgroups(&parent);
            let ours = parent.join(format!("{OWN_CGROUP}{pid}"));
            // One of ours that is already there was left by an earlier test process with this
            // pid, killed before its exit (the sweep leaves it when it is not empty): take it over.
            let moved = std::fs::create_dir(&ours)
                .or_else(|error| match error.kind() {
                    std::io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(error),
                })
                .and_then(|()| std::fs::write(ours.join("cgroup.procs"), pid.to_string()));
            match moved {
                Ok(()) => MOVED.lock().unwrap_or_else(|e| e.into_inner()).push((parent, ours)),
                Err(error) => {
                    let _ = std::fs::remove_dir(&ours);
                    fixture_failed(&format!("moving the test process into {}", ours.display()), error);
                }
            }
        }
        extern "C" fn move_back() {
            let moved = std::mem::take(&mut *MOVED.lock().unwrap_or_else(|e| e.into_inner()));
            for (parent, ours) in moved {
                let _ = std::fs::write(parent.join("cgroup.procs"), std::process::id().to_string());
                let _ = std::fs::remove_dir(ours.join("minibox"));
                let _ = std::fs::remove_dir(&ours);
            }
        }
        // SAFETY: atexit takes a function that takes nothing and never unwinds (it ignores errors).
        unsafe { libc::atexit(move_back) };
    });
}

/// Remove the empty own cgroups (and their empty `minibox` parents) of test processes that are
/// gone. A cgroup with anything left in it stays, for the machine's owner to see.
fn sweep_stale_own_cgroups(parent: &Path) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(OWN_CGROUP).and_then(|p| p.parse::<u32>().ok()) else { continue };
        // This process has not moved yet, so one named after its own pid is an earlier process's.
        if pid == std::process::id() || !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir(entry.path().join("minibox"));
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// A minibox started in the background.
pub struct Running {
    child: Child,
    shown: String,
    processes: RefCell<RunProcesses>,
    stdout: Capture,
    stderr: Capture,
    before: HostState,
    scope: Vec<PathBuf>,
    state: PathBuf,
    network_namespace: Option<PathBuf>,
    /// Set once the run has been waited for; until then, dropping it kills the run.
    finished: bool,
}

/// A run that a failing test leaves behind must not outlive the test.
impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.processes.get_mut().kill_all();
        let until = Instant::now() + Duration::from_secs(1);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// What a test waited for when the time ran out, for the report.
struct Expectation {
    expected: String,
    cause: String,
    book: String,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send `signal` to minibox itself, while it is still this run's (not yet waited for, so its
    /// pid cannot name another process).
    pub fn signal(&self, signal: i32) {
        // waitid with WNOWAIT reaps nothing: it fails (ECHILD) only once the child was reaped.
        // SAFETY: a zeroed siginfo_t is valid, and waitid writes only into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: as above; the pid is this run's child.
        if unsafe { libc::waitid(libc::P_PID, self.pid() as libc::id_t, &mut info, flags) } == 0 {
            // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child's.
            unsafe { libc::kill(self.pid(), signal) };
        }
    }

    /// Wait until a process of the container is running: the first process of this run that
    /// `accept` likes. Gives up when minibox ends first, or after the run's time limit.
    pub fn wait_for_process(&mut self, accept: impl Fn(&Process) -> bool) -> Option<Process> {
        let start = Instant::now();
        let limit = run_timeout();
        loop {
            let ended = !matches!(self.child.try_wait(), Ok(None));
            let found = self.processes().into_iter().find(|p| p.is_running() && accept(p));
            if found.is_some() || ended || start.elapsed() >= limit {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Like `wait_for_process`, but a process that never appears fails the test, with what
    /// minibox printed and what did run.
    #[track_caller]
    pub fn expect_process(
        mut self,
        accept: impl Fn(&Process) -> bool,
        what: &str,
        book: &str,
    ) -> (Running, Process) {
        if let Some(found) = self.wait_for_process(accept) {
            return (self, found);
        }
        let expected = format!("{what} to be running");
        if matches!(self.child.try_wait(), Ok(None)) {
            let cause = format!("minibox kept running, but {what} never did");
            self.timed_out(run_timeout(), Some(Expectation { expected, cause, book: book.into() }));
        }
        let seen = self.processes.borrow().history();
        let note = self.processes.borrow().marker_note();
        let started_something = self.processes.borrow().saw_the_command();
        let ran = self.wait();
        let cause = if started_something {
            "the command ran, but was gone before the test could see it (or another program ran): see what minibox printed"
        } else {
            "the command never started: minibox ended first (see what it printed)"
        };
        fail(
            expected,
            format!("minibox ended; processes of this run: {seen}{note}{}", ran.transcript()),
            cause,
            book,
        )
    }

    /// SIGKILL every process of the container (not minibox itself): minibox then sees its
    /// command die and cleans up as it should.
    pub fn kill_container(&self) {
        for process in self.processes().iter().filter(|p| p.pid != self.pid()) {
            process.signal(libc::SIGKILL);
        }
    }

    /// The processes of this run that exist now: minibox and the container's.
    pub fn processes(&self) -> Vec<Process> {
        self.processes.borrow_mut().scan(false)
    }

    /// Wait for minibox to end (stopping it after the run's time limit), then check that it
    /// left nothing behind.
    pub fn wait(self) -> Ran {
        self.finish(run_timeout(), None)
    }

    /// Wait at most `limit` for minibox to end. Past it, the test fails with `expected`, the
    /// likely `cause` and the `book` section, unless minibox is visibly stuck somewhere else
    /// (the report then says where).
    #[track_caller]
    pub fn wait_for(self, limit: Duration, expected: &str, cause: &str, book: &str) -> Ran {
        let expectation = Expectation { expected: expected.into(), cause: cause.into(), book: book.into() };
        self.finish(limit, Some(expectation))
    }

    #[track_caller]
    fn finish(mut self, limit: Duration, expectation: Option<Expectation>) -> Ran {
        let started = Instant::now();
        let mut last_look: Option<Instant> = None;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for minibox") {
                break Some(status);
            }
            if started.elapsed() >= limit {
                break None;
            }
            // Look at the run's processes now and then while minibox lives: a process seen
            // once stays known, wherever it goes.
            if last_look.is_none_or(|t| t.elapsed() > Duration::from_millis(100)) {
                self.processes.get_mut().scan(false);
                last_look = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match status {
            Some(status) => self.ended(status),
            None => self.timed_out(limit, expectation),
        }
    }

    /// minibox has ended: anything of its run still running is a leak. Kill it all first, then
    /// collect the output, then check the rest of the machine.
    #[track_caller]
    fn ended(mut self, status: ExitStatus) -> Ran {
        self.finished = true;
        let left = self.processes.get_mut().kill_all();
        let unclosed = self.collect_output();
        let ran = self.ran(Some(status));
        let processes = self.processes.borrow();
        self.before.check_nothing_left(
            &left,
            &processes,
            &self.scope,
            &self.state,
            self.network_namespace.as_deref(),
            &ran,
        );
        if let Some(unclosed) = unclosed {
            fail(
                "minibox's stdout and stderr to close once it and its command had ended",
                format!("{unclosed}{}", ran.transcript()),
                "a process outside the container holds minibox's output (did something started by the command leave its process group and its parent?)",
                SIGNALS,
            );
        }
        ran
    }

    /// minibox took longer than `limit`: say where it was stuck, kill every process of the
    /// run, then fail.
    #[track_caller]
    fn timed_out(mut self, limit: Duration, expectation: Option<Expectation>) -> ! {
        self.finished = true;
        A_RUN_TIMED_OUT.store(true, Ordering::Relaxed);
        let minibox = self.pid();
        let stuck = why_stuck(minibox, &self.processes.get_mut().scan(true));
        let killed = self.processes.get_mut().kill_all();
        // SIGKILL ends minibox unless the kernel holds it (a process in uninterruptible sleep).
        let reap_by = Instant::now() + OUTPUT_GRACE;
        let mut status = None;
        while status.is_none() && Instant::now() < reap_by {
            status = self.child.try_wait().ok().flatten();
            std::thread::sleep(Duration::from_millis(5));
        }
        let unclosed = self.collect_output();
        let ran = self.ran(status);
        let note = self.processes.borrow().marker_note();
        let seconds = limit.as_secs_f64();
        let mut seen = format!(
            "after {seconds:.0} s it was still running, and was killed with everything it started: {}{}",
            describe(&killed),
            stuck.as_ref().map(|s| format!("\n    minibox was {}", s.doing)).unwrap_or_default()
        );
        if let Some(unclosed) = unclosed {
            seen.push_str(&format!("\n    {unclosed}"));
        }
        let seen = format!("{seen}{note}{}", ran.transcript());
        let generic = Expectation {
            expected: format!("`{}` to finish within {seconds:.0} s", ran.shown),
            cause: "minibox waits for something that never happens (a child that is never reaped, a pipe that never closes, a signal that is never passed on)".into(),
            book: SIGNALS.into(),
        };
        let expectation = expectation.unwrap_or(generic);
        // Where minibox was stuck beats a guess made before the run.
        let (cause, book) = match &stuck {
            Some(stuck) if stuck.certain => (stuck.cause.clone(), stuck.book.to_string()),
            _ => (expectation.cause, expectation.book),
        };
        let later = if AFTER_A_TIMEOUT < limit {
            format!(" (later runs of this test binary get {} s)", AFTER_A_TIMEOUT.as_secs())
        } else {
            String::new()
        };
        fail(format!("{}{later}", expectation.expected), seen, &cause, &book)
    }

    /// Wait, for a bounded time, until minibox's stdout and stderr are closed (every process of
    /// the run is dead by now, so they should be). `Some(what happened)` when they were not.
    fn collect_output(&mut self) -> Option<String> {
        let deadline = Instant::now() + OUTPUT_GRACE;
        if self.stdout.closed_by(deadline) & self.stderr.closed_by(deadline) {
            return None;
        }
        let holders = self.processes.get_mut().kill_all();
        let deadline = Instant::now() + OUTPUT_GRACE;
        if self.stdout.closed_by(deadline) & self.stderr.closed_by(deadline) {
            return None;
        }
        Some(format!(
            "minibox's output was still open {} s after its run had been killed (holders found: {})",
            OUTPUT_GRACE.as_secs() * 2,
            describe(&holders)
        ))
    }

    fn ran(&self, status: Option<ExitStatus>) -> Ran {
        Ran {
            shown: self.shown.clone(),
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
        }
    }
}

/// "1234 (sleep), 1240 (sh)", or "none".
fn describe(processes: &[Process]) -> String {
    if processes.is_empty() {
        return "none".into();
    }
    processes.iter().map(|p| format!("{} ({})", p.pid, p.command)).collect::<Vec<_>>().join(", ")
}

/// What minibox writes to one pipe, read by a thread of its own from the start, so that
/// minibox never blocks on a full pipe and the test never blocks on an open one.
struct Capture {
    text: Arc<Mutex<Vec<u8>>>,
    closed: mpsc::Receiver<()>,
    done: bool,
    /// The pipe's inode: a process that holds its write end shows `pipe:[INODE]` among its fds.
    pipe: Option<u64>,
}

impl Capture {
    fn start<R: Read + AsRawFd + Send + 'static>(source: Option<R>) -> Capture {
        let text = Arc::new(Mutex::new(Vec::new()));
        let (tell, closed) = mpsc::channel();
        let Some(mut source) = source else {
            return Capture { text, closed, done: true, pipe: None };
        };
        let pipe = std::fs::metadata(format!("/proc/self/fd/{}", source.as_raw_fd())).ok().map(|m| m.ino());
        let sink = Arc::clone(&text);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            loop {
                match source.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tell.send(());
        });
        Capture { text, closed, done: false, pipe }
    }

    /// Wait until every writer has closed the pipe, or until `deadline`. Has it closed?
    fn closed_by(&mut self, deadline: Instant) -> bool {
        if !self.done {
            self.done = self.closed.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok();
        }
        self.done
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The processes of one run, found without trusting the code under test to keep any promise:
/// minibox itself and its process group; processes whose environment carries the run's
/// marker; children of processes already found (so every descendant of minibox, as long as
/// its parent lives); any process in a PID namespace or a container cgroup where one of them
/// was seen; any process seen before (by pid and start time, wherever it has moved since); and,
/// when asked, whoever holds minibox's stdout or stderr.
struct RunProcesses {
    minibox: i32,
    /// minibox's start time: once its pid names another process, its pid and group are not ours.
    minibox_start: Option<u64>,
    marker: String,
    seen: BTreeMap<i32, Seen>,
    namespaces: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    pipes: Vec<u64>,
    own_namespace: String,
    own_cgroups: BTreeSet<String>,
}

/// A process seen in a run.
struct Seen {
    start: u64,
    command: String,
    /// Whether its environment carried the run's marker (`None`: could not be read).
    marked: Option<bool>,
}

impl RunProcesses {
    fn new(minibox: i32, marker: &str, pipes: Vec<u64>) -> RunProcesses {
        RunProcesses {
            minibox,
            minibox_start: Process::read(minibox).map(|p| p.start),
            marker: format!("MINIBOX_TEST_RUN={marker}\0"),
            seen: BTreeMap::new(),
            namespaces: BTreeSet::new(),
            cgroups: BTreeSet::new(),
            pipes,
            own_namespace: pid_namespace("self"),
            own_cgroups: cgroup_lines("self").into_iter().collect(),
        }
    }

    /// The run's processes now, zombies included. `holders`: also whoever holds minibox's
    /// output (this reads every process's descriptors, so only at the end of a run).
    fn scan(&mut self, holders: bool) -> Vec<Process> {
        let all = Process::all();
        let own = std::process::id() as i32;
        let mut ours: BTreeSet<i32> = BTreeSet::new();
        // After minibox was reaped its pid may name another run's minibox (two runs at once): a
        // pid reused means its old group was empty, so nothing of ours has that group any more.
        let reused = all.iter().any(|p| p.pid == self.minibox && Some(p.start) != self.minibox_start);
        // A process marked for another run (another test binary at the same time) is never ours,
        // whatever namespace or group id it shares with a dead one of ours (both can be reused).
        for p in all.iter().filter(|p| p.pid != own && !marked_for_another_run(p.pid, &self.marker)) {
            let belongs = (!reused && (p.pid == self.minibox || p.pgid == self.minibox))
                || self.seen.get(&p.pid).is_some_and(|s| s.start == p.start)
                || (!p.pid_ns.is_empty() && self.namespaces.contains(&p.pid_ns))
                || (!self.cgroups.is_empty()
                    && cgroup_lines(&p.pid.to_string()).iter().any(|l| self.cgroups.contains(l)))
                || has_marker(p.pid, &self.marker) == Some(true)
                || (holders && holds_a_pipe(p.pid, &self.pipes));
            if belongs {
                ours.insert(p.pid);
            }
        }
        // Children of the run's processes are the run's.
        loop {
            let children: Vec<i32> = all
                .iter()
                .filter(|p| p.pid != own && !ours.contains(&p.pid) && ours.contains(&p.ppid))
                .map(|p| p.pid)
                .collect();
            if children.is_empty() {
                break;
            }
            ours.extend(children);
        }
        let found: Vec<Process> = all.into_iter().filter(|p| ours.contains(&p.pid)).collect();
        for p in &found {
            // A fork of minibox shows minibox's name and environment until it execs.
            if self.seen.get(&p.pid).is_none_or(|s| s.start != p.start || s.command != p.command) {
                let marked = has_marker(p.pid, &self.marker);
                self.seen.insert(p.pid, Seen { start: p.start, command: p.command.clone(), marked });
            }
            if !p.pid_ns.is_empty() && p.pid_ns != self.own_namespace {
                self.namespaces.insert(p.pid_ns.clone());
            }
            for line in cgroup_lines(&p.pid.to_string()) {
                if is_container_cgroup(&line) && !self.own_cgroups.contains(&line) {
                    self.cgroups.insert(line);
                }
            }
        }
        found
    }

    /// SIGKILL every process of the run, and again until none is left (one may fork while we
    /// kill); returns those that were running at first. Bounded: a process the kernel holds
    /// (uninterruptible sleep) is left after two seconds.
    fn kill_all(&mut self) -> Vec<Process> {
        let mut first = None;
        for _ in 0..200 {
            let running: Vec<Process> = self.scan(true).into_iter().filter(Process::is_running).collect();
            let done = running.is_empty();
            first.get_or_insert(running.clone());
            if done {
                break;
            }
            for p in &running {
                p.signal(libc::SIGKILL);
            }
            if self.minibox > 0 && running.iter().any(|p| p.pgid == self.minibox) {
                // SAFETY: as above; the group is minibox's own (`process_group(0)`).
                unsafe { libc::kill(-self.minibox, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        first.unwrap_or_default()
    }

    /// Every process seen in the run, for a report.
    fn history(&self) -> String {
        let seen: Vec<String> = self.seen.iter().map(|(pid, s)| format!("{pid} ({})", s.command)).collect();
        if seen.is_empty() { "none".into() } else { seen.join(", ") }
    }

    /// Was a process other than minibox (or a fork of it) seen?
    fn saw_the_command(&self) -> bool {
        self.seen.values().any(|s| s.command != minibox_command())
    }

    /// A note for reports when the command's processes lack the run's marker: they did run,
    /// but without the environment minibox was asked to give them.
    fn marker_note(&self) -> String {
        let commands: Vec<&Seen> = self.seen.values().filter(|s| s.command != minibox_command()).collect();
        if commands.is_empty() || !commands.iter().all(|s| s.marked == Some(false)) {
            return String::new();
        }
        format!(
            "\n    note:    the command did start, but none of its processes has the variable \
             {} that minibox was given with --env: the environment did not reach execve ({FORK_AND_EXEC})",
            self.marker.trim_end_matches('\0')
        )
    }
}

/// The name the kernel shows for minibox and for its forks before they exec (15 bytes at most).
fn minibox_command() -> String {
    let name = Path::new(MINIBOX).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.chars().take(15).collect()
}

/// Does `pid`'s environment carry a run marker other than `marker` (`MINIBOX_TEST_RUN=...\0`)?
fn marked_for_another_run(pid: i32, marker: &str) -> bool {
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    env.split(|b| *b == 0)
        .any(|var| var.starts_with(b"MINIBOX_TEST_RUN=") && var != marker.trim_end_matches('\0').as_bytes())
}

fn has_marker(pid: i32, marker: &str) -> Option<bool> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(env.windows(marker.len()).any(|w| w == marker.as_bytes()))
}

/// The targets of a process's descriptors (`pipe:[123]`, `/dev/null`, ...).
fn descriptors(pid: i32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    dir.flatten().filter_map(|e| std::fs::read_link(e.path()).ok()).map(|t| t.display().to_string()).collect()
}

fn holds_a_pipe(pid: i32, pipes: &[u64]) -> bool {
    !pipes.is_empty() && descriptors(pid).iter().any(|d| pipes.iter().any(|p| *d == format!("pipe:[{p}]")))
}

/// Where a process is stuck, read from the system call it is blocked in (`/proc/PID/syscall`).
struct Stuck {
    /// "blocked in read(2) on ...", for the report.
    doing: String,
    cause: String,
    book: &'static str,
    /// Is the cause certain, or a hint?
    certain: bool,
}

fn why_stuck(minibox: i32, processes: &[Process]) -> Option<Stuck> {
    let running: Vec<&Process> = processes.iter().filter(|p| p.is_running()).collect();
    let syscall = std::fs::read_to_string(format!("/proc/{minibox}/syscall")).ok()?;
    let mut fields = syscall.split_whitespace();
    let number: i64 = fields.next()?.parse().ok()?;
    let first_argument = fields.next().and_then(|a| i64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    if number == libc::SYS_read {
        let fd = first_argument?;
        let target = std::fs::read_link(format!("/proc/{minibox}/fd/{fd}")).ok()?.display().to_string();
        if !target.starts_with("pipe:") {
            return None;
        }
        let doing = format!("blocked in read(2) on its report pipe (fd {fd}, {target})");
        let writers: Vec<Process> = running
            .iter()
            .filter(|p| p.pid != minibox && descriptors(p.pid).contains(&target))
            .map(|p| (*p).clone())
            .collect();
        if !writers.is_empty() {
            let cause = format!(
                "the command ({}) still holds the write end of the report pipe, so minibox never reads its end: \
                 create the pipe with O_CLOEXEC, so that a successful execve closes it",
                describe(&writers)
            );
            return Some(Stuck { doing, cause, book: FORK_AND_EXEC, certain: true });
        }
        if descriptors(minibox).iter().filter(|d| **d == target).count() > 1 {
            let cause =
                "minibox holds both ends of the report pipe, so its read never ends: the parent must \
                         close the write end right after fork"
                    .to_string();
            return Some(Stuck { doing, cause, book: FORK_AND_EXEC, certain: true });
        }
        return Some(Stuck { doing, cause: String::new(), book: FORK_AND_EXEC, certain: false });
    }
    if number == libc::SYS_wait4 || number == libc::SYS_waitid {
        let cause =
            "minibox blocks in waitpid while the command runs, and so cannot pass signals on: wait for \
                     signals with sigwait, and reap the child (WNOHANG) when SIGCHLD comes"
                .to_string();
        let doing = "blocked in waitpid".to_string();
        return Some(Stuck { doing, cause, book: SIGNALS, certain: true });
    }
    if number == libc::SYS_rt_sigtimedwait {
        let doing = "waiting for a signal (sigwait)".to_string();
        let ended: Vec<Process> =
            processes.iter().filter(|p| p.ppid == minibox && !p.is_running()).cloned().collect();
        if !ended.is_empty() {
            let cause = format!(
                "the command has ended ({} is a zombie: its exit status waits to be collected), but minibox \
                 still waits for a signal: SIGCHLD must be among the signals it waits for, and be answered \
                 with waitpid",
                describe(&ended)
            );
            return Some(Stuck { doing, cause, book: SIGNALS, certain: true });
        }
        return Some(Stuck { doing, cause: String::new(), book: SIGNALS, certain: false });
    }
    None
}

/// How a minibox run ended, and what it printed.
pub struct Ran {
    pub shown: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// What happened, for a failure report.
    pub fn transcript(&self) -> String {
        let ending = match (self.code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => "no exit status".into(),
        };
        format!(
            "\n    command: {}\n    ended:   {ending}\n    stdout:  {}\n    stderr:  {}",
            self.shown,
            shorten(&self.stdout),
            shorten(&self.stderr)
        )
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32, cause: &str, book: &str) -> &Ran {
        ensure(self.code == Some(code), format!("exit code {code}"), self.transcript(), cause, book);
        self
    }

    #[track_caller]
    pub fn expect_stdout(&self, stdout: &str, cause: &str, book: &str) -> &Ran {
        ensure(self.stdout == stdout, format!("stdout {stdout:?}"), self.transcript(), cause, book);
        self
    }

    #[track_caller]
    pub fn expect_stderr_contains(&self, text: &str, cause: &str, book: &str) -> &Ran {
        ensure(
            self.stderr.contains(text),
            format!("stderr containing {text:?}"),
            self.transcript(),
            cause,
            book,
        );
        self
    }

    /// Stderr is a single line (the one-line error promise).
    #[track_caller]
    pub fn expect_one_line_error(&self, book: &str) -> &Ran {
        let lines = self.stderr.lines().filter(|l| !l.trim().is_empty()).count();
        ensure(
            lines == 1 && self.stderr.starts_with("minibox: "),
            "one line on stderr, starting with \"minibox: \"",
            self.transcript(),
            "errors should be printed once, with `{:#}`, and without a backtrace",
            book,
        );
        self
    }

    /// Parse stdout as the probe's JSON report.
    #[track_caller]
    pub fn probe_report(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            fail(
                "the probe's JSON report on stdout",
                format!("output that is not JSON ({e}){}", self.transcript()),
                "the probe did not run, or something else wrote to stdout",
                "process, \"Check your work\"",
            )
        })
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim_end();
    let shown: String = text.chars().take(1500).collect();
    let shown = shown.replace('\n', "\n             ");
    if text.chars().count() > 1500 {
        format!("{shown} [...]")
    } else if shown.is_empty() {
        "(nothing)".into()
    } else {
        shown
    }
}

/// A process on the host, as /proc shows it.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    /// Its process group.
    pub pgid: i32,
    pub state: char,
    pub command: String,
    /// The process's PID namespace, as in `readlink /proc/PID/ns/pid` (empty if unreadable).
    pub pid_ns: String,
    /// When it started, in clock ticks after boot: with the pid, it names one process for good.
    pub start: u64,
}

impl Process {
    pub fn read(pid: i32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (COMM) STATE PPID PGRP ...": COMM may contain spaces and parentheses.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let command = stat[open + 1..close].to_string();
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let state = rest.first()?.chars().next()?;
        let ppid = rest.get(1)?.parse().ok()?;
        let pgid = rest.get(2)?.parse().ok()?;
        let start = rest.get(19)?.parse().ok()?;
        let pid_ns = pid_namespace(&pid.to_string());
        Some(Process { pid, ppid, pgid, state, command, pid_ns, start })
    }

    /// Every process on the host.
    pub fn all() -> Vec<Process> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter_map(Process::read).collect()
    }

    /// The processes in the same PID namespace as this one.
    pub fn namespace_members(&self) -> Vec<Process> {
        if self.pid_ns.is_empty() {
            return vec![self.clone()];
        }
        Process::all().into_iter().filter(|p| p.pid_ns == self.pid_ns).collect()
    }

    /// Not yet dead (a zombie is dead, and only waits for its parent to read its status).
    pub fn is_running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// Send `signal` to this process and to no other. Nothing is sent to a pid of 0 or below
    /// (`kill(0, ...)` is the caller's own process group: the test binary, cargo, and any
    /// `timeout` above them), nor once the pid names another process (this one ended and the pid
    /// was reused): the signal goes through a pidfd opened before the start time is compared, so
    /// the check and the signal name one process. Returns whether the signal was sent.
    pub fn signal(&self, signal: i32) -> bool {
        if self.pid <= 0 {
            return false;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) };
        let same = Process::read(self.pid).is_some_and(|now| now.start == self.start);
        if fd < 0 {
            // A kernel older than 5.3: the check and the kill are two steps.
            // SAFETY: kill has no memory-safety preconditions; the pid is above 0.
            return same && unsafe { libc::kill(self.pid, signal) } == 0;
        }
        // SAFETY: pidfd_open returned a descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
        let info = std::ptr::null::<libc::siginfo_t>();
        // SAFETY: a pidfd we own, a signal number, no siginfo, no flags.
        same && unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), signal, info, 0) } == 0
    }
}

/// The process at `pid`, which the test read from somewhere (a state file, a pid file) and is
/// about to signal. A pid of 0 or below (a missing field read as 0), the test's own, or one that
/// names no process fails the test, saying what was looked for: a test never signals a pid it
/// has not checked. Signal the result with [`Process::signal`].
#[track_caller]
pub fn process_at(pid: i64, what: &str, cause: &str, book: &str) -> Process {
    let found = i32::try_from(pid)
        .ok()
        .filter(|pid| *pid > 0 && *pid as u32 != std::process::id())
        .and_then(Process::read)
        .filter(Process::is_running);
    found.unwrap_or_else(|| {
        fail(format!("{what}: a live process"), format!("pid {pid}, no such process"), cause, book)
    })
}

/// Send `signal` to `process`, failing the test (with `what` it is) if it is gone or its pid now
/// names another process.
#[track_caller]
pub fn signal_or_fail(process: &Process, signal: i32, what: &str, cause: &str, book: &str) {
    if !process.signal(signal) {
        fail(
            format!("{what} (pid {}) to be there for signal {signal}", process.pid),
            "it had ended (or its pid named another process)",
            cause,
            book,
        );
    }
}

/// `readlink /proc/PID/ns/pid` (PID may be `self`), or "" when it cannot be read.
fn pid_namespace(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).map(|l| l.display().to_string()).unwrap_or_default()
}

/// The lines of `/proc/PID/cgroup` (PID may be `self`): `ID:CONTROLLERS:PATH`.
fn cgroup_lines(pid: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

/// Is this `/proc/PID/cgroup` line a container's cgroup (`.../minibox/ID...`)?
fn is_container_cgroup(line: &str) -> bool {
    let path = line.splitn(3, ':').nth(2).unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    parts.iter().position(|p| *p == "minibox").is_some_and(|at| at + 1 < parts.len())
}

/// What a run could have left on the machine, to compare before and after it: mounts under its
/// own directories, container cgroups under the `minibox` parents it uses, and container
/// directories in its state directory. Nothing else on the machine is the run's business.
struct HostState {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<PathBuf>,
    containers: BTreeSet<PathBuf>,
    /// From the network chapter on: the network of the namespace minibox runs in.
    network: Option<network::NetworkState>,
}

/// The container directories in a state directory (the images chapter keeps one per running container).
fn container_dirs(state: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(state.join("containers"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl HostState {
    fn now(scope: &[PathBuf], state: &Path, namespace: Option<&Path>) -> HostState {
        HostState {
            mounts: mounts_under(scope),
            cgroups: minibox_cgroups(),
            containers: container_dirs(state),
            network: snapshot_has("network").then(|| network::NetworkState::now(namespace)),
        }
    }

    /// Fail (after cleaning up) if the run left a process, a mount, a cgroup or a container
    /// directory behind. `left` are the processes that were still running when minibox ended
    /// (already killed).
    #[track_caller]
    fn check_nothing_left(
        &self,
        left: &[Process],
        processes: &RunProcesses,
        scope: &[PathBuf],
        state: &Path,
        namespace: Option<&Path>,
        ran: &Ran,
    ) {
        // Each kind of leak: what was found, the likely cause, the section that explains it.
        let mut found: Vec<(String, &str, &str)> = Vec::new();
        if !left.is_empty() {
            found.push((
                format!("your command was still running after minibox ended: {}", describe(left)),
                "minibox must not end before the command it started: wait until waitpid reports the child's \
                 end (and pass signals on meanwhile)",
                SIGNALS,
            ));
        }
        let mounts: Vec<String> = mounts_under(scope).difference(&self.mounts).cloned().collect();
        for mount in mounts.iter().rev() {
            found.push((
                format!("a mount at {mount}, visible on the host"),
                "the container's mounts must stay in its own mount namespace: make every mount private \
                 (MS_REC | MS_PRIVATE) before mounting anything",
                "rootfs, \"Mount propagation\"",
            ));
            let _ = Command::new("umount").args(["-l", mount]).status();
        }
        for cgroup in minibox_cgroups().difference(&self.cgroups) {
            if cgroup_has_processes(cgroup) {
                continue; // a container of another run, alive: not this run's leak
            }
            found.push((
                format!("a cgroup at {}", cgroup.display()),
                "the container's cgroup must be removed once the container has ended, on every path (error, \
                 kill, signal): cleanup belongs in a guard's Drop",
                "cgroups, \"Cleaning up\"",
            ));
            remove_cgroup(cgroup);
        }
        for dir in container_dirs(state).difference(&self.containers) {
            found.push((
                format!("a container directory at {}", dir.display()),
                "the container's directories must be removed once it has ended, on every path: cleanup \
                 belongs in a guard's Drop",
                "images, \"Running an image\"",
            ));
        }
        if let Some(network) = &self.network {
            for (what, cause, book) in network.new_leftovers(namespace) {
                found.push((what, cause, book));
            }
        }
        if let Some((_, cause, book)) = found.first() {
            let list: Vec<&str> = found.iter().map(|(what, _, _)| what.as_str()).collect();
            fail(
                "nothing left behind once the container has ended",
                format!("{}{}{}", list.join("; "), processes.marker_note(), ran.transcript()),
                cause,
                book,
            );
        }
    }
}

/// Mount points (as `/proc/self/mountinfo` shows them) at or under any of `dirs`.
pub fn mounts_under(dirs: &[PathBuf]) -> BTreeSet<String> {
    fixtures::mounts::Mount::all()
        .into_iter()
        .filter(|mount| dirs.iter().any(|dir| mount.point.starts_with(dir)))
        .map(|mount| mount.point.display().to_string())
        .collect()
}

// Where the runs' cgroups are: written once, with the reliability suite.
pub use fixtures::cgroup::{minibox_cgroups, minibox_parent_cgroups};

fn cgroup_has_processes(path: &Path) -> bool {
    std::fs::read_to_string(path.join("cgroup.procs")).is_ok_and(|procs| !procs.trim().is_empty())
}

/// Kill a cgroup's processes and remove it.
pub fn remove_cgroup(path: &Path) {
    let procs = std::fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
    for process in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()).filter_map(Process::read) {
        process.signal(libc::SIGKILL);
    }
    for _ in 0..100 {
        if std::fs::remove_dir(path).is_ok() || !path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fail because the test's own preparation (`what`) went wrong: not the learner's code.
#[track_caller]
pub fn fixture_failed(what: &str, error: impl Display) -> ! {
    panic!(
        "\n  the test's own set-up failed: {what}: {error}\n  this is not a bug in your code: the test could \
         not prepare what it checks (`cargo xtask doctor` says what this machine lacks, if anything)\n"
    )
}

/// `step.or_fixture("what")`: the value of a step of a test's own set-up, or a `fixture_failed`.
pub trait OrFixture<T> {
    fn or_fixture(self, what: &str) -> T;
}

impl<T, E: Display> OrFixture<T> for Result<T, E> {
    #[track_caller]
    fn or_fixture(self, what: &str) -> T {
        self.unwrap_or_else(|error| fixture_failed(what, error))
    }
}
