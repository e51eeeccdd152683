//! `cargo maint vm-test`: the solutions' graded tests inside a QEMU VM on pure cgroup v2.
//!
//! Why a VM: CI and the maintainers' machines have cgroup v1 in a hybrid layout, while every
//! learner's machine is pure cgroup v2. A container cannot change which cgroup hierarchy the
//! kernel offers; a VM with its own kernel can.
//!
//! How:
//! - **Kernel**: Debian's cloud kernel, one versioned package (`apt-cache depends
//!   linux-image-cloud-amd64` names it) fetched with `apt-get download` and unpacked with
//!   `dpkg-deb -x` under `target/vm/kernel/`, never installed (`kernel.rs`). It has cgroups,
//!   memcg, pids, CFS bandwidth and every namespace built in, and virtiofs and overlayfs as
//!   plain `.ko` modules. It boots with `cgroup_no_v1=all`: one hierarchy, v2.
//! - **Initramfs**: built here (`initramfs.rs`, `cpio.rs`: no cpio(1) needed) from the host's
//!   static busybox, `tools/vm/init`, `tools/vm/run-tests` and the modules; cached in
//!   `target/vm/` by a hash of its inputs. `/init` mounts proc, sys, dev and cgroup2 on
//!   /sys/fs/cgroup and enables +memory +pids +cpu in the root's `cgroup.subtree_control`.
//! - **The tests' world: the host's own `/`, shared read-only.** The graded tests are built on
//!   the host (`cargo test -p solution-NN --no-run`) and embed absolute paths (the runtime binary,
//!   the probe); they are linked against the host's glibc and run the host's `sh`, `cat`,
//!   `umount` and `/bin/busybox`. Rather than make all of that static, virtiofsd shares the
//!   host's `/` with the guest, `/init` mounts it read-only with a tmpfs overlay on top (so it is
//!   writable, and nothing reaches the host) and `switch_root`s into that: every path and
//!   library is where the binaries expect it, and the root is a real mount, which pivot_root
//!   (chapter 3 on) needs; the initramfs itself cannot be pivoted away from. Stage 2
//!   (`tools/vm/run-tests`, PID 1 there) gives the tests a tmpfs of their own as `TMPDIR` (their
//!   overlay mounts cannot take layers from an overlay; /tmp is left alone, as the workspace may
//!   live there), runs each test binary with `--test-threads=1` (the tests are `#[serial]`) in
//!   its crate's directory, and prints a result line:
//!   `minibox-vm-test: cgroup=v2 controllers="cpu memory pids" passed=N failed=M errors=E`.
//!   Which binaries to run is a small second cpio archive appended to the initramfs per run.
//!   The alternative, static test binaries in the initramfs, would still need the host's `sh`,
//!   `umount` and friends, and paths baked in at build time: more parts, less like a real host.
//! - **Accelerator**: KVM where it works, else TCG. `/dev/kvm` may exist and still hang a guest
//!   (nested virtualization, as on CI), so KVM is probed with a minimal boot that must reach
//!   `/init` and power off within `KVM_PROBE_TIMEOUT`; the verdict is kept in `target/vm/accel`
//!   for the rest of the host's uptime (keyed by its boot id). `MINIBOX_VM_ACCEL=kvm|tcg`
//!   forces one.
//! - **Speed under TCG**: `mitigations=off` on the guest's command line (page-table isolation
//!   flushes the emulated TLB on every system call) and virtiofs with `cache=always` (nothing
//!   changes the shared tree during a run): together, chapter 1's tests went from 31 s to 8 s.
//!   `-cpu max` is then as fast as a plain CPU model, and runs host binaries built for newer
//!   CPU levels.
//! - **No network** in the guest; QEMU starts with `-nodefaults`.
//! - Settings: `MINIBOX_VM_ACCEL=kvm|tcg|auto`, `MINIBOX_VM_TIMEOUT` (seconds, for the whole
//!   test run), `MINIBOX_VM_KERNEL_PACKAGE` (another Debian kernel package), `MINIBOX_BUSYBOX`.
//!
//! The boot is reusable for `cargo maint bench`: [`prepare`] gives a kernel and an initramfs,
//! [`choose_accel`] the accelerator, and [`boot_minimal`] boots to `/init` and powers off,
//! returning the times.

mod cpio;
mod initramfs;
mod kernel;
mod qemu;

