//! `cargo maint reliability`: the finished runtime under abuse, bounded in time (`cargo xtask test`
//! runs it; it starts containers, so hold the machine's test lock).
//!
//! - **The soak**: 100 runs with limits, in a random order of their kinds: runs that end by
//!   themselves, runs whose minibox is SIGKILLed at a random moment (it can clean nothing up; the
//!   next start must reclaim what it left within a second), and runs whose container processes
//!   are SIGKILLed (during set-up, a failure to start: 125; later, 137). Then it counts what is
//!   left: processes, cgroups, mounts, container directories, temporary entries. Each must be 0.
//! - **The bad-input corpus**: command-line values, malicious tar archives and broken image
//!   layouts, each with the one line and the exit code it must give, and nothing left behind.
//!
//! It prints both tables (the figures of the lead's closing note) and fails on any miss.

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xtask::cargo;
use xtask::workspace::Workspace;

/// The whole suite must end within this, or it fails.
const BUDGET: Duration = Duration::from_secs(120);
const SOAK_RUNS: usize = 100;
/// How soon after the next start a killed minibox's leftovers must be gone.
const RECLAIM_WITHIN: Duration = Duration::from_secs(1);

pub fn run(ws: &Workspace) -> Result<()> {
    let started = Instant::now();
    let mut build = cargo::cargo();
    build.args(["build", "--quiet", "-p", "minibox", "--bin", "minibox"]);
    let minibox = crate::executables::build(build, &ws.root)?
        .into_iter()
        .find(|e| e.target == "minibox" && e.kinds.iter().any(|k| k == "bin"))
        .context("cargo built no minibox binary")?
        .path;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the reliability suite makes containers: run it as root");
    }
    let scratch = Scratch::new()?;
    let lab = Lab { minibox, scratch: scratch.0.clone(), token: scratch.token() };
    let before = lab.count_left(&lab.scratch.join("soak"), &BTreeSet::new());
    let soak = lab.soak(started)?;
    print_soak(&soak);
    let races = lab.store_races()?;
    print_races(&races);
    let corpus = lab.corpus()?;
    print_corpus(&corpus);
    let elapsed = started.elapsed();
    println!("reliability: {} s in all (budget {} s)", elapsed.as_secs(), BUDGET.as_secs());
    let mut defects = Vec::new();
    if !before.is_empty() {
        defects
            .push(format!("leftovers from before the suite (not counted against it): {}", before.describe()));
    }
    if !soak.left.is_empty() || !soak.failures.is_empty() {
        defects.push(format!("the soak: left {}; {}", soak.left.describe(), soak.failures.join("; ")));
    }
    defects.extend(
        races.iter().filter(|(_, ok, _)| !ok).map(|(what, _, seen)| format!("store: {what}: {seen}")),
    );
    let failed: Vec<String> =
        corpus.iter().filter(|c| !c.ok()).map(|c| format!("{}: {}", c.name, c.problem)).collect();
    if !failed.is_empty() {
        defects.push(format!("bad inputs handled wrongly:\n  {}", failed.join("\n  ")));
    }
    if elapsed > BUDGET {
        defects.push(format!("took {} s, over the budget of {} s", elapsed.as_secs(), BUDGET.as_secs()));
    }
    if !defects.is_empty() {
        bail!("reliability: {}", defects.join("\n"));
    }
    println!("reliability: every run cleaned up, every bad input refused in one line");
    Ok(())
}

/// A private scratch directory (0700, an unpredictable name), removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("minibox-reliability-{:016x}", random()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn token(&self) -> String {
        self.0.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("/dev/urandom"),
        &mut bytes,
    );
    u64::from_le_bytes(bytes)
}

struct Lab {
    minibox: PathBuf,
    scratch: PathBuf,
    /// Set in the environment of every minibox and container of the suite, to find them in /proc.
    token: String,
}

/// What a run can leave behind.
#[derive(Default, Debug, Clone)]
struct Left {
    processes: Vec<String>,
    cgroups: Vec<String>,
    mounts: Vec<String>,
    containers: Vec<String>,
    temporary: Vec<String>,
}

impl Left {
    fn is_empty(&self) -> bool {
        self.total() == 0
    }

    fn total(&self) -> usize {
        self.processes.len()
            + self.cgroups.len()
            + self.mounts.len()
            + self.containers.len()
            + self.temporary.len()
    }

    fn describe(&self) -> String {
        format!(
            "{} processes {:?}, {} cgroups {:?}, {} mounts {:?}, {} container directories {:?}, {} temporary entries {:?}",
            self.processes.len(),
            self.processes,
            self.cgroups.len(),
            self.cgroups,
            self.mounts.len(),
            self.mounts,
            self.containers.len(),
            self.containers,
            self.temporary.len(),
            self.temporary
        )
    }
}

