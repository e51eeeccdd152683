//! `cargo maint bench-daemon`: the daemon chapter's lab. One `minibox daemon` (a static release
//! build) on a socket of the bench's own, driven by Debian's docker CLI
//! (/usr/local/lib/minibox/docker, installed by tools/provision.sh), against podman:
//!
//! - `docker -H unix://SOCK run --rm busybox true` through minibox's daemon (after a warm-up run,
//!   which also builds the default busybox image from the host's busybox-static);
//! - `podman run --rm --network none busybox true` with podman's default runtime (crun) and
//!   overlay storage in a sandbox of the bench's own (root, runroot, tmpdir, TMPDIR, cgroup
//!   parent), the same busybox image (`minibox image save` to an OCI layout, `podman pull oci:`);
//! - the floor: `docker -H unix://SOCK version`, the CLI's own start-up and two requests.
//!
//! Rounds interleaved (the order rotates each round), medians and the ratio minibox daemon /
//! podman against the target (at most 0.10). The daemon gives a container no network of
//! its own unless asked (`default` and `bridge` are `none`), so podman runs with `--network none`.
//! As in bench-oci, every podman command goes through `unshare -m` with /sys/fs/cgroup/unified
//! detached (crun refuses this machine's hybrid cgroup layout otherwise), and with explicit
//! `--ulimit`s (crun may not raise RLIMIT_NOFILE to podman's default here).
//!
//! Then M `docker run --rm busybox true` started together through the one daemon: the wall time
//! for all, how many succeeded (all must), the median latency, and nothing left afterwards
//! (`docker ps -a -q` empty, no directory under the daemon's `--data`/containers).
//!
//! Everything goes at the end: the daemon (SIGTERM to its pid), podman's sandbox (`podman rm`,
//! `system reset`), mounts under the bench's directory, the cgroups made, the directory.
//!
//! It starts containers: it holds the tests' lock /tmp/minibox-graded.lock while it measures
//! (taking it, or finding it held by the command that started it), so either of these works:
//!   cargo maint bench-daemon
//!   flock /tmp/minibox-graded.lock cargo maint bench-daemon --runs 5 --concurrent 10

use crate::bench::measure::{median_of, run_checked};
use anyhow::{Context, Result, bail};
use fixtures::cgroup::{minibox_cgroups, minibox_parent_cgroups};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Runs of each contender (after one warm-up run of each).
    #[arg(long, default_value_t = 15)]
    pub runs: usize,
    /// How many `docker run --rm` to start together through the one daemon afterwards.
    #[arg(long, default_value_t = 50)]
    pub concurrent: usize,
    /// Measure this minibox binary instead of building a release one.
    #[arg(long, value_name = "PATH")]
    pub minibox: Option<PathBuf>,
}

