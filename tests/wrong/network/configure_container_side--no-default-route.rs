//! wrong: eth0 has its address and is up, but there is no default route: only the subnet is reachable
//! caught-by: network::outbound_traffic_leaves_with_the_hosts_address
    netlink.add_address(CONTAINER_DEVICE, address, PREFIX)?;
    netlink.set_up(CONTAINER_DEVICE)
