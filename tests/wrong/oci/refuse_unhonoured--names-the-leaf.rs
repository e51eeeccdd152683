//! wrong: walks into every object, so the error names a leaf deep inside (`linux.seccomp.defaultAction`), not the field to remove
//! caught-by: oci::an_unhonoured_field_is_refused_by_its_json_path
//! caught-by: oci::create_refuses_an_unhonoured_field_and_leaves_nothing
    if is_empty(value) || honoured.contains(&path) {
        return Ok(());
    }
    match value {
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
        _ => bail!("config.json: `{path}` is not supported by minibox (remove it, or use runc)"),
    }
