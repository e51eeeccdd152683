//! The book never prints an exercise's answer before the exercise (contract 8).
//!
//! An exercise region is the code between `//@ exercise N NAME` and its `//@ stub` (or its
//! `//@ end` when it has no stub) in `minibox/`. A book page fails when:
//! - one of its `{{#include}}`s takes an anchor (or a whole file, or a line range) that overlaps
//!   an exercise region, or
//! - a line of it contains a line of an exercise region (trimmed, longer than 20 characters, not
//!   a comment),
//!
//! unless the place is inside a `<details>` block after the page's exercise heading (a heading
//! that starts with "The exercise"): hints, and a walkthrough for readers whose tests pass.
//! Pages are those that SUMMARY.md lists, with the Markdown files they include spliced in.
//! It also checks that every exercise with a stub has three hint tiers of its own, none of which
//! contains a line of the exercise's reference body.

use crate::hints;
use crate::workspace::Workspace;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Reference lines this short (or shorter) are too common to mean anything: `}`, `Ok(())`...
const SHORTEST_LINE: usize = 21;

/// One exercise region of the tagged source.
#[derive(Debug)]
struct Region {
    /// The chapter's slug.
    chapter: String,
    name: String,
    /// The file, relative to the workspace root (`minibox/src/rootfs.rs`).
    file: PathBuf,
    /// The 1-based lines of the `exercise` tag and of its `stub` (or `end`).
    first: usize,
    last: usize,
    has_stub: bool,
    /// The region's code lines, trimmed, with their line numbers.
    code: Vec<(usize, String)>,
    /// The stub's lines (`//| todo!(...)`), joined.
    stub: String,
}

/// A tag still open while the tagged source is read.
#[derive(Clone, Copy)]
enum Open {
    /// An exercise before its stub (index into the regions).
    Exercise(usize),
    /// An exercise's stub.
    Stub(usize),
    /// Any other tag.
    Other,
}

/// A line of a page after its Markdown includes are spliced in, with where it came from.
struct PageLine {
    file: PathBuf,
    number: usize,
    text: String,
}

pub fn run(ws: &Workspace) -> Result<Vec<String>> {
    let mut regions = Vec::new();
    let mut sources = Vec::new();
    collect(&ws.path("minibox"), "rs", &mut sources)?;
    sources.sort();
    for path in &sources {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        regions.extend(exercise_regions(relative(ws, path), &text));
    }

    let mut defects = Vec::new();
    let pages = summary_pages(ws)?;
    for page in &pages {
        let lines = splice(ws, page, 0)?;
        defects.extend(check_page(ws, &lines, &regions)?);
    }
    defects.extend(hint_tiers(ws, &regions)?);
    let slugs: Vec<String> = ws.chapters()?.into_iter().map(|c| c.slug).collect();
    for slug in &slugs {
        let lines = chapter_lines(ws, slug)?;
        defects.extend(chapter_ending(slug, &lines));
        defects.extend(exercise_names(ws, slug, &lines, &regions)?);
    }
    let code_lines: usize = regions.iter().map(|r| r.code.len()).sum();
    println!(
        "verify: the book hides every exercise's answer ({} pages, {} exercise regions, {code_lines} reference lines)",
        pages.len(),
        regions.len()
    );
    Ok(defects)
}