impl Lab {
    /// `minibox ARGS` with the state directory `state`; its stderr goes to a file (a pipe would
    /// block the reader for as long as any container process holds it).
    fn command(&self, state: &Path, args: &[String]) -> Result<(Command, PathBuf)> {
        let stderr_path = self.scratch.join(format!("stderr-{:x}", random()));
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut command = Command::new(&self.minibox);
        let mut args = args.to_vec();
        if args.first().map(String::as_str) == Some("run") {
            args.insert(1, format!("--env=MINIBOX_RELIABILITY={}", self.token));
        }
        command
            .args(&args)
            .env("MINIBOX_ROOT", state)
            .env("MINIBOX_RELIABILITY", &self.token)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        Ok((command, stderr_path))
    }

    /// Everything the suite's runs left in the state directory `state` and on the machine;
    /// `mounts_before` is the mount table before the suite.
    fn count_left(&self, state: &Path, mounts_before: &BTreeSet<String>) -> Left {
        let mut left = Left {
            processes: processes_with(&format!("MINIBOX_RELIABILITY={}", self.token))
                .iter()
                .map(|(pid, name)| format!("{pid} {name}"))
                .collect(),
            cgroups: fixtures::cgroup::minibox_cgroups().iter().map(|p| p.display().to_string()).collect(),
            ..Left::default()
        };
        if !mounts_before.is_empty() {
            left.mounts = mount_points().difference(mounts_before).cloned().collect();
        }
        left.containers = entries(&state.join("containers"), "");
        for (dir, prefix) in [
            ("layers", ".unpacking-"),
            ("tmp", ""),
            ("oci/blobs/sha256", "."),
            ("oci", ".index.json."),
            ("rootfs", ".busybox-"),
        ] {
            left.temporary.extend(entries(&state.join(dir), prefix));
        }
        left
    }
}

fn entries(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .map(|n| dir.join(n).display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes whose environment holds `needle` (`KEY=VALUE`): (pid, command name).
fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let needle = format!("{needle}\0");
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_string();
            let state = stat.get(stat.rfind(')')? + 2..)?.chars().next()?;
            (state != 'Z').then_some((pid, name))
        })
        .collect()
}

fn mount_points() -> BTreeSet<String> {
    fixtures::mounts::Mount::all().into_iter().map(|m| m.point.display().to_string()).collect()
}

