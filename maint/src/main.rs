//! The maintainers' tools. Run `cargo maint help`.
//!
//! They live apart from `cargo xtask` so that a learner's first `cargo xtask status` does not
//! compile them: they are most of the tooling's code and all of its system-level dependencies.

mod assertions;
mod bench;
mod bench_build; // the build chapter
mod bench_daemon; // the daemon chapter
mod bench_oci; // the oci chapter
mod bench_pull; // the registry chapter
mod bench_rootless; // the rootless chapter
mod executables;
mod mutants;
mod reliability;
mod vm;

use anyhow::Result;
use clap::{Parser, Subcommand};
use workspace::Workspace;
// Shared with `cargo xtask`: where things are in the workspace, and running cargo.
use xtask::{cargo, workspace};

#[derive(Parser)]
#[command(
    name = "cargo maint",
    bin_name = "cargo maint",
    about = "The minibox workshop's maintainer tools (the learner's tools are `cargo xtask`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the solutions' graded tests inside a QEMU VM on pure cgroup v2.
    VmTest,
    /// Measure minibox against runc, crun and the unshare floor, and a VM boot against a container start.
    Bench(bench::Options),
    /// The registry chapter's lab: `minibox pull` of a large image from a local registry against `skopeo copy`.
    BenchPull(bench_pull::Options),
    /// The oci chapter's lab: `podman run --rm` with minibox, crun and runc as its runtime.
    BenchOci(bench_oci::Options),
    /// The build chapter's lab: `minibox build` against `podman build`, cold and cached.
    BenchBuild(bench_build::Options),
    /// The daemon chapter's lab: `docker run --rm` through `minibox daemon` against `podman run --rm`,
    /// then many at once through the one daemon.
    BenchDaemon(bench_daemon::Options),
    /// The rootless chapter's lab: rootless minibox's start against rootful minibox and rootless podman.
    BenchRootless(bench_rootless::Options),
    /// Abuse the finished runtime: a soak with random SIGKILLs and a corpus of bad inputs, each
    /// counting what is left (`cargo xtask test` runs this).
    Reliability,
    /// cargo-mutants over the exercise regions of a chapter (or of all), with the chapter's graded
    /// tests: caught, missed, unviable and equivalent mutants per exercise.
    Mutants(mutants::Options),
    /// List the assertions in the graded tests that carry no message (`cargo xtask verify` runs this).
    Assertions,
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("maint: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let ws = Workspace::locate()?;
    match cli.command {
        Task::VmTest => vm::run(&ws),
        Task::Bench(options) => bench::run(&ws, &options),
        Task::BenchPull(options) => bench_pull::run(&ws, &options),
        Task::BenchOci(options) => bench_oci::run(&ws, &options),
        Task::BenchBuild(options) => bench_build::run(&ws, &options),
        Task::BenchDaemon(options) => bench_daemon::run(&ws, &options),
        Task::BenchRootless(options) => bench_rootless::run(&ws, &options),
        Task::Mutants(options) => mutants::run(&ws, &options),
        Task::Assertions => assertions::run(&ws),
        Task::Reliability => reliability::run(&ws),
    }
}
