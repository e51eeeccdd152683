//! wrong: the parent keeps its copy of the report pipe's write end, so its read never sees the end of the pipe
//! caught-by: process::stdout_and_stderr_pass_through_unchanged
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    // SAFETY: minibox has one thread, so the child may do anything the parent could.
    match unsafe { fork() }.context("fork failed")? {
        ForkResult::Parent { child } => {
            std::mem::forget(report_write);
            Ok(Child { pid: child, report: File::from(report_read) })
        }
        ForkResult::Child => {
            drop(report_read);
            child_main(command, setup, report_write)
        }
    }