/// Where tools/provision.sh installs Debian's docker CLI (no dockerd).
const DOCKER: &str = "/usr/local/lib/minibox/docker";
/// The lock the graded tests and the benches take while they start containers.
const LOCK: &str = "/tmp/minibox-graded.lock";
const PODMAN_IMAGE: &str = "localhost/minibox-bench-daemon:v1";
/// The target: minibox's daemon at most a tenth of podman's median.
const TARGET: f64 = 0.10;
/// No single command of the bench may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(ws: &crate::workspace::Workspace, options: &Options) -> Result<()> {
    if !Path::new(DOCKER).exists() {
        bail!("{DOCKER} is missing: run tools/provision.sh (it installs Debian's docker CLI there)");
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("bench-daemon runs as root (minibox daemon, podman's storage and cgroups)");
    }
    if options.runs == 0 || options.concurrent == 0 {
        bail!("--runs and --concurrent take at least 1");
    }
    let minibox = match &options.minibox {
        Some(path) => path.canonicalize().with_context(|| format!("--minibox {}", path.display()))?,
        None => crate::bench::build_minibox(ws)?,
    };
    let _lock = TestLock::hold()?;
    // Declared in this order so that they go in the reverse: the daemon, podman's sandbox, the directory.
    let scratch = Scratch::new()?;
    let sandbox = PodmanSandbox { dir: scratch.dir.join("podman"), cgroup_parent: scratch.name.clone() };
    std::fs::create_dir_all(sandbox.dir.join("tmp"))?;
    let (data, store) = (scratch.dir.join("data"), scratch.dir.join("store"));
    let socket = scratch.dir.join("sock");
    let host = format!("unix://{}", socket.display());
    let docker_config = scratch.dir.join("docker-config");
    std::fs::create_dir_all(&docker_config)?;
    let docker = |args: &[&str]| -> Command {
        let mut command = Command::new(DOCKER);
        command.arg("-H").arg(&host).args(args).env("DOCKER_CONFIG", &docker_config);
        command
    };
    let mut daemon = Daemon::start(&minibox, &host, &data, &store, &scratch.dir, &scratch.name)?;
    let outcome = measure(options, &minibox, &store, &data, &sandbox, &docker, &host);
    if outcome.is_err() {
        daemon.print_log_tail();
    }
    let mut problems = match outcome {
        Ok(problems) => problems,
        Err(error) => {
            // Clean-up below still runs; the error is the bench's answer.
            drop(daemon);
            return Err(error);
        }
    };
    let (stopped, status) = daemon.stop()?;
    println!("daemon: ended ({status}) {:.0} ms after SIGTERM", stopped.as_secs_f64() * 1e3);
    if !status.success() {
        problems.push(format!("the daemon ended with {status} after SIGTERM"));
    }
    let leftovers = scratch.leftovers();
    if leftovers.is_empty() {
        println!("after the daemon: no mount, process or container cgroup of the bench's left");
    } else {
        for leftover in &leftovers {
            println!("after the daemon: left: {leftover}");
        }
        problems.extend(leftovers);
    }
    println!("\nminibox: {}", minibox.display());
    drop(sandbox);
    drop(scratch);
    if !problems.is_empty() {
        bail!("{} problem(s): {}", problems.len(), problems.join("; "));
    }
    Ok(())
}

