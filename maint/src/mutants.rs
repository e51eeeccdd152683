//! `cargo maint mutants [CHAPTER]`: cargo-mutants over the exercise regions of a chapter (or of
//! every chapter), each with its chapter's graded tests, as a floor under the hand-written wrong
//! variants: a mutant that no graded test catches is wrong code a learner could hand in and see
//! green.
//!
//! The regions come from the tags in `minibox/`: each exercise is cut into its chapter's solution
//! with two marker lines around it, which gives its first and last line in
//! `solutions/solution-NN/`; cargo-mutants lists the mutants of that file, the ones on those
//! lines are run (`--re`, one pattern per mutant), with `--test chNN_SLUG`, one at a time (`-j1`;
//! the tests are privileged and share the machine). cargo-mutants works in a copy of the
//! workspace and writes its report under `target/mutants/` (never in the tracked tree).
//!
//! A mutant that no test can catch (it behaves as the reference does) is recorded in
//! `tests/mutants/SLUG.txt` with the reason, and counted as equivalent rather than missed:
//!
//! ```text
//! EXERCISE: MUTANT, as cargo-mutants names it without file, line and column
//!     at: the line of code it changes, as written there (trimmed): one operator may occur twice
//!     why: the reason no test can tell it from the reference
//! ```

use crate::workspace::{Chapter, Workspace};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xtask::tags::{Exercise, Snapshot, TaggedFile};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// The chapter, by number or slug; every chapter with exercises when left out.
    pub chapter: Option<String>,
    /// Only this exercise (repeat for several).
    #[arg(long, value_name = "NAME")]
    pub exercise: Vec<String>,
    /// List each exercise's mutants without running them.
    #[arg(long)]
    pub list: bool,
    /// A quicker floor: run only the graded tests whose names contain FILTER (repeat for several).
    /// A mutant missed then may still be caught by the chapter's other tests.
    #[arg(long, value_name = "FILTER")]
    pub only_tests: Vec<String>,
}

/// One mutant, as cargo-mutants lists it: its name (`FILE:LINE:COL: DESCRIPTION`), the lines it
/// replaces, and its description.
#[derive(Clone, Debug)]
struct Mutant {
    name: String,
    lines: std::ops::RangeInclusive<usize>,
    description: String,
    /// The line of code it changes, trimmed.
    code: String,
}

/// What names an equivalent mutant: its exercise, its description and its line of code.
type Key = (String, String, String);

impl Mutant {
    fn key(&self, exercise: &str) -> Key {
        (exercise.to_string(), self.description.clone(), self.code.clone())
    }
}

/// What became of each mutant of one exercise.
#[derive(Default)]
struct Tally {
    caught: Vec<String>,
    missed: Vec<String>,
    unviable: Vec<String>,
    timeout: Vec<String>,
    equivalent: Vec<String>,
}

