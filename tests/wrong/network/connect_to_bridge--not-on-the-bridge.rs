//! wrong: the host's end of the veth pair is up but plugged into nothing
//! caught-by: network::a_bridged_container_reaches_the_bridge_and_another_container_with_an_address_of_its_own
    netlink.create_veth(&VethPair {
        host: host_device,
        peer: CONTAINER_DEVICE,
        peer_netns_pid: pid,
        controller: None,
        up: true,
    })
