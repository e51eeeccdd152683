//! Running cargo from the tools, and reading what libtest printed.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;

/// cargo itself: the one that runs us (`cargo xtask`), or the first on PATH.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// What a command printed (stdout and stderr together, in order of arrival) and whether it succeeded.
pub struct Output {
    pub success: bool,
    pub text: String,
}

/// Run `command` in `dir`; echo its output as it comes when `echo` is set. stdout and stderr
/// share one pipe, so that their lines keep their order (cargo says which test binary runs on
/// stderr, libtest reports its tests on stdout).
pub fn run(command: Command, dir: &Path, echo: bool) -> Result<Output> {
    let (mut child, reader, shown) = start(command, dir)?;
    let mut text = String::new();
    for line in BufReader::new(reader).lines() {
        let line = line.unwrap_or_default();
        if echo {
            println!("{line}");
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().with_context(|| format!("waiting for {shown}"))?;
    Ok(Output { success: status.success(), text })
}

/// Like [`run`], without echo, but bounded: past `limit`, the command's process group is
/// killed and `None` is returned. The command gets a process group of its own for that.
pub fn run_bounded(mut command: Command, dir: &Path, limit: std::time::Duration) -> Result<Option<Output>> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let (mut child, reader, shown) = start(command, dir)?;
    let (tell, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(reader), &mut text);
        let _ = tell.send(text);
    });
    let text = told.recv_timeout(limit);
    let Ok(text) = text else {
        // SAFETY: kill has no memory-safety preconditions; the group is the child's own.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        return Ok(None);
    };
    let status = child.wait().with_context(|| format!("waiting for {shown}"))?;
    Ok(Some(Output { success: status.success(), text }))
}

/// Start `command` in `dir` with stdout and stderr on one pipe; its read end, and how to name
/// the command in errors.
fn start(mut command: Command, dir: &Path) -> Result<(std::process::Child, std::io::PipeReader, String)> {
    let (reader, writer) = std::io::pipe().context("creating a pipe")?;
    command.current_dir(dir).stdout(writer.try_clone()?).stderr(writer);
    let shown = format!("{command:?}");
    let child = command.spawn().with_context(|| format!("starting {shown}"))?;
    drop(command); // our copies of the pipe's write end: a read ends when the child's do
    Ok((child, reader, shown))
}

/// One test, as libtest reported it.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The test target, for example `ch02_namespaces` (or `unittests` for a crate's own tests).
    pub target: String,
    pub name: String,
    pub passed: bool,
    /// For a failed test: its report (our `expected / seen / likely cause / read` block).
    pub report: String,
}

/// Read every `test NAME ... ok|FAILED` line, and each failure's report.
pub fn outcomes(text: &str) -> Vec<Outcome> {
    let mut found = Vec::new();
    let mut target = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            // "Running ../../tests/process.rs (target/debug/deps/ch01_process-HASH)": the target's
            // name is the executable's, without its hash (the file is named by the chapter's slug).
            let path = rest.split_whitespace().next().unwrap_or("");
            let executable = rest.rsplit_once('(').map_or("", |(_, e)| e.trim_end_matches(')'));
            let name = Path::new(executable).file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.and_then(|n| n.rsplit_once('-').map(|(t, _)| t.to_string()));
            target = if path.contains("tests/") { name.unwrap_or_default() } else { "unittests".into() };
        } else if let Some(rest) = line.strip_prefix("test ") {
            let Some((name, result)) = rest.rsplit_once(" ... ") else { continue };
            let passed = match result.trim() {
                "ok" => true,
                "FAILED" => false,
                _ => continue, // ignored, or a bench
            };
            found.push(Outcome {
                target: target.clone(),
                name: name.to_string(),
                passed,
                report: String::new(),
            });
        }
    }
    // Failure reports: "---- NAME stdout ----" up to the next "----" line or "failures:".
    let mut current: Option<(String, String)> = None;
    let mut reports: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----")) {
            if let Some(done) = current.take() {
                reports.push(done);
            }
            current = Some((name.to_string(), String::new()));
        } else if line == "failures:" || line.starts_with("test result:") {
            if let Some(done) = current.take() {
                reports.push(done);
            }
        } else if let Some((_, report)) = current.as_mut() {
            report.push_str(line);
            report.push('\n');
        }
    }
    for (name, report) in reports {
        if let Some(outcome) = found.iter_mut().find(|o| o.name == name && !o.passed && o.report.is_empty()) {
            outcome.report = report;
        }
    }
    found
}

/// The learner-facing gist of a failure report: its likely cause and the book section.
pub fn gist(report: &str) -> String {
    let field = |name: &str| {
        report.lines().find_map(|l| l.trim_start().strip_prefix(name).map(|v| v.trim().to_string()))
    };
    match (field("likely cause:"), field("read:")) {
        (Some(cause), Some(_)) if cause.contains("book:") => cause,
        (Some(cause), Some(read)) => format!("{cause} ({read})"),
        (Some(cause), None) => cause,
        _ => report
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("thread '"))
            .unwrap_or("failed (run the test to see why)")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
     Running unittests src/lib.rs (target/debug/deps/minibox-1)
test process::tests::x ... ok
     Running ../../tests/process.rs (target/debug/deps/ch01_process-2)
test exit_codes_round_trip ... FAILED
test stdin_reaches_the_command ... ok

failures:

---- exit_codes_round_trip stdout ----

thread 'exit_codes_round_trip' panicked at tests/process.rs:38:74:

  expected:     exit code 0
  seen:         exit code 101
  likely cause: the wait status is not mapped
  read:         book, Chapter 1, \"Exit statuses\"


failures:
    exit_codes_round_trip

test result: FAILED. 1 passed; 1 failed
";

    #[test]
    fn outcomes_are_read_with_their_targets_and_reports() {
        let found = outcomes(SAMPLE);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].target, "unittests");
        assert_eq!(found[1].target, "ch01_process");
        assert_eq!(found[1].name, "exit_codes_round_trip");
        assert!(!found[1].passed);
        assert_eq!(
            gist(&found[1].report),
            "the wait status is not mapped (book, Chapter 1, \"Exit statuses\")"
        );
        assert!(found[2].passed);
    }
}
