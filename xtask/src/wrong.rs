//! Wrong variants: plausible wrong code for one exercise, which the graded tests must catch
//! (the README's contract 9).
//!
//! A variant is a file `tests/wrong/SLUG/EXERCISE--VARIANT.rs`, where EXERCISE is the name in
//! an `//@ exercise SLUG EXERCISE` tag of `minibox/`. It starts with header lines, then come the
//! lines that replace the exercise's reference lines (everything between its `exercise` tag
//! and its `stub`; tags may appear, as in the source):
//!
//! ```text
//! //! wrong: the report pipe is made without O_CLOEXEC, so the parent never sees EOF
//! //! caught-by: process::sigterm_to_minibox_reaches_the_command
//! <the replacement lines>
//! ```
//!
//! `caught-by` names a chapter's graded tests by its slug (`process` is `tests/process.rs`).
//! `verify` cuts the chapter's solution with the region replaced into a scratch workspace
//! (`target/wrong/ws`), builds it in a target directory of its own (`target/wrong/target`,
//! kept between variants and runs, so that only the changed crate rebuilds), runs just the
//! `caught-by` tests, and expects each to fail, in bounded time, with a report that points at
//! the exercise's book section: the one its stub's `todo!` names.

use crate::cargo;
use crate::sync::Source;
use crate::tags::{self, TagError, TaggedFile};
use crate::workspace::{Chapter, Kind, Workspace};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The time limit of one minibox run in a variant's tests (`MINIBOX_TEST_TIMEOUT`): a variant
/// that hangs proves the tests' bound at a third of its default cost.
const RUN_TIMEOUT_SECS: u64 = 20;
/// The wall-time limit of one variant's tests, a last resort: the tests' own limits should end
/// them long before; a variant that reaches it is a defect of the tests.
const WALL_LIMIT: Duration = Duration::from_secs(300);

/// One wrong variant, parsed.
#[derive(Debug)]
pub struct Variant {
    /// Relative to the workspace root: `tests/wrong/process/spawn--no-cloexec.rs`.
    pub path: PathBuf,
    pub chapter: u32,
    /// The chapter's slug, which is also its directory's name.
    pub slug: String,
    pub exercise: String,
    pub name: String,
    /// What is wrong with it, in a sentence.
    pub wrong: String,
    /// The tests that must fail on it: (test target, test name); written `SLUG::TEST`.
    pub caught_by: Vec<(String, String)>,
    pub body: Vec<String>,
    /// The 1-based line of the body's first line in the file.
    pub body_line: usize,
}

impl Variant {
    /// `process/spawn--no-cloexec`
    pub fn label(&self) -> String {
        format!("{}/{}--{}", self.slug, self.exercise, self.name)
    }