/// The exercise regions of one tagged file. Nested `begin` lines inside an exercise belong to it;
/// `//|` lines (stubs, `until` code), tags and comments are not code the book could show.
fn exercise_regions(file: PathBuf, text: &str) -> Vec<Region> {
    // The open tags, innermost last.
    let mut open: Vec<Open> = Vec::new();
    let mut regions: Vec<Region> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if let Some(tag) = trimmed.strip_prefix("//@") {
            let words: Vec<&str> = tag.split_whitespace().collect();
            match words.as_slice() {
                ["exercise", chapter, name, ..] => {
                    regions.push(Region {
                        chapter: chapter.to_string(),
                        name: name.to_string(),
                        file: file.clone(),
                        first: number,
                        last: number,
                        has_stub: false,
                        code: Vec::new(),
                        stub: String::new(),
                    });
                    open.push(Open::Exercise(regions.len() - 1));
                }
                ["stub", ..] => {
                    if let Some(Open::Exercise(at)) = open.last().copied() {
                        regions[at].last = number;
                        regions[at].has_stub = true;
                        *open.last_mut().expect("just seen") = Open::Stub(at);
                    }
                }
                ["end", ..] => {
                    if let Some(Open::Exercise(at)) = open.pop() {
                        regions[at].last = number;
                    }
                }
                _ => open.push(Open::Other), // begin, until
            }
            continue;
        }
        if let Some(Open::Stub(at)) = open.last().copied() {
            regions[at].stub.push_str(trimmed.trim_start_matches("//|").trim());
            regions[at].stub.push('\n');
            continue;
        }
        // The innermost exercise that is still in its reference part, if any.
        let Some(at) = open.iter().rev().find_map(|o| match o {
            Open::Exercise(at) => Some(*at),
            _ => None,
        }) else {
            continue;
        };
        if is_meaningful(trimmed) {
            regions[at].code.push((number, trimmed.to_string()));
        }
    }
    regions
}

fn is_meaningful(line: &str) -> bool {
    line.chars().count() >= SHORTEST_LINE
        && !line.starts_with("//")
        && line.chars().any(|c| c.is_alphanumeric())
}

/// The pages of a chapter that SUMMARY.md lists (`chapters/SLUG/index.md` and its sub-pages),
/// in its order.
pub fn chapter_pages(ws: &Workspace, slug: &str) -> Result<Vec<PathBuf>> {
    let dir = Path::new("book/src/chapters").join(slug);
    Ok(summary_pages(ws)?.into_iter().filter(|p| p.starts_with(&dir)).collect())
}

/// A chapter's headings on all its pages, without their `#`s: what a citation may name.
pub fn chapter_headings(ws: &Workspace, slug: &str) -> Result<Vec<String>> {
    let lines = chapter_lines(ws, slug)?;
    Ok(headings(&lines).into_iter().map(|(_, text)| text).collect())
}

/// A chapter's pages, one after another, with their Markdown includes spliced in.
fn chapter_lines(ws: &Workspace, slug: &str) -> Result<Vec<PageLine>> {
    let mut lines = Vec::new();
    for page in chapter_pages(ws, slug)? {
        lines.extend(splice(ws, &page, 0)?);
    }
    Ok(lines)
}

/// The headings among `lines` (outside code blocks), as (level, text).
fn headings(lines: &[PageLine]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in lines {
        let trimmed = line.text.trim_end();
        if trimmed.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence || !trimmed.starts_with('#') {
            continue;
        }
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if trimmed[level..].starts_with(' ') {
            found.push((level, trimmed[level..].trim().to_string()));
        }
    }
    found
}

/// How every chapter ends, in this order: questions to check oneself, challenges to go further,
/// what to read next, and a summary as the chapter's last section.
const ENDING: [&str; 4] = ["Self-check", "Challenges", "Further reading", "Summary"];

fn chapter_ending(slug: &str, lines: &[PageLine]) -> Vec<String> {
    let sections: Vec<String> =
        headings(lines).into_iter().filter(|(level, _)| *level == 2).map(|(_, text)| text).collect();
    let mut defects = Vec::new();
    let mut last = None;
    for name in ENDING {
        let places: Vec<usize> = (0..sections.len()).filter(|&i| sections[i] == name).collect();
        match places.as_slice() {
            [at] if last.is_none_or(|l| l < *at) => last = Some(*at),
            [_] => defects.push(format!(
                "book/src/chapters/{slug}: `## {name}` is out of place: the chapter ends with {}",
                ENDING.map(|e| format!("`## {e}`")).join(", ")
            )),
            _ => defects.push(format!(
                "book/src/chapters/{slug}: {} `## {name}` sections, want one (a chapter ends with {})",
                places.len(),
                ENDING.join(", ")
            )),
        }
    }
    if defects.is_empty() && sections.last().is_some_and(|s| s != "Summary") {
        defects.push(format!(
            "book/src/chapters/{slug}: `## {}` comes after `## Summary`, which must be the chapter's last section",
            sections.last().map_or("", String::as_str)
        ));
    }
    defects
}

