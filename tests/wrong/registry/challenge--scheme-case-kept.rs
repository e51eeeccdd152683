//! wrong: the scheme and the names keep their case (HTTP says they are case-insensitive: Bearer, bearer, BEARER)
//! caught-by: registry::challenges_are_parsed
//! caught-by: registry::a_registry_with_tokens_wants_a_login
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        anyhow::bail!("an empty WWW-Authenticate challenge");
    }
    let mut params = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            break;
        }
        let (name, after) = rest
            .split_once('=')
            .with_context(|| format!("challenge parameter without a value in `{header}`"))?;
        let mut value = String::new();
        let mut chars = after.trim_start().chars();
        if after.trim_start().starts_with('"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => anyhow::bail!("unterminated quoted string in `{header}`"),
                }
            }
            rest = chars.as_str();
        } else {
            let end = after.find(',').unwrap_or(after.len());
            value.push_str(after[..end].trim());
            rest = &after[end..];
        }
        params.insert(name.trim().to_string(), value);
    }
    Ok(Challenge { scheme: scheme.to_string(), params })
