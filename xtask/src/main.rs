//! The workshop's own tooling. Run `cargo xtask help`.

mod book_check;
mod doctor;
mod hints;
mod learner;
mod parallel;
mod preflight;
mod suite;
mod sync;
mod verify;
mod wrong;

use anyhow::Result;
use clap::{Arg, ArgAction, ArgMatches, Command};
use workspace::Workspace;
// The modules the maintainers' tools share live in this package's library.
use xtask::{cargo, tags, workspace};

/// The command line. Written with clap's builder rather than its derive macros: those compile a
/// Rust parser (syn) first, most of a learner's first `cargo xtask` build.
fn cli() -> Command {
    let chapter =
        || Arg::new("chapter").value_name("CHAPTER").help("A chapter's number (3) or its name (rootfs)");
    let flag = |name: &'static str, help: &'static str| {
        Arg::new(name).long(name).action(ArgAction::SetTrue).help(help)
    };
    let yes = || flag("yes", "Do not ask for confirmation");
    Command::new("cargo xtask")
        .bin_name("cargo xtask")
        .about("The minibox workshop's tools")
        .after_help(
            "Learners: status, check, hint, reset, solution, doctor.\nMaintainers: sync, verify, test; \
             vm-test and bench are `cargo maint` commands.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands([
            Command::new("sync")
                .about("Regenerate every chapter's starter and solution from the tagged source in minibox/")
                .arg(flag("check", "Only check that the generated files are current; fail if not"))
                .arg(flag("force", "Overwrite generated files even where they were edited by hand")),
            Command::new("status").about("Your progress: a row per chapter, from your last test results"),
            Command::new("check")
                .about(
                    "Run a chapter's graded tests on your code, then sum up what is left \
                     (default: the first unfinished)",
                )
                .arg(chapter()),
            Command::new("hint")
                .about("Show the next hint for a chapter, or for one of its exercises (the name its `todo!` shows)")
                .args([chapter().required(true), Arg::new("exercise").value_name("EXERCISE")]),
            Command::new("reset")
                .about("Put a chapter's starter back as it was (your files are saved first)")
                .args([chapter().required(true), yes()]),
            Command::new("solution")
                .about("Show the reference solution of a chapter, as a diff against your files")
                .args([chapter().required(true), yes()]),
            Command::new("test")
                .about(
                    "The whole test suite, what CI runs: doctor, verify, `cargo test`, the book, script \
                     lints, and the graded tests inside a cgroup v2 VM",
                )
                .arg(flag("no-vm", "Skip the VM (cgroup v2) tests, for a quick local loop")),
            Command::new("doctor")
                .about("Check that this machine can run the workshop: a line per requirement, OK or the fix"),
            Command::new("verify")
                .about("Prove the workshop sound: a table with a row per chapter; fails on any defect")
                .arg(chapter().long("chapter").help("Check one chapter only"))
                .arg(
                    Arg::new("variant")
                        .long("variant")
                        .value_name("NAME")
                        .help("Check only the wrong variants whose name (`process/spawn--no-cloexec`) contains this"),
                ),
        ])
}

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`cargo xtask status | head`) would
    // panic. A command-line tool should end quietly there, as `ls | head` does.
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if let Err(error) = run(&cli().get_matches()) {
        eprintln!("xtask: {error:#}");
        std::process::exit(1);
    }
}

fn run(matches: &ArgMatches) -> Result<()> {
    let ws = Workspace::locate()?;
    let Some((task, args)) = matches.subcommand() else { unreachable!("clap requires a subcommand") };
    let named = args.try_get_one::<String>("chapter").ok().flatten();
    let number = match named {
        Some(name) => Some(ws.chapter_named(name)?.number),
        None => None,
    };
    let chapter = || number;
    let required = || number.expect("clap requires the chapter");
    let flag = |name: &str| args.get_flag(name);
    match task {
        "sync" => sync::run(&ws, flag("check"), flag("force")),
        "verify" => verify::run(&ws, chapter(), args.get_one::<String>("variant").map(String::as_str)),
        "test" => suite::run(&ws, !flag("no-vm")),
        "doctor" => doctor::run(&ws),
        "status" => learner::status(&ws),
        "check" => learner::check(&ws, chapter()),
        "hint" => learner::hint(&ws, required(), args.get_one::<String>("exercise").map(String::as_str)),
        "reset" => learner::reset(&ws, required(), flag("yes")),
        "solution" => learner::solution(&ws, required(), flag("yes")),
        other => unreachable!("clap knows no other subcommand: {other}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        super::cli().debug_assert();
    }
}
