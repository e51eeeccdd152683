//! wrong: only the size is compared; a blob changed in place, at the same length, passes
//! caught-by: images::malicious_layers_are_refused_and_leave_nothing_behind
    check_sha256(digest)?;
    let actual_size = std::fs::metadata(path)
        .with_context(|| format!("blob {digest} is missing ({})", path.display()))?
        .len();
    if actual_size != size {
        bail!("blob {digest} does not match its digest: {actual_size} bytes, {size} expected");
    }
    Ok(())
