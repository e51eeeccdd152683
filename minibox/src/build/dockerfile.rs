//@ begin build
//! Reading a Dockerfile: parser directives, logical lines, instructions, and the words and
//! variables inside them. Everything minibox does not build is refused with its line number.

use anyhow::{Result, bail};

/// One instruction: its keyword (upper case), its arguments, and the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub args: String,
}

impl Instruction {
    /// The instruction as the history and the build's output show it: `RUN echo hi`.
    pub fn text(&self) -> String {
        format!("{} {}", self.keyword, self.args)
    }
}

/// The instructions minibox builds.
pub const KNOWN: &[&str] =
    &["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "EXPOSE", "CMD", "ENTRYPOINT"];

/// Instructions of the Dockerfile language that minibox does not build (yet).
const NOT_BUILT: &[&str] = &["SHELL", "VOLUME", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "MAINTAINER"];

/// The parser directives at the top of a file (`# escape=``), before any other line: the escape
/// character (`\` unless one is set).
pub fn escape_character(text: &str) -> Result<char> {
    let mut escape = '\\';
    for (number, line) in text.lines().enumerate() {
        let Some(comment) = line.trim().strip_prefix('#') else { break };
        let Some((name, value)) = comment.split_once('=') else { break };
        let name = name.trim().to_ascii_lowercase();
        if name.contains(char::is_whitespace) {
            break; // a comment, not a directive
        }
        if name == "escape" {
            escape = match value.trim() {
                "\\" => '\\',
                "`" => '`',
                other => bail!(
                    "Dockerfile line {}: `# escape={other}`: the escape character is \\ or ` (a backtick)",
                    number + 1
                ),
            };
        }
    }
    Ok(escape)
}

// ANCHOR: logical_lines
/// Join a Dockerfile's physical lines into logical ones: a line that ends with the `escape`
/// character (trailing spaces allowed) goes on on the next line; comment lines (`#` first) and
/// empty lines are dropped, also in the middle of a continued instruction. Each logical line
/// comes with the number of the physical line it starts on (the first is 1), trimmed.
pub fn logical_lines(text: &str, escape: char) -> Vec<(usize, String)> {
    //@ exercise build logical_lines
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (start, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match line.trim_end().strip_suffix(escape) {
            Some(continued) => {
                joined.push_str(continued);
                current = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                lines.push((start, joined.trim().to_string()));
            }
        }
    }
    if let Some((start, joined)) = current {
        lines.push((start, joined.trim().to_string()));
    }
    lines
    //@ stub
    //| let _ = (text, escape);
    //| todo!("chapter {chapter}, `logical_lines`: join continued lines, drop comments and empty lines, keep each line's first number; `cargo xtask hint build logical_lines` helps (book: Chapter {chapter}, \"From text to instructions\")")
    //@ end build logical_lines
}
// ANCHOR_END: logical_lines

/// Parse a Dockerfile into instructions. An instruction minibox does not build, or a line that
/// is no instruction, is refused with its line number.
pub fn parse(text: &str) -> Result<Vec<Instruction>> {
    let escape = escape_character(text)?;
    let mut instructions = Vec::new();
    for (line, logical) in logical_lines(text, escape) {
        let (word, args) = logical.split_once(char::is_whitespace).unwrap_or((&logical, ""));
        let keyword = word.to_ascii_uppercase();
        if NOT_BUILT.contains(&keyword.as_str()) {
            bail!(
                "Dockerfile line {line}: {keyword} is not supported by minibox build (see `minibox build --help`)"
            );
        }
        if !KNOWN.contains(&keyword.as_str()) {
            bail!(
                "Dockerfile line {line}: unknown instruction `{}` (minibox builds {})",
                word.escape_debug(),
                KNOWN.join(", ")
            );
        }
        let args = args.trim().to_string();
        if args.is_empty() {
            bail!("Dockerfile line {line}: {keyword} needs arguments");
        }
        instructions.push(Instruction { line, keyword, args });
    }
    if instructions.first().map(|i| i.keyword.as_str()) != Some("FROM")
        && !instructions.iter().take_while(|i| i.keyword != "FROM").all(|i| i.keyword == "ARG")
    {
        bail!("Dockerfile: the first instruction must be FROM (only ARG may come before it)");
    }
    if !instructions.iter().any(|i| i.keyword == "FROM") {
        bail!("Dockerfile: no FROM instruction: a build starts from an image (FROM busybox)");
    }
    Ok(instructions)
}

/// A command in exec form (`["sh", "-c", "x"]`, a JSON array of strings) or, otherwise, in shell
/// form (run by `/bin/sh -c`).
pub fn command_words(args: &str) -> Vec<String> {
    if args.trim_start().starts_with('[')
        && let Ok(words) = serde_json::from_str::<Vec<String>>(args)
    {
        return words;
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), args.to_string()]
}

/// Split arguments into words the way `ENV`, `LABEL` and `COPY` read them: whitespace separates,
/// double or single quotes group, the escape character takes the next character as it is.
pub fn words(args: &str, escape: char) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, c) if c == escape => {
                word.extend(chars.next());
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        bail!("unterminated quote in `{}`", args.escape_debug());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `KEY=VALUE` pairs (`ENV A=1 B="two words"`), or the old form `ENV KEY VALUE...`.
pub fn key_values(args: &str, escape: char) -> Result<Vec<(String, String)>> {
    let first = args.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (key, value) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    words(args, escape)?
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => bail!("`{}` is not KEY=VALUE", word.escape_debug()),
        })
        .collect()
}

/// Replace `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` with the values in
/// `variables` (the `ARG`s and `ENV`s so far); the escape character keeps a `$` as it is.
pub fn expand(text: &str, variables: &[(String, String)], escape: char) -> String {
    let lookup = |name: &str| variables.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == escape && chars.peek() == Some(&'$') {
            out.push('$');
            chars.next();
        } else if c != '$' {
            out.push(c);
        } else if chars.peek() == Some(&'{') {
            chars.next();
            let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
            let (name, modifier) = match inner.find(":-").or_else(|| inner.find(":+")) {
                Some(at) => (&inner[..at], Some((&inner[at..at + 2], &inner[at + 2..]))),
                None => (inner.as_str(), None),
            };
            let value = lookup(name).filter(|v| !v.is_empty());
            out.push_str(&match (modifier, value) {
                (Some((":-", default)), None) => default.to_string(),
                (Some((":+", alternative)), Some(_)) => alternative.to_string(),
                (Some((":+", _)), None) => String::new(),
                (_, value) => value.unwrap_or_default(),
            });
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphanumeric() || **c == '_') {
                name.push(c);
                chars.next();
            }
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(&lookup(&name).unwrap_or_default());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_variables() {
        assert_eq!(words(r#"a "b c" 'd e' f\ g"#, '\\').unwrap(), ["a", "b c", "d e", "f g"]);
        let vars = vec![("A".to_string(), "1".to_string())];
        assert_eq!(expand("x$A ${A} ${B:-d} ${A:+y} \\$A", &vars, '\\'), "x1 1 d y $A");
        assert_eq!(key_values("A=1 B=\"two words\"", '\\').unwrap()[1].1, "two words");
        assert_eq!(key_values("A one two", '\\').unwrap()[0].1, "one two");
    }

    #[test]
    fn directives() {
        assert_eq!(escape_character("# escape=`\nFROM x").unwrap(), '`');
        assert_eq!(escape_character("FROM x\n# escape=`").unwrap(), '\\');
        assert!(escape_character("# escape=x\n").is_err());
    }
}
//@ end build
