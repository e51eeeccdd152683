//! wrong: the report pipe is made without O_CLOEXEC, so execve leaves its write end open in the command and minibox waits for an EOF that comes only when the command ends
//! caught-by: ch01_process::sigterm_to_minibox_reaches_the_command
    let (report_read, report_write) = nix::unistd::pipe().context("creating a pipe")?;
    // SAFETY: minibox has one thread, so the child may do anything the parent could.
    match unsafe { fork() }.context("fork failed")? {
        ForkResult::Parent { child } => {
            drop(report_write);
            Ok(Child { pid: child, report: File::from(report_read) })
        }
        ForkResult::Child => {
            drop(report_read);
            child_main(command, setup, report_write)
        }
    }
