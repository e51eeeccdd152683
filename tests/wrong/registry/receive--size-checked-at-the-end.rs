//! wrong: the size is compared once the body has ended, so a body that never ends (or ends after filling the disk) is written out whole before it is refused
//! caught-by: registry::a_blob_is_held_to_its_size_as_it_streams
    let (mut hasher, mut received) = (hasher, received);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buffer).map_err(BlobError::Interrupted)?;
        if n == 0 {
            break;
        }
        received += n as u64;
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(BlobError::Interrupted)?;
    }
    if received > size {
        return Err(BlobError::Mismatch(format!(
            "blob {expected} is longer than the {size} bytes its descriptor says"
        )));
    }
    if received < size {
        let early =
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{received} of {size} bytes"));
        return Err(BlobError::Interrupted(early));
    }
    let actual = blob::digest_from_hasher(hasher);
    if actual != *expected {
        return Err(BlobError::Mismatch(format!(
            "blob {expected} does not match its digest: its content hashes to {actual}; the registry or something \
             between sent other bytes (corrupt or tampered with)"
        )));
    }
    Ok(())
