//! The learner's tool: `status`, `check`, `hint`, `reset` and `solution`.
//!
//! Progress is worked out from test results, never kept by hand. Results are cached in
//! `.workshop/results` (gitignored), one line per graded test, keyed by the test file's topic and
//! the test's name (`rootfs::proc_shows_only_the_container`), not by chapter number, so the
//! cache survives chapters being renumbered.

use crate::cargo::{self, Outcome};
use crate::hints;
use crate::sync::{self, Source};
use crate::workspace::{Chapter, Kind, Workspace};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

fn state_dir(ws: &Workspace) -> PathBuf {
    ws.path(".workshop")
}

/// The names of a chapter's graded tests, read from its test file (every `#[test]` function).
pub fn graded_test_names(ws: &Workspace, chapter: &Chapter) -> Result<Vec<String>> {
    let path = ws.path(chapter.test_file());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut names = Vec::new();
    let mut after_test_attribute = false;
    for line in text.lines().map(str::trim) {
        if line == "#[test]" {
            after_test_attribute = true;
        } else if after_test_attribute && let Some(rest) = line.strip_prefix("fn ") {
            names.push(rest.split('(').next().unwrap_or(rest).to_string());
            after_test_attribute = false;
        }
    }
    Ok(names)
}

/// The cache of test results: `topic::test` -> passed.
struct Results {
    path: PathBuf,
    entries: BTreeMap<String, bool>,
}

impl Results {
    fn load(ws: &Workspace) -> Results {
        let path = state_dir(ws).join("results");
        let entries = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (key, result) = l.split_once(' ')?;
                Some((key.to_string(), result == "pass"))
            })
            .collect();
        Results { path, entries }
    }

    fn record(&mut self, chapter: &Chapter, outcomes: &[Outcome]) {
        for outcome in outcomes.iter().filter(|o| o.target == chapter.test_name) {
            self.entries.insert(format!("{}::{}", chapter.slug, outcome.name), outcome.passed);
        }
    }

    fn save(&self) -> Result<()> {
        let text: String = self
            .entries
            .iter()
            .map(|(k, passed)| format!("{k} {}\n", if *passed { "pass" } else { "fail" }))
            .collect();
        write_owned_by_user(&self.path, &text)
    }

    /// (passing, total, ever run) for a chapter.
    fn progress(&self, ws: &Workspace, chapter: &Chapter) -> Result<(usize, usize, bool)> {
        let names = graded_test_names(ws, chapter)?;
        let keys: Vec<String> = names.iter().map(|n| format!("{}::{n}", chapter.slug)).collect();
        let passing = keys.iter().filter(|k| self.entries.get(*k) == Some(&true)).count();
        let run = keys.iter().any(|k| self.entries.contains_key(k));
        Ok((passing, names.len(), run))
    }
}

/// Write a file under `.workshop`, and when running under sudo give it back to the learner.
fn write_owned_by_user(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    give_back_to_sudo_user(path);
    Ok(())
}

fn give_back_to_sudo_user(path: &Path) {
    let id = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    if let (Some(uid), Some(gid)) = (id("SUDO_UID"), id("SUDO_GID")) {
        let mut dir = Some(path);
        while let Some(p) = dir {
            let _ = std::os::unix::fs::chown(p, Some(uid), Some(gid));
            if p.file_name().is_some_and(|n| n == ".workshop") {
                break;
            }
            dir = p.parent();
        }
    }
}

/// `cargo xtask status`
pub fn status(ws: &Workspace) -> Result<()> {
    let results = Results::load(ws);
    let chapters = ws.chapters()?;
    let mut next_shown = false;
    println!("{:<10}  {:<34}  {:>7}  {:<5}  next step", "chapter", "title", "tests", "done");
    for chapter in &chapters {
        let (passing, total, run) = results.progress(ws, chapter)?;
        let done = total > 0 && passing == total;
        let next = if done {
            String::new()
        } else if !next_shown {
            next_shown = true;
            if run {
                format!("cargo xtask check {}   (stuck? cargo xtask hint {})", chapter.slug, chapter.slug)
            } else {
                format!("read {}, then cargo xtask check {}", chapter.book_page().display(), chapter.slug)
            }
        } else {
            "later".to_string()
        };
        let tests = if run { format!("{passing}/{total}") } else { format!("-/{total}") };
        println!(
            "{:<10}  {:<34}  {:>7}  {:<5}  {next}",
            chapter.package(Kind::Starter),
            shorten(&chapter.title, 34),
            tests,
            if done { "yes" } else { "no" }
        );
    }
    if !next_shown {
        println!("\nEvery chapter is done. Well built!");
    }
    println!("\n(progress comes from your last `cargo xtask check` of each chapter)");
    Ok(())
}

