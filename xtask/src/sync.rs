//! `cargo xtask sync`: cut the tagged runtime in `minibox/` into every chapter's starter and
//! solution crate. `--check` only compares, and fails when anything generated is stale.

use crate::tags::{Exercise, Snapshot, TaggedFile, comment_leader};
use crate::workspace::{Chapter, Kind, Workspace};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file the generator writes, by path relative to the workspace root.
pub type Tree = BTreeMap<PathBuf, String>;

/// The source in `minibox/`: its Rust and TOML files, parsed for their tags, and every other
/// file (data such as a seccomp profile), which each snapshot gets as it is: formats like JSON
/// have no comments to carry tags or a generated-file header.
pub struct Source {
    files: Vec<(PathBuf, TaggedFile)>,
    data: Vec<(PathBuf, String)>,
}

impl Source {
    pub fn load(ws: &Workspace) -> Result<Source> {
        let mut paths = Vec::new();
        collect_files(&ws.path("minibox"), Path::new(""), &mut paths)?;
        paths.sort();
        let slugs: Vec<String> = ws.chapters()?.into_iter().map(|c| c.slug).collect();
        let (mut files, mut data) = (Vec::new(), Vec::new());
        for path in paths {
            let shown = Path::new("minibox").join(&path);
            let text = std::fs::read_to_string(ws.path(&shown))
                .with_context(|| format!("reading {} (sync copies text files only)", shown.display()))?;
            if comment_leader(&path.to_string_lossy()).is_some() {
                files.push((path, TaggedFile::parse(&shown.to_string_lossy(), &text, &slugs)?));
            } else {
                data.push((path, text));
            }
        }
        Ok(Source { files, data })
    }

    pub fn exercises(&self) -> impl Iterator<Item = &Exercise> {
        self.files.iter().flat_map(|(_, f)| f.exercises.iter())
    }

    /// Put `file` in place of the source file at `path` (relative to `minibox/`), for a wrong
    /// variant's snapshot. False when there is no such file.
    pub fn replace(&mut self, path: &Path, file: TaggedFile) -> bool {
        match self.files.iter_mut().find(|(p, _)| p == path) {
            Some(slot) => {
                slot.1 = file;
                true
            }
            None => false,
        }
    }
}

