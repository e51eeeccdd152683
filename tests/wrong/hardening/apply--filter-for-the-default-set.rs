//! wrong: the seccomp filter is built for Docker's default set, not for the set kept: --cap-add SYS_ADMIN still cannot mount
//! caught-by: hardening::the_filter_follows_the_capabilities_kept
    if options.privileged {
        return Ok(());
    }
    paths::mask_and_protect()?;
    paths::close_device_paths()?;
    set_dumpable(false)?;
    capabilities::drop_capabilities(options.kept_capabilities())?;
    set_no_new_privs()?;
    if !options.seccomp_unconfined {
        seccomp::install(capabilities::DOCKER_DEFAULT)?;
    }
    Ok(())