    /// Parse a variant's file. `path` is shown in errors; its name gives the exercise and the
    /// variant's name, and `chapter` is that of its directory, one of `chapters`.
    pub fn parse(
        path: &Path,
        chapter: &Chapter,
        chapters: &[Chapter],
        text: &str,
    ) -> Result<Variant, TagError> {
        let shown = path.display().to_string();
        let err = |line: usize, message: String| TagError { file: shown.clone(), line, message };
        let stem = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".rs"));
        let (exercise, name) = stem.and_then(|s| s.split_once("--")).ok_or_else(|| {
            err(1, "a wrong variant's file is named EXERCISE--VARIANT.rs (two dashes)".into())
        })?;
        let is_name =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !is_name(exercise) || !is_name(name) {
            return Err(err(1, format!("`{exercise}--{name}`: names are letters, digits, `_` and `-`")));
        }
        let (mut wrong, mut caught_by, mut body_line) = (None, Vec::new(), None);
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let Some(header) = line.strip_prefix("//!") else {
                body_line = Some(number);
                break;
            };
            match header.trim().split_once(':') {
                Some(("wrong", what)) if wrong.is_none() && !what.trim().is_empty() => {
                    wrong = Some(what.trim().to_string());
                }
                Some(("wrong", _)) => {
                    return Err(err(number, "one `//! wrong:` line, saying what is wrong".into()));
                }
                Some(("caught-by", test)) => {
                    let (slug, test) = test.trim().split_once("::").ok_or_else(|| {
                        err(number, "`caught-by:` names CHAPTER::TEST, for example process::stdin_reaches_the_command".into())
                    })?;
                    let file = match chapters.iter().find(|c| c.slug == slug) {
                        None => {
                            return Err(err(number, format!("`{slug}` is not a chapter of chapters.txt")));
                        }
                        Some(c) if c.number > chapter.number => {
                            return Err(err(
                                number,
                                format!(
                                    "`{slug}` comes after `{}`: that chapter's solution does not run its tests",
                                    chapter.slug
                                ),
                            ));
                        }
                        Some(c) => c.test_name.clone(),
                    };
                    if test.is_empty() || test.contains(char::is_whitespace) {
                        return Err(err(number, format!("`{test}` is not a test's name")));
                    }
                    caught_by.push((file.to_string(), test.to_string()));
                }
                _ => {
                    return Err(err(
                        number,
                        "header lines are `//! wrong: WHAT` and `//! caught-by: FILE::TEST`".into(),
                    ));
                }
            }
        }
        let wrong = wrong.ok_or_else(|| err(1, "no `//! wrong:` line".into()))?;
        if caught_by.is_empty() {
            return Err(err(1, "no `//! caught-by:` line: which tests must fail on this variant?".into()));
        }
        let body_line = body_line
            .ok_or_else(|| err(text.lines().count(), "no replacement lines after the header".into()))?;
        let body: Vec<String> = text.lines().skip(body_line - 1).map(str::to_string).collect();
        Ok(Variant {
            path: path.to_path_buf(),
            chapter: chapter.number,
            slug: chapter.slug.clone(),
            exercise: exercise.to_string(),
            name: name.to_string(),
            wrong,
            caught_by,
            body,
            body_line,
        })
    }
}

/// The variants of `chapter` (`tests/wrong/<slug>/`), and a defect per malformed file.
pub fn load_chapter(ws: &Workspace, chapter: &Chapter) -> Result<(Vec<Variant>, Vec<String>)> {
    let chapters = ws.chapters()?;
    let dir = chapter.wrong_dir();
    let (mut variants, mut defects) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(ws.path(&dir)) else { return Ok((variants, defects)) };
    let mut paths: Vec<PathBuf> =
        entries.map(|e| e.map(|e| dir.join(e.file_name()))).collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        if path.extension().is_none_or(|e| e != "rs") {
            defects.push(format!("{}: not a wrong variant (EXERCISE--VARIANT.rs)", path.display()));
            continue;
        }
        let text =
            std::fs::read_to_string(ws.path(&path)).with_context(|| format!("reading {}", path.display()))?;
        match Variant::parse(&path, chapter, &chapters, &text) {
            Ok(variant) => variants.push(variant),
            Err(error) => defects.push(error.to_string()),
        }
    }
    Ok((variants, defects))
}

/// Entries of `tests/wrong/` that belong to no chapter.
pub fn strays(ws: &Workspace, chapters: &[Chapter]) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(ws.path("tests/wrong")) else { return Ok(Vec::new()) };
    let mut defects = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !chapters.iter().any(|c| name == c.slug) {
            defects.push(format!("tests/wrong/{name}: not a chapter's directory of wrong variants (a slug)"));
        }
    }
    Ok(defects)
}

/// A variant cut into a snapshot: the files of its solution crate, and the book section that
/// its exercise's stub names (`Chapter 1, "Fork and exec"`), which the failures must cite.
struct Cut {
    tree: crate::sync::Tree,
    pointer: String,
}

