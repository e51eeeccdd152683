//! wrong: capset first: once CAP_SETPCAP is gone, dropping from the bounding set fails (EPERM)
//! caught-by: hardening::cap_drop_all_leaves_nothing_and_cap_add_adds
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)
        .map_err(|errno: Errno| anyhow::anyhow!("prctl(PR_CAP_AMBIENT_CLEAR_ALL): {}", errno.desc()))?;
    let current = get()?;
    set(Sets { effective: current.permitted & keep, permitted: current.permitted & keep, inheritable: 0 })?;
    for cap in 0..=last_capability()? {
        if keep & (1 << cap) == 0 {
            prctl(libc::PR_CAPBSET_DROP, cap.into(), 0)
                .map_err(|errno| anyhow::anyhow!("PR_CAPBSET_DROP {cap}: {}", errno.desc()))?;
        }
    }
    Ok(())