/// The measured part, with the daemon up: the problems found (the figures are printed).
fn measure(
    options: &Options,
    minibox: &Path,
    store: &Path,
    data: &Path,
    sandbox: &PodmanSandbox,
    docker: &(dyn Fn(&[&str]) -> Command + Sync),
    host: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    // Warm-up: builds busybox:latest into the store.
    let warm = timed(&mut docker(&["run", "--rm", "busybox", "true"]), "the warm-up docker run")?;
    println!(
        "bench-daemon: warm-up `docker run --rm busybox true` (builds the busybox image): {:.1} ms",
        warm.as_secs_f64() * 1e3
    );
    // The same image into podman's store.
    let layout = sandbox.dir.join("layout");
    run_checked(
        Command::new(minibox)
            .args(["image", "save", "busybox:latest", "-o"])
            .arg(&layout)
            .arg("--root")
            .arg(store)
            .stdout(Stdio::null()),
        "minibox image save",
    )?;
    let tag = ref_name(&layout)?;
    run_checked(
        sandbox
            .podman()
            .arg("pull")
            .arg("-q")
            .arg(format!("oci:{}:{tag}", layout.display()))
            .stdout(Stdio::null()),
        "podman pull oci:",
    )?;
    let id = String::from_utf8_lossy(&sandbox.podman().args(["images", "-q"]).output()?.stdout)
        .lines()
        .next()
        .map(str::to_string)
        .context("podman pull oci: left no image")?;
    run_checked(sandbox.podman().args(["tag", &id, PODMAN_IMAGE]), "podman tag")?;
    let podman_info = sandbox
        .podman()
        .args(["info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}"])
        .output()?;
    let podman_info = String::from_utf8_lossy(&podman_info.stdout).trim().to_string();
    let podman_run = || {
        let mut command = sandbox.podman();
        command.args(["run", "--rm", "--network", "none"]);
        command.args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]);
        command.arg(format!("--cgroup-parent=/{}", sandbox.cgroup_parent)).args([PODMAN_IMAGE, "true"]);
        command
    };
    timed(&mut podman_run(), "the warm-up podman run")?;
    timed(&mut docker(&["version"]), "the warm-up docker version")?;

    // minibox's own client makes the same requests as `docker run --rm` without the Go CLI's
    // start-up: the daemon's own share.
    let minibox_client = || {
        let mut command = Command::new(minibox);
        command.arg("--host").arg(host).args(["run", "busybox", "true"]).stdout(Stdio::null());
        command
    };
    let contenders: [(&str, &dyn Fn() -> Command); 4] = [
        ("minibox daemon: `docker run --rm busybox true`", &|| docker(&["run", "--rm", "busybox", "true"])),
        ("podman: `podman run --rm --network none busybox true`", &podman_run),
        ("floor: `docker version` (CLI start-up, two requests)", &|| docker(&["version"])),
        ("minibox daemon: `minibox --host ... run busybox true` (the same requests)", &minibox_client),
    ];
    println!(
        "bench-daemon: {} runs of each, interleaved; daemon on {host}; podman: runtime and storage {podman_info}, --network none (the daemon's default network is none too)",
        options.runs
    );
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    let mut order: Vec<usize> = (0..contenders.len()).collect();
    for round in 0..options.runs {
        order.rotate_left(1); // each contender goes first, second and last in turn
        for &i in &order {
            times[i]
                .push(timed(&mut contenders[i].1(), &format!("{} (round {})", contenders[i].0, round + 1))?);
        }
    }
    let medians: Vec<Duration> = times.iter_mut().map(|t| median_of(t)).collect();
    println!();
    println!("| {} runs each | median | min | max |", options.runs);
    println!("| --- | --- | --- | --- |");
    for (i, (name, _)) in contenders.iter().enumerate() {
        println!(
            "| {name} | {} | {} | {} |",
            ms(medians[i]),
            ms(times[i][0]),
            ms(times[i][times[i].len() - 1])
        );
    }
    let ratio = medians[0].as_secs_f64() / medians[1].as_secs_f64();
    let verdict = if ratio <= TARGET { "met" } else { "missed" };
    println!();
    println!("minibox daemon / podman: {ratio:.3} (target: at most {TARGET:.2}): {verdict}");
    println!(
        "minibox daemon / podman above the floor (each less `docker version`): {:.3}",
        medians[0].saturating_sub(medians[2]).as_secs_f64() / medians[1].as_secs_f64()
    );
    println!(
        "minibox daemon through minibox's client / podman: {:.3}",
        medians[3].as_secs_f64() / medians[1].as_secs_f64()
    );

    // M at once through the one daemon.
    let m = options.concurrent;
    let barrier = std::sync::Barrier::new(m + 1);
    // Each run's own start and length: the wall time runs from the first start to the last end
    // (the main thread may be scheduled late, after the runs it released have begun).
    let runs: Vec<(Instant, Result<Duration>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..m)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut command = docker(&["run", "--rm", "busybox", "true"]);
                    barrier.wait();
                    let start = Instant::now();
                    (start, timed(&mut command, &format!("concurrent docker run {}", i + 1)))
                })
            })
            .collect();
        barrier.wait();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (Instant::now(), Err(anyhow::anyhow!("panicked")))))
            .collect()
    });
    let first = runs.iter().map(|(start, _)| *start).min();
    let last = runs.iter().filter_map(|(start, took)| took.as_ref().ok().map(|d| *start + *d)).max();
    let wall = match (first, last) {
        (Some(first), Some(last)) => last.saturating_duration_since(first),
        _ => Duration::ZERO,
    };
    let results: Vec<Result<Duration>> = runs.into_iter().map(|(_, took)| took).collect();
    let mut latencies: Vec<Duration> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let failures: Vec<String> =
        results.iter().filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}"))).collect();
    let median = median_of(&mut latencies);
    println!();
    println!(
        "{m} concurrent `docker run --rm busybox true` through the one daemon: wall {:.2} s for all, {}/{m} succeeded, latency median {} (min {}, max {})",
        wall.as_secs_f64(),
        latencies.len(),
        ms(median),
        latencies.first().map_or("-".into(), |d| ms(*d)),
        latencies.last().map_or("-".into(), |d| ms(*d)),
    );
    if !failures.is_empty() {
        for failure in failures.iter().take(5) {
            println!("  failed: {failure}");
        }
        problems.push(format!("{} of {m} concurrent runs failed", failures.len()));
    }
    // Nothing left: the CLI's `--rm` waits for the removal, so at once.
    let left = |when: &str, problems: &mut Vec<String>| -> Result<bool> {
        let ps = docker(&["ps", "-a", "-q"]).stdin(Stdio::null()).output()?;
        let ids: Vec<String> =
            String::from_utf8_lossy(&ps.stdout).split_whitespace().map(str::to_string).collect();
        let dirs: Vec<String> = std::fs::read_dir(data.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let clean = ps.status.success() && ids.is_empty() && dirs.is_empty();
        println!(
            "{when}: `docker ps -a -q`: {} ({} line(s)); {}/containers: {} entr(y/ies)",
            if ps.status.success() { "ok" } else { "FAILED" },
            ids.len(),
            data.display(),
            dirs.len()
        );
        if !clean {
            problems.push(format!(
                "{when}: {} container(s) listed by docker ps -a, {} directorie(s) under containers/",
                ids.len(),
                dirs.len()
            ));
        }
        Ok(clean)
    };
    if !left("right after the concurrent runs", &mut problems)? {
        std::thread::sleep(Duration::from_secs(5));
        left("5 s later", &mut problems)?;
    }
    Ok(problems)
}

