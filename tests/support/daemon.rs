//! The daemon chapter: a `minibox daemon` of the test's own (its socket, data directory and
//! image store in the test's sandbox) and the real docker CLI pointed at it.
//!
//! Dropping a [`Daemon`] (also when a test fails) stops it and removes what its containers left:
//! their processes, shims, mounts, cgroups. [`Daemon::check_nothing_left`] is the leak check the
//! tests call once they have removed their containers: a leftover fails the test.
#![allow(dead_code)] // each test uses its own part of this module

use crate::support::{Sandbox, ensure, fail, minibox_cgroups, mounts_under};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's docker CLI (20.10, API 1.41), which tools/provision.sh takes out of its package.
pub const DOCKER: &str = "/usr/local/lib/minibox/docker";

/// What one docker CLI run said.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub command: String,
}

impl Out {
    pub fn shown(&self) -> String {
        format!(
            "`{}`: exit code {}, stdout {:?}, stderr {:?}",
            self.command,
            self.code,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32, cause: &str, book: &str) -> &Out {
        ensure(self.code == code, format!("exit code {code}"), self.shown(), cause, book);
        self
    }
}

pub struct Daemon {
    pub sandbox: Sandbox,
    pub socket: PathBuf,
    pub data: PathBuf,
    child: Option<Child>,
    cgroups_before: BTreeSet<PathBuf>,
    extra_args: Vec<String>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// A daemon with these extra arguments (`--log-max-size 64k`).
    pub fn start_with(extra: &[&str]) -> Daemon {
        if !Path::new(DOCKER).is_file() {
            crate::support::fixture_failed(
                "finding the docker CLI",
                format!(
                    "{DOCKER} is missing: run `sudo tools/provision.sh`, which puts Debian's docker CLI there"
                ),
            );
        }
        let sandbox = Sandbox::new();
        let socket = sandbox.dir.join("minibox.sock");
        let data = sandbox.dir.join("daemon");
        let mut daemon = Daemon {
            sandbox,
            socket,
            data,
            child: None,
            cgroups_before: minibox_cgroups(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        daemon.launch();
        daemon
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.sandbox.dir.join("daemon.log"))
            .expect("creating the daemon's log");
        let child = Command::new(crate::support::MINIBOX)
            .arg("--verbose")
            .arg("--host")
            .arg(self.host())
            .arg("daemon")
            .arg("--data")
            .arg(&self.data)
            .arg("--root")
            .arg(&self.sandbox.state)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the daemon's log"))
            .stderr(log)
            .spawn()
            .expect("starting minibox daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                fail(
                    "minibox daemon listening on its socket",
                    format!("it ended ({status}); its log: {}", self.log()),
                    "the daemon must bind its socket and serve until SIGTERM",
                    "daemon, \"Goal\"",
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        fail(
            format!("minibox daemon listening on {} within 20 s", self.socket.display()),
            format!("nothing answers; its log: {}", self.log()),
            "the daemon must bind its socket and serve until SIGTERM",
            "daemon, \"Goal\"",
        );
    }

    /// The daemon's log (it runs with --verbose: one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.sandbox.dir.join("daemon.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Stop the daemon with SIGTERM, as an administrator would, and wait for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        fail(
            "minibox daemon ends within 10 s of SIGTERM",
            "it was still running (killed)",
            "the daemon stops serving on SIGTERM; its containers run on in their shims",
            "daemon, \"Goal\"",
        );
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// `docker -H unix://SOCKET ARGS...`, in bounded time.
    pub fn docker(&self, args: &[&str]) -> Out {
        self.docker_as(args, None, None, &[])
    }

    /// With `input` on its standard input.
    pub fn docker_input(&self, args: &[&str], input: &str) -> Out {
        self.docker_as(args, Some(input), None, &[])
    }

    /// The full form: standard input, a user to run as (`runuser -u`), environment.
    pub fn docker_as(
        &self,
        args: &[&str],
        input: Option<&str>,
        user: Option<&str>,
        env: &[(&str, &str)],
    ) -> Out {
        let host = self.host();
        let mut command = match user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", DOCKER]);
                c
            }
            None => Command::new(DOCKER),
        };
        command.arg("-H").arg(&host).args(args);
        // The CLI's own config (~/.docker) stays in the sandbox.
        command.env("DOCKER_CONFIG", self.sandbox.dir.join("docker-config"));
        for (key, value) in env {
            command.env(key, value);
        }
        self.run_bounded(command, input, format!("docker {}", args.join(" ")))
    }

    /// Run a client to its end (in bounded time) and read what it said.
    fn run_bounded(&self, command: Command, input: Option<&str>, shown: String) -> Out {
        let (child, out_path, err_path) = spawn_with_output(command, input, &self.sandbox.dir);
        let code = wait_bounded(child, Duration::from_secs(60), &shown);
        let out = Out {
            code,
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
            command: shown,
        };
        forget_output(&out_path);
        out
    }

