//! wrong: the parameters are split on every comma, so a quoted scope such as "repository:x:pull,push" is cut in two
//! caught-by: registry::challenges_are_parsed
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        anyhow::bail!("an empty WWW-Authenticate challenge");
    }
    let mut params = BTreeMap::new();
    for pair in rest.split(',') {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("challenge parameter without a value in `{header}`"))?;
        params.insert(name.trim().to_ascii_lowercase(), value.trim().trim_matches('"').to_string());
    }
    Ok(Challenge { scheme: scheme.to_ascii_lowercase(), params })
