//! Timing whole processes: from just before the runtime is started to the moment its exit has
//! been collected, with its peak memory; and the statistics of many such runs.

use super::sys;
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// One launch, measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Start to exit, as the caller sees it: fork, exec, everything the runtime does, and its
    /// teardown until it has exited and been reaped.
    pub wall: Duration,
    /// The largest process of the launch, in KiB (see [`sys::Ended::max_rss_kib`]).
    pub max_rss_kib: u64,
}

/// Something to launch again and again: a label and a way to build its commands for run N.
/// Usually one command; several when a launch is a sequence that belongs together (a CNI-style
/// network made, the runtime, the network removed): timed one after the other, the launch's
/// time is their sum and its peak memory the largest.
pub struct Contender<'a> {
    pub label: String,
    pub steps: Box<dyn Fn(usize) -> Vec<Command> + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(label: impl Into<String>, command: impl Fn(usize) -> Command + 'a) -> Contender<'a> {
        Contender { label: label.into(), steps: Box::new(move |n| vec![command(n)]) }
    }

    pub fn steps(label: impl Into<String>, steps: impl Fn(usize) -> Vec<Command> + 'a) -> Contender<'a> {
        Contender { label: label.into(), steps: Box::new(steps) }
    }
}

/// Where launched commands write their output (read only when they fail, or for the VM lab).
pub struct OutputFile(pub PathBuf);

impl OutputFile {
    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

/// The process that launches and measures every command, a small one of its own (the maint
/// binary again, `bench --launcher`): a launched process's peak memory, as `wait4` reports it,
/// includes the memory of the process it was forked from, up to its `execve`. Forked from the
/// bench (megabytes of tables and buffers) every runtime would look as large as the bench; forked
/// from a fresh process that does nothing else, the floor is a few hundred KiB, the same for all.
pub struct Launcher {
    child: Child,
    io: RefCell<Option<(ChildStdin, BufReader<ChildStdout>)>>,
}

impl Launcher {
    pub fn start(mut command: Command) -> Result<Launcher> {
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().context("starting the bench's launcher")?;
        let stdin = child.stdin.take().context("the launcher's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the launcher's stdout")?);
        Ok(Launcher { child, io: RefCell::new(Some((stdin, stdout))) })
    }

    /// Run `command` once (stdin from /dev/null, no terminal; stdout and stderr to `output`)
    /// and measure it. Fails when it does not exit with 0, with what it printed.
    pub fn run(&self, command: &Command, output: &OutputFile) -> Result<Sample> {
        let request = encode(command, &output.0)?;
        let mut io = self.io.borrow_mut();
        let (stdin, stdout) = io.as_mut().context("the launcher has stopped")?;
        stdin.write_all(request.as_bytes()).context("writing to the launcher")?;
        stdin.flush()?;
        let mut reply = String::new();
        stdout.read_line(&mut reply).context("reading from the launcher")?;
        let fields: Vec<&str> = reply.split_whitespace().collect();
        let shown = format!("{command:?}");
        let [code, nanos, rss] = fields[..] else {
            bail!("the launcher did not answer for {shown} ({reply:?})");
        };
        if code != "0" {
            bail!("{shown} {}:\n{}", code.replace('_', " "), output.read().trim_end());
        }
        Ok(Sample {
            wall: Duration::from_nanos(nanos.parse().context("the launcher's time")?),
            max_rss_kib: rss.parse().context("the launcher's memory figure")?,
        })
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // Closing its stdin ends it.
        self.io.borrow_mut().take();
        let _ = self.child.wait();
    }
}

const FIELD: char = '\u{1f}';

/// A request: the output file, the program, its arguments, the variables set for it.
fn encode(command: &Command, output: &Path) -> Result<String> {
    let text = |s: &OsStr| s.to_str().map(str::to_string).with_context(|| format!("{s:?} is not UTF-8"));
    let mut fields = vec![text(output.as_os_str())?, text(command.get_program())?];
    let args: Vec<String> = command.get_args().map(text).collect::<Result<_>>()?;
    fields.push(args.len().to_string());
    fields.extend(args);
    let mut envs = Vec::new();
    for (key, value) in command.get_envs() {
        let value = value.context("the launcher cannot remove variables")?;
        envs.push(format!("{}={}", text(key)?, text(value)?));
    }
    fields.push(envs.len().to_string());
    fields.extend(envs);
    if fields.iter().any(|f| f.contains(['\n', FIELD])) {
        bail!("{command:?}: an argument holds a newline");
    }
    Ok(fields.join(&FIELD.to_string()) + "\n")
}

/// The launcher's side: serve requests from stdin until it closes. Each reply is
/// `CODE NANOSECONDS MAX_RSS_KIB`, CODE being `0`, `exited_with_N` or `could_not_start:_WHY`.
pub fn serve() -> Result<()> {
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let fields: Vec<&str> = line.split(FIELD).collect();
        let reply = match decode(&fields) {
            Some((output, mut command)) => match launch(&mut command, output) {
                Ok((0, wall, rss)) => format!("0 {} {rss}", wall.as_nanos()),
                Ok((code, wall, rss)) => format!("exited_with_{code} {} {rss}", wall.as_nanos()),
                Err(error) => {
                    format!("could_not_start:_{} 0 0", format!("{error:#}").replace(char::is_whitespace, "_"))
                }
            },
            None => "bad_request 0 0".to_string(),
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}

fn decode<'a>(fields: &[&'a str]) -> Option<(&'a str, Command)> {
    let (&output, rest) = fields.split_first()?;
    let (&program, rest) = rest.split_first()?;
    let (&argc, rest) = rest.split_first()?;
    let (args, rest) = rest.split_at_checked(argc.parse().ok()?)?;
    let (&envc, envs) = rest.split_first()?;
    if envs.len() != envc.parse::<usize>().ok()? {
        return None;
    }
    let mut command = Command::new(program);
    command.args(args);
    for kv in envs {
        let (key, value) = kv.split_once('=')?;
        command.env(key, value);
    }
    Some((output, command))
}

