//! `cargo xtask verify`: prove the workshop sound, and print a table with a row per chapter.
//!
//! For every chapter: the generated crates are current; the solution passes its own graded tests
//! and every earlier chapter's; the starter builds without warnings and **each** of its chapter's
//! graded tests fails on it (a test that passes on the starter grades nothing); there are
//! exercises, hints in three tiers or more, and a book page whose sections the tests cite;
//! and each of the chapter's wrong variants (`tests/wrong/chNN/`, see `wrong.rs`) is caught:
//! the tests it names fail on it, in bounded time, pointing at the exercise's book section.
//! Then for the whole: the reference is rustfmt-clean and passes clippy with warnings denied, and
//! every assertion in the graded tests carries a message.

use crate::cargo::{self, Outcome};
use crate::hints;
use crate::sync::{self, Source};
use crate::workspace::{Chapter, Kind, Workspace};
use crate::wrong;
use anyhow::{Result, bail};
use std::path::Path;

struct Row {
    chapter: u32,
    cells: Vec<String>,
    defects: Vec<String>,
}

pub fn run(ws: &Workspace, only: Option<u32>, variant: Option<&str>) -> Result<()> {
    if let Some(filter) = variant {
        return variants_only(ws, only, filter);
    }
    let mut defects: Vec<String> = Vec::new();

    println!("verify: are the generated crates current?");
    let tree = sync::generate(ws)?;
    let drift = sync::drift(ws, &tree, &sync::generated_dirs(ws)?)?;
    let stale: Vec<String> = drift.iter().map(|(p, d)| format!("{} ({d:?})", p.display())).collect();
    if !stale.is_empty() {
        defects
            .push(format!("generated files are not current (run `cargo xtask sync`): {}", stale.join(", ")));
    }

    let source = Source::load(ws)?;
    let chapters: Vec<Chapter> =
        ws.chapters()?.into_iter().filter(|c| only.is_none_or(|n| n == c.number)).collect();
    let mut rows = Vec::new();
    for chapter in &chapters {
        println!("verify: chapter {} ...", chapter.number);
        rows.push(check_chapter(ws, &source, chapter, stale.is_empty())?);
    }

    defects.extend(wrong::strays(ws, &ws.chapters()?)?);
    println!("verify: the reference's style and the tests' messages ...");
    defects.extend(check_style(ws)?);
    defects.extend(assertions_without_messages(ws)?);
    defects.extend(book_references(ws)?);
    defects.extend(book_mirrors_chapters(ws)?);
    defects.extend(crate::book_check::run(ws)?);

    print_table(&rows);
    for row in &rows {
        defects.extend(row.defects.iter().map(|d| format!("chapter {}: {d}", row.chapter)));
    }
    if defects.is_empty() {
        println!("\nverify: the workshop is sound");
        return Ok(());
    }
    println!("\nverify found {} defects:", defects.len());
    for defect in &defects {
        println!("  - {defect}");
    }
    bail!("the workshop is not sound")
}

