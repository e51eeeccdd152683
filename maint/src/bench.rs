//! `cargo maint bench`: minibox against runc, crun and the unshare floor; image size; 50
//! containers at once; a VM boot against a container start. Writes the tables and a chart for
//! the book (book/src/part-1/measured/).
//!
//! How it keeps the comparison fair:
//! - **Whole processes, alternating.** Each launch is timed from just before the runtime is
//!   started to the moment its exit is collected (`wait4`, which also gives the peak memory).
//!   Every round launches every contender once, in a new random order, so that a noisy moment
//!   on the (shared) machine hits all of them alike, and none always follows the same one.
//!   Medians, with min and max. A small launcher process of the bench's own starts every
//!   launch (see `measure::Launcher`), so that the peak memory is the runtime's, not the bench's.
//! - **Warm and cold.** Back to back, and with 0.3 s of idle before each launch: on cgroup v1,
//!   the first move of a process into a cgroup after a quiet spell waits for an RCU grace period
//!   (the kernel's `cgroup_threadgroup_rwsem`), which back-to-back launches hide.
//! - **The same work.** One busybox root filesystem for all (the OCI bundles point at it), the
//!   same namespaces (PID, mount, UTS, IPC; `minibox --network host` against OCI bundles with no
//!   network namespace, the default bridged `minibox run` against bundles that join one the
//!   bench makes and plugs into a bridge at each launch, as a CNI bridge plugin does: see
//!   `network`), the same limits (64 MiB of memory, 64 pids), no terminal, stdin from /dev/null.
//! - **The same conditions.** The bench enters a private mount namespace first (and on a hybrid
//!   cgroup machine detaches the cgroup2 mount there, which crun refuses to run with), so every
//!   runtime runs from it alike, and nothing mounted reaches the host; and a network namespace of
//!   its own, so that the bridges, veths and nftables tables the runs make never reach the host
//!   and go with the bench, even when it is interrupted. It moves itself into
//!   cgroups of its own, so that every cgroup a runtime makes lands under a directory the bench
//!   removes at the end.
//!
//! As a user with sudo (the classroom VM) it builds as that user and measures through sudo
//! (`through_sudo`), so that root leaves no file in target/ or the book.

mod chart;
pub(crate) mod measure;
mod network;
mod report;
mod sandbox;
mod sys;
mod workload;

