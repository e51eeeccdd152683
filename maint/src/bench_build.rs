//! `cargo maint bench-build`: the build chapter's lab. One Dockerfile (WORKDIR, two COPY, three
//! RUN, ENV, CMD) over a busybox base image, built by `minibox build` and by `podman build`
//! (buildah inside podman), alternating in each round: cold (a fresh store holding only the base
//! image) and cached (the same build again in that store). Whole processes, medians of the
//! rounds, and the ratios minibox / podman.
//!
//! Both builders run their RUN steps without a network (`--network none`), podman with its
//! overlay storage in a temporary root of its own, the cgroupfs manager and runc where present
//! (crun refuses this machine's hybrid cgroup layout).

use crate::bench::measure::{median_of, run_checked};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Rounds (each builds cold and cached with both builders).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Measure this minibox binary instead of building a release one.
    #[arg(long, value_name = "PATH")]
    pub minibox: Option<PathBuf>,
}

const DOCKERFILE: &str = "FROM BASE
ENV APP_HOME=/app
WORKDIR /app
COPY config.txt ./
RUN echo step one > /app/one.txt && mkdir -p /app/data
COPY data/ /app/data/
RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i >> /app/data/generated.txt; done
RUN rm /bin/vi && ls /app > /app/listing.txt
CMD [\"cat\", \"/app/listing.txt\"]
";

pub fn run(ws: &crate::workspace::Workspace, options: &Options) -> Result<()> {
    let minibox = match &options.minibox {
        Some(path) => path.clone(),
        None => crate::bench::build_minibox(ws)?,
    };
    let scratch = Scratch(std::env::temp_dir().join(format!("minibox-bench-build-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let root = scratch.0.join("rootfs");
    let busybox = fixtures::busybox::locate_static().map_err(|e| anyhow::anyhow!("{e}"))?;
    fixtures::busybox::build_rootfs(&busybox, &root).context("building the busybox base")?;
    let base_tar = scratch.0.join("base.tar");
    run_checked(
        Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&base_tar).arg("."),
        "tar of the base",
    )?;
    // One context per builder: only the FROM line differs (podman names a local image localhost/NAME).
    let context = |name: &str, base: &str| -> Result<PathBuf> {
        let dir = scratch.0.join(name);
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::write(dir.join("Dockerfile"), DOCKERFILE.replace("BASE", base))?;
        std::fs::write(dir.join("config.txt"), "key = value\n")?;
        for i in 0..20 {
            std::fs::write(
                dir.join(format!("data/file{i}.txt")),
                format!("{}\n", "data ".repeat(200 * i + 1)),
            )?;
        }
        Ok(dir)
    };
    let minibox_context = context("ctx-minibox", "base:1")?;
    let podman_context = context("ctx-podman", "localhost/base:1")?;
    let runc = ["/usr/sbin/runc", "/usr/bin/runc"].into_iter().find(|p| Path::new(p).exists());
    // podman (cgroupfs) leaves libpod_parent/conmon in every hierarchy: those it makes now go at the end.
    let podman_cgroups = PodmanCgroups(
        std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| d.flatten().map(|e| e.path().join("libpod_parent")).filter(|p| !p.exists()).collect())
            .unwrap_or_default(),
    );
    let mut times: [Vec<Duration>; 4] = Default::default(); // minibox cold, cached; podman cold, cached
    for round in 0..options.runs {
        let state = scratch.0.join(format!("minibox-{round}"));
        let storage = scratch.0.join(format!("podman-{round}"));
        // Everything podman writes stays under `storage`: its libpod state (--tmpdir, else
        // /run/libpod) and its temporary files (TMPDIR, else /var/tmp) too; it logs no events.
        let podman_tmp = storage.join("tmp");
        std::fs::create_dir_all(&podman_tmp)?;
        let podman = |args: &[&str]| -> Command {
            let mut command = Command::new("podman");
            command
                .arg("--root")
                .arg(storage.join("root"))
                .arg("--runroot")
                .arg(storage.join("run"))
                .arg("--tmpdir")
                .arg(storage.join("libpod"))
                .args([
                    "--cgroup-manager",
                    "cgroupfs",
                    "--events-backend",
                    "none",
                    "--storage-driver",
                    "overlay",
                ])
                .env("TMPDIR", &podman_tmp);
            if let Some(runc) = runc {
                command.arg(format!("--runtime={runc}"));
            }
            command.args(args);
            command
        };
        run_checked(
            Command::new(&minibox)
                .arg("image")
                .arg("import")
                .arg(&base_tar)
                .arg("base:1")
                .env("MINIBOX_ROOT", &state),
            "minibox image import",
        )?;
        run_checked(
            podman(&["import", base_tar.to_str().unwrap(), "localhost/base:1"]).stdout(Stdio::null()),
            "podman import",
        )?;
        let minibox_build = || -> Result<Duration> {
            let started = Instant::now();
            run_checked(
                Command::new(&minibox)
                    .args(["build", "-t", "app:1"])
                    .arg(&minibox_context)
                    .env("MINIBOX_ROOT", &state),
                "minibox build",
            )?;
            Ok(started.elapsed())
        };
        let podman_build = || -> Result<Duration> {
            let started = Instant::now();
            run_checked(
                podman(&["build", "--quiet", "--layers", "--network", "none", "-t", "app:1"])
                    .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
                    .arg(&podman_context),
                "podman build",
            )?;
            Ok(started.elapsed())
        };
        let order: [bool; 2] = if round % 2 == 0 { [true, false] } else { [false, true] };
        for cached in [false, true] {
            for minibox_first in order {
                if minibox_first {
                    times[usize::from(cached)].push(minibox_build()?);
                } else {
                    times[2 + usize::from(cached)].push(podman_build()?);
                }
            }
        }
        println!(
            "bench-build: round {}: minibox cold {:.3} s, cached {:.3} s; podman cold {:.3} s, cached {:.3} s",
            round + 1,
            times[0][round].as_secs_f64(),
            times[1][round].as_secs_f64(),
            times[2][round].as_secs_f64(),
            times[3][round].as_secs_f64()
        );
        // podman's overlay storage keeps mounts until it is reset.
        let _ = podman(&["system", "reset", "--force"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&storage);
        let _ = std::fs::remove_dir_all(&state);
    }
    let [mut mc, mut mh, mut pc, mut ph] = times;
    let (mc, mh, pc, ph) = (median_of(&mut mc), median_of(&mut mh), median_of(&mut pc), median_of(&mut ph));
    println!();
    println!(
        "| one Dockerfile (2 COPY, 3 RUN), {} rounds, medians | minibox build | podman build | minibox / podman |",
        options.runs
    );
    println!("| --- | --- | --- | --- |");
    println!(
        "| cold (store holds only the base) | {:.3} s | {:.3} s | {:.2} |",
        mc.as_secs_f64(),
        pc.as_secs_f64(),
        mc.as_secs_f64() / pc.as_secs_f64()
    );
    println!(
        "| cached (the same build again) | {:.3} s | {:.3} s | {:.2} |",
        mh.as_secs_f64(),
        ph.as_secs_f64(),
        mh.as_secs_f64() / ph.as_secs_f64()
    );
    println!("\nminibox: {}", minibox.display());
    drop(podman_cgroups);
    Ok(())
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Cgroups podman made during the bench (empty once it has ended): removed when dropped.
struct PodmanCgroups(Vec<PathBuf>);

impl Drop for PodmanCgroups {
    fn drop(&mut self) {
        for parent in &self.0 {
            let _ = std::fs::remove_dir(parent.join("conmon"));
            let _ = std::fs::remove_dir(parent);
        }
    }
}