fn cut(ws: &Workspace, chapter: &Chapter, variant: &Variant) -> Result<Cut, TagError> {
    let err =
        |line: usize, message: String| TagError { file: variant.path.display().to_string(), line, message };
    let other = |error: anyhow::Error| err(1, format!("{error:#}"));
    let mut source = Source::load(ws).map_err(other)?;
    let found: Vec<_> = source
        .exercises()
        .filter(|e| e.chapter == variant.chapter && e.name == variant.exercise)
        .cloned()
        .collect();
    let exercise = match found.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(err(
                1,
                format!("chapter {} has no exercise `{}` in minibox/", variant.chapter, variant.exercise),
            ));
        }
        _ => {
            return Err(err(
                1,
                format!("chapter {} has several exercises named `{}`", variant.chapter, variant.exercise),
            ));
        }
    };
    let text = std::fs::read_to_string(ws.path(&exercise.file))
        .map_err(|e| err(1, format!("reading {}: {e}", exercise.file)))?;
    let leader = tags::comment_leader(&exercise.file).unwrap_or("//");
    let lines: Vec<&str> = text.lines().collect();
    let region = tags::find_exercise(&text, leader, &chapter.slug, &exercise.name)
        .ok_or_else(|| err(1, format!("the exercise's region in {} is malformed", exercise.file)))?;
    let stub = lines[region.stub.clone()].join("\n");
    let section = crate::verify::stub_section(&stub).ok_or_else(|| {
        err(
            1,
            format!(
                "the stub of `{}` ({}:{}) names no book section to point at",
                exercise.name, exercise.file, exercise.line
            ),
        )
    })?;
    let mut spliced: Vec<&str> = lines[..region.reference.start].to_vec();
    spliced.extend(variant.body.iter().map(String::as_str));
    spliced.extend(&lines[region.reference.end..]);
    let first = region.reference.start + 1; // the body's first line, 1-based, in the spliced file
    let slugs: Vec<String> = ws.chapters().map_err(other)?.into_iter().map(|c| c.slug).collect();
    let parsed = TaggedFile::parse(&exercise.file, &(spliced.join("\n") + "\n"), &slugs).map_err(|e| {
        if (first..first + variant.body.len()).contains(&e.line) {
            err(variant.body_line + e.line - first, e.message)
        } else {
            e
        }
    })?;
    let relative =
        Path::new(&exercise.file).strip_prefix("minibox").unwrap_or(Path::new(&exercise.file)).to_path_buf();
    source.replace(&relative, parsed);
    let tree = crate::sync::generate_crate(ws, &source, chapter, Kind::Solution).map_err(other)?;
    Ok(Cut { tree, pointer: chapter.cite(&section) })
}

/// How one variant fared.
pub struct Checked {
    pub caught: bool,
    pub defects: Vec<String>,
    pub build: Duration,
    pub tests: Duration,
    /// What each failing test said: `FILE::TEST: likely cause (book section)`.
    pub said: Vec<String>,
}

