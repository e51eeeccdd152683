//! The chapter tags and the cutter that turns the tagged source into one chapter's snapshot.
//!
//! The finished runtime in `minibox/` is the only copy of the reference code. Its lines carry
//! tags, written as whole-line comments (`//@` in Rust, `#@` in TOML):
//!
//! ```text
//! //@ begin C          the lines up to the matching `end` appear from chapter C on
//! //@ exercise C NAME  the learner writes these lines in chapter C; later chapters have them solved
//! //@ stub             (inside an exercise) what chapter C's starter has instead, as `//|` lines
//! //@ until C          lines that exist before chapter C only (code a later chapter replaces),
//!                      kept as `//|` lines so that the finished runtime does not compile them
//! //@ end C [NAME]     closes the innermost open tag, named as it was opened
//! ```
//!
//! C is a chapter's slug from `chapters.txt` (`//@ begin cgroups`), never its number, so that a
//! chapter can be inserted or moved without touching the tags. Tags nest; an inner tag may not
//! start before the chapter of the tag around it. A `//|` line is written out as the code after
//! `//| `, indented like the comment; in a stub, `{chapter}` is written as the exercise's chapter
//! number (for the `todo!` message's citation). A file whose snapshot would be empty is not
//! written at all, so a module that a chapter introduces is wrapped in `begin C`.
//!
//! An `end` repeats what it closes (`//@ end rootfs`, `//@ end network connect_to_bridge`), so that
//! a region's extent can be read without counting, and a misplaced `end` is an error at its line.
//! An `end` may not fall inside or right after a doc comment that its region did not open in:
//! the comment belongs to the item below it, and a region of code that takes the comment with
//! it hides where it really ends (tag the comment on its own).

use std::fmt;

/// Which snapshot to cut: the learner's starter or the reference solution of a chapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshot {
    Starter(u32),
    Solution(u32),
}

impl Snapshot {
    pub fn chapter(self) -> u32 {
        match self {
            Snapshot::Starter(n) | Snapshot::Solution(n) => n,
        }
    }
}

/// A malformed tag, with the place it was found.
#[derive(Debug, PartialEq, Eq)]
pub struct TagError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for TagError {}

/// One exercise region, as found in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exercise {
    pub chapter: u32,
    pub name: String,
    pub file: String,
    pub line: usize,
}

#[derive(Clone, Debug)]
enum Region {
    Begin(u32),
    Exercise { chapter: u32, in_stub: bool },
    Until(u32),
}

impl Region {
    /// The tag that opens it.
    fn kind(&self) -> &'static str {
        match self {
            Region::Begin(_) => "begin",
            Region::Exercise { .. } => "exercise",
            Region::Until(_) => "until",
        }
    }

    /// The chapter from which the lines of this region can appear.
    fn first_chapter(&self) -> u32 {
        match self {
            Region::Begin(n) | Region::Exercise { chapter: n, .. } => *n,
            Region::Until(_) => 1,
        }
    }

    /// Are the lines here commented-out code (`//|`) rather than live code?
    fn holds_commented_code(&self) -> bool {
        matches!(self, Region::Until(_) | Region::Exercise { in_stub: true, .. })
    }

    fn keeps_line(&self, snapshot: Snapshot) -> bool {
        let c = snapshot.chapter();
        match *self {
            Region::Begin(n) => c >= n,
            Region::Until(n) => c < n,
            Region::Exercise { chapter, in_stub } => {
                let learner_writes_it = snapshot == Snapshot::Starter(chapter);
                if in_stub { learner_writes_it } else { c >= chapter && !learner_writes_it }
            }
        }
    }
}

/// The comment leader of tags in a file, by its name: `//` for Rust, `#` for TOML.
pub fn comment_leader(path: &str) -> Option<&'static str> {
    if path.ends_with(".rs") {
        Some("//")
    } else if path.ends_with(".toml") {
        Some("#")
    } else {
        None
    }
}