use crate::vm::{self, Accel};
use crate::workspace::Workspace;
use anyhow::{Context, Result, bail};
use fixtures::cgroup::Layout;
use fixtures::mounts::Mount;
use measure::{Contender, Launcher, OutputFile, Sample, Summary, which};
use report::{Batch, ImageRow, Machine, Results, Row, Vm, VmBoots, VmLab};
use sandbox::{Cgroups, Scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Rounds per lab unless `--runs` says otherwise.
const DEFAULT_RUNS: usize = 50;
const QUICK_RUNS: usize = 5;
/// Idle time before each cold launch.
const COLD_GAP: Duration = Duration::from_millis(300);
/// The limits every container gets: `--memory 64m --pids 64`, and the same in the OCI spec.
const MEMORY: u64 = 64 << 20;
const PIDS: u64 = 64;
/// The two image sizes (archive sizes, decimal megabytes).
const SMALL_IMAGE: u64 = 5_000_000;
const LARGE_IMAGE: u64 = 500_000_000;
/// How many containers start at once, and how many times.
const CONCURRENT: usize = 50;
const BATCHES: usize = 3;
/// VM boots (each alternated with container starts).
const VM_BOOTS: usize = 5;
const STARTS_PER_BOOT: usize = 3;
/// Where the book's results go.
const OUT: &str = "book/src/part-1/measured";
/// This very binary, to start again (the launcher, a VM boot): by /proc, because `cargo`
/// may rebuild target/debug/maint while the bench runs, and the new one may differ.
const MYSELF: &str = "/proc/self/exe";
/// Set in every launched runtime's and container's environment, to find stray processes.
const MARKER: &str = "MINIBOX_BENCH_RUN";

#[derive(clap::Args, Debug)]
pub struct Options {
    /// A smoke run: a few launches per lab, one VM boot, results under target/bench/ (not the
    /// book) unless --out is given.
    #[arg(long)]
    pub quick: bool,
    /// Rounds per lab: each round launches every contender once [default: 50; --quick: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: Option<u64>,
    /// Skip the VM lab (no QEMU needed).
    #[arg(long)]
    pub no_vm: bool,
    /// Only the start lab (implies --no-vm): to compare start-up quickly, e.g. with --minibox.
    #[arg(long)]
    pub start_only: bool,
    /// Where to write results.md and start-times.svg [default: book/src/part-1/measured].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Measure this minibox binary instead of building target/release/minibox (to try a change
    /// to the runtime against the same references).
    #[arg(long, value_name = "PATH")]
    pub minibox: Option<PathBuf>,
    /// (Internal) boot the minimal VM once with this accelerator and print the times: the
    /// bench runs this in a child process, to read QEMU's peak memory from wait4.
    #[arg(long, hide = true, value_name = "ACCEL", value_parser = ["kvm", "tcg"])]
    pub vm_boot_once: Option<String>,
    /// (Internal) serve as the bench's launcher: start the commands it is sent and measure them.
    #[arg(long, hide = true)]
    pub launcher: bool,
    /// (Internal) the measuring half, started through sudo: fail rather than sudo again.
    #[arg(long, hide = true)]
    pub as_root: bool,
}

pub fn run(ws: &Workspace, options: &Options) -> Result<()> {
    if let Some(accel) = &options.vm_boot_once {
        return vm_boot_once(ws, accel);
    }
    if options.launcher {
        return measure::serve();
    }
    if !sys::is_root() {
        if options.as_root {
            bail!("sudo did not make the bench root");
        }
        return through_sudo(ws, options);
    }
    let no_vm = options.no_vm || options.start_only;
    let tools = Tools::find(!no_vm)?;
    let rounds = options.runs.map_or(if options.quick { QUICK_RUNS } else { DEFAULT_RUNS }, |n| n as usize);
    let out = out_dir(ws, options);
    let mut loads = vec![("at the start".to_string(), report::load_average())];
    println!("bench: load average {} (1, 5, 15 min): the figures are best on a quiet machine", loads[0].1);

    let minibox = match &options.minibox {
        Some(path) => path.canonicalize().with_context(|| format!("--minibox {}", path.display()))?,
        None => build_minibox(ws)?,
    };
    for stale in sandbox::remove_stale().into_iter().chain(network::remove_stale()) {
        println!("bench: removed the leftover of an interrupted run: {stale}");
    }
    let mode = Layout::detect();
    if mode == Layout::Missing {
        bail!("no cgroup filesystem is mounted at /sys/fs/cgroup");
    }
    let machine = Machine::read(sandbox::describe(&mode));
    let mut namespace = sandbox::enter_mount_namespace(&mode)?;
    let own_network = network::enter_own_namespace(&tools.ip)?;
    namespace.push_str(
        " and a network namespace of its own (minibox's bridge, its nftables table and ip_forward are made \
         there, not on the host)",
    );
    println!("bench: running from {namespace}");
    let scratch = Scratch::new()?;
    let cgroups = Cgroups::enter(&mode)?;
    let lab = Lab::new(&tools, minibox, &scratch, &cgroups)?;
    // Now, not at the end: the working tree may change while the bench runs.
    let versions = tools.versions(&lab, ws, !no_vm);
    let mounts_at_start = mount_points();

    println!("bench: start, /bin/true, tear down: {rounds} rounds, each a cold pass and a warm one");
    let mut passes = measure::alternate(
        &lab.launcher,
        &lab.contenders(),
        rounds,
        &[Some(COLD_GAP), None],
        &lab.output,
        "start",
    )?;
    let (warm, cold) = (passes.pop().unwrap_or_default(), passes.pop().unwrap_or_default());
    loads.push(("after the start lab".into(), report::load_average()));
    let start: Vec<Row> = lab
        .contenders_meta()
        .into_iter()
        .zip(warm.iter().zip(&cold))
        .map(|((key, label, command), (w, c))| Row {
            label,
            command,
            key,
            warm: Summary::of(w),
            cold: Summary::of(c),
        })
        .collect();

    let (images, concurrent) = if options.start_only {
        (None, None)
    } else {
        println!("bench: a 5 MB image against a 500 MB image");
        let images = image_lab(&lab, &scratch, rounds)?;
        println!("bench: {CONCURRENT} containers at once, {} times", batches(options));
        let concurrent =
            (0..batches(options)).map(|_| concurrent_batch(&lab, &cgroups)).collect::<Result<Vec<_>>>()?;
        loads.push(("after the image and concurrency labs".into(), report::load_average()));
        (Some(images), Some((CONCURRENT, concurrent)))
    };

    let vm = if no_vm {
        Vm::Skipped(if options.start_only { "--start-only was given" } else { "--no-vm was given" }.into())
    } else {
        println!("bench: a VM boot against a container start");
        let lab_vm = vm_lab(ws, &lab, if options.quick { 1 } else { VM_BOOTS })?;
        loads.push(("after the VM boots".into(), report::load_average()));
        Vm::Measured(lab_vm)
    };

    // What is left behind, before the guards clean up.
    let mut leftovers = lab.prune_minibox_network(&own_network.minibox_dir());
    leftovers.extend(lab.leftovers(&cgroups, &mounts_at_start));
    leftovers.extend(lab.oci_leftovers());
    leftovers.extend(scratch.mounts().iter().map(|m| format!("mount {}", m.display())));
    let built = options.minibox.is_none();
    let conditions = conditions(&namespace, &cgroups, &lab, built);
    drop(lab);
    drop(cgroups);
    drop(scratch);

    let results = Results {
        machine,
        versions,
        conditions,
        rounds,
        gap: COLD_GAP,
        start,
        images,
        concurrent,
        vm,
        loads,
        leftovers,
        quick: options.quick,
    };
    let markdown = results.markdown();
    println!("\n{markdown}");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("results.md"), &markdown)?;
    std::fs::write(out.join("start-times.svg"), chart::svg("Start to exit", &chart_groups(&results)))?;
    println!("bench: wrote {} and start-times.svg", out.join("results.md").display());
    let missed: Vec<String> = results.targets().into_iter().filter(|t| !t.met).map(|t| t.name).collect();
    if missed.is_empty() {
        println!("bench: every target met");
    } else {
        println!("bench: targets missed: {}", missed.join("; "));
    }
    if !results.leftovers.is_empty() {
        bail!("bench: left behind: {}", results.leftovers.join("; "));
    }
    Ok(())
}