/// Every file under `root`, by path relative to it, except build output (`target/`) and hidden
/// files (an editor's swap file, a desktop's metadata).
fn collect_files(root: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let path = relative.join(entry.file_name());
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        } else if entry.file_type()?.is_dir() {
            if entry.file_name() != "target" {
                collect_files(root, &path, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Everything `sync` would write for one chapter's crate of one kind.
pub fn generate_crate(ws: &Workspace, source: &Source, chapter: &Chapter, kind: Kind) -> Result<Tree> {
    let chapters = ws.chapters()?;
    let snapshot = match kind {
        Kind::Starter => Snapshot::Starter(chapter.number),
        Kind::Solution => Snapshot::Solution(chapter.number),
    };
    let dir = chapter.dir(kind);
    let mut tree = Tree::new();
    for (path, file) in &source.files {
        // Examples stay in the finished runtime only: the same example in six packages would
        // collide in target/debug/examples/ (a cargo warning today, an error one day).
        if path.starts_with("examples") {
            continue;
        }
        let Some(mut body) = file.cut(snapshot) else { continue };
        if path == Path::new("Cargo.toml") {
            let tests: Vec<&Chapter> = chapters.iter().filter(|c| c.number <= chapter.number).collect();
            let first = (kind == Kind::Starter).then_some(chapter.number);
            body = snapshot_manifest(&body, &chapter.package(kind), &tests, first);
        } else if path == Path::new("src/main.rs") {
            body = with_library_alias(&body);
        }
        let origin = Path::new("minibox").join(path);
        tree.insert(dir.join(path), with_header(&body, &origin, chapter.number, &chapter.slug, kind));
    }
    for (path, text) in &source.data {
        tree.insert(dir.join(path), text.clone());
    }
    let readme = snapshot_readme(chapter, kind);
    tree.insert(
        dir.join("README.md"),
        with_header(&readme, Path::new("minibox"), chapter.number, &chapter.slug, kind),
    );
    Ok(tree)
}

/// Everything `sync` writes.
pub fn generate(ws: &Workspace) -> Result<Tree> {
    let source = Source::load(ws)?;
    let chapters = ws.chapters()?;
    let mut tree = Tree::new();
    for chapter in &chapters {
        for kind in [Kind::Solution, Kind::Starter] {
            tree.extend(generate_crate(ws, &source, chapter, kind)?);
        }
    }
    tree.insert(PathBuf::from("Cargo.toml"), workspace_manifest(ws, &chapters)?);
    tree.extend(book_numbers(ws, &chapters)?);
    Ok(tree)
}

/// The book's chapter list in SUMMARY.md: `- [Chapter 3: Filesystem isolation](chapters/rootfs/index.md)`.
pub fn summary_line(chapter: &Chapter) -> String {
    format!(
        "- [{}]({})",
        chapter.heading(),
        chapter.book_page().strip_prefix("book/src").unwrap_or(Path::new("")).display()
    )
}

/// The book's pages with every chapter number where the manifest puts it: the summary's chapter
/// list, each chapter page's heading, and the text of every link to a chapter's page
/// (`[chapter 3](../rootfs/index.md)`). Pages are written by hand; only these spots are sync's.
fn book_numbers(ws: &Workspace, chapters: &[Chapter]) -> Result<Tree> {
    let mut tree = Tree::new();
    let mut pages = Vec::new();
    collect_files(&ws.path("book/src"), Path::new(""), &mut pages)?;
    for page in pages.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let path = Path::new("book/src").join(&page);
        let text =
            std::fs::read_to_string(ws.path(&path)).with_context(|| format!("reading {}", path.display()))?;
        let mut lines: Vec<String> = renumber_links(&text, chapters).lines().map(str::to_string).collect();
        if page == Path::new("SUMMARY.md") {
            lines = summary_lines(lines, chapters)?;
        }
        if let Some(chapter) = chapters.iter().find(|c| c.book_page() == path)
            && lines.first().is_some_and(|l| l.starts_with("# "))
        {
            lines[0] = format!("# {}", chapter.heading());
        }
        // A chapter's pages speak of its own packages (`cargo test -p chapter-03`), and show the
        // code as it stands at that chapter, from its own solution (`solutions/solution-03/`),
        // whatever its number now is.
        let chapter_dir = |c: &&Chapter| path.starts_with(Path::new("book/src/chapters").join(&c.slug));
        if let Some(chapter) = chapters.iter().find(chapter_dir) {
            for line in lines.iter_mut() {
                *line = own_packages(line, chapter);
            }
        }
        tree.insert(path, lines.join("\n") + "\n");
    }
    Ok(tree)
}

/// SUMMARY.md's lines with the chapter list in the manifest's order. A chapter's sub-pages (an
/// indented `- [Title](chapters/SLUG/page.md)` under its line, written by hand) move with it.
fn summary_lines(lines: Vec<String>, chapters: &[Chapter]) -> Result<Vec<String>> {
    let target = |l: &str| -> Option<String> {
        let rest = l.split_once("](chapters/")?.1;
        Some(rest.split_once(')')?.0.to_string())
    };
    let is_chapter_page = |l: &String| target(l).is_some_and(|t| t.ends_with("/index.md"));
    let first = lines.iter().position(is_chapter_page);
    let first = first.context("book/src/SUMMARY.md lists no chapter page (chapters/SLUG/index.md)")?;
    let mut sub_pages: Vec<(String, String)> = Vec::new(); // (slug, line)
    let mut rest = Vec::new();
    for line in lines {
        match target(&line) {
            Some(t) if t.ends_with("/index.md") => {}
            Some(t) => {
                let slug = t.split('/').next().unwrap_or("").to_string();
                sub_pages.push((slug, format!("    - {}", line.trim_start().trim_start_matches("- "))));
            }
            None => rest.push(line),
        }
    }
    let mut listed = Vec::new();
    for chapter in chapters {
        listed.push(summary_line(chapter));
        listed.extend(sub_pages.iter().filter(|(slug, _)| *slug == chapter.slug).map(|(_, l)| l.clone()));
    }
    rest.splice(first..first, listed);
    Ok(rest)
}

/// `page` with the number in each link to a chapter's page made the manifest's: the link's
/// target names the chapter (`../rootfs/index.md`, `chapters/rootfs/hints.md#x`), its text says
/// `Chapter N`, `chapters N` (and then `[M](...)`), or is the bare number.
fn renumber_links(page: &str, chapters: &[Chapter]) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else { break };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else { break };
        let text = &rest[open + 1..close];
        let target = &rest[close + 2..end];
        let file = target.split('#').next().unwrap_or("");
        let mut parts: Vec<&str> = file.split('/').collect();
        parts.pop(); // the page
        let slug = parts.last().copied().unwrap_or("");
        let text = match chapters.iter().find(|c| c.slug == slug) {
            Some(chapter) => renumber_text(text, chapter.number),
            None => text.to_string(),
        };
        out.push_str(&rest[..open]);
        out.push_str(&format!("[{text}]({target})"));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `line` with every package name of a chapter (`chapter-NN`, `solution-NN`) that of `own`.
fn own_packages(line: &str, own: &Chapter) -> String {
    let mut out = line.to_string();
    for kind in [Kind::Starter, Kind::Solution] {
        let package = own.package(kind);
        let mark = &package[..package.len() - 2]; // `chapter-`, `solution-`
        let mut renamed = String::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find(mark) {
            let after = &rest[at + mark.len()..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            renamed.push_str(&rest[..at]);
            renamed.push_str(if digits == 2 { &package } else { mark });
            rest = &rest[at + mark.len() + if digits == 2 { 2 } else { 0 }..];
        }
        renamed.push_str(rest);
        out = renamed;
    }
    out
}

/// `Chapter 12` (or `chapter`, `chapters`, a line break for the space) in `text`, or `text`
/// that is just `12`, with `number` for 12.
fn renumber_text(text: &str, number: u32) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return number.to_string();
    }
    for word in ["Chapters", "chapters", "Chapter", "chapter"] {
        let Some(at) = text.find(word) else { continue };
        let after = &text[at + word.len()..];
        let space = after.len() - after.trim_start().len();
        let digits = after[space..].chars().take_while(char::is_ascii_digit).count();
        if space > 0 && digits > 0 {
            let end = at + word.len() + space + digits;
            return format!("{}{number}{}", &text[..end - digits], &text[end..]);
        }
    }
    text.to_string()
}

/// The workspace's Cargo.toml with `default-members` listing every solution: cargo does not
/// expand globs there, and the starters stay out so that `cargo test` tests the reference only.
fn workspace_manifest(ws: &Workspace, chapters: &[Chapter]) -> Result<String> {
    let text = std::fs::read_to_string(ws.path("Cargo.toml"))?;
    let mut members = vec!["minibox".to_string(), "probe".into(), "fixtures".into(), "xtask".into()];
    members.extend(chapters.iter().map(|c| c.dir(Kind::Solution).display().to_string()));
    let quoted: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    let line = format!("default-members = [{}]", quoted.join(", "));
    let mut out: Vec<String> = Vec::new();
    let mut replaced = false;
    for l in text.lines() {
        if l.starts_with("default-members = ") {
            out.push(line.clone());
            replaced = true;
        } else {
            out.push(l.to_string());
        }
    }
    if !replaced {
        bail!("the workspace Cargo.toml has no `default-members = [...]` line for sync to keep current");
    }
    Ok(out.join("\n") + "\n")
}

/// The source's Cargo.toml, renamed for a snapshot and given the graded tests up to its chapter.
///
/// In a starter (`first`: its chapter) the earlier chapters' test targets are named
/// `earlier_chNN_...`: cargo runs test targets in the order of their names and stops at the
/// first that fails, and a learner's first `cargo test -p chapter-03` should show chapter 3's
/// tests, not chapter 1's meeting chapter 3's stub.
fn snapshot_manifest(body: &str, package: &str, tests: &[&Chapter], first: Option<u32>) -> String {
    let mut out = String::new();
    let mut section = String::new();
    for line in body.lines() {
        if line.starts_with('[') {
            section = line.trim().to_string();
        }
        if section == "[[example]]" {
            continue; // see generate_crate: examples are not copied
        }
        let renames = section == "[package]" || section == "[[bin]]";
        if section == "[lib]" && line.trim_start().starts_with("name = ") {
            // Cargo's own default, which the build script can work out (CARGO_PKG_NAME).
            out.push_str(&format!("name = \"{}\"\n", library_name(package)));
            continue;
        }
        if renames && line.trim_start().starts_with("name = ") {
            out.push_str(&format!("name = \"{package}\"\n"));
            if section == "[package]" {
                out.push_str("# Builds the probe that the graded tests place inside containers.\n");
                out.push_str("build = \"../../tests/support/build.rs\"\n");
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(
        "\n# The graded tests: this chapter's and every earlier chapter's, shared with all snapshots.\n",
    );
    for chapter in tests {
        let earlier = first.is_some_and(|n| chapter.number < n);
        let name = if earlier { format!("earlier_{}", chapter.test_name) } else { chapter.test_name.clone() };
        out.push_str(&format!(
            "[[test]]\nname = \"{name}\"\npath = \"../../{}\"\n\n",
            chapter.test_file().display()
        ));
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// A snapshot's library is named after its package (`chapter_05`, `solution_05`): with 25
/// libraries called `minibox` in one workspace, their files collide in `target/` (cargo issue
/// 6313) and `cargo doc` writes each over the others. `tests/support/build.rs` works out the same
/// name from `CARGO_PKG_NAME`.
pub fn library_name(package: &str) -> String {
    package.replace('-', "_")
}

/// The line that gives a snapshot's library the name `minibox` in a crate that uses it (the
/// binary, each graded test). The build script writes the file: `extern crate chapter_05 as
/// minibox;`, and an `extern crate` at a crate's root puts its name in every module's scope.
const LIBRARY_ALIAS: &str = "include!(concat!(env!(\"OUT_DIR\"), \"/minibox.rs\"));";

/// A snapshot's `src/main.rs` with the alias of its library after the file's doc comment, so
/// that its code says `minibox::` as the source's does, and a starter's `main.rs` is its
/// solution's.
fn with_library_alias(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let at = lines.iter().take_while(|l| l.starts_with("//!")).count();
    let mut out: Vec<&str> = lines[..at].to_vec();
    if at > 0 {
        out.push("");
    }
    out.push("// This package's library, named `minibox` here (the build script writes the line).");
    out.push(LIBRARY_ALIAS);
    out.extend(&lines[at..]);
    out.join("\n") + "\n"
}

fn snapshot_readme(chapter: &Chapter, kind: Kind) -> String {
    let n = chapter.number;
    let package = chapter.package(kind);
    let title = &chapter.title;
    let page = chapter.book_page().display().to_string();
    match kind {
        Kind::Starter => format!(
            "# Chapter {n} starter: {title}\n\n\
             This crate is the whole `minibox` runtime as it stands at chapter {n}: everything from earlier \
             chapters works, and this chapter's parts are stubs (`todo!`) for you to write.\n\n\
             - Read: `{page}` (or the rendered book)\n\
             - Test: `cargo test -p {package}` (or `cargo xtask check {slug}` for a short summary)\n\
             - Run what you have: `cargo run -p {package} -- run -- sh -c 'echo hello'`\n\
             - Stuck: `cargo xtask hint {slug} EXERCISE` (the name in its `todo!`); start over: \
             `cargo xtask reset {slug}`\n",
            slug = chapter.slug
        ),
        Kind::Solution => format!(
            "# Chapter {n} solution: {title}\n\n\
             The reference runtime as it stands at the end of chapter {n}. Generated from `minibox/`: \
             change the source there and run `cargo xtask sync`.\n\n\
             - Test: `cargo test -p {package}`\n"
        ),
    }
}

const MARK: &str = "@generated by `cargo xtask sync`";

fn fingerprint(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn with_header(body: &str, origin: &Path, chapter: u32, slug: &str, kind: Kind) -> String {
    let (open, close) = match origin.extension().and_then(|e| e.to_str()) {
        Some("rs") => ("// ", ""),
        Some("toml") => ("# ", ""),
        _ => ("<!-- ", " -->"),
    };
    let what = match kind {
        Kind::Starter => {
            format!("chapter {chapter} starter: your copy, edit it (`cargo xtask reset {slug}` restores it)")
        }
        Kind::Solution => {
            format!("chapter {chapter} solution: do not edit, change the source and re-run sync")
        }
    };
    format!(
        "{open}{MARK} from {}.{close}\n{open}{what}. fingerprint {}{close}\n{body}",
        origin.display(),
        fingerprint(body)
    )
}

/// What is wrong with one generated file on disk.
#[derive(Debug, PartialEq, Eq)]
pub enum Drift {
    Missing,
    Stale,
    /// Somebody edited it since it was generated (the body no longer matches its fingerprint).
    EditedByHand,
    /// A generated file the generator no longer produces.
    Orphan,
}

/// Split a generated file into its recorded fingerprint and its body.
fn recorded(text: &str) -> Option<(&str, &str)> {
    let mut parts = text.splitn(3, '\n');
    let first = parts.next()?;
    let second = parts.next()?;
    let body = parts.next().unwrap_or("");
    if !first.contains(MARK) {
        return None;
    }
    let fp = second.split("fingerprint ").nth(1)?.get(..16)?;
    Some((fp, body))
}

/// Compare what is on disk under `dirs` with `tree`.
pub fn drift(ws: &Workspace, tree: &Tree, dirs: &[PathBuf]) -> Result<Vec<(PathBuf, Drift)>> {
    let mut found = Vec::new();
    for (path, wanted) in tree {
        match std::fs::read_to_string(ws.path(path)) {
            Err(_) => found.push((path.clone(), Drift::Missing)),
            Ok(text) if text == *wanted => {}
            Ok(text) => {
                let edited = recorded(&text).is_some_and(|(fp, body)| fingerprint(body) != fp);
                found.push((path.clone(), if edited { Drift::EditedByHand } else { Drift::Stale }));
            }
        }
    }
    for dir in dirs {
        for file in walk(&ws.path(dir))? {
            let relative = file.strip_prefix(&ws.root).unwrap_or(&file).to_path_buf();
            if tree.contains_key(&relative) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if recorded(&text).is_some() {
                found.push((relative, Drift::Orphan));
            }
        }
    }
    Ok(found)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.extend(walk(&entry.path())?);
        } else {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Write `tree`, refusing to overwrite a learner's edits unless `force`.
pub fn write(ws: &Workspace, tree: &Tree, dirs: &[PathBuf], force: bool) -> Result<usize> {
    let drifted = drift(ws, tree, dirs)?;
    let edited: Vec<_> = drifted.iter().filter(|(_, d)| *d == Drift::EditedByHand).collect();
    if !edited.is_empty() && !force {
        let list: Vec<String> = edited.iter().map(|(p, _)| format!("  {}", p.display())).collect();
        bail!(
            "these generated files were edited by hand, and sync would overwrite them:\n{}\n\
             To keep a learner's work, use `cargo xtask reset CHAPTER` (it saves a backup first). \
             To overwrite anyway: `cargo xtask sync --force`.",
            list.join("\n")
        );
    }
    for (path, drift) in &drifted {
        let full = ws.path(path);
        if *drift == Drift::Orphan {
            std::fs::remove_file(&full)?;
            continue;
        }
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, &tree[path]).with_context(|| format!("writing {}", full.display()))?;
    }
    Ok(drifted.len())
}

/// Where generated crates live: a chapter's crate left behind when the list shrinks is an orphan.
pub fn generated_dirs(_ws: &Workspace) -> Result<Vec<PathBuf>> {
    Ok(vec![PathBuf::from("chapters"), PathBuf::from("solutions")])
}

/// `cargo xtask sync [--check] [--force]`
pub fn run(ws: &Workspace, check: bool, force: bool) -> Result<()> {
    let tree = generate(ws)?;
    let dirs = generated_dirs(ws)?;
    if check {
        let drifted = drift(ws, &tree, &dirs)?;
        if drifted.is_empty() {
            println!("sync: {} generated files are current", tree.len());
            return Ok(());
        }
        for (path, drift) in &drifted {
            println!("  {:<14} {}", format!("{drift:?}").to_lowercase(), path.display());
        }
        bail!("{} generated files are not current: run `cargo xtask sync`", drifted.len());
    }
    let changed = write(ws, &tree, &dirs, force)?;
    println!("sync: {changed} files written, {} current", tree.len() - changed.min(tree.len()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chapters_pages_name_its_own_packages() {
        let chapters: Vec<Chapter> =
            fixtures::chapters::parse("a A\nb B\n").unwrap().into_iter().map(Chapter::from).collect();
        let line = "{{#include ../../../../solutions/solution-04/src/a.rs:x}}, `cargo test -p chapter-01`, chapter-x";
        assert_eq!(
            own_packages(line, &chapters[1]),
            "{{#include ../../../../solutions/solution-02/src/a.rs:x}}, `cargo test -p chapter-02`, chapter-x",
            "every package is the chapter's own"
        );
    }

    #[test]
    fn a_chapters_sub_pages_move_with_it() {
        let chapters: Vec<Chapter> = fixtures::chapters::parse("process P\ndaemon D\n")
            .unwrap()
            .into_iter()
            .map(Chapter::from)
            .collect();
        let summary = "# Summary\n- [Chapter 1: D](chapters/daemon/index.md)\n  - [The API](chapters/daemon/api.md)\n\
                       - [Chapter 2: P](chapters/process/index.md)\n\n# Appendices\n";
        let lines = summary_lines(summary.lines().map(str::to_string).collect(), &chapters).unwrap();
        assert_eq!(
            lines,
            [
                "# Summary",
                "- [Chapter 1: P](chapters/process/index.md)",
                "- [Chapter 2: D](chapters/daemon/index.md)",
                "    - [The API](chapters/daemon/api.md)",
                "",
                "# Appendices"
            ],
            "the manifest's order, the sub-page under its chapter"
        );
    }

    #[test]
    fn links_to_a_chapter_carry_its_number() {
        let chapters: Vec<Chapter> = fixtures::chapters::parse("process P\nrootfs R\n")
            .unwrap()
            .into_iter()
            .map(Chapter::from)
            .collect();
        let page = "see [chapter 7](../rootfs/index.md#x), [Chapter 9: R](chapters/process/index.md) and [a](b.md)\n\
                    [chapters 5](../process/index.md) and [6](../rootfs/index.md), [Chapter\n8](rootfs/hints.md)";
        assert_eq!(
            renumber_links(page, &chapters),
            "see [chapter 2](../rootfs/index.md#x), [Chapter 1: R](chapters/process/index.md) and [a](b.md)\n\
             [chapters 1](../process/index.md) and [2](../rootfs/index.md), [Chapter\n2](rootfs/hints.md)",
            "each link's number is its target's"
        );
    }

    #[test]
    fn a_snapshots_binary_names_its_library_minibox() {
        let main = "//! The command.\n//! More.\n\nfn main() {\n    minibox::cli::main();\n}\n";
        let out = with_library_alias(main);
        assert!(out.starts_with("//! The command.\n//! More.\n\n// "), "after the doc comment: {out}");
        assert!(
            out.contains(&format!("\n{LIBRARY_ALIAS}\n\nfn main() {{\n    minibox::cli::main();")),
            "{out}"
        );
        assert_eq!(library_name("solution-05"), "solution_05", "cargo's default name for the library");
    }

    #[test]
    fn header_records_a_fingerprint_of_the_body() {
        let text =
            with_header("fn main() {}\n", Path::new("minibox/src/main.rs"), 2, "namespaces", Kind::Starter);
        let (fp, body) = recorded(&text).expect("a generated header");
        assert_eq!(body, "fn main() {}\n");
        assert_eq!(fp, fingerprint(body));
        let edited = text.replace("fn main() {}", "fn main() { todo!() }");
        let (fp, body) = recorded(&edited).unwrap();
        assert_ne!(fp, fingerprint(body), "an edit must change the body's fingerprint");
    }

    #[test]
    fn every_file_of_the_source_reaches_the_snapshots() {
        let root = std::env::temp_dir().join(format!("xtask-sync-test-{}", std::process::id()));
        let file = |path: &str, text: &str| {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        };
        file("minibox/Cargo.toml", "[package]\nname = \"minibox\"\n");
        file("minibox/src/lib.rs", "//@ begin process\npub fn f() {}\n//@ end process\n");
        let profile = "{ \"defaultAction\": \"SCMP_ACT_ERRNO\" }\n";
        file("minibox/seccomp/default.json", profile);
        file("minibox/target/debug/junk", "build output");
        file("minibox/src/.lib.rs.swp", "an editor's state");
        file("chapters.txt", "process Process execution\n");
        file("tests/process.rs", "");
        let ws = Workspace { root: root.clone() };
        let source = Source::load(&ws).unwrap();
        let chapter = ws.chapter(1).unwrap();
        let tree = generate_crate(&ws, &source, &chapter, Kind::Starter).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        let copied = tree.get(Path::new("chapters/chapter-01/seccomp/default.json"));
        assert_eq!(copied.map(String::as_str), Some(profile), "a data file is copied as it is: {tree:?}");
        let left_out =
            |p: &PathBuf| p.to_string_lossy().contains("target") || p.to_string_lossy().contains(".swp");
        assert!(!tree.keys().any(left_out), "build output and hidden files stay out: {tree:?}");
        let lib = &tree[Path::new("chapters/chapter-01/src/lib.rs")];
        assert!(
            lib.contains(MARK) && lib.contains("pub fn f() {}"),
            "Rust files are still cut and marked: {lib}"
        );
    }

    #[test]
    fn manifest_is_renamed_and_gets_the_graded_tests() {
        let source = "[package]\nname = \"minibox\"\n\n[lib]\nname = \"minibox\"\n\n[[bin]]\nname = \"minibox\"\npath = \"src/main.rs\"\n";
        let chapters: Vec<Chapter> = fixtures::chapters::parse("process P\nnamespaces N\n")
            .unwrap()
            .into_iter()
            .map(Chapter::from)
            .collect();
        let (ch1, ch2) = (&chapters[0], &chapters[1]);
        let out = snapshot_manifest(source, "chapter-01", &[ch1], Some(1));
        assert!(out.contains("[package]\nname = \"chapter-01\"\n"), "{out}");
        assert!(out.contains("[[bin]]\nname = \"chapter-01\"\n"), "{out}");
        assert!(out.contains("[lib]\nname = \"chapter_01\"\n"), "a library of its own name: {out}");
        assert!(out.contains("build = \"../../tests/support/build.rs\""), "{out}");
        assert!(
            out.contains("[[test]]\nname = \"ch01_process\"\npath = \"../../tests/process.rs\""),
            "{out}"
        );
        // A later starter runs its own chapter's tests first; a solution keeps the plain names.
        let starter = snapshot_manifest(source, "chapter-02", &[ch1, ch2], Some(2));
        assert!(starter.contains("name = \"earlier_ch01_process\"\npath = \"../../tests/process.rs\""));
        assert!(starter.contains("name = \"ch02_namespaces\"\n"), "{starter}");
        let solution = snapshot_manifest(source, "solution-02", &[ch1, ch2], None);
        assert!(solution.contains("name = \"ch01_process\"\n"), "{solution}");
    }
}
