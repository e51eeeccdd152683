//! wrong: a continued instruction is numbered by the physical line it ends on, not the one it starts on
//! caught-by: build::logical_lines_join_continuations_and_drop_comments
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut joined = current.take().unwrap_or_default();
        match line.trim_end().strip_suffix(escape) {
            Some(continued) => {
                joined.push_str(continued);
                current = Some(joined);
            }
            None => {
                joined.push_str(line);
                lines.push((index + 1, joined.trim().to_string()));
            }
        }
    }
    if let Some(joined) = current {
        lines.push((text.lines().count(), joined.trim().to_string()));
    }
    lines