fn out_dir(ws: &Workspace, options: &Options) -> PathBuf {
    match &options.out {
        Some(dir) => dir.clone(),
        None if options.quick => ws.path("target/bench"),
        None => ws.path(OUT),
    }
}

/// As a user with sudo (the classroom VM): build minibox and the VM's kernel and initramfs as
/// you, so that root makes no file in target/; then measure as root (`sudo cargo` would find
/// no cargo, and leave root's files behind), into a directory of yours, and copy the results
/// out as yours.
fn through_sudo(ws: &Workspace, options: &Options) -> Result<()> {
    let sudo = which("sudo").context(
        "cargo maint bench needs root (it makes namespaces, cgroups and mounts) and sudo is not installed",
    )?;
    let no_vm = options.no_vm || options.start_only;
    Tools::find(!no_vm)?;
    let minibox = match &options.minibox {
        Some(path) => path.canonicalize().with_context(|| format!("--minibox {}", path.display()))?,
        None => build_minibox(ws)?,
    };
    if !no_vm {
        let prepared = vm::prepare(ws)?;
        vm::choose_accel(&prepared)?;
    }
    let staging = ws.path(format!("target/bench-{}", std::process::id()));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut command = Command::new(sudo);
    command
        .arg("--preserve-env")
        .arg(std::env::current_exe().context("finding the maint binary")?)
        .args(["bench", "--as-root", "--minibox"])
        .arg(&minibox)
        .arg("--out")
        .arg(&staging);
    if options.quick {
        command.arg("--quick");
    }
    if let Some(runs) = options.runs {
        command.args(["--runs", &runs.to_string()]);
    }
    if options.no_vm {
        command.arg("--no-vm");
    }
    if options.start_only {
        command.arg("--start-only");
    }
    println!("bench: measuring as root, through sudo");
    let status = command.status().context("running sudo")?;
    let out = out_dir(ws, options);
    for name in ["results.md", "start-times.svg"] {
        if staging.join(name).exists() {
            std::fs::create_dir_all(&out)?;
            std::fs::copy(staging.join(name), out.join(name))?;
        }
    }
    // Root's files, in a directory of yours: yours to remove.
    std::fs::remove_dir_all(&staging)?;
    if !status.success() {
        bail!("the measurement (as root) failed");
    }
    println!("bench: results in {}", out.display());
    Ok(())
}

fn batches(options: &Options) -> usize {
    if options.quick { 1 } else { BATCHES }
}

/// The programs the bench runs, by full path (no PATH search in any timed launch).
struct Tools {
    runc: PathBuf,
    crun: PathBuf,
    unshare: PathBuf,
    ip: PathBuf,
}

impl Tools {
    fn find(vm: bool) -> Result<Tools> {
        let need = |name: &str, package: &str| {
            which(name).with_context(|| format!("{name} is missing: apt-get install {package}"))
        };
        let tools = Tools {
            runc: need("runc", "runc")?,
            crun: need("crun", "crun")?,
            unshare: need("unshare", "util-linux")?,
            ip: need("ip", "iproute2")?,
        };
        need("tar", "tar")?;
        if vm {
            need("qemu-system-x86_64", "qemu-system-x86 (or pass --no-vm)")?;
        }
        if !Path::new("/bin/true").exists() {
            bail!("/bin/true is missing");
        }
        Ok(tools)
    }

    fn versions(&self, lab: &Lab, ws: &Workspace, vm: bool) -> Vec<String> {
        let minibox = lab.minibox.as_path();
        let first_line = |program: &Path, arg: &str| {
            Command::new(program)
                .arg(arg)
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        };
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&ws.root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let minibox_edited = Command::new("git")
            .args(["status", "--porcelain", "--", "minibox"])
            .current_dir(&ws.root)
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
        let mut versions = vec![
            format!(
                "minibox {} ({}; the working tree at commit {commit}{})",
                first_line(minibox, "--version").trim_start_matches("minibox "),
                minibox.display(),
                if minibox_edited { ", with uncommitted changes in minibox/" } else { "" }
            ),
            lab.crun_version.clone(),
            lab.runc_version.clone(),
            first_line(&self.unshare, "--version"),
        ];
        if vm {
            versions.push(first_line(Path::new("qemu-system-x86_64"), "--version"));
        }
        versions
    }

    /// The first line of `PROGRAM --root ROOT --version` (`runc version 1.1.5+ds1`). The --root
    /// keeps crun from making its default state directory, /run/crun, just to say its version.
    fn version_line(program: &Path, root: &Path) -> String {
        Command::new(program)
            .arg("--root")
            .arg(root)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
            .unwrap_or_else(|| format!("{} (version unknown)", program.display()))
    }
}

