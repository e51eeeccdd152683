//! wrong: the length is written little-endian, so any payload of 256 bytes or more is misread
//! caught-by: daemon::frames_carry_the_stream_and_a_big_endian_length
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.push(stream);
    frame.extend_from_slice(&[0, 0, 0]);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(payload);
    frame
