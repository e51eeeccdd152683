//! Where things are in the workshop, and which chapters exist.
//!
//! Chapters are discovered, never listed by hand: chapter N exists when `tests/chNN_<topic>.rs`
//! (its graded tests) exists. Everything else about it is derived from that number.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub struct Workspace {
    pub root: PathBuf,
}

/// The two kinds of generated crate per chapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Starter,
    Solution,
}

#[derive(Clone, Debug)]
pub struct Chapter {
    pub number: u32,
    /// The graded test target, for example `ch03_rootfs`.
    pub test_name: String,
}

impl Workspace {
    pub fn locate() -> Result<Workspace> {
        // xtask lives one level below the workspace root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent directory")?
            .to_path_buf();
        Ok(Workspace { root })
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    pub fn chapters(&self) -> Result<Vec<Chapter>> {
        let dir = self.path("tests");
        let mut chapters = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".rs") else { continue };
            let Some(number) = stem.strip_prefix("ch").and_then(|s| s.get(..2)) else { continue };
            let Ok(number) = number.parse::<u32>() else { continue };
            if chapters.iter().any(|c: &Chapter| c.number == number) {
                bail!("two graded test files for chapter {number} in tests/");
            }
            chapters.push(Chapter { number, test_name: stem.to_string() });
        }
        chapters.sort_by_key(|c| c.number);
        Ok(chapters)
    }

    pub fn chapter(&self, number: u32) -> Result<Chapter> {
        let chapters = self.chapters()?;
        let last = chapters.last().map_or(0, |c| c.number);
        chapters
            .into_iter()
            .find(|c| c.number == number)
            .with_context(|| format!("there is no chapter {number}: chapters are 1 to {last}"))
    }
}

impl Chapter {
    pub fn package(&self, kind: Kind) -> String {
        match kind {
            Kind::Starter => format!("chapter-{:02}", self.number),
            Kind::Solution => format!("solution-{:02}", self.number),
        }
    }

    /// The crate's directory, relative to the workspace root.
    pub fn dir(&self, kind: Kind) -> PathBuf {
        match kind {
            Kind::Starter => PathBuf::from("chapters").join(self.package(kind)),
            Kind::Solution => PathBuf::from("solutions").join(self.package(kind)),
        }
    }

    /// The chapter's book page; its directory mirrors `chapters/chapter-NN`.
    pub fn book_page(&self) -> PathBuf {
        PathBuf::from(format!("book/src/chapters/chapter-{:02}/index.md", self.number))
    }

    /// The chapter's hints: one file, shown by the book and by `cargo xtask hint`.
    pub fn hints_file(&self) -> PathBuf {
        PathBuf::from(format!("book/src/chapters/chapter-{:02}/hints.md", self.number))
    }

    /// The chapter's title: the first heading of its book page.
    pub fn title(&self, ws: &Workspace) -> String {
        std::fs::read_to_string(ws.path(self.book_page()))
            .ok()
            .and_then(|page| page.lines().find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_string())))
            .unwrap_or_else(|| format!("Chapter {}", self.number))
    }
}