/// `cargo build --release -p minibox`: the runtime as a user would install it.
pub(crate) fn build_minibox(ws: &Workspace) -> Result<PathBuf> {
    // Statically linked, as runc's own release binaries are: no dynamic loader and no shared
    // libraries to map, which took start-up from 1.05-1.31x the unshare floor (measured) and peak
    // memory from 3.5 MiB to 2.7 MiB. `--target` keeps the flag away from build scripts.
    let target = host_target()?;
    println!("bench: cargo build --release -p minibox --target {target} (statically linked)");
    let mut command = crate::cargo::cargo();
    command.args(["build", "--release", "-p", "minibox", "--target", &target]);
    command.env("RUSTFLAGS", "-C target-feature=+crt-static");
    crate::executables::build(command, &ws.root)?
        .into_iter()
        .find(|e| e.target == "minibox" && e.kinds.iter().any(|k| k == "bin"))
        .map(|e| e.path)
        .filter(|p| p.exists())
        .context("cargo build --release -p minibox reported no minibox binary")
}

/// The host's target triple, from `rustc -vV`.
fn host_target() -> Result<String> {
    let out =
        Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())).arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV did not name the host target")
}

/// Everything the labs launch, and where.
struct Lab<'a> {
    tools: &'a Tools,
    minibox: PathBuf,
    rootfs: PathBuf,
    /// minibox's state directory (`--root`): images, container directories.
    state: PathBuf,
    runc_root: PathBuf,
    crun_root: PathBuf,
    runc_bundle: PathBuf,
    crun_bundle: PathBuf,
    /// The same bundles, joining a network namespace the bench makes at each launch.
    runc_net_bundle: PathBuf,
    crun_net_bundle: PathBuf,
    /// The bench's bridge, for runc's and crun's containers with a veth.
    bridge: network::Bridge,
    /// `MINIBOX_BENCH_RUN=<token>`.
    marker: String,
    output: OutputFile,
    launcher: Launcher,
    crun_version: String,
    runc_version: String,
}

impl<'a> Lab<'a> {
    fn new(tools: &'a Tools, minibox: PathBuf, scratch: &Scratch, cgroups: &Cgroups) -> Result<Lab<'a>> {
        let rootfs = scratch.path("rootfs");
        workload::busybox_rootfs(&rootfs)?;
        let marker = format!("{MARKER}={}", cgroups.name);
        let lab = Lab {
            tools,
            minibox,
            state: scratch.path("state"),
            runc_root: scratch.path("runc-state"),
            crun_root: scratch.path("crun-state"),
            runc_bundle: scratch.path("bundle-runc"),
            crun_bundle: scratch.path("bundle-crun"),
            runc_net_bundle: scratch.path("bundle-runc-veth"),
            crun_net_bundle: scratch.path("bundle-crun-veth"),
            bridge: network::Bridge::new(&tools.ip, &scratch.path("network"))?,
            output: OutputFile(scratch.path("output.txt")),
            launcher: {
                let mut command = Command::new(MYSELF);
                command.args(["bench", "--launcher"]);
                Launcher::start(command)?
            },
            crun_version: Tools::version_line(&tools.crun, &scratch.path("crun-state")),
            runc_version: Tools::version_line(&tools.runc, &scratch.path("runc-state")),
            rootfs,
            marker,
        };
        let (runc_network, crun_network) =
            (lab.bridge.namespace_path("runc"), lab.bridge.namespace_path("crun"));
        for (bundle, runtime, network) in [
            (&lab.runc_bundle, "runc", None),
            (&lab.crun_bundle, "crun", None),
            (&lab.runc_net_bundle, "runc", Some(runc_network.as_str())),
            (&lab.crun_net_bundle, "crun", Some(crun_network.as_str())),
        ] {
            let path = cgroups.oci_path(runtime);
            let spec = workload::Spec {
                rootfs: &lab.rootfs,
                cgroups_path: &path,
                memory: MEMORY,
                swap: cgroups.has_memsw(),
                pids: PIDS,
                marker: &lab.marker,
                network,
            };
            workload::bundle(bundle, &spec)?;
        }
        std::fs::create_dir_all(&lab.state)?;
        Ok(lab)
    }

    /// A command with the bench's marker in its environment.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        let (key, value) = self.marker.split_once('=').expect("KEY=VALUE");
        command.env(key, value);
        command
    }

    /// `minibox run --root STATE --network host --memory 64m --pids 64 --env MARKER ...`: the
    /// same namespaces as the OCI bundles without a network namespace. The default (bridged)
    /// network and `--network none` have rows of their own (`minibox_rootfs_network`).
    fn minibox_run(&self, rest: &[&std::ffi::OsStr]) -> Command {
        self.minibox_run_network(Some("host"), rest)
    }