/// A source file, parsed once, ready to be cut for any chapter.
pub struct TaggedFile {
    name: String,
    lines: Vec<Line>,
    pub exercises: Vec<Exercise>,
}

struct Line {
    /// The regions open around this line, outermost first.
    regions: Vec<Region>,
    text: String,
}

impl TaggedFile {
    /// Parse `source`; `chapters` are the chapters' slugs in order (the first is chapter 1).
    pub fn parse(file_name: &str, source: &str, chapters: &[String]) -> Result<TaggedFile, TagError> {
        let name = file_name;
        let leader = comment_leader(name).unwrap_or("//");
        let tag = format!("{leader}@");
        let code = format!("{leader}|");
        let err = |line: usize, message: String| TagError { file: name.to_string(), line, message };

        // The open regions, with their line and the words their `end` must repeat.
        let mut open: Vec<(Region, usize, Vec<String>)> = Vec::new();
        let all: Vec<&str> = source.lines().collect();
        let is_doc = |index: usize| {
            all.get(index)
                .map(|l| l.trim_start())
                .is_some_and(|l| l.starts_with("///") || l.starts_with("//!"))
        };
        let mut lines = Vec::new();
        let mut exercises = Vec::new();

        for (index, text) in source.lines().enumerate() {
            let number = index + 1;
            let trimmed = text.trim_start();
            if let Some(directive) = trimmed.strip_prefix(&tag) {
                let words: Vec<&str> = directive.split_whitespace().collect();
                let chapter = |position: usize| -> Result<u32, TagError> {
                    let word = words
                        .get(position)
                        .ok_or_else(|| err(number, format!("`{}` needs a chapter", words[0])))?;
                    match chapters.iter().position(|slug| slug == word) {
                        Some(index) => Ok(index as u32 + 1),
                        None => Err(err(
                            number,
                            format!("`{word}` is not a chapter of chapters.txt ({})", chapters.join(", ")),
                        )),
                    }
                };
                let enclosing = open.last().map(|(region, _, _)| region.clone());
                if enclosing.as_ref().is_some_and(Region::holds_commented_code)
                    && !matches!(words.first(), Some(&"end") | Some(&"stub"))
                {
                    return Err(err(number, "no tag may open inside `until` or `stub` lines".into()));
                }
                match words.first().copied() {
                    Some("begin") | Some("exercise") | Some("until") => {
                        let n = chapter(1)?;
                        let region = match words[0] {
                            "begin" => Region::Begin(n),
                            "until" => Region::Until(n),
                            _ => {
                                let name = words.get(2).ok_or_else(|| {
                                    err(number, "`exercise` needs a chapter and a name".into())
                                })?;
                                exercises.push(Exercise {
                                    chapter: n,
                                    name: name.to_string(),
                                    file: file_name.to_string(),
                                    line: number,
                                });
                                Region::Exercise { chapter: n, in_stub: false }
                            }
                        };
                        if words.len() > if words[0] == "exercise" { 3 } else { 2 } {
                            return Err(err(number, format!("unexpected words after `{}`", words[0])));
                        }
                        if let Some(outer) = open.iter().map(|(r, _, _)| r.first_chapter()).max() {
                            let starts = match region {
                                Region::Until(n) => n.saturating_sub(1),
                                ref other => other.first_chapter(),
                            };
                            if starts < outer {
                                return Err(err(
                                    number,
                                    format!(
                                        "this tag is for `{}`, inside a region that starts in the later `{}`",
                                        chapters[n as usize - 1],
                                        chapters[outer as usize - 1]
                                    ),
                                ));
                            }
                        }
                        let closing = words[1..].iter().map(|w| w.to_string()).collect();
                        open.push((region, number, closing));
                    }
                    Some("stub") => match open.last_mut() {
                        Some((Region::Exercise { in_stub, .. }, _, _)) if !*in_stub => *in_stub = true,
                        Some((Region::Exercise { .. }, _, _)) => {
                            return Err(err(number, "a second `stub` in one exercise".into()));
                        }
                        _ => return Err(err(number, "`stub` outside an `exercise`".into())),
                    },
                    Some("end") => {
                        let Some((region, opened, closing)) = open.pop() else {
                            return Err(err(number, "`end` with no open tag".into()));
                        };
                        let kind = region.kind();
                        if words[1..] != closing.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                            let wanted = closing.join(" ");
                            return Err(err(
                                number,
                                format!(
                                    "this `end` closes `{kind} {wanted}` (line {opened}): write `end {wanted}`"
                                ),
                            ));
                        }
                        // A doc comment belongs to the item below it: a region that ends right
                        // after one has cut it from its item.
                        if is_doc(index - 1) && !is_doc(opened) {
                            return Err(err(
                                number,
                                format!(
                                    "`{kind} {}` (line {opened}) closes inside a doc comment that it did not \
                                     open in: close it above the comment (tag the comment on its own)",
                                    closing.join(" ")
                                ),
                            ));
                        }
                    }
                    Some(other) => {
                        return Err(err(
                            number,
                            format!("unknown tag `{other}` (known: begin, exercise, stub, until, end)"),
                        ));
                    }
                    None => return Err(err(number, "an empty tag".into())),
                }
                continue;
            }

            let regions: Vec<Region> = open.iter().map(|(r, _, _)| r.clone()).collect();
            if regions.last().is_some_and(Region::holds_commented_code) && !trimmed.starts_with(&code) {
                return Err(err(
                    number,
                    format!("lines inside `until` or `stub` must be commented code starting with `{code}`"),
                ));
            }
            lines.push(Line { regions, text: text.to_string() });
        }