/// Cut, build and test one variant.
pub fn check(ws: &Workspace, chapter: &Chapter, variant: &Variant) -> Result<Checked> {
    let label = variant.label();
    let mut checked = Checked {
        caught: false,
        defects: Vec::new(),
        build: Duration::ZERO,
        tests: Duration::ZERO,
        said: Vec::new(),
    };
    let cut = match cut(ws, chapter, variant) {
        Ok(cut) => cut,
        Err(error) => {
            checked.defects.push(error.to_string());
            return Ok(checked);
        }
    };
    let scratch = ws.path("target/wrong");
    // One variant at a time on a machine: the scratch workspace is shared, and two checks writing
    // their variants into it at once would each test the other's code. The lock is dropped with
    // the file, so a killed check leaves nothing held.
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let lock = std::fs::File::create(scratch.join("lock")).context("creating target/wrong/lock")?;
    if lock.try_lock().is_err() {
        println!("verify:   waiting for another wrong-variant check on this machine ...");
        lock.lock().context("locking target/wrong/lock")?;
    }
    let root = scratch.join("ws");
    prepare_workspace(ws, &root)?;
    for (path, text) in &cut.tree {
        write_if_changed(&root.join(path), text)?;
    }

    let package = chapter.package(Kind::Solution);
    let test_files: std::collections::BTreeSet<&str> =
        variant.caught_by.iter().map(|(f, _)| f.as_str()).collect();
    let cargo_test = || {
        let mut command = cargo::cargo();
        command.arg("test").arg("--manifest-path").arg(root.join("Cargo.toml")).args(["-p", &package]);
        for file in &test_files {
            command.args(["--test", file]);
        }
        command.env("CARGO_TARGET_DIR", scratch.join("target")).env("RUST_BACKTRACE", "0");
        command
    };

    let started = Instant::now();
    let mut build = cargo_test();
    build.args(["--no-run", "--quiet", "--message-format=short"]);
    let built = cargo::run(build, &ws.root, false)?;
    checked.build = started.elapsed();
    if !built.success {
        let errors: Vec<&str> = built.text.lines().filter(|l| l.contains("error")).take(10).collect();
        let path = variant.path.display();
        checked
            .defects
            .push(format!("{label} ({path}) does not build, and a variant must: {}", errors.join("\n    ")));
        return Ok(checked);
    }

    let started = Instant::now();
    let mut run = cargo_test();
    run.env("MINIBOX_TEST_TIMEOUT", RUN_TIMEOUT_SECS.to_string()).args(["--no-fail-fast", "--", "--exact"]);
    run.args(variant.caught_by.iter().map(|(_, test)| test));
    let out = cargo::run_bounded(run, &ws.root, WALL_LIMIT)?;
    checked.tests = started.elapsed();
    let Some(out) = out else {
        checked.defects.push(format!(
            "{label}: its tests were still running after {} s and were killed: a graded test can hang",
            WALL_LIMIT.as_secs()
        ));
        return Ok(checked);
    };
    let outcomes = cargo::outcomes(&out.text);
    let mut caught = true;
    for (file, test) in &variant.caught_by {
        let outcome = outcomes.iter().find(|o| o.target == *file && o.name == *test);
        if let Some(failed) = outcome.filter(|o| !o.passed) {
            checked.said.push(format!("{file}::{test}: {}", cargo::gist(&failed.report)));
        }
        let problem = match outcome {
            None => Some(format!("{file}::{test} did not run (is the name right?)")),
            Some(o) if o.passed => Some(format!("{file}::{test} passes on it: no test catches this mistake")),
            Some(o) if !o.report.contains(&cut.pointer) => Some(format!(
                "{file}::{test} fails, but does not point at {} (the section of `{}`): {}",
                cut.pointer,
                variant.exercise,
                cargo::gist(&o.report)
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            caught = false;
            checked.defects.push(format!("{label} ({}): {problem}", variant.wrong));
        }
    }
    checked.caught = caught;
    Ok(checked)
}

/// The scratch workspace: the real one's manifest with the solutions as its only members, its
/// lock file, and links to what the solutions use from the real one (always the current files).
fn prepare_workspace(ws: &Workspace, root: &Path) -> Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let manifest = std::fs::read_to_string(ws.path("Cargo.toml"))?;
    let mut lines =
        vec!["# Written by `cargo xtask verify` to build wrong variants (xtask/src/wrong.rs).".to_string()];
    for line in manifest.lines() {
        if line.starts_with("members = ") {
            lines.push("members = [\"solutions/*\"]".into());
        } else if !line.starts_with("default-members = ") {
            lines.push(line.to_string());
        }
    }
    write_if_changed(&root.join("Cargo.toml"), &(lines.join("\n") + "\n"))?;
    write_if_changed(&root.join("Cargo.lock"), &std::fs::read_to_string(ws.path("Cargo.lock"))?)?;
    // What the solutions' manifests reach by relative path: the graded tests (with the probe's
    // build script) and the shared fixtures.
    for shared in ["tests", "probe", "fixtures"] {
        let link = root.join(shared);
        if std::fs::read_link(&link).ok() != Some(ws.path(shared)) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(ws.path(shared), &link)
                .with_context(|| format!("linking {}", link.display()))?;
        }
    }
    Ok(())
}

