//! What every graded test shares: running this chapter's `minibox`, the root check, fixtures,
//! the leak check after every run, and failure reports that tell a learner what to do.
//!
//! The same test files grade every snapshot (`chapter-NN` and `solution-NN`); `env!` values
//! below are those of the crate being tested.
#![allow(dead_code)] // each test file uses its own part of this module

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The package under test, for example `chapter-03`.
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");
/// Its `minibox` binary.
pub const MINIBOX: &str = env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME")));
/// The static probe built by `tests/support/build.rs`.
pub const PROBE: &str = env!("MINIBOX_PROBE");

/// How long any one minibox run may take before the test gives up on it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The chapter of the snapshot under test (`chapter-03` and `solution-03` are both 3).
pub fn snapshot_chapter() -> u32 {
    PACKAGE.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(u32::MAX)
}

/// Fail the test with a report a learner can act on.
#[track_caller]
pub fn fail(expected: impl Display, seen: impl Display, cause: &str, book: &str) -> ! {
    let seen = seen.to_string();
    // An unwritten stub explains itself better than any guess of ours.
    let stub = seen.split("not yet implemented: ").nth(1).and_then(|rest| rest.lines().next());
    let stub = stub.map(|message| format!("minibox stopped at a todo!() stub: {message}"));
    let cause = stub.as_deref().unwrap_or(cause);
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
}

static SANDBOXES: AtomicU32 = AtomicU32::new(0);

