//! `cargo xtask test`: everything CI checks, in one command, stopping at the first failure.

use crate::workspace::Workspace;
use crate::{cargo, doctor, reliability, verify, vm};
use anyhow::{Result, bail};
use std::process::Command;

pub fn run(ws: &Workspace, with_vm: bool) -> Result<()> {
    section("doctor: can this machine run the workshop?");
    doctor::run(ws)?;

    section("verify: generated crates, solutions, starters, style");
    verify::run(ws, None)?;

    section("reliability: a soak with random SIGKILLs, and a corpus of bad inputs");
    reliability::run(ws)?;

    section("cargo test: the workspace's default members");
    let mut test = cargo::cargo();
    test.arg("test").env("RUST_BACKTRACE", "0");
    step(test, ws)?;

    section("the book: build, links, includes, rendering");
    step(Command::new(ws.path("tools/check-book")), ws)?;

    section("shell scripts and the Vagrantfile");
    let mut shellcheck = Command::new("shellcheck");
    shellcheck.args(shell_scripts(ws)?);
    step(shellcheck, ws)?;
    let mut vagrant = Command::new("vagrant");
    vagrant.args(["validate", "--ignore-provider"]);
    step(vagrant, ws)?;

    if with_vm {
        section("vm-test: the graded tests on cgroup v2, in a VM");
        vm::run(ws)?;
    }
    println!("\ncargo xtask test: everything passed");
    Ok(())
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

fn section(title: &str) {
    println!("\n==== {title} ====");
}

fn step(command: Command, ws: &Workspace) -> Result<()> {
    let shown = format!("{command:?}");
    let out = cargo::run(command, &ws.root, true)?;
    if !out.success {
        bail!("failed: {shown}");
    }
    Ok(())
}
