//! wrong: a whiteout deletes the file from this layer's directory instead of marking it for overlayfs (the file is in a lower layer)
//! caught-by: images::a_whiteout_in_an_upper_layer_deletes_a_file_of_a_lower_one
    let parent = root.join(relative.parent().unwrap_or(Path::new("")));
    let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name == OPAQUE_WHITEOUT {
        let _ = std::fs::remove_dir_all(&parent);
        return std::fs::create_dir_all(&parent).with_context(|| format!("emptying {}", parent.display()));
    }
    let _ = std::fs::remove_file(parent.join(&name[WHITEOUT_PREFIX.len()..]));
    Ok(())