impl Sandbox {
    /// A fresh sandbox. From chapter 2 on, minibox needs root: without it the test stops here
    /// with one clear message rather than a wall of permission errors.
    pub fn new() -> Sandbox {
        require_root();
        let n = SANDBOXES.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("minibox-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the test's temporary directory");
        let state = dir.join("state");
        Sandbox { dir, state }
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
        std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("writing to minibox's stdin");
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
        let mut command = Command::new(MINIBOX);
        command
            .args(&args)
            .env("MINIBOX_ROOT", &self.state)
            .env("MINIBOX_TEST_RUN", &marker)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let before = HostState::now(&self.state);
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {MINIBOX}: {e}"));
        Running {
            child,
            shown: format!("minibox {}", args.join(" ")),
            marker,
            before,
            state: self.state.clone(),
        }
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
        // the tests remove them, so that a test run leaves the machine as it found it.
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
    // Chapter 1 only forks and execs; from chapter 2 on, minibox makes namespaces.
    // SAFETY: geteuid has no preconditions.
    if snapshot_chapter() < 2 || unsafe { libc::geteuid() } == 0 {
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

/// A minibox started in the background.
pub struct Running {
    child: Child,
    shown: String,
    marker: String,
    before: HostState,
    state: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send `signal` to minibox itself.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Wait until a process of the container is running: the first process carrying this run's
    /// marker that `accept` likes. Gives up after `RUN_TIMEOUT`.
    pub fn wait_for_process(&mut self, accept: impl Fn(&Process) -> bool) -> Option<Process> {
        let start = Instant::now();
        while start.elapsed() < RUN_TIMEOUT {
            if let Some(found) = processes_with_marker(&self.marker).into_iter().find(|p| accept(p)) {
                return Some(found);
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Like `wait_for_process`, but a process that never appears fails the test, with what
    /// minibox printed.
    #[track_caller]
    pub fn expect_process(
        mut self,
        accept: impl Fn(&Process) -> bool,
        what: &str,
        book: &str,
    ) -> (Running, Process) {
        match self.wait_for_process(accept) {
            Some(found) => (self, found),
            None => {
                let ran = self.wait();
                fail(format!("{what} to be running"), ran.transcript(), "the command never started", book)
            }
        }
    }

    /// SIGKILL every process of the container (not minibox itself): minibox then sees its
    /// command die and cleans up as it should.
    pub fn kill_container(&self) {
        for process in self.processes().iter().filter(|p| p.pid != self.pid()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(process.pid, libc::SIGKILL) };
        }
    }

    /// Processes of the container that are running now.
    pub fn processes(&self) -> Vec<Process> {
        processes_with_marker(&self.marker)
    }

    /// Wait for minibox to end (killing it after `RUN_TIMEOUT`), then check it left nothing behind.
    pub fn wait(mut self) -> Ran {
        let started = Instant::now();
        let mut stdout = self.child.stdout.take().expect("stdout is piped");
        let mut stderr = self.child.stderr.take().expect("stderr is piped");
        let out_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stdout.read_to_end(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            s
        });
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for minibox") {
                break status;
            }
            if started.elapsed() > RUN_TIMEOUT {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().expect("waiting for minibox");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        use std::os::unix::process::ExitStatusExt;
        let ran = Ran {
            shown: self.shown.clone(),
            code: status.code(),
            signal: status.signal(),
            stdout: String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
        };
        if timed_out {
            cleanup_processes(&self.marker);
            fail(
                format!("`{}` to finish within {} s", ran.shown, RUN_TIMEOUT.as_secs()),
                format!("it was still running, and was killed\n{}", ran.transcript()),
                "minibox waits for something that never happens (a child that is never reaped, a pipe that never closes)",
                "Chapter 1, \"Waiting, and passing signals on\"",
            );
        }
        self.before.check_nothing_left(&self.marker, &self.state, &ran);
        ran
    }
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
                "Chapter 1, \"Check your work\"",
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
    pub state: char,
    pub command: String,
    /// The process's PID namespace, as in `readlink /proc/PID/ns/pid`.
    pub pid_ns: String,
}

impl Process {
    pub fn read(pid: i32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (COMM) STATE PPID ...": COMM may contain spaces and parentheses.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let command = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next()?.chars().next()?;
        let ppid = rest.next()?.parse().ok()?;
        let pid_ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?.display().to_string();
        Some(Process { pid, ppid, state, command, pid_ns })
    }

    /// Every process on the host.
    pub fn all() -> Vec<Process> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter_map(Process::read).collect()
    }

    /// The processes in the same PID namespace as this one.
    pub fn namespace_members(&self) -> Vec<Process> {
        Process::all().into_iter().filter(|p| p.pid_ns == self.pid_ns).collect()
    }
}

fn processes_with_marker(marker: &str) -> Vec<Process> {
    let needle = format!("MINIBOX_TEST_RUN={marker}\0");
    Process::all()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .map(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

fn cleanup_processes(marker: &str) {
    for process in processes_with_marker(marker) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(process.pid, libc::SIGKILL) };
    }
}

/// The host's mounts and minibox cgroups, to compare before and after a run.
struct HostState {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<PathBuf>,
    containers: BTreeSet<PathBuf>,
}

/// The container directories in a state directory (chapter 5 keeps one per running container).
fn container_dirs(state: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(state.join("containers"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl HostState {
    fn now(state: &Path) -> HostState {
        HostState { mounts: mount_points(), cgroups: minibox_cgroups(), containers: container_dirs(state) }
    }

    /// Fail (after cleaning up) if the run left a process, a mount, a cgroup or a container
    /// directory behind.
    fn check_nothing_left(&self, marker: &str, state: &Path, ran: &Ran) {
        let mut left = Vec::new();
        let processes = processes_with_marker(marker);
        if !processes.is_empty() {
            let list: Vec<String> = processes.iter().map(|p| format!("{} ({})", p.pid, p.command)).collect();
            left.push(format!("processes still running: {}", list.join(", ")));
            cleanup_processes(marker);
        }
        let mounts: Vec<String> = mount_points().difference(&self.mounts).cloned().collect();
        for mount in mounts.iter().rev() {
            left.push(format!("a mount at {mount}"));
            let _ = Command::new("umount").args(["-l", mount]).status();
        }
        for cgroup in minibox_cgroups().difference(&self.cgroups) {
            left.push(format!("a cgroup at {}", cgroup.display()));
            remove_cgroup(cgroup);
        }
        for dir in container_dirs(state).difference(&self.containers) {
            left.push(format!("a container directory at {}", dir.display()));
        }
        if !left.is_empty() {
            fail(
                "nothing left behind once the container has ended",
                format!("{}{}", left.join("; "), ran.transcript()),
                "a cleanup step is missing on this path (error, kill or signal): cleanup belongs in a guard's Drop",
                "Chapter 1, \"Check your work\"",
            );
        }
    }
}

fn mount_points() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4).map(str::to_string))
        .collect()
}

/// The `minibox` parent cgroups that exist, in every cgroup hierarchy: under this process's own
/// cgroup (cgroup v1) or at the root (cgroup v2).
pub fn minibox_parent_cgroups() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        if !matches!(fields.get(dash + 1), Some(&"cgroup") | Some(&"cgroup2")) {
            continue;
        }
        let mount = Path::new(fields[4]);
        let mut candidates = vec![mount.join("minibox")];
        for own_line in own.lines() {
            if let Some(path) = own_line.splitn(3, ':').nth(2) {
                candidates.push(mount.join(path.trim_start_matches('/')).join("minibox"));
            }
        }
        for candidate in candidates {
            if candidate.is_dir() && !found.contains(&candidate) {
                found.push(candidate);
            }
        }
    }
    found
}

/// Every container cgroup under a `minibox` parent, in every cgroup hierarchy.
pub fn minibox_cgroups() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for parent in minibox_parent_cgroups() {
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for entry in entries.flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    found.insert(entry.path());
                }
            }
        }
    }
    found
}

fn remove_cgroup(path: &Path) {
    let procs = std::fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
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
