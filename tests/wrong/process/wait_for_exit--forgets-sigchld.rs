//! wrong: the loop waits for the forwarded signals only, not SIGCHLD, so it never learns that the command ended and every run hangs (the proof that the tests end in bounded time)
//! caught-by: process::exit_codes_round_trip
    let mut signals = SigSet::empty();
    for signal in FORWARDED {
        signals.add(signal);
    }
    loop {
        let signal = signals.wait().context("waiting for signals")?;
        if signal == Signal::SIGCHLD {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)).context("waitpid")? {
                status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(status),
                _ => continue,
            }
        }
        match kill(child, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => return Err(errno).context("forwarding a signal"),
        }
    }
