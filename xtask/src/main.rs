//! The workshop's own tooling. Run `cargo xtask help`.

mod bench;
mod cargo;
mod doctor;
mod hints;
mod json;
mod learner;
mod reliability;
mod suite;
mod sync;
mod tags;
mod verify;
mod vm;
mod workspace;

use anyhow::Result;
use clap::{Parser, Subcommand};
use workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "The minibox workshop's tools",
    after_help = "Learners: status, check, hint, reset, solution, doctor.\nMaintainers: sync, verify, test, reliability, vm-test, bench."
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate every chapter's starter and solution from the tagged source in minibox/.
    Sync {
        /// Only check that the generated files are current; fail if not.
        #[arg(long)]
        check: bool,
        /// Overwrite generated files even where they were edited by hand.
        #[arg(long)]
        force: bool,
    },
    /// Your progress: a row per chapter, from your last test results.
    Status,
    /// Run a chapter's graded tests on your code, then sum up what is left (default: the first unfinished).
    Check { chapter: Option<u32> },
    /// Show the next hint for a chapter.
    Hint { chapter: u32 },
    /// Put a chapter's starter back as it was (your files are saved first).
    Reset {
        chapter: u32,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Show the reference solution of a chapter, as a diff against your files.
    Solution {
        chapter: u32,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// The whole test suite, what CI runs: doctor, verify, `cargo test`, the book, script lints,
    /// and the graded tests inside a cgroup v2 VM.
    Test {
        /// Skip the VM (cgroup v2) tests, for a quick local loop.
        #[arg(long)]
        no_vm: bool,
    },
    /// Check that this machine can run the workshop: a line per requirement, OK or the fix.
    Doctor,
    /// Run the solutions' graded tests inside a QEMU VM on pure cgroup v2.
    VmTest,
    /// Measure minibox against runc, crun and the unshare floor, and a VM boot against a container start.
    Bench(bench::Options),
    /// The finished runtime under abuse: a soak of 100 runs with random SIGKILLs, and a corpus of
    /// bad inputs; counts what is left (must be nothing). Starts containers: needs root.
    Reliability,
    /// Prove the workshop sound: a table with a row per chapter; fails on any defect.
    Verify {
        /// Check one chapter only.
        #[arg(long)]
        chapter: Option<u32>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("xtask: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let ws = Workspace::locate()?;
    match cli.command {
        Task::Sync { check, force } => sync::run(&ws, check, force),
        Task::Verify { chapter } => verify::run(&ws, chapter),
        Task::Test { no_vm } => suite::run(&ws, !no_vm),
        Task::Doctor => doctor::run(&ws),
        Task::Reliability => reliability::run(&ws),
        Task::VmTest => vm::run(&ws),
        Task::Bench(options) => bench::run(&ws, &options),
        Task::Status => learner::status(&ws),
        Task::Check { chapter } => learner::check(&ws, chapter),
        Task::Hint { chapter } => learner::hint(&ws, chapter),
        Task::Reset { chapter, yes } => learner::reset(&ws, chapter, yes),
        Task::Solution { chapter, yes } => learner::solution(&ws, chapter, yes),
    }
}
