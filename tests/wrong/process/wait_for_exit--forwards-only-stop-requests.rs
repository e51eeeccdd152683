//! wrong: only SIGINT and SIGTERM are passed on; SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are swallowed
//! caught-by: process::sigusr1_and_sighup_to_minibox_reach_the_command_too
    let signals = supervised_signals();
    //@ begin namespaces
    let mut stop_requests = 0;
    //@ end namespaces
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal == Signal::SIGCHLD {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)).context("waitpid")? {
                status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(status),
                _ => continue,
            }
        }
        if !matches!(signal, Signal::SIGINT | Signal::SIGTERM) {
            continue;
        }
        //@ begin namespaces
        stop_requests += 1;
        let forwarded = if stop_requests > 1 { Signal::SIGKILL } else { signal };
        //@ end namespaces
        //@ until namespaces
        //| let forwarded = signal;
        //@ end namespaces
        match kill(child, forwarded) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => return Err(errno).context("forwarding a signal"),
        }
    }
