//! wrong: the process is taken for alive while its pid answers kill(pid, 0), so a zombie (ended, not yet reaped by its parent) keeps start waiting forever
//! caught-by: oci::a_zombie_is_not_alive_and_a_reused_pid_is_not_the_container
    let _ = start_time;
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
        // SAFETY: kill with signal 0 only checks that the pid exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            bail!("the container's process ended before it could be started");
        }
    }
    std::fs::remove_file(fifo).with_context(|| format!("removing {}", fifo.display()))