/// One name per exercise: the name in its `//@ exercise` tag is the one that the chapter's
/// exercise list shows in bold (`**\`spawn\`**`), that its hint tiers start with, and that its
/// stub's `todo!` shows, with the hint command in the form the book uses (the chapter's slug).
fn exercise_names(ws: &Workspace, slug: &str, lines: &[PageLine], regions: &[Region]) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let ours: Vec<&Region> = regions.iter().filter(|r| r.chapter == slug && r.has_stub).collect();
    let names: Vec<&str> = ours.iter().map(|r| r.name.as_str()).collect();
    let listed = exercise_list(lines);
    for name in names.iter().filter(|n| !listed.iter().any(|l| l == *n)) {
        defects.push(format!(
            "book/src/chapters/{slug}: \"The exercise\" does not list `{name}` as **`{name}`** (the name in its tag)"
        ));
    }
    for name in listed.iter().filter(|l| !names.contains(&l.as_str())) {
        defects.push(format!(
            "book/src/chapters/{slug}: \"The exercise\" lists **`{name}`**, which is no exercise of the chapter \
             (its exercises: {})",
            names.join(", ")
        ));
    }
    let file = format!("book/src/chapters/{slug}/hints.md");
    let text = std::fs::read_to_string(ws.path(&file)).unwrap_or_default();
    let mut strays: Vec<String> = hints::parse(&text)
        .iter()
        .map(|h| hints::exercise_of(&h.title).to_string())
        .filter(|n| !n.is_empty() && !names.contains(&n.as_str()))
        .collect();
    strays.dedup();
    for stray in strays {
        defects.push(format!("{file}: hint tiers for `{stray}`, which is no exercise of the chapter"));
    }
    for region in ours {
        let opening = format!("chapter {{chapter}}, `{}`", region.name);
        let command = format!("`cargo xtask hint {slug} {}`", region.name);
        if !region.stub.contains(&opening) || !region.stub.contains(&command) {
            defects.push(format!(
                "{}:{}: the stub's `todo!` should start with \"{opening}\" and name {command}",
                region.file.display(),
                region.first
            ));
        }
    }
    Ok(defects)
}

/// The names a chapter's exercise list shows in bold code (`**\`name\`**`), between its "The
/// exercise" heading and the next section.
fn exercise_list(lines: &[PageLine]) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in lines {
        if line.text.starts_with("## ") {
            inside = line.text[3..].trim().to_lowercase().starts_with("the exercise");
            continue;
        }
        let mut rest = line.text.as_str();
        while inside && let Some(at) = rest.find("**`") {
            let after = &rest[at + 3..];
            let Some(end) = after.find("`**") else { break };
            names.push(after[..end].to_string());
            rest = &after[end + 3..];
        }
    }
    names
}

/// The pages that SUMMARY.md links to, as paths relative to the workspace root.
fn summary_pages(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let summary = ws.path("book/src/SUMMARY.md");
    let text = std::fs::read_to_string(&summary).with_context(|| format!("reading {}", summary.display()))?;
    let mut pages = Vec::new();
    for line in text.lines() {
        let Some(start) = line.find("](") else { continue };
        let rest = &line[start + 2..];
        let Some(end) = rest.find(')') else { continue };
        let target = &rest[..end];
        if target.ends_with(".md") {
            pages.push(PathBuf::from("book/src").join(target));
        }
    }
    Ok(pages)
}

/// A page's lines, with every `{{#include X.md}}` replaced by X's lines (as mdBook does).
fn splice(ws: &Workspace, page: &Path, depth: usize) -> Result<Vec<PageLine>> {
    let text =
        std::fs::read_to_string(ws.path(page)).with_context(|| format!("reading {}", page.display()))?;
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let markdown = includes(line).into_iter().find(|inc| inc.path.ends_with(".md"));
        if let (Some(include), true) = (markdown, depth < 4) {
            let target = normalize(&page.parent().unwrap_or(Path::new("")).join(&include.path));
            out.extend(splice(ws, &target, depth + 1)?);
            continue;
        }
        out.push(PageLine { file: page.to_path_buf(), number: index + 1, text: line.to_string() });
    }
    Ok(out)
}

struct Include {
    path: String,
    /// What follows the path: an anchor name, a line range, or nothing (the whole file).
    selector: Option<String>,
}

