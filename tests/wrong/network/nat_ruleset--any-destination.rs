//! wrong: no `fib daddr type local`: every packet to a published port number is taken, to any machine
//! caught-by: network::a_published_port_number_takes_only_traffic_to_the_hosts_own_addresses
    format!(
        "table ip {TABLE} {{
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    dnat ip to meta l4proto . th dport map @ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    dnat ip to meta l4proto . th dport map @ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {}/{} oifname != \"{bridge}\" masquerade
  }}
}}
",
        super::ipam::SUBNET,
        super::ipam::PREFIX
    )
