//! wrong: the inheritable and ambient sets are left as minibox got them: root's execve adds them back
//! caught-by: hardening::capabilities_handed_to_minibox_do_not_reach_the_container
    for cap in 0..=last_capability()? {
        if keep & (1 << cap) == 0 {
            prctl(libc::PR_CAPBSET_DROP, cap.into(), 0)
                .map_err(|errno: Errno| anyhow::anyhow!("PR_CAPBSET_DROP {cap}: {}", errno.desc()))?;
        }
    }
    let current = get()?;
    set(Sets { effective: current.permitted & keep, permitted: current.permitted & keep, ..current })