fn includes(line: &str) -> Vec<Include> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("{{#include") {
        let escaped = rest[..at].ends_with('\\');
        let after = &rest[at + "{{#include".len()..];
        let Some(end) = after.find("}}") else { break };
        let spec = after[..end].split_whitespace().next().unwrap_or("");
        if !escaped && !spec.is_empty() {
            let (path, selector) = match spec.split_once(':') {
                Some((p, s)) => (p.to_string(), Some(s.to_string())),
                None => (spec.to_string(), None),
            };
            found.push(Include { path, selector });
        }
        rest = &after[end..];
    }
    found
}

fn check_page(ws: &Workspace, lines: &[PageLine], regions: &[Region]) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    let mut after_exercise = false;
    let mut details_depth: usize = 0;
    let mut in_fence = false;
    for line in lines {
        let trimmed = line.text.trim();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && trimmed.starts_with('#') {
            let heading = trimmed.trim_start_matches('#').trim().to_lowercase();
            if heading.starts_with("the exercise") {
                after_exercise = true;
            }
        }
        details_depth += trimmed.matches("<details").count();
        let hidden = after_exercise && details_depth > 0;
        details_depth = details_depth.saturating_sub(trimmed.matches("</details>").count());
        if hidden {
            continue;
        }
        let place = format!("{}:{}", line.file.display(), line.number);

        for include in includes(&line.text) {
            let target = normalize(&line.file.parent().unwrap_or(Path::new("")).join(&include.path));
            let Some(source) = tagged_source(&target) else { continue };
            for region in regions.iter().filter(|r| r.file == source) {
                if overlaps(ws, &source, include.selector.as_deref(), region)? {
                    defects.push(format!(
                        "{place}: the include of {}{} shows exercise {}/`{}` ({}:{}) before the reader \
                         has done it; teach it instead, or move the listing into a <details> after \
                         \"The exercise\"",
                        include.path,
                        include.selector.as_deref().map(|s| format!(":{s}")).unwrap_or_default(),
                        region.chapter,
                        region.name,
                        region.file.display(),
                        region.first
                    ));
                }
            }
        }

        for region in regions {
            if let Some((number, code)) = region.code.iter().find(|(_, code)| trimmed.contains(code.as_str()))
            {
                defects.push(format!(
                    "{place}: shows line {number} of exercise {}/`{}` ({}) before the reader has done \
                     it: `{code}`",
                    region.chapter,
                    region.name,
                    region.file.display()
                ));
            }
        }
    }
    Ok(defects)
}

/// The tagged file behind a generated one: `solutions/solution-03/src/x.rs` and
/// `chapters/chapter-03/src/x.rs` come from `minibox/src/x.rs`.
fn tagged_source(path: &Path) -> Option<PathBuf> {
    let mut parts = path.components();
    let first = parts.next()?.as_os_str().to_str()?;
    match first {
        "minibox" => Some(path.to_path_buf()),
        "solutions" | "chapters" => {
            parts.next()?;
            Some(Path::new("minibox").join(parts.as_path()))
        }
        _ => None,
    }
}

/// Does an include of `source` with `selector` show any line of `region`?
fn overlaps(ws: &Workspace, source: &Path, selector: Option<&str>, region: &Region) -> Result<bool> {
    let Some(anchor) = selector.filter(|s| !s.is_empty() && !s.starts_with(|c: char| c.is_ascii_digit()))
    else {
        // The whole file, or a line range (counted in a generated file, so not comparable with
        // the tagged source's numbers): either may show the region.
        return Ok(true);
    };
    let text =
        std::fs::read_to_string(ws.path(source)).with_context(|| format!("reading {}", source.display()))?;
    let (mut start, mut end) = (None, None);
    for (index, line) in text.lines().enumerate() {
        if anchor_name(line, "ANCHOR:") == Some(anchor) {
            start = Some(index + 1);
        } else if anchor_name(line, "ANCHOR_END:") == Some(anchor) {
            end = Some(index + 1);
        }
    }
    Ok(match (start, end) {
        (Some(start), Some(end)) => start < region.last && region.first < end,
        _ => false, // a missing anchor is tools/check-book's to report
    })
}

