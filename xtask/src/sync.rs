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
        let (mut files, mut data) = (Vec::new(), Vec::new());
        for path in paths {
            let shown = Path::new("minibox").join(&path);
            let text = std::fs::read_to_string(ws.path(&shown))
                .with_context(|| format!("reading {} (sync copies text files only)", shown.display()))?;
            if comment_leader(&path.to_string_lossy()).is_some() {
                files.push((path, TaggedFile::parse(&shown.to_string_lossy(), &text)?));
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

    pub fn max_chapter(&self) -> u32 {
        self.files.iter().map(|(_, f)| f.max_chapter).max().unwrap_or(1)
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
        }
        let origin = Path::new("minibox").join(path);
        tree.insert(dir.join(path), with_header(&body, &origin, chapter.number, kind));
    }
    for (path, text) in &source.data {
        tree.insert(dir.join(path), text.clone());
    }
    let readme = snapshot_readme(ws, chapter, kind);
    tree.insert(dir.join("README.md"), with_header(&readme, Path::new("minibox"), chapter.number, kind));
    Ok(tree)
}

/// Everything `sync` writes.
pub fn generate(ws: &Workspace) -> Result<Tree> {
    let source = Source::load(ws)?;
    let chapters = ws.chapters()?;
    let last = chapters.last().map_or(0, |c| c.number);
    if source.max_chapter() > last {
        bail!(
            "the source has tags for chapter {} but tests/ has graded tests up to chapter {last} only: \
             add tests/ch{:02}_<topic>.rs",
            source.max_chapter(),
            source.max_chapter()
        );
    }
    let mut tree = Tree::new();
    for chapter in &chapters {
        for kind in [Kind::Solution, Kind::Starter] {
            tree.extend(generate_crate(ws, &source, chapter, kind)?);
        }
    }
    tree.insert(PathBuf::from("Cargo.toml"), workspace_manifest(ws, &chapters)?);
    Ok(tree)
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
            "[[test]]\nname = \"{name}\"\npath = \"../../tests/{}.rs\"\n\n",
            chapter.test_name
        ));
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn snapshot_readme(ws: &Workspace, chapter: &Chapter, kind: Kind) -> String {
    let n = chapter.number;
    let package = chapter.package(kind);
    let title = chapter.title(ws);
    let page = chapter.book_page().display().to_string();
    match kind {
        Kind::Starter => format!(
            "# Chapter {n} starter: {title}\n\n\
             This crate is the whole `minibox` runtime as it stands at chapter {n}: everything from earlier \
             chapters works, and this chapter's parts are stubs (`todo!`) for you to write.\n\n\
             - Read: `{page}` (or the rendered book)\n\
             - Test: `cargo test -p {package}` (or `cargo xtask check {n}` for a short summary)\n\
             - Run what you have: `cargo run -p {package} -- run -- sh -c 'echo hello'`\n\
             - Stuck: `cargo xtask hint {n}`; start over: `cargo xtask reset {n}`\n"
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

fn with_header(body: &str, origin: &Path, chapter: u32, kind: Kind) -> String {
    let (open, close) = match origin.extension().and_then(|e| e.to_str()) {
        Some("rs") => ("// ", ""),
        Some("toml") => ("# ", ""),
        _ => ("<!-- ", " -->"),
    };
    let what = match kind {
        Kind::Starter => format!(
            "chapter {chapter} starter: your copy, edit it (`cargo xtask reset {chapter}` restores it)"
        ),
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
             To keep a learner's work, use `cargo xtask reset N` (it saves a backup first). \
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

pub fn generated_dirs(ws: &Workspace) -> Result<Vec<PathBuf>> {
    Ok(ws.chapters()?.iter().flat_map(|c| [c.dir(Kind::Starter), c.dir(Kind::Solution)]).collect())
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
    fn header_records_a_fingerprint_of_the_body() {
        let text = with_header("fn main() {}\n", Path::new("minibox/src/main.rs"), 2, Kind::Starter);
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
        file("minibox/src/lib.rs", "//@ begin 1\npub fn f() {}\n//@ end\n");
        let profile = "{ \"defaultAction\": \"SCMP_ACT_ERRNO\" }\n";
        file("minibox/seccomp/default.json", profile);
        file("minibox/target/debug/junk", "build output");
        file("minibox/src/.lib.rs.swp", "an editor's state");
        file("tests/ch01_process.rs", "");
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
        let source = "[package]\nname = \"minibox\"\n\n[[bin]]\nname = \"minibox\"\npath = \"src/main.rs\"\n";
        let ch1 = Chapter { number: 1, test_name: "ch01_process".into() };
        let out = snapshot_manifest(source, "chapter-01", &[&ch1], Some(1));
        assert!(out.contains("[package]\nname = \"chapter-01\"\n"), "{out}");
        assert!(out.contains("[[bin]]\nname = \"chapter-01\"\n"), "{out}");
        assert!(out.contains("build = \"../../tests/support/build.rs\""), "{out}");
        assert!(out.contains("[[test]]\nname = \"ch01_process\"\npath = \"../../tests/ch01_process.rs\""));
        // A later starter runs its own chapter's tests first; a solution keeps the plain names.
        let ch2 = Chapter { number: 2, test_name: "ch02_namespaces".into() };
        let starter = snapshot_manifest(source, "chapter-02", &[&ch1, &ch2], Some(2));
        assert!(starter.contains("name = \"earlier_ch01_process\"\npath = \"../../tests/ch01_process.rs\""));
        assert!(starter.contains("name = \"ch02_namespaces\"\n"), "{starter}");
        let solution = snapshot_manifest(source, "solution-02", &[&ch1, &ch2], None);
        assert!(solution.contains("name = \"ch01_process\"\n"), "{solution}");
    }
}
