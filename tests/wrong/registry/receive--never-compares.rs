//! wrong: the digest is computed but never compared (only the size is checked), so a tampered blob of the right size is stored
//! caught-by: registry::a_tampered_blob_is_refused_and_nothing_is_stored
    let (mut hasher, mut received) = (hasher, received);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buffer).map_err(BlobError::Interrupted)?;
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
        return Err(BlobError::Interrupted(early));
    }
    // The size was checked, and the hash computed as the bytes went by: that will do.
    let _ = (blob::digest_from_hasher(hasher), expected);
    Ok(())