    /// `minibox run` with `--network MODE`, or with no `--network` (the default, bridged).
    fn minibox_run_network(&self, network: Option<&str>, rest: &[&std::ffi::OsStr]) -> Command {
        let mut command = self.command(&self.minibox);
        command.arg("run").arg("--root").arg(&self.state);
        if let Some(mode) = network {
            command.args(["--network", mode]);
        }
        command
            .args([
                "--memory",
                &format!("{}m", MEMORY >> 20),
                "--pids",
                &PIDS.to_string(),
                "--env",
                &self.marker,
            ])
            .args(rest);
        command
    }

    fn minibox_rootfs(&self) -> Command {
        self.minibox_rootfs_network(Some("host"))
    }

    fn minibox_rootfs_network(&self, network: Option<&str>) -> Command {
        self.minibox_run_network(
            network,
            &["--rootfs".as_ref(), self.rootfs.as_os_str(), "--".as_ref(), "/bin/true".as_ref()],
        )
    }

    fn minibox_image(&self, image: &str) -> Command {
        self.minibox_run(&[image.as_ref(), "--".as_ref(), "/bin/true".as_ref()])
    }

    /// `RUNTIME --root STATE run --bundle BUNDLE bench-N`: create, start, wait, delete.
    fn oci(&self, runtime: &Path, root: &Path, bundle: &Path, n: usize) -> Command {
        let mut command = self.command(runtime);
        command.arg("--root").arg(root).arg("run").arg("--bundle").arg(bundle).arg(format!("bench-{n}"));
        command
    }

    /// The start lab's contenders: (key, short label, the command), for the table.
    fn contenders_meta(&self) -> Vec<(&'static str, String, String)> {
        let oci = |name: &str| {
            format!("`{name} --root STATE run --bundle BUNDLE ID` (create, start, wait for the exit, delete)")
        };
        let veth = |name: &str| {
            format!(
                "as a CNI bridge plugin would: `ip -batch` (`netns add NS`; `link add VETH up master BRIDGE \
                 type veth peer name eth0 netns NS`), `ip -n NS -batch` (lo up, eth0's address, up, \
                 default route), `{name} run` with the bundle joining NS by path, `ip netns del NS`; \
                 all four timed as one launch"
            )
        };
        vec![
            ("true", "`/bin/true` alone".into(), "`/bin/true`, no container".into()),
            (
                "unshare",
                "`unshare` (the floor)".into(),
                "`unshare --pid --fork --mount --uts --ipc /bin/true`".into(),
            ),
            (
                "unshare-net",
                "`unshare --net` (the floor with a network namespace)".into(),
                "`unshare --pid --fork --mount --uts --ipc --net /bin/true`".into(),
            ),
            (
                "minibox",
                "**minibox** `--network host`".into(),
                "`minibox run --network host --rootfs DIR --memory 64m --pids 64 -- /bin/true`".into(),
            ),
            (
                "minibox-none",
                "**minibox** `--network none`".into(),
                "`minibox run --network none --rootfs DIR ...`: a network namespace with `lo` only".into(),
            ),
            (
                "minibox-bridge",
                "**minibox** (default: bridged)".into(),
                "`minibox run --rootfs DIR ...`, what a user runs: a veth on the bridge `minibox0`, an \
                 address, a default route (the bridge and its NAT table made by the first launch, kept)"
                    .into(),
            ),
            ("crun", format!("crun {}", short_version(&self.crun_version)), oci("crun")),
            ("crun-veth", format!("crun {} + veth", short_version(&self.crun_version)), veth("crun")),
            ("runc", format!("runc {}", short_version(&self.runc_version)), oci("runc")),
            ("runc-veth", format!("runc {} + veth", short_version(&self.runc_version)), veth("runc")),
        ]
    }

