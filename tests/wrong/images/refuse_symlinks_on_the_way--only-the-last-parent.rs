//! wrong: only the entry's own directory is checked; `link/sub/file` goes through `link` unseen
//! caught-by: images::malicious_layers_are_refused_and_leave_nothing_behind
    if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        let meta = std::fs::symlink_metadata(root.join(parent));
        if meta.is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "refused entry `{}`: it would be written through the symbolic link `{}`",
                relative.display(),
                parent.display()
            );
        }
    }
    Ok(())
