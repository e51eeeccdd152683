//! wrong: one waitpid per SIGCHLD; signals do not queue, so children that end together leave zombies
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
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) if pid == command => {
                return Ok(status);
            }
            Ok(_) | Err(Errno::ECHILD) => continue,
            Err(errno) => return Err(errno).context("waitpid"),
        }
    }
