//! Hints: one file per chapter (`book/src/chapters/SLUG/hints.md`), shown by the book as
//! collapsed sections and by `cargo xtask hint N` one tier at a time.
//!
//! Each tier is an HTML `<details>` block whose `<summary>` names it:
//!
//! ```text
//! <details>
//! <summary>Hint 1: where to start</summary>
//!
//! Markdown...
//!
//! </details>
//! ```
//!
//! Each exercise has tiers of its own, titled `NAME, hint N: ...` (NAME as in the source's
//! `//@ exercise` tag), so that `cargo xtask hint CHAPTER NAME` can walk one exercise's tiers.

pub struct Hint {
    pub title: String,
    pub body: String,
}

pub fn parse(text: &str) -> Vec<Hint> {
    let mut hints = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<details>") {
        let after = &rest[start + "<details>".len()..];
        let Some(end) = after.find("</details>") else { break };
        let block = &after[..end];
        let title = block
            .split_once("<summary>")
            .and_then(|(_, s)| s.split_once("</summary>"))
            .map(|(t, _)| t.trim().to_string())
            .unwrap_or_default();
        let body = block.split_once("</summary>").map_or(block, |(_, b)| b).trim().to_string();
        hints.push(Hint { title, body });
        rest = &after[end + "</details>".len()..];
    }
    hints
}

/// The exercise a tier belongs to: the title's text before its first comma (`spawn` in
/// `spawn, hint 1: the idea`), or "" for a title without one.
pub fn exercise_of(title: &str) -> &str {
    title.split_once(',').map_or("", |(name, _)| name.trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiers_are_read_in_order() {
        let text = "# Hints\n<details>\n<summary>Hint 1: start</summary>\n\nLook at fork.\n</details>\n\
                    <details><summary>Hint 2: more</summary>\nUse waitpid.\n</details>\n";
        let hints = super::parse(text);
        assert_eq!(hints.len(), 2, "two <details> blocks");
        assert_eq!(hints[0].title, "Hint 1: start", "the summary is the title");
        assert_eq!(hints[0].body, "Look at fork.", "the body follows the summary");
        assert_eq!(hints[1].body, "Use waitpid.", "the second tier");
    }

    #[test]
    fn a_tier_names_its_exercise_before_the_comma() {
        assert_eq!(super::exercise_of("spawn, hint 2: the calls"), "spawn", "the name");
        assert_eq!(super::exercise_of("Hint 1: start"), "", "no exercise named");
    }
}