fn kill(pid: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Wait for `child` to end, at most `limit`; kill it if it does not. Returns (code, signal,
/// what it wrote on stderr).
fn finish(mut child: Child, stderr: &Path, limit: Duration) -> (Option<i32>, Option<i32>, String) {
    use std::os::unix::process::ExitStatusExt;
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("waiting for minibox");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let text = String::from_utf8_lossy(&std::fs::read(stderr).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(stderr);
    (status.code(), status.signal(), text)
}

/// The children of process `parent`.
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
                after.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent)
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The soak

#[derive(Default)]
struct Soak {
    runs: usize,
    clean: usize,
    minibox_kills: usize,
    container_kills: usize,
    killed_in_set_up: usize,
    killed_running: usize,
    slowest_reclaim: Duration,
    left: Left,
    failures: Vec<String>,
    seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Clean,
    KillMinibox,
    KillContainer,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Lab {
    fn soak(&self, started: Instant) -> Result<Soak> {
        let state = self.scratch.join("soak");
        let rootfs = self.scratch.join("rootfs");
        busybox_rootfs(&rootfs)?;
        let mounts_before = mount_points();
        // Build the default image first, so that no kill lands in its building.
        let warm_up: Vec<String> = ["run", "--", "true"].map(String::from).to_vec();
        let (mut command, stderr) = self.command(&state, &warm_up)?;
        let (code, _, text) = finish(command.spawn()?, &stderr, Duration::from_secs(60));
        if code != Some(0) {
            bail!("the soak's warm-up run failed ({code:?}): {}", text.trim());
        }
        let mut soak = Soak { seed: random() | 1, ..Soak::default() };
        let mut rng = Rng(soak.seed);
        let mut pending: Option<(String, BTreeSet<PathBuf>, Vec<String>)> = None;
        for i in 0..SOAK_RUNS {
            if started.elapsed() > BUDGET / 2 {
                soak.failures.push(format!("the soak ran out of time after {i} runs"));
                break;
            }
            // The last run ends by itself: it is the next start for a kill just before it.
            let kind = match rng.below(10) {
                _ if i + 1 == SOAK_RUNS => Kind::Clean,
                0..=5 => Kind::Clean,
                6 | 7 => Kind::KillMinibox,
                _ => Kind::KillContainer,
            };
            let marker = format!("{}-{i}", self.token);
            let mut args: Vec<String> =
                ["run", "--memory", "32m", "--pids", "16", "--cpus", "0.5"].map(String::from).to_vec();
            args.push(format!("--env=SOAK_RUN={marker}"));
            if rng.below(3) == 0 {
                args.push("--init".into());
            }
            // Half the runs from the default image (container directories, overlay), half from a directory.
            if rng.below(2) == 0 {
                args.extend(["--rootfs".to_string(), rootfs.display().to_string()]);
            }
            let (script, expected) = match kind {
                Kind::Clean => {
                    [("true", 0), ("exit 3", 3), ("sleep 0.05; echo done > /tmp/f; cat /tmp/f", 0)]
                        [rng.below(3) as usize]
                }
                _ => ("sleep 5", 0),
            };
            args.extend(["--".into(), "sh".into(), "-c".into(), script.into()]);
            let (mut command, stderr) = self.command(&state, &args)?;
            let child = command.spawn().context("starting minibox")?;
            let pid = child.id() as i32;
            let run_started = Instant::now();
            // The previous run's minibox was killed: this start must reclaim what it left.
            if let Some((killed, cgroups, containers)) = pending.take() {
                let waited = self.wait_reclaimed(&killed, &cgroups, &containers, &state);
                soak.slowest_reclaim = soak.slowest_reclaim.max(waited.unwrap_or(RECLAIM_WITHIN));
                if waited.is_none() {
                    soak.failures.push(format!(
                        "run {i}: what run {} left was still there {} ms after the next start",
                        i - 1,
                        RECLAIM_WITHIN.as_millis()
                    ));
                }
            }
            soak.runs += 1;
            match kind {
                Kind::Clean => {
                    let (code, signal, stderr) = finish(child, &stderr, Duration::from_secs(30));
                    if code == Some(expected) {
                        soak.clean += 1;
                    } else {
                        soak.failures.push(format!(
                            "run {i} (`{script}`): expected exit {expected}, saw {code:?}/{signal:?}: {}",
                            stderr.trim()
                        ));
                    }
                }
                Kind::KillMinibox => {
                    std::thread::sleep(Duration::from_millis(rng.below(300)));
                    kill(pid);
                    let _ = finish(child, &stderr, Duration::from_secs(10));
                    soak.minibox_kills += 1;
                    // What it left, as seen before the next start: its cgroups and directories.
                    let containers = entries(&state.join("containers"), "");
                    pending = Some((marker.clone(), fixtures::cgroup::minibox_cgroups(), containers));
                }
                Kind::KillContainer => {
                    // Half of them early, while the container may still be being set up.
                    let delay =
                        Duration::from_millis(if rng.below(2) == 0 { rng.below(15) } else { rng.below(300) });
                    while run_started.elapsed() < delay {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    // Its children: the container's first process, in set-up or running.
                    // Until minibox ends, keep killing what appears (a --init's command).
                    let mut child = child;
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                        let mut victims = children_of(pid);
                        victims.extend(
                            processes_with(&format!("SOAK_RUN={marker}")).into_iter().map(|(p, _)| p),
                        );
                        // Not the programs minibox runs for itself on the host's side (`nft`, from
                        // the network chapter on): a container cannot reach them, so killing them
                        // tests nothing a container could do.
                        let own_helper = |p: &i32| {
                            std::fs::read_to_string(format!("/proc/{p}/comm"))
                                .is_ok_and(|c| c.trim() == "nft")
                        };
                        for victim in victims.into_iter().filter(|p| *p != pid && !own_helper(p)) {
                            kill(victim);
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    let (code, signal, stderr) = finish(child, &stderr, Duration::from_secs(10));
                    soak.container_kills += 1;
                    match code {
                        Some(137) => soak.killed_running += 1,
                        Some(125) if stderr.contains("while it was being set up") => soak.killed_in_set_up += 1,
                        _ => soak.failures.push(format!(
                            "run {i}: container killed: expected 137 (running) or 125 (set-up), saw {code:?}/{signal:?}: {}",
                            stderr.trim()
                        )),
                    }
                }
            }
        }
        soak.left = self.count_left(&state, &mounts_before);
        Ok(soak)
    }

    /// Wait until the leftovers of the killed run `marker` (its processes, the cgroups and
    /// container directories seen after the kill) are gone; how long that took, or None.
    fn wait_reclaimed(
        &self,
        marker: &str,
        cgroups: &BTreeSet<PathBuf>,
        containers: &[String],
        state: &Path,
    ) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < RECLAIM_WITHIN {
            let processes = processes_with(&format!("SOAK_RUN={marker}"));
            let cgroups_left = cgroups.iter().any(|c| c.exists());
            let containers_left = containers.iter().any(|c| Path::new(c).exists());
            let temporary = self.count_left(state, &BTreeSet::new()).temporary;
            if processes.is_empty() && !cgroups_left && !containers_left && temporary.is_empty() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

fn print_soak(soak: &Soak) {
    println!("\n### The soak (seed {:#x})\n", soak.seed);
    println!("| what | count |\n| --- | --- |");
    println!(
        "| runs (each `--memory 32m --pids 16 --cpus 0.5`; a third `--init`; half from the default image) | {} |",
        soak.runs
    );
    println!("| ended by themselves, with the expected exit code | {} |", soak.clean);
    println!("| minibox SIGKILLed at a random moment (0-300 ms) | {} |", soak.minibox_kills);
    println!(
        "| container processes SIGKILLed (half at 0-15 ms, half at 0-300 ms) | {} |",
        soak.container_kills
    );
    println!("| ... of which while running: exit 137 | {} |", soak.killed_running);
    println!(
        "| ... of which during set-up: exit 125, \"killed while it was being set up\" | {} |",
        soak.killed_in_set_up
    );
    println!("| slowest reclaim after the next start | {} ms |", soak.slowest_reclaim.as_millis());
    println!("| processes left | {} |", soak.left.processes.len());
    println!("| cgroups left | {} |", soak.left.cgroups.len());
    println!("| mounts left | {} |", soak.left.mounts.len());
    println!("| container directories left | {} |", soak.left.containers.len());
    println!("| temporary entries left | {} |", soak.left.temporary.len());
    println!("| runs that went wrong | {} |", soak.failures.len());
    for failure in &soak.failures {
        println!("  - {failure}");
    }
}

/// A root filesystem of the host's static busybox (the same one the graded tests use).
fn busybox_rootfs(root: &Path) -> Result<()> {
    let busybox = fixtures::busybox::locate_static()?;
    Ok(fixtures::busybox::build_rootfs(&busybox, root)?)
}

// ---------------------------------------------------------------------------------------------
// The store under concurrent use

impl Lab {
    /// Concurrent imports must keep every tag; `rmi` must refuse while a container runs from the
    /// store and succeed once it has ended. Returns (what, held, what was seen).
    fn store_races(&self) -> Result<Vec<(String, bool, String)>> {
        const IMPORTS: usize = 8;
        let state = self.scratch.join("races");
        let archive = self.scratch.join("small.tar");
        std::fs::write(&archive, tar(&[entry("hello", b"hi\n", b'0', "")]))?;
        let mut results = Vec::new();
        let mut running = Vec::new();
        for i in 0..IMPORTS {
            let args =
                ["image", "import", &archive.display().to_string(), &format!("race{i}:1")].map(String::from);
            let (mut command, stderr) = self.command(&state, &args)?;
            running.push((command.spawn()?, stderr));
        }
        let codes: Vec<Option<i32>> = running
            .into_iter()
            .map(|(child, stderr)| finish(child, &stderr, Duration::from_secs(30)).0)
            .collect();
        let (mut list, stderr) = self.command(&state, &["images".to_string()])?;
        let listed = list.stdout(Stdio::piped()).output()?;
        let _ = std::fs::remove_file(stderr);
        let tags = String::from_utf8_lossy(&listed.stdout).lines().filter(|l| l.starts_with("race")).count();
        results.push((
            format!("{IMPORTS} imports at once keep every tag"),
            tags == IMPORTS && codes.iter().all(|c| *c == Some(0)),
            format!("{tags} of {IMPORTS} tags listed; exit codes {codes:?}"),
        ));
        // A container from the default image (race0's one file has no `sleep`).
        let run = ["run", "--", "sleep", "1"].map(String::from);
        let (mut command, run_stderr) = self.command(&state, &run)?;
        let container = command.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while entries(&state.join("containers"), "").is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let rmi = ["rmi", "race0:1"].map(String::from);
        let (mut command, stderr) = self.command(&state, &rmi)?;
        let (during, _, text) = finish(command.spawn()?, &stderr, Duration::from_secs(30));
        let (ran, _, _) = finish(container, &run_stderr, Duration::from_secs(30));
        results.push((
            "rmi while a container runs from the store is refused".into(),
            during == Some(125) && text.contains("containers are running") && ran == Some(0),
            format!("rmi exit {during:?}: {}; the container exit {ran:?}", text.trim()),
        ));
        let (mut command, stderr) = self.command(&state, &rmi)?;
        let (after, _, text) = finish(command.spawn()?, &stderr, Duration::from_secs(30));
        results.push((
            "rmi once the container has ended succeeds".into(),
            after == Some(0),
            format!("exit {after:?} {}", text.trim()),
        ));
        Ok(results)
    }
}

fn print_races(results: &[(String, bool, String)]) {
    println!("\n### The store under concurrent use\n");
    println!("| check | held | seen |\n| --- | --- | --- |");
    for (what, ok, seen) in results {
        println!("| {what} | {} | {} |", if *ok { "yes" } else { "**no**" }, seen.replace('|', "\\|"));
    }
}

// ---------------------------------------------------------------------------------------------
// The bad-input corpus

struct Case {
    name: String,
    args: String,
    expected: &'static str,
    seen: String,
    problem: String,
}

impl Case {
    fn ok(&self) -> bool {
        self.problem.is_empty()
    }
}

/// A bad input: the arguments after `minibox` (`{}` stands for the file or directory the case
/// made), and the text its one line of error must contain.
struct Bad {
    name: &'static str,
    args: Vec<String>,
    expected: &'static str,
}

fn bad(name: &'static str, args: &[&str], expected: &'static str) -> Bad {
    Bad { name, args: args.iter().map(|s| s.to_string()).collect(), expected }
}

impl Lab {
    fn corpus(&self) -> Result<Vec<Case>> {
        let state = self.scratch.join("corpus");
        let files = self.scratch.join("inputs");
        std::fs::create_dir_all(&files)?;
        let rootfs = self.scratch.join("rootfs");
        let root = rootfs.display().to_string();
        let long_host = "h".repeat(65);
        let long_tag = format!("x:{}", "t".repeat(129));
        let mut cases = vec![
            bad(
                "--cpus above the machine's CPUs",
                &["run", "--cpus", "1e9", "--rootfs", &root, "--", "true"],
                "more than this machine has",
            ),
            bad("--cpus 0", &["run", "--cpus", "0", "--rootfs", &root, "--", "true"], "not a number of CPUs"),
            bad(
                "--cpus nan",
                &["run", "--cpus", "nan", "--rootfs", &root, "--", "true"],
                "not a number of CPUs",
            ),
            bad(
                "--cpus -1",
                &["run", "--cpus", "-1", "--rootfs", &root, "--", "true"],
                "not a number of CPUs",
            ),
            bad(
                "--memory below the minimum",
                &["run", "--memory", "1k", "--rootfs", &root, "--", "true"],
                "below the minimum",
            ),
            bad(
                "--memory with an unknown unit",
                &["run", "--memory", "12XB", "--rootfs", &root, "--", "true"],
                "unknown unit",
            ),
            bad(
                "--memory too large",
                &["run", "--memory", "99999999999999g", "--rootfs", &root, "--", "true"],
                "too large",
            ),
            bad(
                "--pids 0",
                &["run", "--pids", "0", "--rootfs", &root, "--", "true"],
                "not a number of processes",
            ),
            bad(
                "--hostname with a space",
                &["run", "--hostname", "a b", "--rootfs", &root, "--", "true"],
                "not a valid hostname",
            ),
            bad(
                "--hostname of 65 characters",
                &["run", "--hostname", &long_host, "--rootfs", &root, "--", "true"],
                "not a valid hostname",
            ),
            bad(
                "--env without =",
                &["run", "--env", "NOEQUALS", "--rootfs", &root, "--", "true"],
                "KEY=VALUE",
            ),
            bad(
                "--rootfs that does not exist",
                &["run", "--rootfs", "/no/such/dir", "--", "true"],
                "no such directory",
            ),
            bad(
                "--rootfs that is a file",
                &["run", "--rootfs", "/etc/passwd", "--", "true"],
                "not a directory",
            ),
            bad("--rootfs and an image", &["run", "--rootfs", &root, "busybox", "--", "true"], "not both"),
            bad("image name ../x", &["run", "../x", "--", "true"], "is not an image name"),
            bad("image name a/../../evil", &["run", "a/../../evil", "--", "true"], "is not an image name"),
            bad("image name in upper case", &["run", "Busybox:1", "--", "true"], "is not an image name"),
            bad("image tag of 129 characters", &["run", &long_tag, "--", "true"], "is not an image name"),
            bad(
                "image name with an escape sequence",
                &["run", "x\u{1b}[2J", "--", "true"],
                "is not an image name",
            ),
            bad(
                "an image that does not exist",
                &["run", "nosuch:1", "--", "true"],
                "no image named nosuch:1",
            ),
            bad("rmi of an image that does not exist", &["rmi", "nosuch:1"], "no image named nosuch:1"),
            bad(
                "import of a missing file",
                &["image", "import", "/no/such.tar", "x:1"],
                "opening /no/such.tar",
            ),
            bad(
                "import under the name ../x",
                &["image", "import", "/etc/passwd", "../x"],
                "is not an image name",
            ),
        ];
        // Archives that are no tar at all, or malicious ones.
        let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        elf.extend((0..2000u32).map(|i| (i * 7919 % 251) as u8));
        let tars: Vec<(&'static str, Vec<u8>, &'static str)> = vec![
            ("not a tar: a program's bytes", elf, "is not a tar archive"),
            (
                "not a tar: text with terminal escapes",
                b"\x1b[2J\x1b[31mred\x07 text\n".repeat(40),
                "is not a tar archive",
            ),
            ("not a tar: an empty file", Vec::new(), "shorter than one tar header"),
            (
                "not a tar: gzip of garbage",
                [&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..], &[0xff; 600]].concat(),
                "gzip-compressed content is not a tar archive",
            ),
            ("tar: an absolute path", tar(&[entry("/etc/minibox-evil", b"x", b'0', "")]), "an absolute path"),
            ("tar: a path with ..", tar(&[entry("../minibox-evil", b"x", b'0', "")]), "`..` would climb"),
            (
                "tar: a name with .. and escapes",
                tar(&[entry("../\x1b[2Jx", b"x", b'0', "")]),
                "`..` would climb",
            ),
            (
                "tar: a write through a symbolic link",
                tar(&[entry("etc", b"", b'2', "/etc"), entry("etc/minibox-evil", b"x", b'0', "")]),
                "through the symbolic link",
            ),
            (
                "tar: a hard link out with ..",
                tar(&[entry("passwd", b"", b'1', "../../etc/passwd")]),
                "`..` would climb",
            ),
            (
                "tar: a hard link to an absolute path",
                tar(&[entry("shadow", b"", b'1', "/etc/shadow")]),
                "an absolute path",
            ),
            ("tar: truncated in a file's data", truncated_tar(), "layer"),
            ("tar: a second header with a bad checksum", bad_second_header(), "layer"),
        ];
        for (i, (name, bytes, expected)) in tars.into_iter().enumerate() {
            let path = files.join(format!("archive-{i}.tar"));
            std::fs::write(&path, bytes)?;
            cases.push(Bad {
                name,
                args: vec!["image".into(), "import".into(), path.display().to_string(), format!("bad{i}:1")],
                expected,
            });
        }
        // Broken OCI layouts for `image load`.
        for (i, (name, layout, expected)) in broken_layouts().into_iter().enumerate() {
            let dir = files.join(format!("layout-{i}"));
            layout.write(&dir)?;
            let mut args = vec!["image".to_string(), "load".into(), dir.display().to_string()];
            if layout.tag {
                args.extend(["--tag".into(), format!("layout{i}:1")]);
            }
            cases.push(Bad { name, args, expected });
        }
        let load_tar = files.join("load-escape.tar");
        std::fs::write(
            &load_tar,
            tar(&[entry("oci-layout", b"{}", b'0', ""), entry("../minibox-evil", b"x", b'0', "")]),
        )?;
        cases.push(bad(
            "load: an archive with ..",
            &["image", "load", &load_tar.display().to_string()],
            "`..` would climb",
        ));
        let load_garbage = files.join("load-garbage.tar");
        std::fs::write(&load_garbage, b"\x1b]0;pwned\x07\x00\xff\xfe garbage".repeat(50))?;
        cases.push(bad(
            "load: a file that is no tar",
            &["image", "load", &load_garbage.display().to_string()],
            "is not a tar archive",
        ));

        let mounts_before = mount_points();
        let mut results = Vec::new();
        for case in cases {
            let images_before = std::fs::read_to_string(state.join("oci/index.json")).unwrap_or_default();
            let (mut command, stderr) = self.command(&state, &case.args)?;
            let (code, signal, stderr) = finish(command.spawn()?, &stderr, Duration::from_secs(30));
            let line = stderr.trim_end_matches('\n');
            let mut problems = Vec::new();
            if code != Some(125) {
                problems.push(format!("exit {code:?} (signal {signal:?}), not 125"));
            }
            if line.lines().count() != 1 || !line.starts_with("minibox: ") {
                problems.push("not one line starting with `minibox: `".to_string());
            }
            if !line.contains(case.expected) {
                problems.push(format!("no `{}` in it", case.expected));
            }
            if line.chars().any(|c| c.is_control() || c == '\u{fffd}') {
                problems.push("control characters or undecodable bytes reach the terminal".into());
            }
            let images_after = std::fs::read_to_string(state.join("oci/index.json")).unwrap_or_default();
            if images_before != images_after && !images_before.is_empty() {
                problems.push("the image index changed".into());
            }
            let left = self.count_left(&state, &mounts_before);
            let evil = ["/etc/minibox-evil", "/tmp/minibox-evil"].iter().any(|p| Path::new(p).exists());
            if !left.is_empty() || evil {
                problems.push(format!(
                    "left {}{}",
                    left.describe(),
                    if evil { "; wrote outside" } else { "" }
                ));
            }
            results.push(Case {
                name: case.name.to_string(),
                args: shown_args(&case.args, &self.scratch),
                expected: case.expected,
                seen: format!("{} {}", code.map_or("-".into(), |c| c.to_string()), line.escape_debug()),
                problem: problems.join("; "),
            });
        }
        Ok(results)
    }
}

fn shown_args(args: &[String], scratch: &Path) -> String {
    let scratch = scratch.display().to_string();
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let a = a.replace(&scratch, "$S");
            let a = if a.len() > 24 {
                format!("{}...", &a[..a.char_indices().nth(20).map_or(a.len(), |(i, _)| i)])
            } else {
                a
            };
            a.escape_debug().to_string().replace('|', "\\|")
        })
        .collect();
    shown.join(" ")
}

fn print_corpus(cases: &[Case]) {
    println!(
        "\n### The bad-input corpus ({} inputs; each must exit 125 with one line and leave nothing)\n",
        cases.len()
    );
    println!("| # | input | `minibox` arguments | the line must contain | seen (exit, line) | ok |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (i, case) in cases.iter().enumerate() {
        let seen = case.seen.replace('|', "\\|");
        let ok = if case.ok() { "yes".to_string() } else { format!("**no**: {}", case.problem) };
        println!("| {} | {} | `{}` | {} | {} | {} |", i + 1, case.name, case.args, case.expected, seen, ok);
    }
}

// Tar archives, written by hand: a malicious archive is exactly what a tar library would refuse
// to write.

struct TarEntry {
    name: String,
    data: Vec<u8>,
    kind: u8,
    link: String,
}

fn entry(name: &str, data: &[u8], kind: u8, link: &str) -> TarEntry {
    TarEntry { name: name.into(), data: data.to_vec(), kind, link: link.into() }
}

fn header(entry: &TarEntry, size: usize) -> [u8; 512] {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, text: &[u8]| h[at..at + text.len()].copy_from_slice(text);
    put(&mut h, 0, &entry.name.as_bytes()[..entry.name.len().min(100)]);
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, b"00000000000\0");
    h[156] = entry.kind;
    put(&mut h, 157, &entry.link.as_bytes()[..entry.link.len().min(100)]);
    put(&mut h, 257, b"ustar\x0000");
    put(&mut h, 148, b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    h
}

fn tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend(header(e, e.data.len()));
        out.extend(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend([0u8; 1024]);
    out
}

/// A header that promises 1 MiB of data, followed by 100 bytes.
fn truncated_tar() -> Vec<u8> {
    let mut out = header(&entry("big", b"", b'0', ""), 1 << 20).to_vec();
    out.extend([b'x'; 100]);
    out
}

/// A good first entry, then a header whose checksum is wrong.
fn bad_second_header() -> Vec<u8> {
    let mut out = tar(&[entry("ok", b"fine", b'0', "")]);
    out.truncate(1024);
    let mut second = header(&entry("second", b"", b'0', ""), 0);
    second[148..156].copy_from_slice(b"0000001\0");
    out.extend(second);
    out.extend([0u8; 1024]);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An OCI image layout to write to a directory: blobs by digest, and an index.
struct Layout {
    blobs: Vec<Vec<u8>>,
    index: String,
    oci_layout: bool,
    /// Give `--tag` when loading it.
    tag: bool,
    /// Bytes written under another blob's name: (its digest's hex, the bytes).
    tampered: Option<(String, Vec<u8>)>,
}

impl Layout {
    fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))?;
        for blob in &self.blobs {
            std::fs::write(dir.join("blobs/sha256").join(sha256_hex(blob)), blob)?;
        }
        if self.oci_layout {
            std::fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}")?;
        }
        std::fs::write(dir.join("index.json"), &self.index)?;
        if let Some((hex, bytes)) = &self.tampered {
            std::fs::write(dir.join("blobs/sha256").join(hex), bytes)?;
        }
        Ok(())
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> String {
    format!(
        "{{\"mediaType\":\"{media_type}\",\"digest\":\"sha256:{}\",\"size\":{}}}",
        sha256_hex(bytes),
        bytes.len()
    )
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// An image layout around `layer` (a tar) whose configuration names `diff_ids`.
fn image(layer: &[u8], layer_type: &str, diff_ids: &[String]) -> (Vec<Vec<u8>>, String) {
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"{d}\"")).collect();
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"sh\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
        ids.join(",")
    )
    .into_bytes();
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MANIFEST}\",\"config\":{},\"layers\":[{}]}}",
        descriptor(CONFIG, &config),
        descriptor(layer_type, layer)
    )
    .into_bytes();
    let index = format!("{{\"schemaVersion\":2,\"manifests\":[{}]}}", descriptor(MANIFEST, &manifest));
    (vec![layer.to_vec(), config, manifest], index)
}

