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
use crate::parallel::{self, TestBinary};
use crate::sync::{self, Source};
use crate::workspace::{Chapter, Kind, Workspace};
use crate::wrong;
use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

    let (rows, style) = check_chapters(ws, &source, &chapters, stale.is_empty())?;
    defects.extend(style);
    defects.extend(wrong::strays(ws, &ws.chapters()?)?);
    defects.extend(book_references(ws)?);
    defects.extend(chapter_numbers_in_tests(ws)?);
    defects.extend(book_mirrors_chapters(ws)?);
    defects.extend(book_chapter_numbers(ws)?);
    defects.extend(crate::book_check::run(ws)?);
    defects.extend(xtask::layers::run(ws)?);

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

/// What verify runs side by side (see `parallel`): every wrong variant, one after another (they
/// share one scratch workspace); rustfmt, clippy and the assertions' messages (which compile
/// while the tests wait); and each test binary of each snapshot.
enum Job<'a> {
    Variants,
    Style,
    /// `must_pass`: a solution's; a starter's tests must each fail.
    Binary {
        package: String,
        binary: &'a TestBinary,
        must_pass: bool,
    },
}

/// What a job found.
enum Done {
    Variants(BTreeMap<u32, (String, Vec<String>)>),
    Style(Vec<String>),
    Binary(cargo::Output),
}

/// Build every snapshot's tests at once, run the jobs, then make each chapter's row. Also
/// returns the style's defects.
fn check_chapters(
    ws: &Workspace,
    source: &Source,
    chapters: &[Chapter],
    current: bool,
) -> Result<(Vec<Row>, Vec<String>)> {
    let packages: Vec<(String, PathBuf)> = chapters
        .iter()
        .flat_map(|c| [Kind::Solution, Kind::Starter].map(|k| (c.package(k), ws.path(c.dir(k)))))
        .collect();
    println!("verify: building the tests of {} snapshots (cargo test --no-run) ...", packages.len());
    let (found, took) = parallel::timed(|| parallel::build_tests(&ws.root, &packages));
    let parallel::Built { output: built, binaries } = found?;
    println!("verify: built in {}", parallel::seconds(took));

    // The variants first: they are the longest chain. Then the binaries, the later chapters'
    // (which wait longest on containers) before the earlier ones.
    let mut jobs = vec![Job::Variants, Job::Style];
    for chapter in chapters.iter().rev() {
        let solution = chapter.package(Kind::Solution);
        for binary in binaries.get(&solution).into_iter().flatten().rev() {
            jobs.push(Job::Binary { package: solution.clone(), binary, must_pass: true });
        }
        let starter = chapter.package(Kind::Starter);
        // On the starter, only its own chapter's tests: they must each fail.
        for binary in binaries.get(&starter).into_iter().flatten().filter(|b| b.target == chapter.test_name) {
            jobs.push(Job::Binary { package: starter.clone(), binary, must_pass: false });
        }
    }
    let workers = parallel::workers()?;
    println!("verify: {} jobs, {workers} at a time (MINIBOX_VERIFY_JOBS)", jobs.len());
    let done = parallel::run_all(&jobs, workers, |job| match job {
        Job::Variants => {
            let mut cells = BTreeMap::new();
            for chapter in chapters {
                cells.insert(chapter.number, check_variants(ws, chapter, "")?);
            }
            Ok(Done::Variants(cells))
        }
        Job::Style => {
            let (defects, took) = parallel::timed(|| -> Result<Vec<String>> {
                let mut defects = check_style(ws)?;
                defects.extend(assertions_without_messages(ws)?);
                Ok(defects)
            });
            println!(
                "verify:   the reference's style and the tests' messages: checked in {}",
                parallel::seconds(took)
            );
            Ok(Done::Style(defects?))
        }
        Job::Binary { package, binary, must_pass } => {
            let (out, took) = parallel::timed(|| parallel::run_binary(binary));
            let out = out?;
            let results = cargo::outcomes(&out.text);
            let failed = results.iter().filter(|o| !o.passed).count();
            println!(
                "verify:   {package} {}: {} passed, {failed} failed, in {}",
                binary.target,
                results.len() - failed,
                parallel::seconds(took)
            );
            // Said now, with the time it happened: a failure seen only under load is to be
            // understood from this log.
            for outcome in results.iter().filter(|o| *must_pass && !o.passed) {
                println!(
                    "verify:     FAILED {package} {}::{}: {}",
                    outcome.target,
                    outcome.name,
                    cargo::gist(&outcome.report)
                );
                let said =
                    |l: &&str| l.trim_start().starts_with("expected:") || l.trim_start().starts_with("seen:");
                for line in outcome.report.lines().filter(said).take(6) {
                    println!("verify:       {}", line.trim());
                }
            }
            Ok(Done::Binary(out))
        }
    });

    let mut variants = BTreeMap::new();
    let mut style = Vec::new();
    let mut outputs: BTreeMap<String, Vec<cargo::Output>> = BTreeMap::new();
    for (job, result) in jobs.iter().zip(done) {
        match (job, result?) {
            (_, Done::Variants(cells)) => variants = cells,
            (_, Done::Style(defects)) => style = defects,
            (Job::Binary { package, .. }, Done::Binary(out)) => {
                outputs.entry(package.clone()).or_default().push(out)
            }
            (Job::Variants | Job::Style, Done::Binary(_)) => {
                unreachable!("only a binary's job returns its output")
            }
        }
    }
    let mut rows = Vec::new();
    for chapter in chapters {
        let variants = variants.remove(&chapter.number).unwrap_or_else(|| ("NOT RUN".into(), Vec::new()));
        rows.push(check_chapter(ws, source, chapter, current, &built, &outputs, variants)?);
    }
    Ok((rows, style))
}

