//! wrong: a stream cut inside a frame reads as its clean end, so lost output goes unnoticed
//! caught-by: daemon::frames_are_read_back_whole_from_a_trickle
    let mut header = [0u8; HEADER_LEN];
    if reader.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if length > MAX_FRAME {
        let message = format!("a frame of {length} bytes: not the multiplexed stream");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