use crate::cargo;
use crate::workspace::{Chapter, Kind, Workspace};
use anyhow::{Context, Result, bail};
use fixtures::scratch::ScratchDir;
pub use qemu::Accel;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A minimal boot with KVM that has not reached `/init` and powered off by then is taken as a
/// KVM that does not work here (a working one needs about a second).
const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole test run in the guest, unless `MINIBOX_VM_TIMEOUT` (seconds) says otherwise.
const TEST_TIMEOUT: Duration = Duration::from_secs(25 * 60);
/// The guest for the tests: the memory tests allocate up to ~100 MiB inside a 64 MiB limit.
const TEST_MEMORY_MIB: u32 = 2048;
const MINIMAL_MEMORY_MIB: u32 = 512;
/// A minimal boot takes 3 s under TCG on a quiet machine, and about a second with KVM.
const MINIMAL_TIMEOUT: Duration = Duration::from_secs(60);

/// A kernel and an initramfs, ready to boot.
pub struct Vm {
    /// The versioned kernel package, for example `linux-image-6.1.0-56-cloud-amd64`.
    pub kernel_package: String,
    /// The guest kernel's release (`uname -r`).
    pub kernel_release: String,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    cache: PathBuf,
}

/// The accelerator to use, and why.
pub struct AccelChoice {
    pub accel: Accel,
    pub reason: String,
}

/// A minimal boot, timed from starting QEMU.
pub struct BootTiming {
    /// To the first line of `/init`.
    pub to_init: Duration,
    /// To QEMU's exit, after the guest powered off.
    pub total: Duration,
}

/// Fetch the kernel (once) and build the initramfs (once per set of inputs), under `target/vm/`.
pub fn prepare(ws: &Workspace) -> Result<Vm> {
    if std::env::consts::ARCH != "x86_64" {
        bail!("the test VM is x86_64 only (Debian's linux-image-cloud-amd64 and qemu-system-x86_64)");
    }
    let cache = ws.path("target/vm");
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let kernel = kernel::fetch(&cache)?;
    let initramfs = initramfs::build(ws, &kernel, &cache)?;
    Ok(Vm {
        kernel_package: kernel.package,
        kernel_release: kernel.release,
        kernel: kernel.image,
        initramfs,
        cache,
    })
}

/// Boot `vm` to `/init`, which mounts the kernel's filesystems and cgroup2 and powers off at
/// once: one CPU, 512 MiB, no devices but the serial console.
pub fn boot_minimal(vm: &Vm, accel: Accel) -> Result<BootTiming> {
    let console = minimal(vm, accel, MINIMAL_TIMEOUT)?;
    match (console.to_init, console.status) {
        (Some(to_init), Some(status)) if status.success() => Ok(BootTiming { to_init, total: console.total }),
        _ => {
            let how = if console.timed_out {
                format!("within {} s", MINIMAL_TIMEOUT.as_secs())
            } else {
                format!("(QEMU: {})", describe(console.status))
            };
            bail!(
                "the minimal VM ({}) did not boot to /init and power off {how}\n{}{}",
                accel.label(),
                console.lines.join("\n"),
                console.qemu_errors
            )
        }
    }
}

fn minimal(vm: &Vm, accel: Accel, timeout: Duration) -> Result<qemu::Console> {
    qemu::boot(&qemu::Boot {
        kernel: &vm.kernel,
        initramfs: &vm.initramfs,
        accel,
        memory_mib: MINIMAL_MEMORY_MIB,
        cpus: 1,
        append: "minibox.mode=boot",
        virtiofs: None,
        timeout,
        echo: false,
    })
}

