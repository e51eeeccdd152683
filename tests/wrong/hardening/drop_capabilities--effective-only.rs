//! wrong: only the effective set is lowered: root's next execve refills it from the bounding set
//! caught-by: hardening::every_capability_set_is_reduced_to_dockers_default
    let current = get()?;
    set(Sets { effective: current.effective & keep, ..current })
