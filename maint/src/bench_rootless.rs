//! `cargo maint bench-rootless`: the rootless chapter's lab. Start time of `/bin/true` in a
//! container, whole processes, rounds interleaved (the order rotates each round), medians and
//! ratios from one run:
//!
//! - rootful minibox (`runuser -u root -- minibox run --network none`),
//! - rootless minibox as a throwaway user with subordinate ids (`runuser -u USER -- minibox run`),
//! - rootless `podman run --rm --network none` as the same user, with the same busybox.
//!
//! Each goes through `runuser`, so that all pay the same few milliseconds for it. podman's
//! default runtime here, crun, refuses this machine's hybrid cgroup layout ("cgroups in hybrid
//! mode not supported") also rootless, so podman runs with `--runtime runc`; with no systemd user
//! session and cgroup v1, podman rootless sets up no cgroup (as minibox rootless does not).
//! The user, its home, its subordinate ids, podman's files and processes go at the end.

use crate::bench::measure::{median_of, run_checked};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Rounds (each starts every contender once).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Measure this minibox binary instead of building a release one.
    #[arg(long, value_name = "PATH")]
    pub minibox: Option<PathBuf>,
}

pub fn run(ws: &crate::workspace::Workspace, options: &Options) -> Result<()> {
    let built = match &options.minibox {
        Some(path) => path.clone(),
        None => crate::bench::build_minibox(ws)?,
    };
    let scratch =
        Scratch(std::env::temp_dir().join(format!("minibox-bench-rootless-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let user = BenchUser::create()?;
    // A copy the user can reach (the build's target/ may be under a 0700 home).
    let minibox = scratch.0.join("minibox");
    std::fs::copy(&built, &minibox).context("copying minibox into the scratch directory")?;
    let (root_state, user_state) = (scratch.0.join("root-state"), scratch.0.join("user-state"));
    std::fs::create_dir_all(&user_state)?;
    let rootfs_tar = scratch.0.join("busybox.tar");
    write_busybox_tar(&scratch.0.join("rootfs"), &rootfs_tar)?;
    run_checked(Command::new("chmod").args(["-R", "a+rX"]).arg(&scratch.0), "chmod")?;
    run_checked(Command::new("chown").args(["-R", &user.name]).arg(&user_state), "chown")?;
    run_checked(
        Command::new("runuser")
            .args(["-u", &user.name, "--", "podman", "import", "--quiet"])
            .arg(&rootfs_tar)
            .arg("localhost/minibox-bench"),
        "podman import (as the user)",
    )?;

    let as_user = |program: &Path| {
        let mut command = Command::new("runuser");
        command.args(["-u", &user.name, "--"]).arg(program);
        command
    };
    let mut rootful = Command::new("runuser");
    rootful.args(["-u", "root", "--"]).arg(&minibox).args(["run", "--network", "none", "--", "/bin/true"]);
    rootful.env("MINIBOX_ROOT", &root_state);
    let mut rootless = as_user(&minibox);
    rootless.args(["run", "--", "/bin/true"]).env("MINIBOX_ROOT", &user_state);
    let mut podman = as_user(Path::new("podman"));
    podman.args([
        "run",
        "--rm",
        "--network",
        "none",
        "--runtime",
        "runc",
        "localhost/minibox-bench",
        "/bin/true",
    ]);
    let mut floor = as_user(Path::new("/bin/true"));
    let mut contenders: Vec<(&str, &mut Command, Vec<Duration>)> = vec![
        ("rootful minibox (runuser -u root)", &mut rootful, Vec::new()),
        ("rootless minibox (runuser -u USER)", &mut rootless, Vec::new()),
        ("rootless podman run --rm --runtime runc", &mut podman, Vec::new()),
        ("runuser -u USER -- /bin/true (the floor)", &mut floor, Vec::new()),
    ];
    // A first start of each builds its default image or warms its storage: not measured.
    for (name, command, _) in contenders.iter_mut() {
        run_checked(command, &format!("the warm-up of {name}"))?;
    }
    let n = contenders.len();
    for round in 0..options.runs {
        for k in 0..n {
            let (name, command, times) = &mut contenders[(round + k) % n];
            let started = Instant::now();
            run_checked(command, name)?;
            times.push(started.elapsed());
        }
    }
    let medians: Vec<Duration> = contenders.iter_mut().map(|(_, _, times)| median_of(times)).collect();
    println!();
    println!(
        "| `/bin/true` in a container, {} rounds interleaved | median ms | / rootful minibox |",
        options.runs
    );
    println!("| --- | --- | --- |");
    for ((name, _, _), m) in contenders.iter().zip(&medians) {
        let ms = m.as_secs_f64() * 1000.0;
        println!("| {name} | {ms:.1} | {:.2} |", m.as_secs_f64() / medians[0].as_secs_f64());
    }
    println!(
        "\nrootless podman / rootless minibox: {:.1}",
        medians[2].as_secs_f64() / medians[1].as_secs_f64()
    );
    println!("minibox: {}", built.display());
    Ok(())
}

/// A tar of a root filesystem holding the host's static busybox and its links, for podman.
fn write_busybox_tar(dir: &Path, tar: &Path) -> Result<()> {
    let busybox = fixtures::busybox::locate_static().map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy(&busybox, dir.join("bin/busybox"))?;
    for link in ["sh", "true"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(link))?;
    }
    run_checked(Command::new("tar").arg("-C").arg(dir).arg("-cf").arg(tar).arg("."), "tar")
}

/// A user made for the lab, with the subordinate ids `useradd` gives (or a range of its own).
struct BenchUser {
    name: String,
    uid: u32,
}

impl BenchUser {
    fn create() -> Result<BenchUser> {
        let name = format!("mbbench{}", std::process::id());
        run_checked(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", &name]), "useradd")?;
        let user = BenchUser {
            uid: nix::unistd::User::from_name(&name)?.context("the user just made")?.uid.as_raw(),
            name,
        };
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if !text.lines().any(|l| l.split(':').next() == Some(&user.name)) {
                let start = 1_400_000_000 + (std::process::id() % 1000) * 65536;
                std::fs::write(file, format!("{text}{}:{start}:65536\n", user.name))?;
            }
        }
        Ok(user)
    }
}

impl Drop for BenchUser {
    fn drop(&mut self) {
        // podman leaves a pause process for the user: kill every process of the user, by pid.
        for _ in 0..50 {
            let pids: Vec<i32> = std::fs::read_dir("/proc")
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                        .filter(|pid| {
                            std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata(format!(
                                "/proc/{pid}"
                            )) {
                                Ok(m) => m,
                                Err(_) => return false,
                            }) == self.uid
                        })
                        .collect()
                })
                .unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("userdel").args(["--remove", &self.name]).output();
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                let kept: String = text
                    .lines()
                    .filter(|l| l.split(':').next() != Some(self.name.as_str()))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let _ = std::fs::write(file, kept);
            }
        }
        for dir in [format!("/tmp/podman-run-{}", self.uid), format!("/tmp/containers-user-{}", self.uid)] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The lab's directory, removed at the end, a failure included.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
