//! wrong: a comment inside a continued instruction ends it, so the lines after the comment become an instruction of their own
//! caught-by: build::logical_lines_join_continuations_and_drop_comments
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            if let Some((start, joined)) = current.take() {
                lines.push((start, joined.trim().to_string()));
            }
            continue;
        }
        if trimmed.is_empty() {
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