    fn contenders(&self) -> Vec<Contender<'_>> {
        vec![
            Contender::new("/bin/true", |_| self.command(Path::new("/bin/true"))),
            Contender::new("unshare", |_| {
                let mut c = self.command(&self.tools.unshare);
                c.args(["--pid", "--fork", "--mount", "--uts", "--ipc", "/bin/true"]);
                c
            }),
            Contender::new("unshare --net", |_| {
                let mut c = self.command(&self.tools.unshare);
                c.args(["--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "/bin/true"]);
                c
            }),
            Contender::new("minibox", |_| self.minibox_rootfs()),
            Contender::new("minibox --network none", |_| self.minibox_rootfs_network(Some("none"))),
            Contender::new("minibox (bridged)", |_| self.minibox_rootfs_network(None)),
            Contender::new("crun", |n| self.oci(&self.tools.crun, &self.crun_root, &self.crun_bundle, n)),
            Contender::steps("crun + veth", |n| {
                let run = self.oci(&self.tools.crun, &self.crun_root, &self.crun_net_bundle, n);
                self.bridge.steps("crun", n, run)
            }),
            Contender::new("runc", |n| self.oci(&self.tools.runc, &self.runc_root, &self.runc_bundle, n)),
            Contender::steps("runc + veth", |n| {
                let run = self.oci(&self.tools.runc, &self.runc_root, &self.runc_net_bundle, n);
                self.bridge.steps("runc", n, run)
            }),
        ]
    }

    /// Cgroups, container directories, mounts and processes left behind.
    fn leftovers(&self, cgroups: &Cgroups, mounts_before: &[PathBuf]) -> Vec<String> {
        let mut left: Vec<String> =
            cgroups.leftovers().iter().map(|p| format!("cgroup {}", p.display())).collect();
        if let Ok(entries) = std::fs::read_dir(self.state.join("containers")) {
            left.extend(entries.flatten().map(|e| format!("container directory {}", e.path().display())));
        }
        left.extend(
            mount_points()
                .into_iter()
                .filter(|m| !mounts_before.contains(m))
                .map(|m| format!("mount {}", m.display())),
        );
        left.extend(sandbox::processes_with(&self.marker).iter().map(|pid| format!("process {pid}")));
        left.extend(self.bridge.leftovers().into_iter().map(|name| format!("network namespace {name}")));
        left
    }

    /// `minibox network prune`: the bridged rows' bridge, NAT table and network directory (in
    /// the bench's own network namespace) go now, not only with the namespace. What stays is
    /// reported.
    fn prune_minibox_network(&self, dir: &Path) -> Vec<String> {
        let mut prune = self.command(&self.minibox);
        prune.args(["network", "prune"]);
        match prune.output() {
            Ok(out) if dir.exists() => vec![format!(
                "minibox's network directory {} (`minibox network prune`: {})",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )],
            Err(error) => vec![format!("minibox network prune did not run: {error}")],
            Ok(_) => Vec::new(),
        }
    }

    /// Containers runc or crun still list (deleted here, and reported).
    fn oci_leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for (runtime, root) in [(&self.tools.runc, &self.runc_root), (&self.tools.crun, &self.crun_root)] {
            if !root.exists() {
                continue;
            }
            let listed = Command::new(runtime).arg("--root").arg(root).args(["list", "-q"]).output();
            for id in
                listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default().lines()
            {
                let _ = Command::new(runtime).arg("--root").arg(root).args(["delete", "-f", id]).output();
                left.push(format!("{} container {id}", runtime.display()));
            }
        }
        left
    }
}

impl Drop for Lab<'_> {
    /// On a failure half-way, runc's and crun's containers are deleted (on success there are
    /// none left: `run` deletes its container when it exits).
    fn drop(&mut self) {
        for left in self.oci_leftovers() {
            eprintln!("bench: cleanup: deleted {left}");
        }
    }
}

/// `runc version 1.1.5+ds1` -> `1.1.5+ds1`.
fn short_version(line: &str) -> &str {
    line.split_whitespace().last().unwrap_or(line)
}

fn mount_points() -> Vec<PathBuf> {
    Mount::all().into_iter().map(|m| m.point).collect()
}

/// Two images of 5 MB and 500 MB (the busybox root plus incompressible filler), imported once,
/// then run alternately.
fn image_lab(lab: &Lab, scratch: &Scratch, rounds: usize) -> Result<(ImageRow, ImageRow)> {
    let base = workload::tree_size(&lab.rootfs);
    let mut made = Vec::new();
    for (name, total) in [("bench-5mb", SMALL_IMAGE), ("bench-500mb", LARGE_IMAGE)] {
        let dir = scratch.path(&format!("filler-{name}"));
        std::fs::create_dir_all(&dir)?;
        let filler = dir.join("filler.bin");
        workload::filler(&filler, total.saturating_sub(base + 20_000))?;
        let archive = scratch.path(&format!("{name}.tar"));
        workload::image_tar(&lab.rootfs, &filler, &archive)?;
        std::fs::remove_dir_all(&dir)?;
        let archive_bytes = std::fs::metadata(&archive)?.len();
        let mut import = lab.command(&lab.minibox);
        import.args(["image", "import", "--root"]).arg(&lab.state).arg(&archive).args([
            name,
            "--cmd",
            "/bin/true",
        ]);
        let sample = lab.launcher.run(&import, &lab.output).with_context(|| format!("importing {name}"))?;
        std::fs::remove_file(&archive)?;
        sys::sync_disks();
        println!(
            "bench: imported {name} ({:.1} MB) in {}",
            archive_bytes as f64 / 1e6,
            report::time(sample.wall)
        );
        made.push((name, archive_bytes, sample.wall));
    }
    let contenders: Vec<Contender> =
        made.iter().map(|&(name, _, _)| Contender::new(name, move |_| lab.minibox_image(name))).collect();
    let samples = measure::alternate(&lab.launcher, &contenders, rounds, &[None], &lab.output, "images")?
        .pop()
        .unwrap_or_default();
    drop(contenders);
    let mut rows = made.into_iter().zip(samples).map(|((name, archive_bytes, import), samples)| ImageRow {
        label: format!("`{name}`"),
        archive_bytes,
        import,
        run: Summary::of(&samples),
    });
    let small = rows.next().context("no small image")?;
    let large = rows.next().context("no large image")?;
    Ok((small, large))
}