/// The OCI layout's one ref name (`minibox image save` names the image by its tag).
fn ref_name(layout: &Path) -> Result<String> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    index
        .pointer("/manifests/0/annotations/org.opencontainers.image.ref.name")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .context("the saved layout names no image")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Run a command to its end, its standard error the failure's message; the time from spawn to
/// exit. A command that takes longer than TIMEOUT is killed (by its pid, not yet reaped).
fn timed(command: &mut Command, what: &str) -> Result<Duration> {
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("starting {what}"))?;
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = sender.send((output, Instant::now()));
    });
    match receiver.recv_timeout(TIMEOUT) {
        Ok((Ok(output), ended)) => {
            if !output.status.success() {
                bail!(
                    "{what} failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            Ok(ended - started)
        }
        Ok((Err(error), _)) => Err(error).with_context(|| format!("waiting for {what}")),
        Err(_) => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::SIGKILL);
            let _ = receiver.recv();
            bail!("{what}: no end after {} s (killed)", TIMEOUT.as_secs())
        }
    }
}

/// The running daemon: stopped with SIGTERM to its pid (on drop too).
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(
        minibox: &Path,
        host: &str,
        data: &Path,
        store: &Path,
        dir: &Path,
        marker: &str,
    ) -> Result<Daemon> {
        let log = dir.join("daemon.log");
        let file = std::fs::File::create(&log)?;
        let child = Command::new(minibox)
            .arg("--host")
            .arg(host)
            .arg("daemon")
            .arg("--data")
            .arg(data)
            .arg("--root")
            .arg(store)
            .env("MINIBOX_BENCH_DAEMON", marker)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting minibox daemon")?;
        let mut daemon = Daemon { child: Some(child), log };
        let socket = socket_of(host);
        let started = Instant::now();
        loop {
            if let Some(status) = daemon.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                daemon.child = None;
                daemon.print_log_tail();
                bail!("minibox daemon ended at once ({status})");
            }
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(daemon);
            }
            if started.elapsed() > Duration::from_secs(10) {
                daemon.print_log_tail();
                bail!("minibox daemon did not listen on {} within 10 s", socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then its end: how long it took, and its status. SIGKILL after 15 s.
    fn stop(&mut self) -> Result<(Duration, std::process::ExitStatus)> {
        let mut child = self.child.take().context("the daemon is not running")?;
        let started = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGTERM)?;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((started.elapsed(), status));
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("minibox daemon did not end 15 s after SIGTERM (killed)");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn print_log_tail(&self) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("bench-daemon: the daemon's log, last lines:");
        for line in &lines[lines.len().saturating_sub(20)..] {
            eprintln!("  {line}");
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

fn socket_of(host: &str) -> PathBuf {
    PathBuf::from(host.trim_start_matches("unix://"))
}

/// podman with a storage, state, temporary files and cgroup parent of the bench's own, through
/// `unshare -m` without the unified cgroup mount (as bench-oci). Emptied and reset on drop.
struct PodmanSandbox {
    dir: PathBuf,
    cgroup_parent: String,
}

impl PodmanSandbox {
    fn podman(&self) -> Command {
        let mut command = crate::bench::measure::podman_in(&self.dir);
        command
            .arg("--tmpdir")
            .arg(self.dir.join("libpod"))
            .args(["--storage-driver", "overlay"])
            .env("TMPDIR", self.dir.join("tmp"));
        command
    }
}

impl Drop for PodmanSandbox {
    fn drop(&mut self) {
        if self.dir.join("root").exists() {
            let quiet = |mut c: Command| {
                let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
            };
            let mut rm = self.podman();
            rm.args(["rm", "--all", "--force"]);
            quiet(rm);
            let mut reset = self.podman();
            reset.args(["system", "reset", "--force"]);
            quiet(reset);
        }
        // The cgroup parent given to podman (conmon leaves a `conmon` cgroup in it).
        for hierarchy in hierarchies() {
            let parent = hierarchy.join(&self.cgroup_parent);
            let _ = std::fs::remove_dir(parent.join("conmon"));
            let _ = std::fs::remove_dir(&parent);
        }
    }
}

/// The cgroup hierarchies: each v1 controller's and the v2 root.
fn hierarchies() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    all.push(PathBuf::from("/sys/fs/cgroup"));
    all
}

/// The bench's directory; on drop, what is mounted under it, the container cgroups that
/// appeared under `minibox/` while it ran (and `minibox/` itself if it made it), itself.
struct Scratch {
    dir: PathBuf,
    name: String,
    cgroups_before: BTreeSet<PathBuf>,
    parents_before: Vec<PathBuf>,
}

impl Scratch {
    fn new() -> Result<Scratch> {
        let name = format!("minibox-bench-daemon-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch { dir, name, cgroups_before: minibox_cgroups(), parents_before: minibox_parent_cgroups() })
    }

    fn mounts(&self) -> Vec<String> {
        let prefix = format!("{}/", self.dir.display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_whitespace().nth(4).map(str::to_string))
            .filter(|point| point.starts_with(&prefix))
            .collect()
    }

    /// Processes of the daemon's (its shims, their containers): the daemon's marker in their
    /// environment or the bench's directory on their command line.
    fn processes(&self) -> Vec<u32> {
        let me = std::process::id();
        let marker = format!("MINIBOX_BENCH_DAEMON={}", self.name);
        let dir = self.dir.display().to_string();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != me)
            .filter(|pid| {
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                environ.split(|&b| b == 0).any(|kv| kv == marker.as_bytes())
                    || String::from_utf8_lossy(&cmdline).contains(&dir)
            })
            .collect()
    }

    /// What the daemon left once stopped, described.
    fn leftovers(&self) -> Vec<String> {
        let mut found: Vec<String> = self.mounts().into_iter().map(|m| format!("mount {m}")).collect();
        found.extend(self.processes().into_iter().map(|pid| format!("process {pid}")));
        found.extend(
            minibox_cgroups().difference(&self.cgroups_before).map(|p| format!("cgroup {}", p.display())),
        );
        found
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::SIGKILL);
        }
        for point in self.mounts().iter().rev() {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        for cgroup in minibox_cgroups().difference(&self.cgroups_before) {
            let _ = std::fs::remove_dir(cgroup);
        }
        for parent in minibox_parent_cgroups() {
            if !self.parents_before.contains(&parent) {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// The tests' lock, held while measuring: taken here, or already held by an ancestor (`flock
/// /tmp/minibox-graded.lock cargo maint ...`); held by anyone else, waited for.
struct TestLock(#[allow(dead_code)] Option<std::fs::File>);

impl TestLock {
    fn hold() -> Result<TestLock> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(LOCK)
            .with_context(|| format!("opening {LOCK}"))?;
        match file.try_lock() {
            Ok(()) => {
                println!("bench-daemon: holding {LOCK} while measuring");
                Ok(TestLock(Some(file)))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                if held_by_ancestor(&file) {
                    println!("bench-daemon: {LOCK} is held by the command that started this one");
                    return Ok(TestLock(None));
                }
                println!("bench-daemon: waiting for {LOCK} (graded tests or another bench hold it)");
                file.lock().with_context(|| format!("locking {LOCK}"))?;
                Ok(TestLock(Some(file)))
            }
            Err(std::fs::TryLockError::Error(error)) => Err(error).with_context(|| format!("locking {LOCK}")),
        }
    }
}

/// Whether /proc/locks shows the lock on `file` held by one of this process's ancestors.
fn held_by_ancestor(file: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(inode) = file.metadata().map(|m| m.ino()) else { return false };
    let holders: Vec<u32> = std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF"; waiters have "->" after the number.
            if fields.get(1) == Some(&"->") || fields.len() < 6 {
                return None;
            }
            let held = fields[5].rsplit(':').next()?.parse::<u64>().ok()?;
            (held == inode).then(|| fields[4].parse().ok()).flatten()
        })
        .collect();
    let mut pid = std::os::unix::process::parent_id();
    while pid > 1 {
        if holders.contains(&pid) {
            return true;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "PID (COMM) STATE PPID ...": COMM may hold spaces, so after the last ')'.
        pid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
    }
    false
}