/// KVM if it is there and a guest boots with it, otherwise TCG.
pub fn choose_accel(vm: &Vm) -> Result<AccelChoice> {
    match std::env::var("MINIBOX_VM_ACCEL").as_deref() {
        Ok("kvm") => return Ok(AccelChoice { accel: Accel::Kvm, reason: "MINIBOX_VM_ACCEL=kvm".into() }),
        Ok("tcg") => return Ok(AccelChoice { accel: Accel::Tcg, reason: "MINIBOX_VM_ACCEL=tcg".into() }),
        Ok("auto") | Err(_) => {}
        Ok(other) => bail!("MINIBOX_VM_ACCEL={other}: expected kvm, tcg or auto"),
    }
    let tcg = |reason: String| Ok(AccelChoice { accel: Accel::Tcg, reason });
    if let Err(error) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return tcg(format!("/dev/kvm cannot be opened ({error})"));
    }
    // A verdict from earlier in this host's uptime, for this kernel.
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let key = format!("boot_id={} kernel={}", boot_id.trim(), vm.kernel_release);
    let remembered = vm.cache.join("accel");
    if let Ok(text) = std::fs::read_to_string(&remembered)
        && let Some(verdict) = text.strip_prefix(&key).and_then(|rest| rest.strip_prefix('\n'))
    {
        let verdict = verdict.trim();
        return Ok(match verdict.strip_prefix("kvm ") {
            Some(reason) => AccelChoice { accel: Accel::Kvm, reason: format!("{reason} (remembered)") },
            None => AccelChoice {
                accel: Accel::Tcg,
                reason: format!("{} (remembered)", verdict.trim_start_matches("tcg ")),
            },
        });
    }
    println!(
        "vm-test: /dev/kvm is there; probing it with a minimal boot ({} s at most)",
        KVM_PROBE_TIMEOUT.as_secs()
    );
    let console = minimal(vm, Accel::Kvm, KVM_PROBE_TIMEOUT)?;
    let choice = match (console.to_init, console.status) {
        (Some(to_init), Some(status)) if status.success() => AccelChoice {
            accel: Accel::Kvm,
            reason: format!("a KVM guest reached /init in {:.1} s", to_init.as_secs_f64()),
        },
        _ if console.timed_out => AccelChoice {
            accel: Accel::Tcg,
            reason: format!(
                "/dev/kvm is there but a KVM guest did not reach /init and power off within {} s",
                KVM_PROBE_TIMEOUT.as_secs()
            ),
        },
        _ => AccelChoice {
            accel: Accel::Tcg,
            reason: format!(
                "a KVM guest failed: {}",
                console.qemu_errors.lines().last().unwrap_or("no message").trim()
            ),
        },
    };
    let word = if choice.accel == Accel::Kvm { "kvm" } else { "tcg" };
    let _ = std::fs::write(&remembered, format!("{key}\n{word} {}\n", choice.reason));
    Ok(choice)
}

/// One graded test binary, as cargo built it.
struct TestBinary {
    /// The test target, for example `ch02_namespaces`.
    target: String,
    /// Its crate's directory, where cargo would run it.
    dir: PathBuf,
    executable: PathBuf,
}

