//! `cargo xtask test`: everything CI checks, in one command, stopping at the first failure.

use crate::cargo;
use crate::verify;
use crate::workspace::Workspace;
use anyhow::{Result, bail};
use std::process::Command;

pub fn run(ws: &Workspace) -> Result<()> {
    section("verify: generated crates, solutions, starters, style");
    verify::run(ws, None)?;

    section("cargo test: the workspace's default members");
    let mut test = cargo::cargo();
    test.arg("test").env("RUST_BACKTRACE", "0");
    step(test, ws)?;

    section("the book: mdbook build");
    let mut book = Command::new("mdbook");
    book.arg("build").arg(ws.path("book"));
    step(book, ws)?;

    println!("\ncargo xtask test: everything passed");
    Ok(())
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