fn shorten(text: &str, width: usize) -> String {
    let text = text.split_once(": ").map_or(text, |(_, t)| t);
    if text.chars().count() <= width {
        text.to_string()
    } else {
        text.chars().take(width - 1).collect::<String>() + "…"
    }
}

/// The first chapter whose graded tests do not all pass, by the cache.
fn first_unfinished(ws: &Workspace) -> Result<Chapter> {
    let results = Results::load(ws);
    let chapters = ws.chapters()?;
    for chapter in &chapters {
        let (passing, total, _) = results.progress(ws, chapter)?;
        if passing < total {
            return Ok(chapter.clone());
        }
    }
    chapters.last().cloned().context("the workshop has no chapters")
}

/// `cargo xtask check [N]`
pub fn check(ws: &Workspace, number: Option<u32>) -> Result<()> {
    let chapter = match number {
        Some(n) => ws.chapter(n)?,
        None => first_unfinished(ws)?,
    };
    let package = chapter.package(Kind::Starter);
    println!("Running chapter {}'s graded tests on your code ({package}) ...\n", chapter.number);
    let mut command = cargo::cargo();
    command.args(["test", "--no-fail-fast", "-p", &package, "--test", &chapter.test_name]);
    command.env("RUST_BACKTRACE", "0");
    let out = cargo::run(command, &ws.root, true)?;
    let outcomes = cargo::outcomes(&out.text);
    if outcomes.is_empty() {
        println!("\nThe tests did not run: your code does not compile yet. Read the first error above.");
        return Ok(());
    }
    let mut results = Results::load(ws);
    results.record(&chapter, &outcomes);
    results.save()?;

    let failing: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    println!(
        "\n──── chapter {}: {} of {} graded tests pass ────",
        chapter.number,
        outcomes.len() - failing.len(),
        outcomes.len()
    );
    if failing.is_empty() {
        let next = ws.chapters()?.into_iter().find(|c| c.number > chapter.number);
        match next {
            Some(next) => println!(
                "Chapter {} is done. Next: {} ({})",
                chapter.number,
                next.heading(),
                next.book_page().display()
            ),
            None => println!("Chapter {} is done, and it was the last one. Well built!", chapter.number),
        }
        return Ok(());
    }
    // Tests that fail for the same reason (often the same unwritten stub) are listed together.
    let mut reasons: Vec<(String, Vec<&str>)> = Vec::new();
    for outcome in failing {
        let gist = cargo::gist(&outcome.report);
        match reasons.iter_mut().find(|(g, _)| *g == gist) {
            Some((_, names)) => names.push(&outcome.name),
            None => reasons.push((gist, vec![&outcome.name])),
        }
    }
    println!("Still failing:");
    for (gist, names) in reasons {
        println!("  ✗ {}\n      {gist}", names.join(", "));
    }
    println!(
        "\nStuck? `cargo xtask hint {} EXERCISE` shows the next hint for one exercise (the name in its `todo!`).",
        chapter.slug
    );
    Ok(())
}