fn check_chapter(
    ws: &Workspace,
    source: &Source,
    chapter: &Chapter,
    current: bool,
    built: &cargo::Output,
    outputs: &BTreeMap<String, Vec<cargo::Output>>,
    variants: (String, Vec<String>),
) -> Result<Row> {
    let n = chapter.number;
    let mut defects = Vec::new();
    let mut cells = vec![if current { "current".to_string() } else { "STALE".to_string() }];
    let joined = |package: &str| {
        let outs = outputs.get(package).map(Vec::as_slice).unwrap_or_default();
        let text: String = outs.iter().map(|o| o.text.as_str()).collect();
        (outs.iter().all(|o| o.success), text)
    };

    // The solution passes its own graded tests and every earlier chapter's.
    let solution = chapter.package(Kind::Solution);
    let (success, text) = joined(&solution);
    let results = cargo::outcomes(&text);
    let graded: Vec<&Outcome> = results.iter().filter(|o| o.target.starts_with("ch")).collect();
    let failed: Vec<String> =
        results.iter().filter(|o| !o.passed).map(|o| format!("{}::{}", o.target, o.name)).collect();
    let targets = graded.iter().map(|o| o.target.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    if results.is_empty() {
        cells.push("DOES NOT BUILD".into());
        defects.push(format!("{solution} does not build or ran no tests:\n{}", tail(&built.text, 30)));
    } else if !failed.is_empty() || !success {
        cells.push(format!("FAIL {}/{}", graded.iter().filter(|o| o.passed).count(), graded.len()));
        defects.push(format!("{solution} fails: {}", failed.join(", ")));
        if failed.is_empty() {
            defects
                .push(format!("{solution}: a test binary failed with no failing test:\n{}", tail(&text, 20)));
        }
    } else {
        cells.push(format!("pass {}/{} ({targets} ch.)", graded.len(), graded.len()));
    }
    if targets < n as usize && !results.is_empty() {
        defects.push(format!("{solution} ran graded tests of {targets} chapters, expected {n}"));
    }

    // The starter builds without warnings: a learner's first build shows their task, not noise.
    // (Built already: cargo repeats a fresh crate's warnings.)
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
    let (_, text) = joined(&starter);
    let results = cargo::outcomes(&text);
    let passing: Vec<&str> = results.iter().filter(|o| o.passed).map(|o| o.name.as_str()).collect();
    if results.is_empty() {
        cells.push("NO TESTS RAN".into());
        defects.push(format!("{starter}: no graded test of chapter {n} ran:\n{}", tail(&text, 20)));
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
    let (cell, found) = variants;
    cells.push(cell);
    defects.extend(found);
    Ok(Row { chapter: n, cells, defects })
}

/// Check the chapter's wrong variants whose label contains `filter`: the table's cell
/// (`caught/all`) and the defects. A malformed variant counts as one not caught.
fn check_variants(ws: &Workspace, chapter: &Chapter, filter: &str) -> Result<(String, Vec<String>)> {
    let (variants, mut defects) = wrong::load_chapter(ws, chapter)?;
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

/// `verify --variant FILTER`: only the wrong variants whose label (`process/spawn--no-cloexec`)
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

/// The book's chapter pages are the manifest's, and its summary lists them in its order, under
/// their headings: `- [Chapter 3: Filesystem isolation](chapters/rootfs/index.md)`. `sync`
/// writes that list; this names what is out of step.
fn book_mirrors_chapters(ws: &Workspace) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let chapters = ws.chapters()?;
    let summary = std::fs::read_to_string(ws.path("book/src/SUMMARY.md"))?;
    let listed: Vec<&str> =
        summary.lines().filter(|l| l.contains("](chapters/") && l.contains("/index.md)")).collect();
    let wanted: Vec<String> = chapters.iter().map(crate::sync::summary_line).collect();
    if listed != wanted.iter().map(String::as_str).collect::<Vec<_>>() {
        defects.push(format!(
            "book/src/SUMMARY.md lists the chapters as\n    {}\n  but chapters.txt gives\n    {}\n  (`cargo xtask sync` writes it)",
            listed.join("\n    "),
            wanted.join("\n    ")
        ));
    }
    for chapter in &chapters {
        let page = std::fs::read_to_string(ws.path(chapter.book_page())).unwrap_or_default();
        let heading = format!("# {}", chapter.heading());
        if page.lines().next() != Some(heading.as_str()) {
            defects.push(format!(
                "{} should start with `{heading}` (`cargo xtask sync` writes it)",
                chapter.book_page().display()
            ));
        }
    }
    // The README's table of chapters: a row per chapter, in the manifest's order.
    let readme = std::fs::read_to_string(ws.path("README.md"))?;
    let rows: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| [")?.split_once(']').map(|(slug, _)| slug))
        .filter(|slug| !slug.contains(' '))
        .collect();
    let slugs: Vec<&str> = chapters.iter().map(|c| c.slug.as_str()).collect();
    if rows != slugs {
        defects.push(format!(
            "README.md's table of chapters has rows {rows:?}; chapters.txt lists {slugs:?}: a row per chapter, in order"
        ));
    }
    for entry in std::fs::read_dir(ws.path("book/src/chapters"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !chapters.iter().any(|c| c.slug == name) {
            defects.push(format!("book/src/chapters/{name} is no chapter of chapters.txt"));
        }
    }
    Ok(defects)
}

/// The book names a chapter by number only in a link to its page (`[chapter 3](../rootfs/index.md)`),
/// whose number `sync` keeps current: a bare "chapter 3" would go stale when a chapter is inserted.
fn book_chapter_numbers(ws: &Workspace) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let mut pages = Vec::new();
    collect_pages(&ws.path("book/src"), &mut pages)?;
    for page in pages {
        let shown = page.strip_prefix(&ws.root).unwrap_or(&page).display().to_string();
        let text = std::fs::read_to_string(&page)?;
        for line in unlinked_chapter_numbers(&text) {
            defects.push(format!("{shown}:{line}: a chapter number outside a link to the chapter's page"));
        }
    }
    Ok(defects)
}

/// The 1-based lines of `page` that say `chapter N` outside a link's text, code and headings.
fn unlinked_chapter_numbers(page: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut fenced = false;
    for (index, line) in page.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || line.starts_with('#') {
            continue;
        }
        // What is left after removing code spans and whole links.
        let mut plain = String::new();
        let mut rest = line;
        while let Some(at) = rest.find(['`', '[']) {
            plain.push_str(&rest[..at]);
            let close = if rest[at..].starts_with('`') {
                rest[at + 1..].find('`').map(|i| at + 1 + i + 1)
            } else {
                rest[at..].find("](").and_then(|i| rest[at + i..].find(')').map(|j| at + i + j + 1))
            };
            match close {
                Some(end) => rest = &rest[end..],
                None => {
                    rest = &rest[at + 1..];
                }
            }
        }
        plain.push_str(rest);
        let lower = plain.to_lowercase();
        let numbered = ["chapter ", "chapters "].iter().any(|word| {
            lower
                .match_indices(word)
                .any(|(at, w)| lower[at + w.len()..].starts_with(|c: char| c.is_ascii_digit()))
        });
        if numbered {
            found.push(index + 1);
        }
    }
    found
}

fn collect_pages(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_pages(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") && !path.ends_with("SUMMARY.md") {
            out.push(path);
        }
    }
    Ok(())
}

/// Every section that a test, the runtime or a stub cites is a heading of that chapter's page,
/// and the source names chapters by slug, never by number.
fn book_references(ws: &Workspace) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let chapters = ws.chapters()?;
    let slugs: Vec<String> = chapters.iter().map(|c| c.slug.clone()).collect();
    // A chapter's sections may be on its sub-pages (the daemon's), so all its pages count.
    let is_heading = |chapter: &Chapter, section: &str| {
        crate::book_check::chapter_headings(ws, &chapter.slug)
            .unwrap_or_default()
            .iter()
            .any(|h| h == section)
    };
    let mut files = Vec::new();
    collect(&ws.path("tests"), &mut files)?;
    collect(&ws.path("minibox/src"), &mut files)?;
    for file in files {
        let shown = file.strip_prefix(&ws.root).unwrap_or(&file).display().to_string();
        let text = std::fs::read_to_string(&file)?;
        for (written, section) in citations(&text, &slugs) {
            match chapters.iter().find(|c| c.slug == written) {
                Some(chapter) if !is_heading(chapter, &section) => defects.push(format!(
                    "{shown} cites {written}, \"{section}\", which is not a heading of {}",
                    chapter.book_page().display()
                )),
                Some(_) => {}
                None if written == "{chapter}" => {} // a stub's: checked with its exercise below
                None => defects.push(format!(
                    "{shown} cites Chapter {written}, \"{section}\": name the chapter by its slug \
                     (`rootfs, \\\"{section}\\\"`), so that its number can change"
                )),
            }
        }
    }
    let source = crate::sync::Source::load(ws)?;
    for exercise in source.exercises() {
        let chapter = &chapters[exercise.chapter as usize - 1];
        let text = std::fs::read_to_string(ws.path(&exercise.file))?;
        let leader = crate::tags::comment_leader(&exercise.file).unwrap_or("//");
        let Some(region) = crate::tags::find_exercise(&text, leader, &chapter.slug, &exercise.name) else {
            continue;
        };
        let stub =
            text.lines().skip(region.stub.start).take(region.stub.len()).collect::<Vec<_>>().join("\n");
        match stub_section(&stub) {
            Some(section) if !is_heading(chapter, &section) => defects.push(format!(
                "{}:{}: the stub of `{}` cites \"{section}\", which is not a heading of {}",
                exercise.file,
                exercise.line,
                exercise.name,
                chapter.book_page().display()
            )),
            Some(_) => {}
            None if region.stub.is_empty() => {}
            None => defects.push(format!(
                "{}:{}: the stub of `{}` names no section (`(book: Chapter {{chapter}}, \\\"...\\\")`)",
                exercise.file, exercise.line, exercise.name
            )),
        }
    }
    defects.sort();
    defects.dedup();
    Ok(defects)
}

