//! wrong: a signal other than SIGCHLD ends the wait with an error instead of being passed on, so minibox exits and leaves its command running
//! caught-by: process::sigint_to_minibox_reaches_the_command
    let signals = supervised_signals();
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal != Signal::SIGCHLD {
            anyhow::bail!("interrupted by {signal}");
        }
        match waitpid(child, Some(WaitPidFlag::WNOHANG)).context("waitpid")? {
            status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(status),
            _ => continue,
        }
    }
