//! wrong: the netlink socket is opened before unshare, so it still speaks to the host's namespace
//! caught-by: network::with_network_none_the_container_has_only_loopback_and_it_is_up
    let mut netlink = Netlink::open()?;
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET): creating a network namespace")?;
    netlink.set_up("lo")?;
    Ok(netlink)