fn anchor_name<'a>(line: &'a str, mark: &str) -> Option<&'a str> {
    let at = line.find(mark)?;
    line[at + mark.len()..].split_whitespace().next()
}

/// Every exercise with a stub needs three hint tiers whose titles start with its name
/// (`spawn, hint 1: ...`), so that `cargo xtask hint N NAME` can show them one at a time.
fn hint_tiers(ws: &Workspace, regions: &[Region]) -> Result<Vec<String>> {
    let mut defects = Vec::new();
    for region in regions.iter().filter(|r| r.has_stub) {
        let file = format!("book/src/chapters/{}/hints.md", region.chapter);
        let text = std::fs::read_to_string(ws.path(&file)).unwrap_or_default();
        let tiers =
            hints::parse(&text).into_iter().filter(|h| hints::exercise_of(&h.title) == region.name).count();
        if tiers < 3 {
            defects.push(format!(
                "{file}: exercise {}/`{}` has {tiers} hint tiers of its own, want 3 (titles \"{}, hint 1: ...\")",
                region.chapter, region.name, region.name
            ));
        }
        defects.extend(tiers_that_answer(&file, &text, region));
    }
    Ok(defects)
}

/// A hint guides; it never prints the answer (contract 8). A tier of an exercise fails when one
/// of its lines contains a line of the exercise's reference body (the same test as a page's).
fn tiers_that_answer(file: &str, text: &str, region: &Region) -> Vec<String> {
    let mut defects = Vec::new();
    for tier in hints::parse(text).iter().filter(|h| hints::exercise_of(&h.title) == region.name) {
        for line in tier.body.lines().map(str::trim) {
            if let Some((number, code)) = region.code.iter().find(|(_, code)| line.contains(code.as_str())) {
                defects.push(format!(
                    "{file}: the tier \"{}\" prints line {number} of exercise {}/`{}` ({}): `{code}`; \
                     say what to look for instead of writing it",
                    tier.title,
                    region.chapter,
                    region.name,
                    region.file.display()
                ));
            }
        }
    }
    defects
}

fn collect(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                collect(&path, extension, out)?;
            }
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(ws: &Workspace, path: &Path) -> PathBuf {
    path.strip_prefix(&ws.root).unwrap_or(path).to_path_buf()
}