    /// `minibox --host unix://SOCKET ARGS...`: minibox as the daemon's client.
    pub fn minibox_client(&self, args: &[&str]) -> Out {
        let mut command = Command::new(crate::support::MINIBOX);
        command.arg("--host").arg(self.host()).args(args);
        self.run_bounded(command, None, format!("minibox --host {} {}", self.host(), args.join(" ")))
    }

    /// Start a docker CLI and leave it running (a client to disconnect, a second client).
    pub fn docker_spawn(&self, args: &[&str]) -> (Child, PathBuf, PathBuf) {
        let mut command = Command::new(DOCKER);
        command.arg("-H").arg(self.host()).args(args);
        command.env("DOCKER_CONFIG", self.sandbox.dir.join("docker-config"));
        spawn_with_output(command, None, &self.sandbox.dir)
    }

    /// The container directories the daemon holds.
    pub fn container_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.data.join("containers"))
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    /// The shims still running for this daemon's containers.
    pub fn shims(&self) -> Vec<i32> {
        let marker = self.data.display().to_string();
        processes_with(&[" shim ", &marker])
    }

    /// Fail if the daemon's containers left anything: a container, a shim, a mount, a cgroup,
    /// a directory, a socket.
    #[track_caller]
    pub fn check_nothing_left(&self, book: &str) {
        let mut found = Vec::new();
        for dir in self.container_dirs() {
            found.push(format!("a container directory {}", dir.display()));
        }
        for sub in ["oci", "run"] {
            for entry in std::fs::read_dir(self.data.join(sub)).into_iter().flatten().flatten() {
                found.push(format!("{} in {sub}/", entry.file_name().to_string_lossy()));
            }
        }
        for pid in self.shims() {
            found.push(format!("a shim still running (pid {pid})"));
        }
        for mount in mounts_under(std::slice::from_ref(&self.sandbox.dir)) {
            found.push(format!("a mount at {mount}"));
        }
        for cgroup in minibox_cgroups().difference(&self.cgroups_before) {
            found.push(format!("a cgroup at {}", cgroup.display()));
        }
        ensure(
            found.is_empty(),
            "nothing left once every container is removed",
            found.join("; "),
            "removing a container takes all of it: its process, shim, cgroup (the runtime's delete), overlay mount, directory and socket",
            book,
        );
    }

    /// The connections (sockets) the daemon holds open: its listener, and one or two per
    /// client and per shim it speaks to.
    pub fn open_sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                    })
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever the test left: the runtime deletes each container (its process and cgroup),
        // then the shims, the overlays and the new cgroups go.
        for dir in self.container_dirs() {
            if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                let _ = Command::new(crate::support::MINIBOX)
                    .arg("--root")
                    .arg(self.data.join("oci"))
                    .args(["delete", "--force", id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = Command::new("umount")
                .arg("-l")
                .arg(dir.join("bundle/rootfs"))
                .stderr(Stdio::null())
                .status();
        }
        for shim in self.shims().into_iter().filter_map(crate::support::Process::read) {
            shim.signal(libc::SIGKILL);
        }
        for mount in mounts_under(std::slice::from_ref(&self.sandbox.dir)).iter().rev() {
            let _ = Command::new("umount").args(["-l", mount]).status();
        }
        for cgroup in minibox_cgroups().difference(&self.cgroups_before) {
            crate::support::remove_cgroup(cgroup);
        }
    }
}

/// Processes whose command line holds every one of `needles`.
pub fn processes_with(needles: &[&str]) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let line = format!(" {} ", String::from_utf8_lossy(&raw).replace('\0', " "));
        if needles.iter().all(|n| line.contains(n)) {
            found.push(pid);
        }
    }
    found
}

static OUTPUTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Spawn with stdout and stderr in files of the sandbox (a file never blocks a writer, as a
/// full pipe would).
fn spawn_with_output(mut command: Command, input: Option<&str>, sandbox: &Path) -> (Child, PathBuf, PathBuf) {
    let n = OUTPUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = sandbox.join(format!("cli-{n}"));
    std::fs::create_dir_all(&dir).expect("a directory for the CLI's output");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    let mut child = command.spawn().expect("running the docker CLI");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(input.as_bytes());
    }
    (child, out, err)
}

/// Wait for a CLI, killing it after `limit`; its exit code (-1 when killed).
pub fn wait_bounded(mut child: Child, limit: Duration, shown: &str) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the docker CLI") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            fail(
                format!("`{shown}` ends within {} s", limit.as_secs()),
                "it was still running (killed)",
                "a request the daemon never answered, or a stream it never closed: the container's end must close every client's stream",
                "daemon, \"The shim\"",
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Remove the temporary output files of a spawned CLI.
pub fn forget_output(out: &Path) {
    if let Some(dir) = out.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
