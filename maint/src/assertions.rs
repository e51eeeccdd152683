//! `cargo maint assertions`: every assertion in the graded tests says what went wrong.
//!
//! The files are read with a Rust parser (syn), which counts an assertion's arguments as the
//! compiler does: `assert!(s.ends_with(')'), "...")` has two. clippy's `missing_assert_message`
//! would be cheaper, but it skips test functions, which is where the assertions are. It runs
//! here rather than in xtask so that learners, who build xtask, never compile syn.
//! `cargo xtask verify` runs it.

use crate::workspace::Workspace;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Expr, Token};

/// An assertion without a message.
#[derive(Debug, PartialEq)]
struct Bare {
    line: usize,
    /// `assert`, `assert_eq`, ...
    name: String,
    /// How many arguments it needs to carry a message.
    needed: usize,
}

pub fn run(ws: &Workspace) -> Result<()> {
    let mut found = 0;
    for file in graded_files(ws)? {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let shown = file.strip_prefix(&ws.root).unwrap_or(&file).display();
        for bare in bare_assertions(&text).with_context(|| format!("parsing {shown}"))? {
            println!(
                "{shown}:{}: `{}!` without a message (give it {} arguments: what was expected, what was seen, and where to read)",
                bare.line, bare.name, bare.needed
            );
            found += 1;
        }
    }
    if found > 0 {
        bail!("assertions without a message in the graded tests: {found}");
    }
    println!("assertions: every assertion in the graded tests carries a message");
    Ok(())
}

/// The graded tests and what they share: `tests/*.rs`, `tests/support/*.rs`.
fn graded_files(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in ["tests", "tests/support"] {
        for entry in std::fs::read_dir(ws.path(dir)).with_context(|| format!("reading {dir}"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The assertions in a Rust source file that carry no message, in the order they appear.
fn bare_assertions(source: &str) -> Result<Vec<Bare>> {
    let file = syn::parse_file(source)?;
    let mut finder = Finder { found: Vec::new() };
    finder.visit_file(&file);
    finder.found.sort_by_key(|b| b.line);
    Ok(finder.found)
}

struct Finder {
    found: Vec<Bare>,
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // A macro's body is tokens to syn; bodies made of expressions (assertions, `vec!`,
        // `format!`) are parsed as such, so that assertions inside them are found too.
        let arguments = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated).ok();
        let name = mac.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
        let needed = match name.as_str() {
            "assert" | "debug_assert" => Some(2),
            "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => Some(3),
            _ => None,
        };
        if let Some(needed) = needed
            && arguments.as_ref().is_none_or(|a| a.len() < needed)
        {
            let line = mac.path.segments.first().map_or(0, |s| s.ident.span().start().line);
            self.found.push(Bare { line, name: name.clone(), needed });
        }
        for argument in arguments.iter().flatten() {
            self.visit_expr(argument);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn lines(source: &str) -> Vec<(usize, usize)> {
        bare_assertions(source).expect("valid Rust").iter().map(|b| (b.line, b.needed)).collect()
    }

    #[test]
    fn assertions_need_messages() {
        let source = r#"
#[test]
fn t() {
    assert!(x);
    assert!(x, "why");
    assert_eq!(a, b);
    assert_eq!(f(a, b), c, "m");
    debug_assert!(y);
    assert!(
        x,
    );
    std::assert_ne!(a, b);
}
"#;
        assert_eq!(
            lines(source),
            [(4, 2), (6, 3), (8, 2), (9, 2), (12, 3)],
            "the bare assertions and their lines"
        );
    }

    #[test]
    fn characters_and_strings_do_not_confuse_it() {
        let source = r#"
fn t(s: &str) {
    assert!(s.ends_with(')'), "a parenthesis in a character literal");
    assert!(s.starts_with('"'));
    assert_eq!(s, r"a, b", "a comma in a raw string");
    let check = |a: u8, b: u8| assert_eq!(a, b, "a closure's commas are not the assertion's");
    // assert!(commented_out);
}
"#;
        assert_eq!(lines(source), [(4, 2)], "only the second assertion lacks a message");
    }

    #[test]
    fn assertions_inside_other_macros_are_found() {
        let source = "fn t() { let v = vec![{ assert!(x); 1 }]; }";
        assert_eq!(lines(source), [(1, 2)], "the assertion inside vec! is found");
    }

    #[test]
    fn the_graded_tests_are_found() {
        let ws = Workspace::locate().expect("the workspace");
        let files = graded_files(&ws).expect("listing the graded tests");
        assert!(files.contains(&ws.path("tests/support/mod.rs")), "tests/support is read: {files:?}");
        assert!(files.iter().any(|f| f.ends_with(Path::new("process.rs"))), "chapter 1's tests: {files:?}");
    }
}