pub fn run(ws: &Workspace, options: &Options) -> Result<()> {
    which_cargo_mutants()?;
    let chapters = match &options.chapter {
        Some(name) => vec![ws.chapter_named(name)?],
        None => ws.chapters()?,
    };
    let exercises = exercises(ws)?;
    let mut table = Vec::new();
    for chapter in &chapters {
        let equivalent = equivalents(ws, chapter)?;
        // `imports` regions are `use` lines, which no mutant changes.
        let mut mine: Vec<&Exercise> =
            exercises.iter().filter(|e| e.chapter == chapter.number && e.name != "imports").collect();
        if !options.exercise.is_empty() {
            mine.retain(|e| options.exercise.contains(&e.name));
        }
        let mut made = Vec::new();
        for exercise in mine {
            let (file, lines) = solution_lines(ws, chapter, exercise)?;
            // The mutants inside the region; a whole body replaced counts when the region is the body.
            let inside = |m: &Mutant| lines.contains(m.lines.start()) && lines.contains(m.lines.end());
            let mutants: Vec<Mutant> = list(ws, chapter, &file)?.into_iter().filter(inside).collect();
            println!(
                "== chapter {} ({}), exercise {}: {} mutants on lines {}-{} of {}",
                chapter.number,
                chapter.slug,
                exercise.name,
                mutants.len(),
                lines.start(),
                lines.end(),
                file.display()
            );
            for mutant in &mutants {
                println!("   {}", mutant.name);
            }
            made.push((exercise.name.clone(), file, mutants));
        }
        let unused: Vec<String> = equivalent
            .keys()
            .filter(|key| !made.iter().any(|(e, _, mutants)| mutants.iter().any(|m| &m.key(e) == *key)))
            .map(|(e, d, at)| format!("{e}: {d} (at {at})"))
            .collect();
        if options.exercise.is_empty() && !unused.is_empty() {
            println!("note: tests/mutants/{}.txt lists mutants that are not made: {unused:?}", chapter.slug);
        }
        if options.list || made.is_empty() {
            continue;
        }
        let outcomes = test(ws, chapter, &made, &equivalent, &options.only_tests)?;
        for (exercise, _, mutants) in &made {
            let mut tally = Tally::default();
            for mutant in mutants {
                let kind = match outcomes.get(&mutant.name) {
                    Some(kind) => kind.as_str(),
                    None if equivalent.contains_key(&mutant.key(exercise)) => "Equivalent",
                    None => bail!("cargo mutants gave no outcome for {}", mutant.name),
                };
                let list = match kind {
                    "CaughtMutant" => &mut tally.caught,
                    "MissedMutant" => &mut tally.missed,
                    "Unviable" => &mut tally.unviable,
                    "Timeout" => &mut tally.timeout,
                    "Equivalent" => &mut tally.equivalent,
                    other => bail!("cargo mutants: {}: {other}", mutant.name),
                };
                list.push(mutant.name.clone());
            }
            table.push((chapter.number, exercise.clone(), tally));
        }
    }
    if options.list {
        return Ok(());
    }
    let mut missed = 0;
    for (_, name, t) in &table {
        for m in &t.missed {
            println!("MISSED ({name}) {m}");
        }
        for m in &t.timeout {
            println!("TIMEOUT ({name}) {m}");
        }
        missed += t.missed.len();
    }
    println!("\n| chapter | exercise | mutants | caught | missed | unviable | timeout | equivalent |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (number, name, t) in &table {
        let all = t.caught.len() + t.missed.len() + t.unviable.len() + t.timeout.len() + t.equivalent.len();
        println!(
            "| {number} | {name} | {all} | {} | {} | {} | {} | {} |",
            t.caught.len(),
            t.missed.len(),
            t.unviable.len(),
            t.timeout.len(),
            t.equivalent.len()
        );
    }
    if missed > 0 {
        bail!(
            "{missed} mutants missed: kill each with a test, or record it in tests/mutants/SLUG.txt with why it is equivalent"
        );
    }
    Ok(())
}

fn which_cargo_mutants() -> Result<()> {
    let found = crate::cargo::cargo().args(["mutants", "--version"]).output();
    match found {
        Ok(output) if output.status.success() => Ok(()),
        _ => bail!("cargo-mutants is not installed: cargo install cargo-mutants --locked (about 3 minutes)"),
    }
}

/// Every exercise in `minibox/`.
fn exercises(ws: &Workspace) -> Result<Vec<Exercise>> {
    let slugs: Vec<String> = ws.chapters()?.into_iter().map(|c| c.slug).collect();
    let mut files = Vec::new();
    collect_rust(&ws.path("minibox"), &mut files)?;
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let shown = path.strip_prefix(&ws.root).unwrap_or(&path).to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {shown}"))?;
        found.extend(TaggedFile::parse(&shown, &text, &slugs)?.exercises);
    }
    Ok(found)
}