/// `cargo xtask hint CHAPTER [EXERCISE]`: the next tier, of the chapter's hints or of one
/// exercise's. CHAPTER may be a number or a slug (main.rs reads both); what this prints names the
/// chapter by its slug, as the book and the stubs do, since a number changes when the manifest
/// moves a chapter.
pub fn hint(ws: &Workspace, number: u32, exercise: Option<&str>) -> Result<()> {
    let chapter = ws.chapter(number)?;
    let text = std::fs::read_to_string(ws.path(chapter.hints_file()))
        .with_context(|| format!("reading {}", chapter.hints_file().display()))?;
    let mut tiers = hints::parse(&text);
    if let Some(name) = exercise {
        let names: Vec<String> = tiers.iter().map(|t| hints::exercise_of(&t.title).to_string()).collect();
        tiers.retain(|t| hints::exercise_of(&t.title) == name);
        if tiers.is_empty() {
            let mut known = names;
            known.dedup();
            bail!(
                "chapter {number} ({}) has no exercise `{name}` (its exercises: {})",
                chapter.slug,
                known.join(", ")
            );
        }
    }
    if tiers.is_empty() {
        bail!("chapter {number} has no hints");
    }
    let which = exercise.map(|name| format!("-{name}")).unwrap_or_default();
    let seen_path = state_dir(ws).join(format!("hints-seen-{}{which}", chapter.slug));
    let seen: usize =
        std::fs::read_to_string(&seen_path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let index = seen.min(tiers.len() - 1);
    let tier = &tiers[index];
    let again = match exercise {
        Some(name) => format!("cargo xtask hint {} {name}", chapter.slug),
        None => format!("cargo xtask hint {}", chapter.slug),
    };
    println!("{} (tier {} of {})\n", tier.title, index + 1, tiers.len());
    println!("{}\n", tier.body);
    if index + 1 < tiers.len() {
        println!("(run `{again}` again for the next tier; the book has them all)");
    } else {
        println!(
            "(that was the last hint: after this, `cargo xtask solution {}` shows the reference)",
            chapter.slug
        );
    }
    write_owned_by_user(&seen_path, &(index + 1).to_string())
}

fn confirm(question: &str) -> Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `cargo xtask reset CHAPTER [--yes]`
pub fn reset(ws: &Workspace, number: u32, yes: bool) -> Result<()> {
    let chapter = ws.chapter(number)?;
    let dir = chapter.dir(Kind::Starter);
    if !yes
        && !confirm(&format!(
            "Put {} back as it was at the start (your files are saved first)?",
            dir.display()
        ))?
    {
        println!("Nothing changed.");
        return Ok(());
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let backup = state_dir(ws).join("backups").join(format!("{}-{stamp}", chapter.package(Kind::Starter)));
    copy_tree(&ws.path(&dir), &backup)?;
    give_back_to_sudo_user(&backup);
    let source = Source::load(ws)?;
    let fresh = sync::generate_crate(ws, &source, &chapter, Kind::Starter)?;
    let extra = sync::drift(ws, &fresh, std::slice::from_ref(&dir))?;
    for (path, drift) in &extra {
        if *drift == sync::Drift::Orphan {
            std::fs::remove_file(ws.path(path))?;
        }
    }
    sync::write(ws, &fresh, std::slice::from_ref(&dir), true)?;
    println!("Saved your files in {}", backup.display());
    println!("{} is back to its starting point.", dir.display());
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `cargo xtask solution N [--yes]`: the reference as a diff against the learner's files.
pub fn solution(ws: &Workspace, number: u32, yes: bool) -> Result<()> {
    let chapter = ws.chapter(number)?;
    if !yes
        && !confirm(&format!("Show the reference solution for chapter {number}? It gives the answers away."))?
    {
        println!("Nothing shown.");
        return Ok(());
    }
    let source = Source::load(ws)?;
    let reference = sync::generate_crate(ws, &source, &chapter, Kind::Solution)?;
    let tmp = std::env::temp_dir().join(format!("minibox-solution-{}", std::process::id()));
    let (yours, theirs) = (tmp.join("yours"), tmp.join("reference"));
    let starter_dir = chapter.dir(Kind::Starter);
    let solution_dir = chapter.dir(Kind::Solution);
    for (path, text) in &reference {
        let Ok(relative) = path.strip_prefix(&solution_dir) else { continue };
        if relative.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let mine = std::fs::read_to_string(ws.path(starter_dir.join(relative))).unwrap_or_default();
        for (root, body) in [(&yours, without_header(&mine)), (&theirs, without_header(text))] {
            let file = root.join(relative);
            std::fs::create_dir_all(file.parent().unwrap_or(root))?;
            std::fs::write(file, body)?;
        }
    }
    let status = std::process::Command::new("git")
        .args(["diff", "--no-index", "--color=auto", "--"])
        .arg(&yours)
        .arg(&theirs)
        .current_dir(&tmp)
        .status();
    if status.is_err() {
        std::process::Command::new("diff").arg("-ru").arg(&yours).arg(&theirs).status()?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!("\n(- lines are yours, + lines are the reference's; no output means they are the same)");
    Ok(())
}

/// A generated file's text without its two header lines.
fn without_header(text: &str) -> &str {
    if text.lines().next().is_some_and(|l| l.contains("@generated")) {
        text.splitn(3, '\n').nth(2).unwrap_or("")
    } else {
        text
    }
}
