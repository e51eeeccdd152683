//! wrong: capabilities are dropped first: without CAP_SYS_ADMIN the masks cannot be mounted
//! caught-by: hardening::the_command_starts_with_no_new_privs_and_a_seccomp_filter
    if options.privileged {
        return Ok(());
    }
    capabilities::drop_capabilities(options.kept_capabilities())?;
    paths::mask_and_protect()?;
    paths::close_device_paths()?;
    set_dumpable(false)?;
    set_no_new_privs()?;
    if !options.seccomp_unconfined {
        seccomp::install(options.kept_capabilities())?;
    }
    Ok(())
