//! wrong: the wait loop reaps the child on SIGCHLD but passes no other signal on, so SIGTERM and Ctrl-C never reach the command
//! caught-by: process::sigterm_to_minibox_reaches_the_command
    let signals = supervised_signals();
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal == Signal::SIGCHLD {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)).context("waitpid")? {
                status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(status),
                _ => continue,
            }
        }
    }