/// `a/b/../c` as `a/c`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
fn given() {}
// ANCHOR: spawn
pub fn spawn() {
    //@ exercise 1 spawn
    let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
    //@ begin 2
    let later_chapter_line = 1 + 2 + 3;
    //@ end 2
    // a comment that explains the reference
    Ok(())
    //@ stub
    //| todo!(\"chapter 1, `spawn`: fork (book: Chapter 1)\")
    //@ end 1 spawn
}
// ANCHOR_END: spawn
// ANCHOR: given
fn also_given() {}
// ANCHOR_END: given
";

    fn region() -> Region {
        exercise_regions(PathBuf::from("minibox/src/process.rs"), SOURCE).remove(0)
    }

    fn lines(text: &str) -> Vec<PageLine> {
        text.lines()
            .enumerate()
            .map(|(i, t)| PageLine { file: PathBuf::from("book/src/page.md"), number: i + 1, text: t.into() })
            .collect()
    }

    #[test]
    fn a_region_holds_its_code_lines_and_no_stub_tag_or_comment() {
        let region = region();
        assert_eq!((region.first, region.last, region.has_stub), (4, 11, true), "the tag lines");
        let code: Vec<&str> = region.code.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(
            code,
            ["let (read, write) = pipe2(OFlag::O_CLOEXEC)?;", "let later_chapter_line = 1 + 2 + 3;"],
            "long code lines, nested `begin` lines included; the comment, `Ok(())` and the stub left out"
        );
    }

    #[test]
    fn a_reference_line_fails_before_the_exercise_and_passes_in_details_after_it() {
        let ws = Workspace { root: PathBuf::from("/nonexistent") };
        let regions = [region()];
        let before = "# Page\n```rust\nlet (read, write) = pipe2(OFlag::O_CLOEXEC)?;\n```\n## The exercise\n";
        assert_eq!(check_page(&ws, &lines(before), &regions).unwrap().len(), 1, "shown before the exercise");
        let details_before =
            "<details>\nlet (read, write) = pipe2(OFlag::O_CLOEXEC)?;\n</details>\n## The exercise\n";
        assert_eq!(
            check_page(&ws, &lines(details_before), &regions).unwrap().len(),
            1,
            "collapsed, but before the exercise"
        );
        let after = "## The exercise\ntext\n<details>\n<summary>Read once the tests pass</summary>\n\n\
                     let (read, write) = pipe2(OFlag::O_CLOEXEC)?;\n</details>\n";
        assert!(check_page(&ws, &lines(after), &regions).unwrap().is_empty(), "collapsed after the exercise");
        let open_after = "## The exercise\nlet (read, write) = pipe2(OFlag::O_CLOEXEC)?;\n";
        assert_eq!(
            check_page(&ws, &lines(open_after), &regions).unwrap().len(),
            1,
            "after, but not collapsed"
        );
    }

    #[test]
    fn a_tier_that_prints_a_reference_line_fails() {
        let region = region();
        let answer = "<details>\n<summary>spawn, hint 3: the calls</summary>\n\n```rust\n\
                      let (read, write) = pipe2(OFlag::O_CLOEXEC)?;\n```\n</details>\n";
        assert_eq!(tiers_that_answer("h.md", answer, &region).len(), 1, "the tier prints a reference line");
        let guide = "<details>\n<summary>spawn, hint 3: the calls</summary>\n\n\
                     Make the pipe with `pipe2` and `O_CLOEXEC`.\n</details>\n";
        assert!(tiers_that_answer("h.md", guide, &region).is_empty(), "the tier names the call only");
        let other = answer.replace("spawn, hint", "exec, hint");
        assert!(tiers_that_answer("h.md", &other, &region).is_empty(), "another exercise's tier");
    }

    #[test]
    fn a_stub_is_kept_with_its_exercise() {
        assert!(
            region().stub.contains("todo!(\"chapter 1, `spawn`: fork (book: Chapter 1)\")"),
            "the stub's line"
        );
    }

    #[test]
    fn a_chapter_ends_with_self_check_challenges_further_reading_and_summary() {
        let good = "# C\n## The exercise\n## Self-check\n```\n## not a heading\n```\n## Challenges\n\
                    ## Further reading\n## Summary\n### a sub-heading\n";
        assert!(chapter_ending("x", &lines(good)).is_empty(), "the four in order, Summary last");
        let old = "# C\n## Further reading\n## Self-check\n## Challenges\n";
        assert_eq!(chapter_ending("x", &lines(old)).len(), 2, "Further reading out of place, no Summary");
        let after = "# C\n## Self-check\n## Challenges\n## Further reading\n## Summary\n## More\n";
        assert_eq!(chapter_ending("x", &lines(after)).len(), 1, "a section after the summary");
    }

    #[test]
    fn the_exercise_list_is_read_from_its_section_only() {
        let page = "## Goal\n**`not_this`**\n## The exercise\n1. **`spawn`** (`process.rs`) and **`exec`**\n\
                    ## Hints\n**`nor_this`**\n";
        assert_eq!(exercise_list(&lines(page)), ["spawn", "exec"], "the bold names of \"The exercise\"");
    }

    #[test]
    fn includes_are_read_with_their_selectors() {
        let found = includes("x {{#include ../a.rs:spawn}} y \\{{#include b.md}} {{#include c.md}}");
        let seen: Vec<(String, Option<String>)> = found.into_iter().map(|i| (i.path, i.selector)).collect();
        assert_eq!(
            seen,
            [("../a.rs".to_string(), Some("spawn".to_string())), ("c.md".to_string(), None)],
            "an escaped include is text"
        );
    }

    #[test]
    fn generated_files_map_to_the_tagged_source() {
        assert_eq!(
            tagged_source(Path::new("solutions/solution-03/src/rootfs.rs")),
            Some(PathBuf::from("minibox/src/rootfs.rs")),
            "a solution file"
        );
        assert_eq!(tagged_source(Path::new("tests/support/mod.rs")), None, "not generated from minibox/");
        assert_eq!(
            normalize(Path::new("book/src/chapters/x/../../../../solutions/a")),
            PathBuf::from("solutions/a")
        );
    }
}