fn check_chapter(ws: &Workspace, source: &Source, chapter: &Chapter, current: bool) -> Result<Row> {
    let n = chapter.number;
    let mut defects = Vec::new();
    let mut cells = vec![if current { "current".to_string() } else { "STALE".to_string() }];

    // The solution passes its own graded tests and every earlier chapter's.
    let solution = chapter.package(Kind::Solution);
    let out = cargo::run(test_command(&solution, None), &ws.root, false)?;
    let results = cargo::outcomes(&out.text);
    let graded: Vec<&Outcome> = results.iter().filter(|o| o.target.starts_with("ch")).collect();
    let failed: Vec<String> =
        results.iter().filter(|o| !o.passed).map(|o| format!("{}::{}", o.target, o.name)).collect();
    let targets = graded.iter().map(|o| o.target.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    if results.is_empty() {
        cells.push("DOES NOT BUILD".into());
        defects.push(format!("{solution} does not build or ran no tests:\n{}", tail(&out.text, 30)));
    } else if !failed.is_empty() || !out.success {
        cells.push(format!("FAIL {}/{}", graded.iter().filter(|o| o.passed).count(), graded.len()));
        defects.push(format!("{solution} fails: {}", failed.join(", ")));
    } else {
        cells.push(format!("pass {}/{} ({targets} ch.)", graded.len(), graded.len()));
    }
    if targets < n as usize && !results.is_empty() {
        defects.push(format!("{solution} ran graded tests of {targets} chapters, expected {n}"));
    }

    // The starter builds without warnings: a learner's first build shows their task, not noise.
    let starter = chapter.package(Kind::Starter);
    let mut build = cargo::cargo();
    build.args(["build", "--quiet", "--tests", "--message-format=short", "-p", &starter]);
    let out = cargo::run(build, &ws.root, false)?;
    let dir = chapter.dir(Kind::Starter).display().to_string();
    let warnings: Vec<&str> =
        out.text.lines().filter(|l| l.starts_with(&dir) && l.contains("warning")).collect();
    if !out.success {
        cells.push("DOES NOT BUILD".into());
        defects.push(format!("{starter} does not build:\n{}", tail(&out.text, 30)));
    } else if !warnings.is_empty() {
        cells.push(format!("{} WARNINGS", warnings.len()));
        defects.push(format!("{starter} builds with warnings:\n    {}", warnings.join("\n    ")));
    } else {
        cells.push("ok".into());
    }

    // Each graded test of this chapter fails on the starter.
    let out = cargo::run(test_command(&starter, Some(&chapter.test_name)), &ws.root, false)?;
    let results = cargo::outcomes(&out.text);
    let passing: Vec<&str> = results.iter().filter(|o| o.passed).map(|o| o.name.as_str()).collect();
    if results.is_empty() {
        cells.push("NO TESTS RAN".into());
        defects.push(format!("{starter}: no graded test of chapter {n} ran:\n{}", tail(&out.text, 20)));
    } else if !passing.is_empty() {
        cells.push(format!("{}/{} fail", results.len() - passing.len(), results.len()));
        defects.push(format!("graded tests that pass on the starter grade nothing: {}", passing.join(", ")));
    } else {
        cells.push(format!("{0}/{0} fail", results.len()));
    }

    // Exercises, hints, book page.
    let exercises = source.exercises().filter(|e| e.chapter == n).count();
    cells.push(exercises.to_string());
    if exercises == 0 {
        defects.push("no `exercise` tags for this chapter in minibox/".into());
    }
    // Every exercise's own three tiers are checked with the book (book_check); this counts them all.
    let tiers =
        std::fs::read_to_string(ws.path(chapter.hints_file())).map(|t| hints::parse(&t).len()).unwrap_or(0);
    cells.push(tiers.to_string());
    if tiers < 3 {
        defects.push(format!("{} has {tiers} hint tiers, want 3 or more", chapter.hints_file().display()));
    }
    let page = ws.path(chapter.book_page());
    cells.push(if page.exists() { "ok".into() } else { "MISSING".into() });
    if !page.exists() {
        defects.push(format!("no book page at {}", chapter.book_page().display()));
    }

    // Its wrong variants are caught.
    let (cell, found) = check_variants(ws, chapter, "")?;
    cells.push(cell);
    defects.extend(found);
    Ok(Row { chapter: n, cells, defects })
}

/// Check the chapter's wrong variants whose label contains `filter`: the table's cell
/// (`caught/all`) and the defects. A malformed variant counts as one not caught.
fn check_variants(ws: &Workspace, chapter: &Chapter, filter: &str) -> Result<(String, Vec<String>)> {
    let (variants, mut defects) = wrong::load_chapter(ws, chapter.number)?;
    let variants: Vec<_> = variants.into_iter().filter(|v| v.label().contains(filter)).collect();
    let malformed = if filter.is_empty() { defects.len() } else { 0 };
    if !filter.is_empty() {
        defects.clear();
    }
    if variants.is_empty() && malformed == 0 {
        return Ok(("none".into(), defects));
    }
    let mut caught = 0;
    for variant in &variants {
        let checked = wrong::check(ws, chapter, variant)?;
        println!(
            "verify:   wrong variant {}: {} (build {:.1} s, tests {:.1} s)",
            variant.label(),
            if checked.caught { "caught" } else { "NOT CAUGHT" },
            checked.build.as_secs_f64(),
            checked.tests.as_secs_f64()
        );
        for said in &checked.said {
            println!("verify:     {said}");
        }
        caught += usize::from(checked.caught);
        defects.extend(checked.defects);
    }
    Ok((format!("{caught}/{}", variants.len() + malformed), defects))
}

/// `verify --variant FILTER`: only the wrong variants whose label (`ch01/spawn--no-cloexec`)
/// contains FILTER, for a quick loop while writing one.
fn variants_only(ws: &Workspace, only: Option<u32>, filter: &str) -> Result<()> {
    let mut defects = Vec::new();
    for chapter in ws.chapters()?.iter().filter(|c| only.is_none_or(|n| n == c.number)) {
        let (cell, found) = check_variants(ws, chapter, filter)?;
        println!("verify: chapter {}: wrong variants caught: {cell}", chapter.number);
        defects.extend(found);
    }
    if defects.is_empty() {
        return Ok(());
    }
    for defect in &defects {
        println!("  - {defect}");
    }
    bail!("{} defects in wrong variants", defects.len())
}

fn test_command(package: &str, target: Option<&str>) -> std::process::Command {
    let mut command = cargo::cargo();
    command.args(["test", "--no-fail-fast", "-p", package]);
    if let Some(target) = target {
        command.args(["--test", target]);
    }
    // Reports stay short: our failure messages say what matters, a backtrace does not.
    command.env("RUST_BACKTRACE", "0");
    command
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn print_table(rows: &[Row]) {
    let header = [
        "chapter",
        "generated",
        "solution: graded tests",
        "starter builds",
        "its graded tests on starter",
        "exercises",
        "hints (all tiers)",
        "book page",
        "wrong variants caught",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            std::iter::once(format!("chapter-{:02}", row.chapter)).chain(row.cells.iter().cloned()).collect()
        })
        .collect();
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    let render = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("| {} |", padded.join(" | "))
    };
    println!();
    println!("{}", render(header.iter().map(|h| h.to_string()).collect()));
    println!("{}", render(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for line in lines {
        println!("{}", render(line));
    }
}

/// rustfmt and clippy over the reference, the tooling, the probe and the graded tests.
fn check_style(ws: &Workspace) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let mut fmt = cargo::cargo();
    fmt.args(["fmt", "--check", "-p", "minibox", "-p", "xtask", "-p", "minibox-probe"]);
    fmt.args(["-p", "minibox-maint", "-p", "minibox-fixtures"]);
    if !cargo::run(fmt, &ws.root, false)?.success {
        defects.push("the reference is not rustfmt-clean: run `cargo fmt`".into());
    }
    let mut tests_fmt = std::process::Command::new("rustfmt");
    tests_fmt.args(["--check", "--edition", "2024"]);
    for entry in std::fs::read_dir(ws.path("tests"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            tests_fmt.arg(path);
        }
    }
    tests_fmt.arg(ws.path("tests/support/mod.rs")).arg(ws.path("tests/support/build.rs"));
    if !cargo::run(tests_fmt, &ws.root, false)?.success {
        defects.push("the graded tests are not rustfmt-clean: run `rustfmt --edition 2024 tests/*.rs tests/support/*.rs`".into());
    }
    let last = ws.chapters()?.last().map(|c| c.package(Kind::Solution)).unwrap_or_default();
    let mut clippy = cargo::cargo();
    clippy.args([
        "clippy",
        "--quiet",
        "--all-targets",
        "-p",
        "minibox",
        "-p",
        "xtask",
        "-p",
        "minibox-probe",
        "-p",
        "minibox-maint",
        "-p",
        "minibox-fixtures",
    ]);
    clippy.args(["-p", &last, "--", "-D", "warnings"]);
    let out = cargo::run(clippy, &ws.root, false)?;
    if !out.success {
        defects.push(format!("clippy finds problems (warnings denied):\n{}", tail(&out.text, 40)));
    }
    Ok(defects)
}

/// Every assertion in the graded tests says what went wrong. `cargo maint assertions` reads them
/// with a Rust parser (syn), which lives in the maintainers' crate so that learners never build it.
fn assertions_without_messages(ws: &Workspace) -> Result<Vec<String>> {
    let mut command = cargo::cargo();
    command.args(["run", "--quiet", "--package", "minibox-maint", "--", "assertions"]);
    let out = cargo::run(command, &ws.root, false)?;
    if out.success {
        return Ok(Vec::new());
    }
    let found: Vec<String> =
        out.text.lines().filter(|l| l.starts_with("tests/")).map(str::to_string).collect();
    if found.is_empty() {
        return Ok(vec![format!("`cargo maint assertions` failed:\n{}", tail(&out.text, 20))]);
    }
    Ok(found)
}

/// The book's chapter pages mirror the chapter crates, both ways, and the summary lists each.
fn book_mirrors_chapters(ws: &Workspace) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let chapters = ws.chapters()?;
    let summary = std::fs::read_to_string(ws.path("book/src/SUMMARY.md"))?;
    for chapter in &chapters {
        let page = chapter.book_page();
        let linked = page.strip_prefix("book/src").map(|p| p.display().to_string()).unwrap_or_default();
        if !summary.contains(&format!("]({linked})")) {
            defects.push(format!(
                "book/src/SUMMARY.md does not link chapter {}'s page {linked}",
                chapter.number
            ));
        }
    }
    for entry in std::fs::read_dir(ws.path("book/src/chapters"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let number = name.strip_prefix("chapter-").and_then(|n| n.parse::<u32>().ok());
        if !number.is_some_and(|n| chapters.iter().any(|c| c.number == n)) {
            defects.push(format!(
                "book/src/chapters/{name} has no chapter crate (chapters/{name}) and no graded tests"
            ));
        }
    }
    Ok(defects)
}

/// Every `Chapter N, "Section"` that a test or a stub cites is a heading of that chapter's page.
fn book_references(ws: &Workspace) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let mut files = Vec::new();
    collect(&ws.path("tests"), &mut files)?;
    collect(&ws.path("minibox/src"), &mut files)?;
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for (chapter, section) in citations(&text) {
            let page = ws.path(format!("book/src/chapters/chapter-{chapter:02}/index.md"));
            let headings = std::fs::read_to_string(&page).unwrap_or_default();
            let found =
                headings.lines().any(|l| l.starts_with('#') && l.trim_start_matches('#').trim() == section);
            if !found {
                defects.push(format!(
                    "{} cites Chapter {chapter}, \"{section}\", which is not a heading of {}",
                    file.strip_prefix(&ws.root).unwrap_or(&file).display(),
                    page.strip_prefix(&ws.root).unwrap_or(&page).display()
                ));
            }
        }
    }
    defects.sort();
    defects.dedup();
    Ok(defects)
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `Chapter N, \"Section\"` as it appears inside Rust string literals.
pub fn citations(text: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("Chapter ") {
        rest = &rest[at + "Chapter ".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(chapter) = digits.parse::<u32>() else { continue };
        let after = &rest[digits.len()..];
        let Some(quoted) = after.strip_prefix(", \\\"") else { continue };
        if let Some(end) = quoted.find("\\\"") {
            found.push((chapter, quoted[..end].to_string()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_are_found_in_string_literals() {
        let text = r#"const A: &str = "Chapter 1, \"Exit statuses\""; todo!("x (book: Chapter 12, \"Fork and exec\")")"#;
        assert_eq!(
            citations(text),
            vec![(1, "Exit statuses".to_string()), (12, "Fork and exec".to_string())],
            "both citations"
        );
    }
}
