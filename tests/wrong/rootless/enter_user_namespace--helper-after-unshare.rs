//! wrong: the helper is forked after unshare, so it is inside the new namespace, where it may not write its maps
//! caught-by: rootless::nothing_of_the_user_is_left_running
    unshare(CloneFlags::CLONE_NEWUSER).context("unshare(CLONE_NEWUSER): creating a user namespace")?;
    let helper = MapHelper::start(plan)?;
    helper.map_ids()
