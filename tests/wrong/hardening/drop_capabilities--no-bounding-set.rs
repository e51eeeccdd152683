//! wrong: effective, permitted and inheritable are lowered, the bounding set is left whole
//! caught-by: hardening::every_capability_set_is_reduced_to_dockers_default
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)
        .map_err(|errno: Errno| anyhow::anyhow!("prctl(PR_CAP_AMBIENT_CLEAR_ALL): {}", errno.desc()))?;
    let current = get()?;
    set(Sets { effective: current.permitted & keep, permitted: current.permitted & keep, inheritable: 0 })
