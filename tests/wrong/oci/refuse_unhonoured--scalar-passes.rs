//! wrong: a scalar where an object or a list is expected (`"linux": 5`) passes, as if it asked for nothing
//! caught-by: oci::an_unhonoured_field_is_refused_by_its_json_path
    if is_empty(value) || honoured.contains(&path) {
        return Ok(());
    }
    let leads_somewhere = path.is_empty()
        || honoured.iter().any(|h| h.strip_prefix(path).is_some_and(|rest| rest.starts_with(['.', '['])));
    match value {
        _ if !leads_somewhere => {
            bail!("config.json: `{path}` is not supported by minibox (remove it, or use runc)")
        }
        Value::Object(map) => {
            if honoured.contains(&format!("{path}.*").as_str()) {
                return Ok(());
            }
            for (key, inner) in map {
                let inner_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                refuse_unhonoured(inner, &inner_path, honoured)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let inner_path = format!("{path}[]");
            items.iter().try_for_each(|item| refuse_unhonoured(item, &inner_path, honoured))
        }
        _ => Ok(()),
    }
