//! wrong: the process stays dumpable: under --init, PID 1 is the host's minibox, open to /proc/1/exe
//! caught-by: hardening::the_runtime_binary_is_out_of_reach_from_inside
    if options.privileged {
        return Ok(());
    }
    paths::mask_and_protect()?;
    paths::close_device_paths()?;
    capabilities::drop_capabilities(options.kept_capabilities())?;
    set_no_new_privs()?;
    if !options.seccomp_unconfined {
        seccomp::install(options.kept_capabilities())?;
    }
    Ok(())
