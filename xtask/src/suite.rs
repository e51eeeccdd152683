//! `cargo xtask test`: everything CI checks, in one command, stopping at the first failure.

use crate::workspace::Workspace;
use crate::{cargo, doctor, preflight, verify};
use anyhow::{Result, bail};
use std::process::Command;

pub fn run(ws: &Workspace, with_vm: bool) -> Result<()> {
    section("preflight: the tools the suite calls");
    preflight::run(with_vm)?;

    section("doctor: can this machine run the workshop?");
    doctor::run(ws)?;

    // With cores to spare, vm-test runs beside everything else: its guest computes while
    // verify's tests mostly wait. Its output goes to a file, shown when it ends. Its emulated
    // guest keeps two cores busy, so on a smaller machine it runs last, alone, as it did.
    let beside = with_vm && std::thread::available_parallelism().is_ok_and(|n| n.get() >= VM_BESIDE_CORES);
    let vm_test = if beside { Some(VmTest::start(ws)?) } else { None };

    section("verify: generated crates, solutions, starters, style");
    verify::run(ws, None, None)?;

    section("reliability: a soak with random SIGKILLs, and a corpus of bad inputs");
    let mut reliability = cargo::cargo();
    reliability.args(["run", "--quiet", "--package", "minibox-maint", "--", "reliability"]);
    step(reliability, ws)?;

    // The solutions' tests (the graded tests and their unit tests) ran in `verify`, once per
    // snapshot; running the default members again would run every graded test twice. What is
    // left: the crates that are no snapshot, the maintainers' among them (no default member:
    // learners never build it).
    section("cargo test: the crates that are no snapshot");
    let mut test = cargo::cargo();
    test.arg("test").env("RUST_BACKTRACE", "0");
    for package in ["minibox", "minibox-probe", "minibox-fixtures", "xtask", "minibox-maint"] {
        test.args(["--package", package]);
    }
    step(test, ws)?;

    section("the book: build, links, includes, rendering");
    step(Command::new(ws.path("tools/check-book")), ws)?;

    section("shell scripts, the Vagrantfile, the cloud-init user-data");
    let mut shellcheck = Command::new("shellcheck");
    shellcheck.args(shell_scripts(ws)?);
    step(shellcheck, ws)?;
    let mut vagrant = Command::new("vagrant");
    vagrant.arg("validate");
    if has_libvirt_plugin() {
        // The libvirt provider's own checks catch typos in the Vagrantfile's libvirt block.
        vagrant.env("VAGRANT_DEFAULT_PROVIDER", "libvirt");
    } else {
        println!("(no vagrant-libvirt plugin: the Vagrantfile is validated without provider checks)");
        vagrant.arg("--ignore-provider");
    }
    step(vagrant, ws)?;
    let mut cloud_init = Command::new("cloud-init");
    cloud_init.args(["schema", "--config-file", "tools/cloud-init.yaml"]);
    step(cloud_init, ws)?;

    if let Some(vm_test) = vm_test {
        section("vm-test: the graded tests on cgroup v2, in a VM (started with verify)");
        vm_test.finish()?;
    } else if with_vm {
        section("vm-test: the graded tests on cgroup v2, in a VM");
        let mut vm_test = cargo::cargo();
        vm_test.args(["run", "--quiet", "--package", "minibox-maint", "--", "vm-test"]);
        step(vm_test, ws)?;
    }
    section("done");
    println!("\ncargo xtask test: everything passed");
    Ok(())
}

/// The cores from which vm-test runs beside verify: its guest's two, and two for the tests.
const VM_BESIDE_CORES: usize = 4;

/// `cargo maint vm-test`, running in the background with its output in a file.
struct VmTest {
    child: std::process::Child,
    log: std::path::PathBuf,
    started: std::time::Instant,
}

impl VmTest {
    fn start(ws: &Workspace) -> Result<VmTest> {
        let log = ws.path("target/vm-test.log");
        std::fs::create_dir_all(ws.path("target"))?;
        let file = std::fs::File::create(&log)?;
        let mut command = cargo::cargo();
        command.args(["run", "--quiet", "--package", "minibox-maint", "--", "vm-test"]);
        command.current_dir(&ws.root).stdin(std::process::Stdio::null());
        // A group of its own, so that an early end of the suite can stop the guest with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.stdout(file.try_clone()?).stderr(file);
        println!("(vm-test started in the background; its log: {})", log.display());
        Ok(VmTest { child: command.spawn()?, log, started: std::time::Instant::now() })
    }

    /// Wait for it, show its log, and fail as it failed.
    fn finish(mut self) -> Result<()> {
        let status = self.child.wait()?;
        print!("{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        println!("(vm-test ran for {} s, beside the sections above)", self.started.elapsed().as_secs());
        if !status.success() {
            bail!("failed: cargo maint vm-test ({status})");
        }
        Ok(())
    }
}

impl Drop for VmTest {
    /// A failure elsewhere ends the suite: the guest goes with it, not left running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill has no memory-safety preconditions; the group is our child's own
            // (made above), and the child is not yet reaped, so its id is still ours.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// Every shell script in the repository: `*.sh`, and files under tools/ and .ci/ that start with `#!/bin/sh` or bash.
fn shell_scripts(ws: &Workspace) -> Result<Vec<std::path::PathBuf>> {
    let mut scripts = Vec::new();
    for dir in ["tools", ".ci"] {
        for entry in std::fs::read_dir(ws.path(dir))? {
            let path = entry?.path();
            let head = std::fs::read(&path).unwrap_or_default();
            let is_shell = head.starts_with(b"#!/bin/sh")
                || head.starts_with(b"#!/usr/bin/env bash")
                || head.starts_with(b"#!/bin/bash");
            if path.is_file() && (is_shell || path.extension().is_some_and(|e| e == "sh")) {
                scripts.push(path);
            }
        }
    }
    scripts.sort();
    Ok(scripts)
}

fn has_libvirt_plugin() -> bool {
    Command::new("vagrant")
        .args(["plugin", "list"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("vagrant-libvirt"))
}

fn section(title: &str) {
    let now = std::time::Instant::now();
    let mut sections = SECTIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((previous, started)) = sections.last_mut() {
        println!("==== {previous}: {} s ====", now.duration_since(*started).as_secs());
    }
    sections.push((title.to_string(), now));
    println!("\n==== {title} ====");
}

/// The sections begun so far and when, so that each one's time is printed when the next begins:
/// CI's time is the sum, and the section that grows is the one to look at.
static SECTIONS: std::sync::Mutex<Vec<(String, std::time::Instant)>> = std::sync::Mutex::new(Vec::new());

fn step(command: Command, ws: &Workspace) -> Result<()> {
    let shown = format!("{command:?}");
    let out = cargo::run(command, &ws.root, true)?;
    if !out.success {
        bail!("failed: {shown}");
    }
    Ok(())
}
