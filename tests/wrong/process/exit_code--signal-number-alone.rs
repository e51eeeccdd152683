//! wrong: a command killed by a signal reports the signal's number, not 128 + the number as a shell does
//! caught-by: process::exit_status_mapping_follows_the_shell
//! caught-by: process::death_by_signal_exits_128_plus_the_signal
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => signal as i32,
        other => unreachable!("exit_code is only called for a child that has ended, not {other:?}"),
    }