fn collect_rust(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            collect_rust(&path, out)?;
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The exercise's file in its chapter's solution, and the region's lines there (1-based).
fn solution_lines(
    ws: &Workspace,
    chapter: &Chapter,
    exercise: &Exercise,
) -> Result<(PathBuf, std::ops::RangeInclusive<usize>)> {
    const START: &str = "// cargo maint mutants: the region starts";
    const END: &str = "// cargo maint mutants: the region ended";
    let text = std::fs::read_to_string(ws.path(&exercise.file))?;
    let region = xtask::tags::find_exercise(&text, "//", &chapter.slug, &exercise.name)
        .with_context(|| format!("the region of `{}` in {}", exercise.name, exercise.file))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut marked: Vec<&str> = lines[..region.reference.start].to_vec();
    marked.push(START);
    marked.extend(&lines[region.reference.clone()]);
    marked.push(END);
    marked.extend(&lines[region.reference.end..]);
    let slugs: Vec<String> = ws.chapters()?.into_iter().map(|c| c.slug).collect();
    let cut = |source: &str| -> Result<String> {
        let parsed = TaggedFile::parse(&exercise.file, source, &slugs)?;
        parsed.cut(Snapshot::Solution(chapter.number)).context("the exercise's file is empty in its solution")
    };
    let plain = cut(&text)?;
    let with_marks = cut(&(marked.join("\n") + "\n"))?;
    let position = |mark: &str| with_marks.lines().position(|l| l.trim() == mark);
    let (Some(start), Some(end)) = (position(START), position(END)) else {
        bail!("the markers around `{}` did not survive the cut", exercise.name);
    };
    let relative =
        Path::new(&exercise.file).strip_prefix("minibox").context("an exercise outside minibox/")?;
    let file = Path::new("solutions").join(format!("solution-{:02}", chapter.number)).join(relative);
    let generated = std::fs::read_to_string(ws.path(&file))
        .with_context(|| format!("reading {} (run cargo xtask sync)", file.display()))?;
    // The generated file is the cut under a header of a few lines.
    let header = generated.lines().count().checked_sub(plain.lines().count());
    let header = match header {
        Some(h) if generated.lines().skip(h).eq(plain.lines()) => h,
        _ => bail!("{} is stale: run cargo xtask sync", file.display()),
    };
    // Without the first marker, the region's first line is at `start` (0-based); its last at `end - 2`.
    Ok((file, header + start + 1..=header + end - 1))
}

/// `cargo mutants --list` of one file of a chapter's solution.
fn list(ws: &Workspace, chapter: &Chapter, file: &Path) -> Result<Vec<Mutant>> {
    let output = crate::cargo::cargo()
        .current_dir(&ws.root)
        .args(["mutants", "--list", "--json", "-p", &package(chapter), "--file"])
        .arg(file)
        .output()
        .context("running cargo mutants --list")?;
    if !output.status.success() {
        bail!("cargo mutants --list failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo mutants --list --json")?;
    let source =
        std::fs::read_to_string(ws.path(file)).with_context(|| format!("reading {}", file.display()))?;
    let code: Vec<&str> = source.lines().map(str::trim).collect();
    let mut mutants = Vec::new();
    for mutant in json.as_array().into_iter().flatten() {
        let line = |end: &str| mutant["span"][end]["line"].as_u64().map(|n| n as usize);
        let (Some(name), Some(first), Some(last)) = (mutant["name"].as_str(), line("start"), line("end"))
        else {
            bail!("cargo mutants --list --json: a mutant without a name or a span: {mutant}");
        };
        // FILE:LINE:COL: DESCRIPTION
        let description = name.splitn(4, ':').nth(3).unwrap_or(name).trim().to_string();
        let code = code.get(first.saturating_sub(1)).copied().unwrap_or_default().to_string();
        mutants.push(Mutant { name: name.to_string(), lines: first..=last, description, code });
    }
    Ok(mutants)
}

fn package(chapter: &Chapter) -> String {
    format!("solution-{:02}", chapter.number)
}

/// `(exercise, mutant description, line of code)` to the reason it is equivalent, from
/// `tests/mutants/SLUG.txt`.
fn equivalents(ws: &Workspace, chapter: &Chapter) -> Result<BTreeMap<Key, String>> {
    let path = ws.path(format!("tests/mutants/{}.txt", chapter.slug));
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(BTreeMap::new()) };
    let mut found = BTreeMap::new();
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    while let Some((n, line)) = lines.next() {
        let shown = format!("{}:{}", path.display(), n + 1);
        let Some((exercise, description)) = line.split_once(": ").filter(|_| !line.starts_with(' ')) else {
            bail!("{shown}: expected `EXERCISE: MUTANT`, then indented `at: CODE` and `why: ...` lines");
        };
        let mut field = |name: &str| {
            let value =
                lines.next().and_then(|(_, l)| l.trim().strip_prefix(name).map(|v| v.trim().to_string()));
            value.filter(|v| !v.is_empty())
        };
        let (Some(at), Some(why)) = (field("at:"), field("why:")) else {
            bail!(
                "{shown}: the mutant needs an `at: CODE` line (the line it changes) and a `why: ...` line (why it is equivalent) under it"
            );
        };
        found.insert((exercise.trim().to_string(), description.trim().to_string(), at), why);
    }
    Ok(found)
}

/// Run a chapter's mutants (but the equivalent ones) against its graded tests, in one run of
/// cargo-mutants (one baseline build): each mutant's name to its outcome (`CaughtMutant`,
/// `MissedMutant`, `Unviable`, `Timeout`).
fn test(
    ws: &Workspace,
    chapter: &Chapter,
    made: &[(String, PathBuf, Vec<Mutant>)],
    equivalent: &BTreeMap<Key, String>,
    only_tests: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut files: Vec<&PathBuf> = Vec::new();
    let mut wanted = Vec::new();
    for (exercise, file, mutants) in made {
        for mutant in mutants {
            if !equivalent.contains_key(&mutant.key(exercise)) {
                wanted.push(mutant);
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        }
    }
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let output = ws.path(format!("target/mutants/{}", chapter.slug));
    // An earlier run's outcomes must not stand in for a run that failed to start.
    let _ = std::fs::remove_dir_all(output.join("mutants.out"));
    std::fs::create_dir_all(&output)?;
    let mut command = crate::cargo::cargo();
    command.current_dir(&ws.root).args(["mutants", "-j1", "--no-shuffle", "-p", &package(chapter)]);
    for file in files {
        command.arg("--file").arg(file);
    }
    command.arg("--output").arg(&output);
    for mutant in &wanted {
        command.arg("--re").arg(format!("^{}$", regex_escape(&mutant.name)));
    }
    command.args(["--", "--test", &chapter.test_name]);
    if !only_tests.is_empty() {
        command.arg("--").args(only_tests);
        println!("only the graded tests whose names contain one of {only_tests:?}: a floor, not the verdict");
    }
    println!("running {} mutants (cargo mutants, report in {})", wanted.len(), output.display());
    // cargo-mutants exits non-zero when a mutant is missed: the outcomes say what happened.
    command.status().context("running cargo mutants")?;
    let path = output.join("mutants.out/outcomes.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).context("cargo mutants' outcomes.json")?;
    let mut outcomes = BTreeMap::new();
    for outcome in json["outcomes"].as_array().into_iter().flatten() {
        let summary = outcome["summary"].as_str().unwrap_or_default().to_string();
        let Some(name) = outcome["scenario"]["Mutant"]["name"].as_str() else {
            // The baseline: the tests must pass on the reference before any mutant means anything.
            if summary != "Success" {
                bail!(
                    "the graded tests fail on the unmutated solution ({summary}): see {}",
                    output.display()
                );
            }
            continue;
        };
        outcomes.insert(name.to_string(), summary);
    }
    Ok(outcomes)
}

fn regex_escape(text: &str) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