pub fn run(ws: &Workspace) -> Result<()> {
    let started = Instant::now();
    let chapters = ws.chapters()?;
    let Some(last) = chapters.last() else { bail!("chapters.txt lists no chapter") };
    let package = last.package(Kind::Solution);
    if !ws.path(last.dir(Kind::Solution)).join("Cargo.toml").exists() {
        bail!("{package} does not exist yet: run `cargo xtask sync`");
    }
    check_host()?;

    let vm = prepare(ws)?;
    println!("vm-test: guest kernel {} ({})", vm.kernel_release, vm.kernel_package);
    let binaries = build_tests(ws, &package, &chapters)?;
    let built = started.elapsed();
    let choice = choose_accel(&vm)?;
    println!("vm-test: accelerator {}: {}", choice.accel.label(), choice.reason);

    // The per-run files: the initramfs with its plan, virtiofsd's socket and log.
    // Under the host's temp directory, not target/: a vhost-user socket path must be short.
    let scratch = ScratchDir::new("minibox-vm")?;
    initramfs::with_plan(&vm.initramfs, &plan(&binaries), &scratch.join("initramfs.cpio"))?;
    let log = scratch.join("virtiofsd.log");
    let daemon = qemu::Virtiofsd::start(Path::new("/"), &scratch.join("virtiofs.sock"), &log)?;
    let timeout = std::env::var("MINIBOX_VM_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(TEST_TIMEOUT);
    println!(
        "vm-test: booting the guest ({}; {} MiB, 2 CPUs); {package}'s graded tests, chapters {}-{}",
        choice.accel.label(),
        TEST_MEMORY_MIB,
        chapters[0].number,
        last.number
    );
    let socket = scratch.join("virtiofs.sock");
    let initramfs = scratch.join("initramfs.cpio");
    let console = qemu::boot(&qemu::Boot {
        kernel: &vm.kernel,
        initramfs: &initramfs,
        accel: choice.accel,
        memory_mib: TEST_MEMORY_MIB,
        cpus: 2,
        append: "minibox.mode=test",
        virtiofs: Some(&socket),
        timeout,
        echo: true,
    })?;
    drop(daemon);
    let virtiofsd_log = std::fs::read_to_string(&log).unwrap_or_default();
    drop(scratch);

    report(&package, &binaries, &choice, &console, &virtiofsd_log, built, started.elapsed())
}

/// Read the guest's verdict, print the summary, and fail on anything but a clean pass.
fn report(
    package: &str,
    binaries: &[TestBinary],
    choice: &AccelChoice,
    console: &qemu::Console,
    virtiofsd_log: &str,
    built: Duration,
    total: Duration,
) -> Result<()> {
    let text = console.lines.join("\n");
    let result = console.lines.iter().rev().find_map(|l| ResultLine::parse(l));
    let seen = console
        .lines
        .iter()
        .find_map(|l| l.find("minibox-vm: cgroup=").map(|at| l[at + "minibox-vm: ".len()..].to_string()));
    let outcomes = cargo::outcomes(&text);
    let targets_run =
        binaries.iter().filter(|b| text.contains(&format!("minibox-vm: {} status=", b.target))).count();

    println!();
    println!("==== vm-test summary ====");
    println!("package:      {package} ({} test binaries, {targets_run} run)", binaries.len());
    println!("accelerator:  {} ({})", choice.accel.label(), choice.reason);
    println!("cgroups seen: {}", seen.as_deref().unwrap_or("(not reported)"));
    match console.to_init {
        Some(to_init) => println!(
            "times:        build {:.0} s, boot to /init {:.1} s, VM {:.0} s, all {:.0} s",
            built.as_secs_f64(),
            to_init.as_secs_f64(),
            console.total.as_secs_f64(),
            total.as_secs_f64()
        ),
        None => println!("times:        the guest never reached /init"),
    }
    let failed_tests: Vec<&cargo::Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    for outcome in &failed_tests {
        println!("FAILED:       {}::{}: {}", outcome.target, outcome.name, cargo::gist(&outcome.report));
    }

    let Some(result) = result else {
        let why = if console.timed_out {
            format!("the VM did not finish within {} s and was stopped", console.total.as_secs())
        } else {
            format!("the VM stopped ({}) without reporting a result", describe(console.status))
        };
        let mut detail = String::new();
        if !console.qemu_errors.trim().is_empty() {
            detail.push_str(&format!("\nQEMU said:\n{}", console.qemu_errors.trim()));
        }
        if !virtiofsd_log.trim().is_empty() && !console.lines.iter().any(|l| l.contains("minibox-vm: kernel"))
        {
            detail.push_str(&format!("\nvirtiofsd said:\n{}", tail(virtiofsd_log, 15)));
        }
        bail!("vm-test: {why}{detail}");
    };
    println!("{}", result.line);
    if result.passed != outcomes.iter().filter(|o| o.passed).count() || result.failed != failed_tests.len() {
        println!(
            "vm-test: note: the guest counted {} passed and {} failed; libtest's lines say {} and {}",
            result.passed,
            result.failed,
            outcomes.len() - failed_tests.len(),
            failed_tests.len()
        );
    }

    let mut problems = Vec::new();
    if result.cgroup != "v2" {
        problems.push(format!("the guest's cgroup mode is {}, not pure v2", result.cgroup));
    }
    let missing: Vec<&str> = fixtures::cgroup::CONTROLLERS
        .into_iter()
        .filter(|c| !result.controllers.iter().any(|seen| seen == c))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("controllers not enabled in the guest: {}", missing.join(" ")));
    }
    if targets_run != binaries.len() {
        problems.push(format!("{} of {} test binaries ran", targets_run, binaries.len()));
    }
    if result.failed > 0 {
        problems.push(format!("{} graded tests failed", result.failed));
    }
    if result.errors > 0 {
        problems.push(format!("{} test binaries failed without a failing test", result.errors));
    }
    if result.passed == 0 {
        problems.push("no test passed".into());
    }
    if !problems.is_empty() {
        bail!("vm-test: {} (in the VM)", problems.join("; "));
    }
    println!(
        "vm-test: all {} graded tests of {package} pass on cgroup v2 ({}), under {}",
        result.passed,
        result.controllers.join(" "),
        choice.accel.label()
    );
    Ok(())
}

