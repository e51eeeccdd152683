//! wrong: sethostname runs before the new UTS namespace exists, so it renames the host
//! caught-by: ch02_namespaces::the_hostname_is_the_one_asked_for_and_the_host_keeps_its_own
    sethostname(hostname).with_context(|| format!("sethostname({hostname})"))?;
    unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
        .context("unshare(CLONE_NEWUTS | CLONE_NEWIPC)")?;
    Ok(())