        if let Some((region, line, _)) = open.last() {
            return Err(err(*line, format!("`{}` is never closed with `end`", region.kind())));
        }
        Ok(TaggedFile { name: name.to_string(), lines, exercises })
    }

    /// The file as it stands in one chapter's snapshot; `None` when it has no lines there.
    pub fn cut(&self, snapshot: Snapshot) -> Option<String> {
        let leader = comment_leader(&self.name).unwrap_or("//");
        let code = format!("{leader}|");
        let mut out: Vec<String> = Vec::new();
        for line in &self.lines {
            if !line.regions.iter().all(|r| r.keeps_line(snapshot)) {
                continue;
            }
            let is_anchor = line.text.contains("ANCHOR:") || line.text.contains("ANCHOR_END:");
            if is_anchor && matches!(snapshot, Snapshot::Starter(_)) {
                continue; // book anchors are for the reference; the starter stays quiet
            }
            let text = if line.regions.last().is_some_and(Region::holds_commented_code) {
                let indent = &line.text[..line.text.len() - line.text.trim_start().len()];
                let rest = line.text.trim_start()[code.len()..]
                    .strip_prefix(' ')
                    .unwrap_or_else(|| &line.text.trim_start()[code.len()..]);
                let rest = match line.regions.last() {
                    Some(Region::Exercise { chapter, .. }) => rest.replace("{chapter}", &chapter.to_string()),
                    _ => rest.to_string(),
                };
                if rest.is_empty() { String::new() } else { format!("{indent}{rest}") }
            } else {
                line.text.clone()
            };
            // Cutting a region out can leave two blank lines together; keep one, as rustfmt does.
            let blank = text.trim().is_empty();
            if blank && out.last().is_none_or(|l| l.trim().is_empty()) {
                continue;
            }
            out.push(text);
        }
        while out.last().is_some_and(|l| l.trim().is_empty()) {
            out.pop();
        }
        let meaningful = out.iter().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with(leader)
        });
        meaningful.then(|| out.join("\n") + "\n")
    }
}

/// Where one exercise region's lines are in a source text, as 0-based line indexes: its
/// reference lines (between the `exercise` tag and its `stub`, or its `end` when it has no stub)
/// and its stub's lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExerciseLines {
    pub reference: std::ops::Range<usize>,
    pub stub: std::ops::Range<usize>,
}

