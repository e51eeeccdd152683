//! wrong: only the UTS namespace is unshared; the container still shares the host's IPC objects
//! caught-by: namespaces::host_ipc_objects_are_invisible
    unshare(CloneFlags::CLONE_NEWUTS).context("unshare(CLONE_NEWUTS)")?;
    sethostname(hostname).with_context(|| format!("sethostname({hostname})"))?;
    Ok(())
