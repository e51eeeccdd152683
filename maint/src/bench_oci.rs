//! `cargo maint bench-oci`: the oci chapter's lab. `podman run --rm` of the same image (the
//! host's busybox, imported into a podman storage of the bench's own) with `--runtime` minibox,
//! crun and runc, interleaved round by round in a shuffled order, medians and ratios printed at
//! the end. podman's own work (storage, conmon, its database) is most of each run, the same for
//! all three; what differs is the runtime's share.
//!
//! crun refuses this machine's hybrid cgroup layout (hugetlb on cgroup2) unless
//! /sys/fs/cgroup/unified is out of sight, so every run, whatever its runtime, goes through
//! `unshare -m` with that mount detached: the same few milliseconds for all.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Runs of each runtime.
    #[arg(long, default_value_t = 15)]
    pub runs: usize,
    /// Measure this minibox binary instead of building a release one.
    #[arg(long, value_name = "PATH")]
    pub minibox: Option<PathBuf>,
}

const IMAGE: &str = "localhost/minibox-bench:v1";

pub fn run(ws: &crate::workspace::Workspace, options: &Options) -> Result<()> {
    let minibox = match &options.minibox {
        // podman takes a runtime's path only when it is absolute.
        Some(path) => path.canonicalize().with_context(|| format!("--minibox {}", path.display()))?,
        None => crate::bench::build_minibox(ws)?,
    };
    let mut runtimes = vec![("minibox".to_string(), minibox)];
    for name in ["crun", "runc"] {
        match crate::bench::measure::which(name) {
            Some(path) => runtimes.push((name.to_string(), path)),
            None => bail!(
                "{name} is not installed: `apt install {name}` (tools/provision.sh installs it for maintainers)"
            ),
        }
    }
    let scratch = Scratch(std::env::temp_dir().join(format!("minibox-bench-oci-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let rootfs = scratch.0.join("rootfs");
    let busybox = fixtures::busybox::locate_static().context("the host's static busybox")?;
    fixtures::busybox::build_rootfs(&busybox, &rootfs).context("building the busybox root")?;
    let archive = scratch.0.join("rootfs.tar");
    checked(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&archive).arg("."), "tar")?;
    checked(
        podman(&scratch.0, &runtimes[0].1).args(["import", "-q"]).arg(&archive).arg(IMAGE),
        "podman import",
    )?;
    println!("bench-oci: podman run --rm {IMAGE} true, {} runs per runtime, interleaved", options.runs);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); runtimes.len()];
    let mut order: Vec<usize> = (0..runtimes.len()).collect();
    for round in 0..options.runs {
        order.rotate_left(1); // each runtime goes first, second and last in turn
        for &i in &order {
            let mut command = podman(&scratch.0, &runtimes[i].1);
            command.args(["run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined"]);
            command.args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]);
            command.arg(format!("--cgroup-parent=/{}", scratch.cgroup_parent())).args([IMAGE, "true"]);
            let started = Instant::now();
            checked(&mut command, &format!("podman run with {} (round {round})", runtimes[i].0))?;
            times[i].push(started.elapsed());
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            crate::bench::measure::median(t)
        })
        .collect();
    println!("| runtime | median | min | max | ratio to crun |");
    println!("| --- | --- | --- | --- | --- |");
    for (i, (name, _)) in runtimes.iter().enumerate() {
        let ratio = medians[i].as_secs_f64() / medians[1].as_secs_f64();
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {ratio:.2} |",
            medians[i].as_secs_f64() * 1e3,
            times[i][0].as_secs_f64() * 1e3,
            times[i][times[i].len() - 1].as_secs_f64() * 1e3
        );
    }
    let verdict = if medians[0] <= medians[1] { "met" } else { "missed" };
    println!("target (minibox's median at most crun's): {verdict}");
    let _ = podman(&scratch.0, &runtimes[0].1).args(["rm", "--all", "--force"]).output();
    Ok(())
}

/// podman with a storage of the bench's own, through `unshare -m` without the unified cgroup mount.
fn podman(dir: &Path, runtime: &Path) -> Command {
    let mut command = crate::bench::measure::podman_in(dir);
    command.args(["--storage-driver", "vfs"]).arg("--runtime").arg(runtime);
    command
}

fn checked(command: &mut Command, what: &str) -> Result<()> {
    let output = command.output().with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!("{what} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// The bench's directory, removed at the end (podman's mounts under it first).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let prefix = self.0.display().to_string();
        for line in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().rev() {
            if let Some(point) = line.split_whitespace().nth(4).filter(|p| p.starts_with(&prefix)) {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
        // The cgroup parent given to podman (conmon leaves a `conmon` cgroup in it): empty
        // directories only, the deepest first; on v2 the same path at the root.
        let mut hierarchies: Vec<PathBuf> =
            std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path()).collect();
        hierarchies.push(PathBuf::from("/sys/fs/cgroup"));
        for hierarchy in hierarchies {
            let parent = hierarchy.join(self.cgroup_parent());
            let _ = std::fs::remove_dir(parent.join("conmon"));
            let _ = std::fs::remove_dir(&parent);
        }
    }
}

impl Scratch {
    /// The cgroup parent of the bench's containers, so that none lands in podman's default
    /// `libpod_parent` and all can be removed afterwards.
    fn cgroup_parent(&self) -> String {
        format!("minibox-bench-oci-{}", std::process::id())
    }
}
