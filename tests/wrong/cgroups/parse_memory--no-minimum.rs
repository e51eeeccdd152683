//! wrong: sizes below the 6m minimum are accepted (the container would be killed before its command starts)
//! caught-by: cgroups::memory_sizes_are_parsed_like_docker
    let lower = text.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let number: u64 = digits
        .parse()
        .with_context(|| format!("`{text}` is not a size: use a number and a unit, for example 64m"))?;
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        other => bail!("`{text}`: unknown unit `{other}`: use b, k, m or g (for example 64m)"),
    };
    number.checked_mul(scale).with_context(|| format!("`{text}` is too large"))