/// The tests name chapters by slug (`snapshot_has("network")`), never by a number compared in
/// code (`snapshot_chapter() >= 6`): a number goes stale when a chapter is inserted or moved, and
/// then a check runs in the wrong chapters and cites the wrong page.
fn chapter_numbers_in_tests(ws: &Workspace) -> Result<Vec<String>> {
    let mut files = Vec::new();
    collect(&ws.path("tests"), &mut files)?;
    let mut defects = Vec::new();
    for file in files {
        let shown = file.strip_prefix(&ws.root).unwrap_or(&file).display().to_string();
        for (n, line) in std::fs::read_to_string(&file)?.lines().enumerate() {
            if compares_a_chapter_number(line) {
                defects.push(format!(
                    "{shown}:{}: a chapter number compared in code (`{}`): name the chapter by its slug \
                     (`snapshot_has(\"network\")`)",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    Ok(defects)
}

/// Does `line` compare the snapshot's chapter with a literal number, on either side?
fn compares_a_chapter_number(line: &str) -> bool {
    const OPERATORS: [&str; 6] = [">=", "<=", "==", "!=", ">", "<"];
    let call = "snapshot_chapter()";
    line.match_indices(call).any(|(at, _)| {
        let after = line[at + call.len()..].trim_start();
        let before = line[..at].trim_end();
        let literal_after = OPERATORS
            .iter()
            .find_map(|op| after.strip_prefix(op))
            .is_some_and(|rest| rest.trim_start().starts_with(|c: char| c.is_ascii_digit()));
        let literal_before = OPERATORS
            .iter()
            .find_map(|op| before.strip_suffix(op))
            .is_some_and(|rest| rest.trim_end().ends_with(|c: char| c.is_ascii_digit()));
        literal_after || literal_before
    })
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

/// The citations in Rust source text, as they appear inside string literals: `(chapter,
/// section)` for each `SLUG, \"Section\"` whose SLUG is one of `slugs`, and for each
/// `Chapter N, \"Section\"` or `Chapter {chapter}, \"Section\"`, where the chapter is given as
/// written (`3`, `{chapter}`): the source names chapters by slug, and only a stub's `todo!`
/// message uses `{chapter}`, which sync writes as the number.
pub fn citations(text: &str, slugs: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let opening = ", \\\"";
    let mut from = 0;
    while let Some(at) = text[from..].find(opening) {
        let comma = from + at;
        let quoted = &text[comma + opening.len()..];
        from = comma + opening.len();
        let Some(end) = quoted.find("\\\"") else { continue };
        let section = quoted[..end].to_string();
        let before = &text[..comma];
        let word_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '{' || c == '}'))
            .map_or(0, |i| i + 1);
        let word = &before[word_start..];
        let chapter_word = before[..word_start].strip_suffix(' ').is_some_and(|b| b.ends_with("Chapter"));
        if chapter_word || slugs.iter().any(|s| s == word) {
            found.push((word.to_string(), section));
        }
    }
    found
}

/// The book section that a stub's `todo!` message names: `(book: Chapter {chapter}, \"S\")`.
pub fn stub_section(stub: &str) -> Option<String> {
    citations(stub, &[]).into_iter().find(|(chapter, _)| chapter == "{chapter}").map(|(_, section)| section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_chapter_numbers_are_found_outside_links_and_code() {
        let page = "# Chapter 3: x\nsee [chapter 3](a.md) and `chapter 3`\nas chapter 3 showed\n```\nchapter 4\n```\nChapters 2 to 5\n";
        assert_eq!(
            unlinked_chapter_numbers(page),
            vec![3, 7],
            "the prose lines, not the link, code or heading"
        );
    }

    #[test]
    fn chapter_numbers_compared_in_code_are_found() {
        assert!(compares_a_chapter_number("(snapshot_chapter() >= 6).then(|| x)"), "a literal after");
        assert!(compares_a_chapter_number("if 7 == snapshot_chapter() {"), "a literal before");
        assert!(compares_a_chapter_number("snapshot_chapter()<3"), "no spaces");
        assert!(
            !compares_a_chapter_number("snapshot_chapter() >= chapter.number"),
            "a number from the manifest is not a literal"
        );
        assert!(!compares_a_chapter_number("snapshot_has(\"network\")"), "a slug");
    }

    #[test]
    fn citations_are_found_in_string_literals() {
        let text = r#"const A: &str = "process, \"Exit statuses\""; todo!("x (book: Chapter 12, \"Fork and exec\")");
            todo!("y (book: Chapter {chapter}, \"Pivot\")"); f("unknown, \"No\"")"#;
        let pair = |c: &str, s: &str| (c.to_string(), s.to_string());
        assert_eq!(
            citations(text, &["process".to_string()]),
            vec![pair("process", "Exit statuses"), pair("12", "Fork and exec"), pair("{chapter}", "Pivot")],
            "a slug's, a number's and a stub's citation; not an unknown word's"
        );
        assert_eq!(stub_section(text), Some("Pivot".to_string()), "the stub's own section");
    }
}
