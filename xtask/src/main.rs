//! The workshop's own tooling. Run `cargo xtask help`.

mod cargo;
mod hints;
mod sync;
mod tags;
mod verify;
mod workspace;

use anyhow::Result;
use clap::{Parser, Subcommand};
use workspace::Workspace;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The minibox workshop's tooling")]
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
    }
}