/// `minibox-vm-test: cgroup=v2 controllers="cpu memory pids" passed=N failed=M errors=E`
#[derive(Debug, PartialEq)]
struct ResultLine {
    line: String,
    cgroup: String,
    controllers: Vec<String>,
    passed: usize,
    failed: usize,
    errors: usize,
}

impl ResultLine {
    fn parse(line: &str) -> Option<ResultLine> {
        let at = line.find("minibox-vm-test: ")?;
        let line = &line[at..];
        let rest = &line["minibox-vm-test: ".len()..];
        let quoted = rest.split_once("controllers=\"")?.1.split_once('"')?.0;
        let field = |name: &str| {
            rest.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
        };
        let number = |name: &str| field(name)?.parse::<usize>().ok();
        Some(ResultLine {
            line: line.to_string(),
            cgroup: field("cgroup")?,
            controllers: quoted.split_whitespace().map(str::to_string).collect(),
            passed: number("passed")?,
            failed: number("failed")?,
            errors: number("errors")?,
        })
    }
}

fn describe(status: Option<std::process::ExitStatus>) -> String {
    status.map_or("no status".into(), |s| s.to_string())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Root (virtiofsd shares the host's / from a chroot sandbox, which only root may set up) and
/// QEMU, each with a clear fix when missing.
fn check_host() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    if uid != Some("0") {
        bail!("vm-test needs root: virtiofsd shares the host's / with the VM (run it as root, or with sudo)");
    }
    let found = Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        bail!("qemu-system-x86_64 is missing: apt-get install --no-install-recommends qemu-system-x86");
    }
    Ok(())
}

/// Build `package`'s graded test binaries with the host's cargo; return them in chapter order.
fn build_tests(ws: &Workspace, package: &str, chapters: &[Chapter]) -> Result<Vec<TestBinary>> {
    println!("vm-test: building {package}'s graded tests: cargo test -p {package} --no-run");
    let mut command = cargo::cargo();
    command.args(["test", "-p", package, "--no-run"]);
    let mut binaries: Vec<TestBinary> = crate::executables::build(command, &ws.root)?
        .into_iter()
        .filter(|e| e.kinds.iter().any(|k| k == "test") && chapters.iter().any(|c| c.test_name == e.target))
        .map(|e| TestBinary { target: e.target, dir: e.package_dir, executable: e.path })
        .collect();
    let mut ordered = Vec::new();
    for chapter in chapters {
        let Some(at) = binaries.iter().position(|b| b.target == chapter.test_name) else {
            bail!("cargo built no test binary {} for {package}", chapter.test_name);
        };
        ordered.push(binaries.remove(at));
    }
    Ok(ordered)
}

/// The plan stage 2 sources: a `run_test TARGET DIRECTORY EXECUTABLE` line per binary.
fn plan(binaries: &[TestBinary]) -> String {
    let mut plan =
        String::from("# Written by cargo maint vm-test (maint/src/vm.rs), sourced by tools/vm/run-tests.\n");
    for binary in binaries {
        plan.push_str(&format!(
            "run_test {} {} {}\n",
            quote(&binary.target),
            quote(&binary.dir.to_string_lossy()),
            quote(&binary.executable.to_string_lossy())
        ));
    }
    plan
}

/// `text` as one shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_is_read() {
        let line =
            "\u{1b}[0mminibox-vm-test: cgroup=v2 controllers=\"cpu memory pids\" passed=24 failed=1 errors=0";
        let result = ResultLine::parse(line).expect("a result line");
        assert_eq!(result.cgroup, "v2");
        assert_eq!(result.controllers, ["cpu", "memory", "pids"]);
        assert_eq!((result.passed, result.failed, result.errors), (24, 1, 0));
        assert!(result.line.starts_with("minibox-vm-test:"), "{}", result.line);
        assert_eq!(ResultLine::parse("minibox-vm: cgroup=v2 available=\"cpu\""), None);
    }

    #[test]
    fn the_plan_quotes_paths() {
        let binaries = [TestBinary {
            target: "ch01_process".into(),
            dir: PathBuf::from("/w/it's here/solutions/solution-01"),
            executable: PathBuf::from("/w/target/debug/deps/ch01_process-1"),
        }];
        let plan = plan(&binaries);
        assert!(
            plan.contains(
                "run_test 'ch01_process' '/w/it'\\''s here/solutions/solution-01' '/w/target/debug/deps/ch01_process-1'\n"
            ),
            "{plan}"
        );
    }
}
