//! wrong: the fifo stays after start, so the container still reads as created though its command runs
//! caught-by: oci::create_holds_the_process_until_start_and_delete_leaves_nothing
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .with_context(|| format!("opening the exec fifo {}", fifo.display()))?;
    let mut byte = [0u8; 1];
    loop {
        let mut poll = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the length given.
        unsafe { libc::poll(&mut poll, 1, 100) };
        match reader.read(&mut byte) {
            Ok(1) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error).context("reading the exec fifo"),
        }
        if state::start_time(pid) != Some(start_time) {
            bail!("the container's process ended before it could be started");
        }
    }
    Ok(())