/// Find exercise `name` of chapter `slug` in `source` (a file whose tags start with `leader`).
/// `None` when it is not there; the file is assumed to parse (see [`TaggedFile::parse`]).
pub fn find_exercise(source: &str, leader: &str, slug: &str, name: &str) -> Option<ExerciseLines> {
    let tag = format!("{leader}@");
    let words = |line: &str| -> Option<Vec<String>> {
        let directive = line.trim_start().strip_prefix(&tag)?;
        Some(directive.split_whitespace().map(str::to_string).collect())
    };
    let lines: Vec<&str> = source.lines().collect();
    let wanted = ["exercise".to_string(), slug.to_string(), name.to_string()];
    let start = lines.iter().position(|l| words(l).is_some_and(|w| w == wanted))?;
    let (mut depth, mut stub) = (0usize, None);
    for (index, line) in lines.iter().enumerate().skip(start + 1) {
        let Some(words) = words(line) else { continue };
        match words.first().map(String::as_str) {
            Some("begin" | "exercise" | "until") => depth += 1,
            Some("stub") if depth == 0 => stub = Some(index),
            Some("end") if depth == 0 => {
                let reference = start + 1..stub.unwrap_or(index);
                let stub = stub.map_or(index..index, |at| at + 1..index);
                return Some(ExerciseLines { reference, stub });
            }
            Some("end") => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
fn always() {}
//@ begin two
fn from_two() {}
//@ end two
fn run() {
    //@ exercise one run
    real_code();
    //@ begin three
    more_in_three();
    //@ end three
    //@ stub
    //| todo!(\"chapter {chapter}: write run\")
    //@ end one run
}
//@ until three
//| fn old() {}
//@ end three
";

    fn chapters() -> Vec<String> {
        ["one", "two", "three", "four"].map(String::from).to_vec()
    }

    fn parse(name: &str, source: &str) -> Result<TaggedFile, TagError> {
        TaggedFile::parse(name, source, &chapters())
    }

    fn cut(snapshot: Snapshot) -> String {
        parse("x.rs", SOURCE).unwrap().cut(snapshot).unwrap()
    }

    #[test]
    fn starter_of_the_exercise_chapter_has_the_stub() {
        let text = cut(Snapshot::Starter(1));
        assert!(
            text.contains("    todo!(\"chapter 1: write run\")"),
            "the stub names its chapter's number: {text}"
        );
        assert!(!text.contains("real_code"), "{text}");
        assert!(!text.contains("from_two"), "{text}");
        assert!(text.contains("fn old() {}"), "{text}");
    }

    #[test]
    fn solution_and_later_starters_have_the_code() {
        for snapshot in [Snapshot::Solution(1), Snapshot::Starter(2), Snapshot::Solution(2)] {
            let text = cut(snapshot);
            assert!(text.contains("real_code();"), "{snapshot:?}: {text}");
            assert!(!text.contains("todo!"), "{snapshot:?}: {text}");
            assert!(!text.contains("more_in_three"), "{snapshot:?}: {text}");
        }
    }

    #[test]
    fn until_removes_replaced_code() {
        let text = cut(Snapshot::Solution(3));
        assert!(!text.contains("fn old"), "{text}");
        assert!(text.contains("more_in_three();"), "{text}");
        assert!(!text.contains("//@"), "{text}");
    }

    #[test]
    fn exercises_are_listed() {
        let file = parse("x.rs", SOURCE).unwrap();
        assert_eq!(file.exercises.len(), 1);
        assert_eq!(file.exercises[0].name, "run");
        assert_eq!(file.exercises[0].chapter, 1);
        assert_eq!(file.exercises[0].line, 6);
    }

    #[test]
    fn a_file_with_nothing_in_a_chapter_is_not_written() {
        let file = parse("m.rs", "//@ begin four\n//! a module\nfn f() {}\n//@ end four\n").unwrap();
        assert_eq!(file.cut(Snapshot::Solution(3)), None);
        assert!(file.cut(Snapshot::Solution(4)).is_some());
    }

    #[test]
    fn toml_uses_hash_tags() {
        let file = parse("Cargo.toml", "a = 1\n#@ begin four\nb = 2\n#@ end four\n").unwrap();
        assert_eq!(file.cut(Snapshot::Solution(3)).unwrap(), "a = 1\n");
        assert_eq!(file.cut(Snapshot::Solution(4)).unwrap(), "a = 1\nb = 2\n");
    }

    fn error_of(source: &str) -> String {
        parse("bad.rs", source).err().expect("the source should be rejected").to_string()
    }

    #[test]
    fn malformed_tags_are_rejected_with_file_and_line() {
        assert_eq!(error_of("a\n//@ end\n"), "bad.rs:2: `end` with no open tag");
        assert_eq!(error_of("//@ begin\n"), "bad.rs:1: `begin` needs a chapter");
        assert_eq!(
            error_of("//@ begin 2\n//@ end 2\n"),
            "bad.rs:1: `2` is not a chapter of chapters.txt (one, two, three, four)"
        );
        assert_eq!(error_of("x\n//@ begin two\n"), "bad.rs:2: `begin` is never closed with `end`");
        assert_eq!(error_of("//@ stub\n"), "bad.rs:1: `stub` outside an `exercise`");
        assert!(error_of("//@ frobnicate 2\n").starts_with("bad.rs:1: unknown tag `frobnicate`"));
        assert_eq!(
            error_of("//@ begin three\n//@ exercise two early\n//@ end two early\n//@ end three\n"),
            "bad.rs:2: this tag is for `two`, inside a region that starts in the later `three`"
        );
        assert!(
            error_of("//@ until three\nlive_code();\n//@ end three\n").starts_with("bad.rs:2: lines inside")
        );
        assert_eq!(
            error_of("//@ exercise two\n//@ end two\n"),
            "bad.rs:1: `exercise` needs a chapter and a name"
        );
        assert_eq!(
            error_of("//@ exercise two a\n//@ stub\n//@ stub\n//@ end two a\n"),
            "bad.rs:3: a second `stub` in one exercise"
        );
        assert_eq!(
            error_of("//@ begin two\n//@ begin three\nx();\n//@ end two\n//@ end three\n"),
            "bad.rs:4: this `end` closes `begin three` (line 2): write `end three`"
        );
        assert_eq!(
            error_of("//@ exercise two a\nx();\n//@ end\n"),
            "bad.rs:3: this `end` closes `exercise two a` (line 1): write `end two a`"
        );
    }

    #[test]
    fn a_region_may_not_close_inside_a_doc_comment_it_did_not_open_in() {
        let split =
            "//@ begin two\nfn a() {}\n/// b's first line\n//@ end two\n/// b's second line\nfn b() {}\n";
        assert_eq!(
            error_of(split),
            "bad.rs:4: `begin two` (line 1) closes inside a doc comment that it did not open in: close it above the comment (tag the comment on its own)"
        );
        // A region inside one doc comment, adding a paragraph from a later chapter, is fine.
        let inside = "/// a\n//@ begin two\n/// more, from two\n//@ end two\n/// the rest\nfn a() {}\n";
        assert!(parse("ok.rs", inside).is_ok(), "a region within one doc comment");
    }

    #[test]
    fn an_exercise_region_is_found_with_its_stub() {
        let found = find_exercise(SOURCE, "//", "one", "run").expect("the exercise `run`");
        // Lines 7 to 10 (1-based) are the reference, nested `begin 3` included; line 12 the stub.
        assert_eq!(found, ExerciseLines { reference: 6..10, stub: 11..12 });
        assert_eq!(find_exercise(SOURCE, "//", "two", "run"), None, "the chapter is part of the name");
    }
}
