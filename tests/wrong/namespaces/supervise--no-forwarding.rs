//! wrong: init reaps its children but drops every other signal instead of passing it on to the command
//! caught-by: namespaces::sigterm_stops_the_command_through_init
    let signals = supervised_signals();
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal != Signal::SIGCHLD {
            continue;
        }
        let mut command_status = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                    if pid == command {
                        command_status = Some(status);
                    }
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) => continue,
                Err(errno) => return Err(errno).context("waitpid"),
            }
        }
        if let Some(status) = command_status {
            return Ok(status);
        }
    }
