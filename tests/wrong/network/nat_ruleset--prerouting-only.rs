//! wrong: published ports are translated on prerouting only, so connections made on the host itself miss them
//! caught-by: network::a_published_port_answers_from_the_host_and_from_outside
    format!(
        "table ip {TABLE} {{
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
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
