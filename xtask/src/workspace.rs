//! Where things are in the workshop, and which chapters exist.
//!
//! The chapters are those of `chapters.txt` (see `fixtures::chapters`): a slug names each one's
//! files, and its place in the list gives its number, from which its packages are named.

use anyhow::{Context, Result};
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
    /// Its name in tags and file names, for example `rootfs`.
    pub slug: String,
    pub title: String,
    /// The graded test target, for example `ch03_rootfs` (built from `tests/rootfs.rs`): the
    /// number keeps cargo's order of targets the order of the chapters.
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
        let manifest = self.path("chapters.txt");
        let text =
            std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let listed = fixtures::chapters::parse(&text)?;
        Ok(listed.into_iter().map(Chapter::from).collect())
    }

    pub fn chapter(&self, number: u32) -> Result<Chapter> {
        let chapters = self.chapters()?;
        let last = chapters.last().map_or(0, |c| c.number);
        chapters
            .into_iter()
            .find(|c| c.number == number)
            .with_context(|| format!("there is no chapter {number}: chapters are 1 to {last}"))
    }

    /// A chapter named by its number (`3`) or its slug (`rootfs`), as a learner may type it.
    pub fn chapter_named(&self, name: &str) -> Result<Chapter> {
        if let Ok(number) = name.parse::<u32>() {
            return self.chapter(number);
        }
        let chapters = self.chapters()?;
        let slugs: Vec<&str> = chapters.iter().map(|c| c.slug.as_str()).collect();
        let known = slugs.join(", ");
        chapters
            .iter()
            .find(|c| c.slug == name)
            .cloned()
            .with_context(|| format!("there is no chapter `{name}`: give a number or one of {known}"))
    }
}

impl From<fixtures::chapters::Chapter> for Chapter {
    fn from(c: fixtures::chapters::Chapter) -> Chapter {
        let test_name = format!("ch{:02}_{}", c.number, c.slug.replace('-', "_"));
        Chapter { number: c.number, slug: c.slug, title: c.title, test_name }
    }
}

impl Chapter {
    /// Its graded tests, relative to the workspace root.
    pub fn test_file(&self) -> PathBuf {
        PathBuf::from(format!("tests/{}.rs", self.slug))
    }

    /// Its wrong variants' directory, relative to the workspace root.
    pub fn wrong_dir(&self) -> PathBuf {
        PathBuf::from(format!("tests/wrong/{}", self.slug))
    }

    /// A book citation of a section of this chapter, as learners read it.
    pub fn cite(&self, section: &str) -> String {
        format!("Chapter {}, \"{section}\"", self.number)
    }

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

    /// The chapter's book page.
    pub fn book_page(&self) -> PathBuf {
        PathBuf::from(format!("book/src/chapters/{}/index.md", self.slug))
    }

    /// The chapter's hints: one file, shown by the book and by `cargo xtask hint`.
    pub fn hints_file(&self) -> PathBuf {
        PathBuf::from(format!("book/src/chapters/{}/hints.md", self.slug))
    }

    /// The chapter's heading, in the book's list and on its page: `Chapter 3: Filesystem isolation`.
    pub fn heading(&self) -> String {
        format!("Chapter {}: {}", self.number, self.title)
    }
}
