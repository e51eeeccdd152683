//! wrong: continues lines on a backslash whatever the escape character (ignores `# escape=`)
//! caught-by: build::logical_lines_join_continuations_and_drop_comments
    let _ = escape;
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (start, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match line.trim_end().strip_suffix('\\') {
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