fn broken_layouts() -> Vec<(&'static str, Layout, &'static str)> {
    let layer = tar(&[entry("hello", b"hi\n", b'0', "")]);
    let good_id = format!("sha256:{}", sha256_hex(&layer));
    let layout = |blobs: Vec<Vec<u8>>, index: String| Layout {
        blobs,
        index,
        oci_layout: true,
        tag: true,
        tampered: None,
    };
    let (blobs, index) = image(&layer, LAYER, std::slice::from_ref(&good_id));
    let mut cases = vec![
        (
            "load: no oci-layout file",
            Layout { oci_layout: false, ..layout(blobs.clone(), index.clone()) },
            "is not an OCI image layout",
        ),
        (
            "load: index.json is not JSON",
            layout(vec![], "{\"schemaVersion\": 2, \"manif".into()),
            "reading index.json",
        ),
        (
            "load: no images in the index",
            layout(vec![], "{\"schemaVersion\":2,\"manifests\":[]}".into()),
            "holds no images",
        ),
        (
            "load: no name and no --tag",
            Layout { tag: false, ..layout(blobs.clone(), index.clone()) },
            "has no name in the layout",
        ),
    ];
    // The manifest blob missing.
    let (mut missing, index_missing) = image(&layer, LAYER, std::slice::from_ref(&good_id));
    missing.pop();
    cases.push(("load: the manifest blob is missing", layout(missing, index_missing), "is missing"));
    // A blob that is not what its digest says: write the manifest's bytes under the layer's digest.
    let (tampered, index_tampered) = image(&layer, LAYER, std::slice::from_ref(&good_id));
    let mut tampered_layout = layout(tampered, index_tampered);
    tampered_layout.tampered = Some((sha256_hex(&layer), [&layer[..], b"tampered"].concat()));
    cases.push(("load: a layer tampered with", tampered_layout, "does not match its digest"));
    // Sizes that lie.
    let (blobs_size, index_size) = image(&layer, LAYER, std::slice::from_ref(&good_id));
    let lying = index_size.replace(&format!("\"size\":{}", blobs_size[2].len()), "\"size\":7");
    cases.push((
        "load: a descriptor with the wrong size",
        layout(blobs_size, lying),
        "does not match its digest",
    ));
    let (b, i) = image(&layer, LAYER, &[good_id.clone(), good_id.clone()]);
    cases.push((
        "load: configuration and manifest disagree on layers",
        layout(b, i),
        "lists 2 layers, the manifest 1",
    ));
    let wrong_id = format!("sha256:{}", sha256_hex(b"something else"));
    let (b, i) = image(&layer, LAYER, std::slice::from_ref(&wrong_id));
    cases.push(("load: a diff ID that does not match", layout(b, i), "but the configuration expects"));
    let (b, i) = image(&layer, "application/zip", std::slice::from_ref(&good_id));
    cases.push(("load: a layer of an unsupported media type", layout(b, i), "are not supported"));
    let sha512 = format!(
        "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"{MANIFEST}\",\"digest\":\"sha512:{}\",\"size\":2}}]}}",
        "ab".repeat(64)
    );
    cases.push(("load: a sha512 digest", layout(vec![], sha512), "only sha256 is supported"));
    let (mut b, _) = image(&layer, LAYER, std::slice::from_ref(&good_id));
    let nested = format!(
        "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"{MANIFEST}\",\"digest\":\"sha256:{}\",\"size\":{},\"platform\":{{\"architecture\":\"s390x\",\"os\":\"linux\"}}}}]}}",
        sha256_hex(&b[2]),
        b[2].len()
    )
    .into_bytes();
    let outer = format!(
        "{{\"schemaVersion\":2,\"manifests\":[{}]}}",
        descriptor("application/vnd.oci.image.index.v1+json", &nested)
    );
    b.push(nested);
    cases.push((
        "load: an index with no manifest for this machine",
        layout(b, outer),
        "has no manifest for linux",
    ));
    let not_manifest = b"{\"hello\": \"world\"}".to_vec();
    let index_nm = format!("{{\"schemaVersion\":2,\"manifests\":[{}]}}", descriptor(MANIFEST, &not_manifest));
    cases.push((
        "load: a manifest that is not one",
        layout(vec![not_manifest], index_nm),
        "reading the manifest",
    ));
    let evil = tar(&[entry("etc", b"", b'2', "/etc"), entry("etc/minibox-evil", b"x", b'0', "")]);
    let evil_id = format!("sha256:{}", sha256_hex(&evil));
    let (b, i) = image(&evil, LAYER, &[evil_id]);
    cases.push((
        "load: a layer that writes through a symbolic link",
        layout(b, i),
        "through the symbolic link",
    ));
    cases
}
