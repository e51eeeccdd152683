//! wrong: no_new_privs is never set: only the seccomp crate's own prctl sets it, so under seccomp=unconfined a setuid-root program makes nobody root
//! caught-by: hardening::the_command_starts_with_no_new_privs_and_a_seccomp_filter
//! caught-by: hardening::a_setuid_root_program_gains_nothing_under_no_new_privs
    if options.privileged {
        return Ok(());
    }
    paths::mask_and_protect()?;
    paths::close_device_paths()?;
    set_dumpable(false)?;
    capabilities::drop_capabilities(options.kept_capabilities())?;
    if !options.seccomp_unconfined {
        seccomp::install(options.kept_capabilities())?;
    }
    Ok(())
