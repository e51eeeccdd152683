//! wrong: published ports are sent on for TCP alone (as `-p tcp` in iptables): a -p 53:53/udp is never reached
//! caught-by: network::every_published_port_answers_over_tcp_and_over_udp
    format!(
        "table ip {TABLE} {{
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    meta l4proto tcp fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    meta l4proto tcp fib daddr type local dnat ip to meta l4proto . th dport map @ports
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
