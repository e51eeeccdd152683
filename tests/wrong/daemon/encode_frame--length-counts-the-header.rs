//! wrong: the length counts the header too, so a reader waits for eight bytes that never come
//! caught-by: daemon::frames_carry_the_stream_and_a_big_endian_length
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.push(stream);
    frame.extend_from_slice(&[0, 0, 0]);
    frame.extend_from_slice(&((HEADER_LEN + payload.len()) as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
