//! wrong: units scale by powers of 1000 (k = 1000), not 1024 as docker's --memory does
//! caught-by: cgroups::memory_sizes_are_parsed_like_docker
    let lower = text.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let number: u64 = digits
        .parse()
        .with_context(|| format!("`{text}` is not a size: use a number and a unit, for example 64m"))?;
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        other => bail!("`{text}`: unknown unit `{other}`: use b, k, m or g (for example 64m)"),
    };
    let bytes = number.checked_mul(scale).with_context(|| format!("`{text}` is too large"))?;
    if bytes < MEMORY_MIN {
        bail!("`{text}` is below the minimum memory limit of 6m");
    }
    Ok(bytes)
