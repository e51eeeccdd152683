//! wrong: refuses a path that starts with `..` but not one that climbs out later (`a/../../b`)
//! caught-by: images::tar_entry_paths_are_checked
    if path.is_absolute() {
        bail!("refused entry `{}`: an absolute path would write outside the layer", path.display());
    }
    if path.starts_with("..") {
        bail!("refused entry `{}`: `..` would climb out of the layer", path.display());
    }
    Ok(path.components().filter(|c| !matches!(c, Component::CurDir)).collect())
