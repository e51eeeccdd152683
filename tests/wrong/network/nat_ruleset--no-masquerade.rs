//! wrong: published ports, but no masquerade: the containers' packets leave with their own addresses
//! caught-by: network::outbound_traffic_leaves_with_the_hosts_address
    format!(
        "table ip {TABLE} {{
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }}
}}
"
    )
