//! What `verify` runs side by side: test binaries that cargo built once, and a small pool of
//! workers that runs them.
//!
//! The graded tests wait far more than they compute (a container starts, a limit is reached, a
//! process is killed), and each test binary runs its own tests one at a time (`#[serial]`). So
//! the snapshots' binaries are built first, in one cargo invocation that keeps every core busy,
//! and then run a few at a time. That is safe because test runs never meet (the contract 11 of
//! the design): each test process has its own state root, its own test hosts for networks and
//! its own leak check, whichever snapshot it tests.

use crate::cargo::{self, Output};
use anyhow::{Result, bail};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One test binary of one package, as cargo built it.
#[derive(Clone, Debug)]
pub struct TestBinary {
    /// `ch03_rootfs`, `earlier_ch01_process`, or `unittests` for the crate's own tests.
    pub target: String,
    pub executable: PathBuf,
    /// The package's directory, where cargo would run it.
    pub dir: PathBuf,
}

/// The snapshots' test binaries.
pub struct Built {
    /// What the build printed.
    pub output: Output,
    /// By package; a package that does not build has no entry.
    pub binaries: BTreeMap<String, Vec<TestBinary>>,
}

/// Build the tests of `packages` (name, directory) in one cargo invocation, which spreads the
/// crates over the cores, then ask cargo, package by package, for the binaries it made (cheap:
/// all are fresh). A package that does not build has no entry; the first output says why.
pub fn build_tests(root: &Path, packages: &[(String, PathBuf)]) -> Result<Built> {
    let mut build = cargo::cargo();
    build.args(["test", "--no-run", "--quiet", "--message-format=short"]);
    for (package, _) in packages {
        build.args(["-p", package]);
    }
    let built = cargo::run(build, root, false)?;
    let mut binaries = BTreeMap::new();
    for (package, dir) in packages {
        let mut list = cargo::cargo();
        list.args(["test", "--no-run", "-p", package]);
        let out = cargo::run(list, root, false)?;
        if out.success {
            binaries.insert(package.clone(), executables(&out.text, root, dir));
        }
    }
    Ok(Built { output: built, binaries })
}

/// The binaries that `cargo test --no-run` names: `Executable ../../tests/process.rs
/// (target/debug/deps/ch01_process-HASH)` and `Executable unittests src/lib.rs (...)`.
fn executables(text: &str, root: &Path, dir: &Path) -> Vec<TestBinary> {
    let mut found = Vec::new();
    for line in text.lines().map(str::trim_start) {
        let Some(rest) = line.strip_prefix("Executable ") else { continue };
        let Some((source, executable)) = rest.rsplit_once(" (") else { continue };
        let executable = root.join(executable.trim_end_matches(')'));
        let name = executable.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = match name.rsplit_once('-') {
            _ if source.starts_with("unittests") => "unittests".to_string(),
            Some((target, _hash)) => target.to_string(),
            None => name,
        };
        found.push(TestBinary { target, executable, dir: dir.to_path_buf() });
    }
    found
}

/// Run one test binary as `cargo test` would: in its crate's directory, with the crate's
/// manifest directory in the environment, and short reports (no backtraces).
pub fn run_binary(binary: &TestBinary) -> Result<Output> {
    let mut command = std::process::Command::new(&binary.executable);
    command.env("CARGO_MANIFEST_DIR", &binary.dir).env("RUST_BACKTRACE", "0");
    let mut out = cargo::run(command, &binary.dir, false)?;
    // The line cargo prints before a binary's tests, which `cargo::outcomes` reads the target from.
    let source = if binary.target == "unittests" { "unittests src/lib.rs" } else { "tests/" };
    out.text = format!("     Running {source} ({})\n{}", binary.executable.display(), out.text);
    Ok(out)
}

/// Run `jobs` on `workers` threads, longest first as listed, and return each one's result in
/// the order given. A job's error ends nothing else: it is returned in its place.
pub fn run_all<J: Sync, R: Send>(
    jobs: &[J],
    workers: usize,
    work: impl Fn(&J) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let queue: Mutex<VecDeque<usize>> = Mutex::new((0..jobs.len()).collect());
    let results: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(index) = next else { break };
                    let result = work(&jobs[index]);
                    results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a verify job did not run"))))
        .collect()
}

/// How many jobs run at once: `MINIBOX_VERIFY_JOBS`, by default 1 (one after another, as
/// before). Two at once is faster but not yet sound: in CI, a leak check of one test binary took
/// a process of a wrong variant's run (beside it) for its own, and a variant's test met the other
/// run's network test; the design's contract that test runs never meet does not hold yet.
pub fn workers() -> Result<usize> {
    match std::env::var("MINIBOX_VERIFY_JOBS") {
        Ok(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("MINIBOX_VERIFY_JOBS={text}: expected a number of jobs, 1 or more"),
        },
        Err(_) => Ok(1),
    }
}

/// "12.3 s", for the lines a job prints when it ends.
pub fn seconds(took: Duration) -> String {
    format!("{:.0} s", took.as_secs_f64())
}

/// Time `f`.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let started = Instant::now();
    let r = f();
    (r, started.elapsed())
}