/// Write `text` unless the file holds it already: an unchanged file keeps its time stamp, and
/// cargo does not rebuild what did not change.
fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chapters() -> Vec<Chapter> {
        let manifest = "process Process execution\nrootfs Filesystem isolation\n";
        fixtures::chapters::parse(manifest).unwrap().into_iter().map(Chapter::from).collect()
    }

    fn parse(name: &str, text: &str) -> Result<Variant, String> {
        let chapters = chapters();
        Variant::parse(&Path::new("tests/wrong/process").join(name), &chapters[0], &chapters, text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_variant_is_read_with_its_header_and_body() {
        let text = "//! wrong: no O_CLOEXEC\n//! caught-by: process::a\n//! caught-by: process::b\n    body();\n\n    more();\n";
        let variant = parse("spawn--no-cloexec.rs", text).expect("a well-formed variant");
        assert_eq!(variant.exercise, "spawn", "the exercise comes from the file's name");
        assert_eq!(variant.name, "no-cloexec", "and so does the variant's name");
        assert_eq!(variant.wrong, "no O_CLOEXEC", "the wrong: line");
        assert_eq!(variant.caught_by.len(), 2, "two caught-by lines");
        assert_eq!(variant.body, vec!["    body();", "", "    more();"], "the body, blank lines kept");
        assert_eq!(variant.body_line, 4, "the body starts after the header");
        assert_eq!(variant.label(), "process/spawn--no-cloexec", "the label");
    }

    #[test]
    fn malformed_variants_are_rejected_with_file_and_line() {
        let good_header = "//! wrong: x\n//! caught-by: process::t\n";
        let cases = [
            (
                "spawn-no-cloexec.rs",
                "x\n",
                "tests/wrong/process/spawn-no-cloexec.rs:1: a wrong variant's file is named",
            ),
            (
                "spawn--a.rs",
                "//! caught-by: process::t\nx\n",
                "tests/wrong/process/spawn--a.rs:1: no `//! wrong:` line",
            ),
            (
                "spawn--a.rs",
                "//! wrong: x\nx\n",
                "tests/wrong/process/spawn--a.rs:1: no `//! caught-by:` line",
            ),
            (
                "spawn--a.rs",
                "//! wrong: x\n//! caught-by: t\nx\n",
                "tests/wrong/process/spawn--a.rs:2: `caught-by:` names",
            ),
            (
                "spawn--a.rs",
                "//! wrong: x\n//! caught-by: rootfs::t\nx\n",
                "tests/wrong/process/spawn--a.rs:2: `rootfs` comes after `process`",
            ),
            (
                "spawn--a.rs",
                "//! wrong: x\n//! whatever\nx\n",
                "tests/wrong/process/spawn--a.rs:2: header lines are",
            ),
            ("spawn--a.rs", good_header, "tests/wrong/process/spawn--a.rs:2: no replacement lines"),
        ];
        for (name, text, expected) in cases {
            let error = parse(name, text).expect_err("a malformed variant");
            assert!(error.starts_with(expected), "{name}: expected {expected:?}, got {error:?}");
        }
    }

    #[test]
    fn every_variant_in_the_tree_cuts_into_its_snapshot() {
        let ws = Workspace::locate().expect("the workspace");
        for chapter in ws.chapters().expect("the chapters") {
            let (variants, defects) = load_chapter(&ws, &chapter).expect("reading tests/wrong");
            assert!(defects.is_empty(), "malformed variants: {defects:?}");
            for variant in variants {
                let cut = cut(&ws, &chapter, &variant).unwrap_or_else(|e| panic!("{}: {e}", variant.label()));
                let first = variant.body.iter().find(|l| !l.trim().is_empty() && !l.contains("//@"));
                let first = first.expect("a body with code");
                assert!(
                    cut.tree.values().any(|text| text.contains(first.as_str())),
                    "{}: the snapshot should contain the variant's lines",
                    variant.label()
                );
                assert!(cut.pointer.starts_with("Chapter "), "{}: pointer {}", variant.label(), cut.pointer);
            }
        }
    }
}
