//! wrong: the namespace is made, but its loopback is left down (a new namespace's lo starts down)
//! caught-by: network::with_network_none_the_container_has_only_loopback_and_it_is_up
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET): creating a network namespace")?;
    Netlink::open()
