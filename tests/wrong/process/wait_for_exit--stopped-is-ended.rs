//! wrong: waitpid with WUNTRACED, and any state but "still alive" ends the wait: a stopped command is taken for an ended one
//! caught-by: process::a_stopped_command_is_waited_for_until_it_ends
    let signals = supervised_signals();
    //@ begin namespaces
    let mut stop_requests = 0;
    //@ end namespaces
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal == Signal::SIGCHLD {
            match waitpid(child, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)).context("waitpid")? {
                WaitStatus::StillAlive => continue,
                status => return Ok(status),
            }
        }
        //@ begin namespaces
        let forwarded = if matches!(signal, Signal::SIGINT | Signal::SIGTERM) {
            stop_requests += 1;
            if stop_requests > 1 { Signal::SIGKILL } else { signal }
        } else {
            signal
        };
        //@ end namespaces
        //@ until namespaces
        //| let forwarded = signal;
        //@ end namespaces
        match kill(child, forwarded) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => return Err(errno).context("forwarding a signal"),
        }
    }
