//! wrong: on SIGCHLD init waits for the command only, so orphans it inherits stay zombies
//! caught-by: namespaces::init_reaps_orphans
//! caught-by: namespaces::init_reaps_every_orphan_even_when_they_end_together
    let signals = supervised_signals();
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal != Signal::SIGCHLD {
            match kill(command, signal) {
                Ok(()) | Err(Errno::ESRCH) => continue,
                Err(errno) => return Err(errno).context("forwarding a signal"),
            }
        }
        match waitpid(command, Some(WaitPidFlag::WNOHANG)) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
            Ok(_) => continue,
            Err(errno) => return Err(errno).context("waitpid"),
        }
    }