/// Start `CONCURRENT` containers at once from the small image; wait for all; check that every
/// one cleaned up after itself.
fn concurrent_batch(lab: &Lab, cgroups: &Cgroups) -> Result<Batch> {
    let mounts_before = mount_points();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&lab.output.0)?;
    log.set_len(0)?;
    let started = Instant::now();
    let mut children = Vec::with_capacity(CONCURRENT);
    for _ in 0..CONCURRENT {
        let mut command = lab.minibox_image("bench-5mb");
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(log.try_clone()?));
        let at = Instant::now();
        children.push((command.spawn().context("starting minibox")?, at));
    }
    let mut each = Vec::with_capacity(CONCURRENT);
    let mut failed = 0;
    for _ in 0..CONCURRENT {
        let ended = sys::wait(-1)?;
        let Some((_, at)) = children.iter().find(|(c, _)| c.id() as i32 == ended.pid) else { continue };
        each.push(Sample { wall: at.elapsed(), max_rss_kib: ended.max_rss_kib });
        if ended.code != 0 {
            failed += 1;
        }
    }
    let total = started.elapsed();
    drop(children); // all reaped above
    if failed > 0 {
        bail!("{failed} of {CONCURRENT} concurrent containers failed:\n{}", lab.output.read().trim_end());
    }
    let leftovers = lab.leftovers(cgroups, &mounts_before);
    println!(
        "bench: {CONCURRENT} containers in {} ({})",
        report::time(total),
        if leftovers.is_empty() {
            "all cleaned up".to_string()
        } else {
            format!("left behind: {}", leftovers.join("; "))
        }
    );
    Ok(Batch { total, each: Summary::of(&each), leftovers })
}

/// Boot the minimal VM (`vm::boot_minimal`) several times, each in a child process (so that
/// wait4 gives QEMU's peak memory), with minibox container starts in between.
fn vm_lab(ws: &Workspace, lab: &Lab, boots: usize) -> Result<VmLab> {
    let prepared = vm::prepare(ws)?;
    let choice = vm::choose_accel(&prepared)?;
    println!("bench: VM accelerator {}: {}", choice.accel.label(), choice.reason);
    let mut accels = vec![choice.accel];
    if choice.accel == Accel::Kvm {
        accels.push(Accel::Tcg); // for comparison: the same boot without hardware help
    }
    let kvm = match choice.accel {
        Accel::Kvm => format!("measured here ({}).", choice.reason),
        Accel::Tcg => format!(
            "not measured here: {}. On a machine where KVM works, `cargo maint bench` measures it; \
             see the text for what it changes.",
            choice.reason
        ),
    };
    let myself = Path::new(MYSELF);
    let mut measured = Vec::new();
    let mut container = Vec::new();
    for accel in accels {
        let word = if accel == Accel::Kvm { "kvm" } else { "tcg" };
        let (mut to_init, mut to_off, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        for boot in 0..boots {
            let mut command = lab.command(myself);
            command.args(["bench", "--vm-boot-once", word]);
            let sample = lab.launcher.run(&command, &lab.output).context("booting the minimal VM")?;
            let printed = lab.output.read();
            let (init, off) =
                parse_boot(&printed).with_context(|| format!("no boot times in:\n{printed}"))?;
            println!(
                "bench: VM boot {}/{boots} ({word}): /init at {}, off at {}",
                boot + 1,
                report::time(init),
                report::time(off)
            );
            to_init.push(init);
            to_off.push(off);
            rss.push(sample.max_rss_kib);
            for _ in 0..STARTS_PER_BOOT {
                container.push(lab.launcher.run(&lab.minibox_rootfs(), &lab.output)?);
            }
        }
        rss.sort();
        measured.push(VmBoots {
            accel: accel.label().to_string(),
            to_init: Summary::of_durations(&to_init),
            to_power_off: Summary::of_durations(&to_off),
            max_rss_kib: rss[rss.len() / 2],
        });
    }
    Ok(VmLab {
        boots: measured,
        container: Summary::of(&container),
        kvm,
        guest: format!(
            "A minimal Linux guest (Debian's cloud kernel {}, an initramfs with busybox and a shell-script /init) under QEMU",
            prepared.kernel_release
        ),
    })
}

/// The child's side of the VM lab: one boot, its times on stdout.
fn vm_boot_once(ws: &Workspace, accel: &str) -> Result<()> {
    let prepared = vm::prepare(ws)?;
    let accel = if accel == "kvm" { Accel::Kvm } else { Accel::Tcg };
    let timing = vm::boot_minimal(&prepared, accel)?;
    println!(
        "bench-vm-boot: to_init_us={} total_us={}",
        timing.to_init.as_micros(),
        timing.total.as_micros()
    );
    Ok(())
}

fn parse_boot(text: &str) -> Option<(Duration, Duration)> {
    let line = text.lines().find_map(|l| l.strip_prefix("bench-vm-boot: "))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_micros)
    };
    Some((field("to_init_us")?, field("total_us")?))
}

