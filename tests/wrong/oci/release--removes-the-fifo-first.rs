//! wrong: the fifo is removed as soon as it is open, before the byte arrives: a start that fails or is killed while it waits leaves a container marked running whose process never started, and no start can release it any more
//! caught-by: oci::a_start_cut_short_leaves_a_container_that_still_starts
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .with_context(|| format!("opening the exec fifo {}", fifo.display()))?;
    std::fs::remove_file(fifo).with_context(|| format!("removing {}", fifo.display()))?;
    let mut byte = [0u8; 1];
    loop {
        let mut poll = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the length given.
        unsafe { libc::poll(&mut poll, 1, 100) };
        match reader.read(&mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error).context("reading the exec fifo"),
        }
        if state::start_time(pid) != Some(start_time) {
            bail!("the container's process ended before it could be started");
        }
    }
