//! wrong: a body that ends early is called a mismatch, so what arrived is thrown away and the next pull starts over
//! caught-by: registry::an_interrupted_pull_resumes_where_it_stopped
    let (mut hasher, mut received) = (hasher, received);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buffer).map_err(|e| BlobError::Mismatch(e.to_string()))?;
        if n == 0 {
            break;
        }
        received += n as u64;
        if received > size {
            return Err(BlobError::Mismatch(format!(
                "blob {expected} is longer than the {size} bytes its descriptor says"
            )));
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(BlobError::Interrupted)?;
    }
    if received < size {
        let early =
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{received} of {size} bytes"));
        return Err(BlobError::Mismatch(early.to_string()));
    }
    let actual = blob::digest_from_hasher(hasher);
    if actual != *expected {
        return Err(BlobError::Mismatch(format!(
            "blob {expected} does not match its digest: its content hashes to {actual}; the registry or something \
             between sent other bytes (corrupt or tampered with)"
        )));
    }
    Ok(())
