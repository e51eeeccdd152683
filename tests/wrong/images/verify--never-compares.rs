//! wrong: the blob is hashed but the result is never compared with its digest and size
//! caught-by: images::malicious_layers_are_refused_and_leave_nothing_behind
    check_sha256(digest)?;
    let file = std::fs::File::open(path)
        .with_context(|| format!("blob {digest} is missing ({})", path.display()))?;
    let (_actual, _actual_size) = copy_hashing(file, std::io::sink())?;
    let _ = size;
    Ok(())
