//! wrong: the escape character must be the line's very last, so a continuation with a space after it (invisible in an editor) ends the instruction
//! caught-by: build::logical_lines_join_continuations_and_drop_comments
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (start, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match line.strip_suffix(escape) {
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
