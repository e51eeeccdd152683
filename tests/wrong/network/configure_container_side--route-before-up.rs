//! wrong: the default route is added while eth0 is still down (the kernel refuses it)
//! caught-by: network::outbound_traffic_leaves_with_the_hosts_address
    netlink.add_address(CONTAINER_DEVICE, address, PREFIX)?;
    netlink.add_default_route(GATEWAY)?;
    netlink.set_up(CONTAINER_DEVICE)
