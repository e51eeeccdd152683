//! wrong: a frame of exactly MAX_FRAME bytes is refused with the longer ones
//! caught-by: daemon::frames_are_read_back_whole_from_a_trickle
    let mut header = [0u8; HEADER_LEN];
    // The first byte alone: nothing here is the end; nothing later is a frame cut short.
    loop {
        match reader.read(&mut header[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    reader.read_exact(&mut header[1..])?;
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if length >= MAX_FRAME {
        let message = format!("a frame of {length} bytes: not the multiplexed stream");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