/// Start `command`, wait for it; its exit code, start-to-exit time and peak memory.
fn launch(command: &mut Command, output: &str) -> Result<(i32, Duration, u64)> {
    let file = File::create(output).with_context(|| format!("creating {output}"))?;
    command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
    // SAFETY: the hook does nothing. Having one makes std fork (a copy of this small process)
    // rather than posix_spawn, whose child borrows the parent's memory until its execve and
    // then counts it as its own peak.
    unsafe {
        command.pre_exec(|| Ok(()));
    }
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("{:?}", command.get_program()))?;
    let ended = sys::wait(child.id() as i32)?;
    let wall = started.elapsed();
    drop(child); // reaped by wait4; dropping neither waits nor kills
    Ok((ended.code, wall, ended.max_rss_kib))
}

/// Launch every contender once per pass, in a new random order each pass (so that no contender
/// always follows the same one: what ran just before can matter, as the cgroup lock does). Each
/// round makes one pass per entry of `gaps`: `Some(gap)` sleeps that long before each launch (cold
/// starts), `None` launches back to back (warm). Interleaving the kinds round by round spreads
/// each over the whole run, so that a busy minute on the shared machine does not land on one of
/// them only. One unmeasured pass comes first. Returns the samples per kind, then per contender.
pub fn alternate(
    launcher: &Launcher,
    contenders: &[Contender],
    rounds: usize,
    gaps: &[Option<Duration>],
    output: &OutputFile,
    progress: &str,
) -> Result<Vec<Vec<Vec<Sample>>>> {
    let n = contenders.len();
    let mut samples: Vec<Vec<Vec<Sample>>> =
        gaps.iter().map(|_| (0..n).map(|_| Vec::with_capacity(rounds)).collect()).collect();
    let launch = |k: usize, run: usize| -> Result<Sample> {
        let contender = &contenders[k];
        let mut sum = Sample { wall: Duration::ZERO, max_rss_kib: 0 };
        // Every command is built before the first is timed (a step may write its files then).
        for command in (contender.steps)(run) {
            let one = launcher.run(&command, output).with_context(|| contender.label.clone())?;
            sum.wall += one.wall;
            sum.max_rss_kib = sum.max_rss_kib.max(one.max_rss_kib);
        }
        Ok(sum)
    };
    for k in 0..n {
        launch(k, usize::MAX - k)?;
    }
    let mut random = Random::seeded();
    let started = Instant::now();
    for round in 0..rounds {
        for (kind, gap) in gaps.iter().enumerate() {
            let mut order: Vec<usize> = (0..n).collect();
            random.shuffle(&mut order);
            for k in order {
                if let Some(gap) = gap {
                    std::thread::sleep(*gap);
                }
                samples[kind][k].push(launch(k, round * gaps.len() + kind)?);
            }
        }
        if round + 1 == rounds || started.elapsed().as_secs() >= 15 && round % 10 == 9 {
            eprintln!(
                "bench: {progress}: {}/{rounds} rounds, {:.0} s",
                round + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(samples)
}

/// xorshift64*: enough to shuffle launch orders.
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
        Random((nanos as u64 ^ u64::from(std::process::id()) << 32) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Minimum, median and maximum of a set of launches, and their peak memory.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub count: usize,
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
    /// The median of the launches' peak memory, in KiB.
    pub rss_median_kib: u64,
}

impl Summary {
    pub fn of(samples: &[Sample]) -> Summary {
        let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
        walls.sort();
        rss.sort();
        Summary {
            count: walls.len(),
            min: walls.first().copied().unwrap_or_default(),
            median: median(&walls),
            max: walls.last().copied().unwrap_or_default(),
            rss_median_kib: rss.get(rss.len() / 2).copied().unwrap_or(0),
        }
    }

    pub fn of_durations(durations: &[Duration]) -> Summary {
        Summary::of(&durations.iter().map(|&wall| Sample { wall, max_rss_kib: 0 }).collect::<Vec<_>>())
    }
}

/// The median of unsorted values (sorted in place), for the chapters' labs.
pub fn median_of(times: &mut [Duration]) -> Duration {
    times.sort();
    median(times)
}

/// Run a lab's set-up command; its standard error is the failure's message.
pub fn run_checked(command: &mut Command, what: &str) -> Result<()> {
    let output = command.stdin(Stdio::null()).output().with_context(|| format!("starting {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// podman with a storage and run directory under `dir`, cgroupfs and a file for its events,
/// through `unshare -m` without /sys/fs/cgroup/unified: crun refuses this machine's hybrid layout
/// with it in sight (the labs that run podman: bench-oci, bench-daemon).
pub fn podman_in(dir: &Path) -> Command {
    let mut command = Command::new("unshare");
    command.args([
        "-m",
        "sh",
        "-c",
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\"",
        "sh",
        "podman",
    ]);
    command.arg("--root").arg(dir.join("root")).arg("--runroot").arg(dir.join("run"));
    command.args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
    command.stdin(Stdio::null());
    command
}

/// The median of sorted values (the mean of the middle two for an even count).
pub fn median(sorted: &[Duration]) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// A program's full path, found on PATH once, so that no launch pays for a PATH search.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[ms(1), ms(2), ms(4), ms(9)]), ms(3));
        assert_eq!(median(&[ms(1), ms(2), ms(9)]), ms(2));
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn requests_survive_the_trip_to_the_launcher() {
        let mut command = Command::new("/usr/bin/runc");
        command.args(["--root", "/tmp/x y", "run"]).env("MINIBOX_BENCH_RUN", "a=b");
        let request = encode(&command, Path::new("/tmp/out.txt")).unwrap();
        let fields: Vec<&str> = request.trim_end_matches('\n').split(FIELD).collect();
        let (output, decoded) = decode(&fields).expect("a request");
        assert_eq!(output, "/tmp/out.txt");
        assert_eq!(decoded.get_program(), "/usr/bin/runc");
        assert_eq!(decoded.get_args().collect::<Vec<_>>(), ["--root", "/tmp/x y", "run"]);
        let envs: Vec<_> = decoded.get_envs().collect();
        assert_eq!(envs, [(OsStr::new("MINIBOX_BENCH_RUN"), Some(OsStr::new("a=b")))]);
        assert!(decode(&["/o", "/p", "2", "a"]).is_none(), "too few arguments");
    }

    #[test]
    fn a_shuffle_keeps_every_item() {
        let mut random = Random(7);
        let mut items: Vec<usize> = (0..5).collect();
        random.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_summary_has_the_extremes() {
        let samples: Vec<Sample> =
            [5, 1, 3].iter().map(|&n| Sample { wall: ms(n), max_rss_kib: n * 100 }).collect();
        let summary = Summary::of(&samples);
        assert_eq!((summary.min, summary.median, summary.max), (ms(1), ms(3), ms(5)));
        assert_eq!(summary.rss_median_kib, 300);
        assert_eq!(summary.count, 3);
    }
}