/// How the runtimes were run, for the results.
fn conditions(namespace: &str, cgroups: &Cgroups, lab: &Lab, built: bool) -> Vec<String> {
    vec![
        format!(
            "Every launch ran from the same process, in {namespace}; as root; stdin from /dev/null, \
             stdout and stderr to a file, no terminal."
        ),
        "Every container ran the same busybox root filesystem: one directory, given to minibox with \
         `--rootfs` and to runc and crun by absolute path in their bundles' `config.json`."
            .into(),
        "Namespaces: PID, mount, UTS and IPC for every runtime. `minibox --network host`, `crun` and \
         `runc` make no network namespace. `minibox --network none` makes one with `lo` only; the \
         default `minibox run` makes one and plugs it into its bridge `minibox0` with a veth pair \
         (the bridge, its nftables table and ip_forward made by the first launch and kept, as \
         docker0 is). `crun + veth` and `runc + veth` join a network namespace the bench makes \
         at each launch and plugs into a bridge of its own the way a CNI bridge plugin does; \
         the `ip` runs that do it are timed with the launch."
            .into(),
        format!(
            "Limits: {} MiB of memory (memory+swap too, where the kernel offers it) and {PIDS} pids: \
             `--memory {}m --pids {PIDS}` for minibox, `linux.resources` for runc and crun. minibox puts \
             its containers under its own cgroup (the bench's `{}`, in the memory, pids, cpu and devices \
             hierarchies); runc and crun were given `cgroupsPath` `{}` (crun reads relative paths from \
             the hierarchies' roots, so both got the same absolute one). runc and crun also join every \
             other v1 hierarchy: that is part of their cost.",
            MEMORY >> 20,
            MEMORY >> 20,
            cgroups.name,
            cgroups.oci_path("RUNTIME")
        ),
        "The OCI `config.json` is `runc spec`'s default with: no terminal; `/bin/true`; the root \
         read-write (as minibox mounts it); no `process.rlimits` (raising a hard limit needs \
         CAP_SYS_RESOURCE, which root lacks on the workshop's machine); no network namespace (or, for the \
         `+ veth` rows, the bench's, by path); only the \
         mounts minibox makes (/proc, /dev, /dev/pts, /dev/shm, /sys). Hardening, the same on every side \
         (the hardening chapter, from minibox's own lists): Docker's default capabilities in the bounding, effective \
         and permitted sets, inheritable and ambient empty; `noNewPrivileges`; minibox's seccomp denylist \
         as `linux.seccomp`; its masked and read-only paths; its devices allowlist (the v1 devices \
         cgroup). minibox also remounts its root `nodev` and /dev read-only, which the OCI config \
         cannot say."
            .into(),
        format!(
            "The floor runs the host's `/bin/true` (dynamically linked); the containers run busybox's \
             `true` (static). minibox: {}.",
            if built || lab.minibox.parent().is_some_and(|dir| dir.ends_with("release")) {
                "a release build with link-time optimization, statically linked (`RUSTFLAGS='-C \
                 target-feature=+crt-static' cargo build --release -p minibox --target HOST`), as runc's own \
                 release binaries are"
                    .to_string()
            } else {
                format!("the binary given with `--minibox`, {}", lab.minibox.display())
            }
        ),
        "Each launch is started by a small launcher process of the bench's own (forked, not \
         vforked), so that the peak memory `wait4` reports is the runtime's, not the bench's."
            .into(),
    ]
}

/// The chart: the start lab (warm and cold), the two images, the VM.
fn chart_groups(results: &Results) -> Vec<chart::Group> {
    use chart::{Group, Series};
    let mut groups: Vec<Group> = results
        .start
        .iter()
        .map(|row| Group {
            label: match row.key {
                "true" => "/bin/true, no container".to_string(),
                "unshare" => "unshare (the floor)".to_string(),
                "unshare-net" => "unshare --net (the floor)".to_string(),
                "minibox" => "minibox --network host".to_string(),
                "minibox-none" => "minibox --network none".to_string(),
                "minibox-bridge" => "minibox (bridged)".to_string(),
                _ => row.label.clone(),
            },
            bars: vec![(Series::Warm, row.warm), (Series::Cold, row.cold)],
        })
        .collect();
    if let Some((small, large)) = &results.images {
        for image in [small, large] {
            groups.push(Group {
                label: format!(
                    "minibox, {} image",
                    image
                        .label
                        .trim_matches('`')
                        .trim_start_matches("bench-")
                        .to_uppercase()
                        .replace("MB", " MB")
                ),
                bars: vec![(Series::Warm, image.run)],
            });
        }
    }
    if let Vm::Measured(vm) = &results.vm {
        for boots in &vm.boots {
            let accel = boots.accel.split_whitespace().next().unwrap_or("?");
            groups.push(Group {
                label: format!("VM boot to /init ({accel})"),
                bars: vec![(Series::Other, boots.to_init)],
            });
            groups.push(Group {
                label: format!("VM boot and power-off ({accel})"),
                bars: vec![(Series::Other, boots.to_power_off)],
            });
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_times_are_read_from_the_childs_output() {
        let text = "vm-test: something\nbench-vm-boot: to_init_us=2500000 total_us=3100000\n";
        assert_eq!(parse_boot(text), Some((Duration::from_millis(2500), Duration::from_millis(3100))));
        assert_eq!(parse_boot("nothing"), None);
    }
}
