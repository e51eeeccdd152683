//! wrong: a non-blocking open and a poll loop, but no check that the process is still there: start waits forever for a container that died before reaching the fifo
//! caught-by: oci::start_gives_up_on_a_process_that_died_before_reaching_the_fifo
    let _ = (pid, start_time);
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
    }
    std::fs::remove_file(fifo).with_context(|| format!("removing {}", fifo.display()))
