//! wrong: std::fs::metadata follows symbolic links, so a link on the way is never seen
//! caught-by: images::malicious_layers_are_refused_and_leave_nothing_behind
    let mut walked = root.to_path_buf();
    let parents = relative.parent().map(|p| p.components().collect::<Vec<_>>()).unwrap_or_default();
    for component in parents {
        walked.push(component);
        match std::fs::metadata(&walked) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "refused entry `{}`: it would be written through the symbolic link `{}`",
                relative.display(),
                walked.strip_prefix(root).unwrap_or(&walked).display()
            ),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
