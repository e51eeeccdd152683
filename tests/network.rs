//! The network chapter's graded tests. Every test runs minibox inside a "test host", a network namespace the
//! test makes (and removes, also when it fails), so the bridge, veths, routes and nftables rules
//! minibox makes never reach the real host, and every packet stays in namespaces the test made.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use serial_test::serial;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};
use support::network::{BRIDGE, GATEWAY, HOST_ADDRESS, OUTSIDE_ADDRESS, TestHost};
use support::{Sandbox, ensure, fail};

const NAMESPACE: &str = "network, \"Network namespaces\"";
const VETH: &str = "network, \"A cable between namespaces: veth\"";
const ROUTES: &str = "network, \"Routes\"";
const NAT: &str = "network, \"NAT and published ports\"";
const CLEANING_UP: &str = "network, \"Cleaning up the network\"";

/// The address of `eth0` that `ip -o -4 addr show dev eth0` printed, if any.
fn address_in(output: &str) -> Option<Ipv4Addr> {
    output
        .lines()
        .find(|l| l.contains("eth0") && l.contains("inet "))?
        .split("inet ")
        .nth(1)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Connect to `address:port` until something answers (for up to 10 s), and read what it says.
fn read_from(address: &str, port: u16) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last_error = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(
            &format!("{address}:{port}").parse().unwrap(),
            Duration::from_secs(1),
        ) {
            Ok(mut stream) => {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                if !text.is_empty() {
                    return Ok(text);
                }
                last_error = "the connection was accepted, then closed without a word".into();
            }
            Err(error) => last_error = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last_error)
}

#[test]
#[serial]
fn with_network_none_the_container_has_only_loopback_and_it_is_up() {
    let host = TestHost::new();
    let sandbox = Sandbox::new().in_test_host(&host);
    let ran =
        sandbox.run(&["run", "--network", "none", "--", "sh", "-c", "ip -o link show; ip -o -4 addr show"]);
    ran.expect_code(0, "`ip` inside the container should run", NAMESPACE);
    let devices: Vec<&str> =
        ran.stdout.lines().filter(|l| l.contains(": <")).filter_map(|l| l.split(": ").nth(1)).collect();
    ensure(
        devices == ["lo"],
        "exactly one network device inside, lo",
        format!("{devices:?}{}", ran.transcript()),
        "the container needs a network namespace of its own (unshare CLONE_NEWNET) before anything else of \
         the network",
        NAMESPACE,
    );
    let lo_up = ran.stdout.lines().any(|l| l.contains(": lo:") && l.contains(",UP"));
    ensure(
        lo_up && ran.stdout.contains("inet 127.0.0.1/8"),
        "lo up, with 127.0.0.1/8",
        ran.transcript(),
        "a new network namespace's lo starts down: bring it up (a netlink RTM_NEWLINK/SETLINK with IFF_UP)",
        NAMESPACE,
    );
}

#[test]
#[serial]
fn a_bridged_container_reaches_the_bridge_and_another_container_with_an_address_of_its_own() {
    let host = TestHost::new();
    let sandbox = Sandbox::new().in_test_host(&host);
    // The first container on a fresh bridge gets its first free address, 10.77.0.2.
    // busybox's `nc -l` ends once its stdin and the connection are both at their end, and the
    // test's stdin is empty: under load the line could come after that, lost though the sender
    // said "sent". A fifo opened read-write is a stdin that never ends.
    let first = sandbox.start(&[
        "run",
        "--",
        "sh",
        "-c",
        "ip -o -4 addr show dev eth0; mkfifo /tmp/stdin && nc -l -p 7000 <>/tmp/stdin",
    ]);
    let (first, _) = first.expect_process(|p| p.command == "nc", "the first container's `nc -l`", VETH);
    let second = sandbox.run(&[
        "run",
        "--",
        "sh",
        "-c",
        &format!(
            "ip -o -4 addr show dev eth0; ping -c 3 -W 3 {GATEWAY} >/dev/null && echo gateway-answered && \
             for i in $(seq 50); do echo hello-from-the-second | nc -w 1 10.77.0.2 7000 && echo sent && break; \
             sleep 0.1; done"
        ),
    ]);
    // The second container's side first: if it reached nothing, the first would wait for ever.
    ensure(
        second.stdout.contains("gateway-answered"),
        format!("the bridge's address {GATEWAY} to answer a ping from the container"),
        second.transcript(),
        "the host's end of the veth pair must be plugged into the bridge (its controller) and be up, and the \
         container's end must be up with its address",
        VETH,
    );
    ensure(
        second.stdout.contains("sent"),
        "the second container to send a line to the first (10.77.0.2:7000)",
        second.transcript(),
        "both containers' veths must be on the same bridge, up",
        VETH,
    );
    let first = first.wait_for(
        Duration::from_secs(20),
        "the first container to end once the second had sent it a line",
        "the second container could not reach the first through the bridge",
        VETH,
    );
    ensure(
        first.stdout.contains("hello-from-the-second"),
        "the first container to receive the second's line",
        first.transcript(),
        "both containers' veths must be on the same bridge, up",
        VETH,
    );
    let (a, b) = (address_in(&first.stdout), address_in(&second.stdout));
    ensure(
        a.is_some()
            && b.is_some()
            && a != b
            && [a, b].iter().flatten().all(|ip| ip.octets()[..3] == [10, 77, 0]),
        "two different IPv4 addresses in 10.77.0.0/24 on the containers' eth0",
        format!("{a:?} and {b:?}{}{}", first.transcript(), second.transcript()),
        "the container's end of the veth pair (eth0) gets its own lease's address",
        ROUTES,
    );
}

#[test]
#[serial]
fn an_image_container_gets_its_hosts_hostname_and_resolv_conf() {
    let host = TestHost::new();
    let sandbox = Sandbox::new().in_test_host(&host);
    let ran = sandbox.run(&[
        "run",
        "--hostname",
        "web1",
        "--",
        "sh",
        "-c",
        "ip -o -4 addr show dev eth0; echo ---; cat /etc/hosts; echo ---; cat /etc/hostname; echo ---; \
         grep -c nameserver /etc/resolv.conf",
    ]);
    ran.expect_code(0, "the container should run and read its /etc files", ROUTES);
    let parts: Vec<&str> = ran.stdout.split("---\n").collect();
    let address = address_in(parts.first().unwrap_or(&""));
    let hosts_line = address.map(|a| format!("{a}\tweb1"));
    ensure(
        parts.len() == 4
            && hosts_line.as_ref().is_some_and(|line| parts[1].contains(line.as_str()))
            && parts[1].contains("127.0.0.1\tlocalhost")
            && parts[2].trim() == "web1"
            && parts[3].trim().parse::<u32>().is_ok_and(|n| n > 0),
        "/etc/hosts naming localhost and the container's address as web1, /etc/hostname web1, and a \
         resolv.conf with a name server",
        ran.transcript(),
        "an image's container gets its /etc/hosts, /etc/hostname and /etc/resolv.conf as a layer on top of \
         the image's, written from its lease",
        ROUTES,
    );
}

#[test]
#[serial]
fn a_published_port_answers_from_the_host_and_from_outside() {
    let host = TestHost::with_outside();
    let sandbox = Sandbox::new().in_test_host(&host);
    let server = sandbox.start(&[
        "run",
        "-p",
        "8080:80",
        "--",
        "sh",
        "-c",
        "echo to-the-host | nc -l -p 80; echo to-the-outside | nc -l -p 80",
    ]);
    let (server, _) = server.expect_process(|p| p.command == "nc", "the container's `nc -l -p 80`", NAT);
    let from_host = host.inside(|| read_from(HOST_ADDRESS, 8080));
    if from_host.as_deref().map(str::trim) != Ok("to-the-host") {
        drop(server);
        fail(
            format!("the container's server to answer on {HOST_ADDRESS}:8080 from the host itself"),
            format!("{from_host:?}"),
            "a connection that starts on the host goes through the nat output hook, not prerouting: DNAT the \
             published port in both",
            NAT,
        );
    }
    let from_outside = host.outside(|| read_from(HOST_ADDRESS, 8080));
    let ran = server.wait_for(Duration::from_secs(20), "the server to end after two connections", "", NAT);
    ensure(
        from_outside.as_deref().map(str::trim) == Ok("to-the-outside"),
        format!("the container's server to answer on {HOST_ADDRESS}:8080 from the outside host"),
        format!("{from_outside:?}{}", ran.transcript()),
        "traffic that arrives from outside goes through the nat prerouting hook: DNAT the published port there, \
         and the container needs its default route to answer",
        NAT,
    );
}

#[test]
#[serial]
fn outbound_traffic_leaves_with_the_hosts_address() {
    let host = TestHost::with_outside();
    // The outside host even knows the way back to the containers' subnet: only the source address
    // it sees tells whether the packets were masqueraded.
    host.route_back_from_outside();
    let sandbox = Sandbox::new().in_test_host(&host);
    let listener = host.outside(|| TcpListener::bind((OUTSIDE_ADDRESS, 9000)).expect("listening outside"));
    listener.set_nonblocking(true).expect("a non-blocking listener");
    // The outside host accepts one connection, reads it, and hangs up (so that nc ends).
    let outside = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut text = String::new();
                    let _ = stream.read_to_string(&mut text);
                    break Some(peer);
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        }
    });
    let ran = sandbox.run(&[
        "run",
        "--",
        "sh",
        "-c",
        &format!("echo from-the-container | nc -w 3 {OUTSIDE_ADDRESS} 9000; echo nc-ended-$?"),
    ]);
    let peer = if ran.stdout.contains("nc-ended-0") { outside.join().unwrap_or(None) } else { None };
    match peer {
        Some(peer) => ensure(
            peer.ip().to_string() == HOST_ADDRESS,
            format!("the outside host to see the test host's address {HOST_ADDRESS}"),
            format!("a connection from {peer}{}", ran.transcript()),
            "outbound traffic from the containers' subnet must be masqueraded (nat postrouting, for packets that \
             leave through another device than the bridge)",
            NAT,
        ),
        None => fail(
            format!("a connection from the container at the outside host {OUTSIDE_ADDRESS}:9000"),
            format!("none arrived{}", ran.transcript()),
            "the container needs a default route through the bridge, and its packets must leave masqueraded: the \
             outside host has no route back to 10.77.0.0/24",
            ROUTES,
        ),
    }
}

/// The devices of the test host other than `lo` and the bridge, once the host's veth ends of
/// ended containers have gone (the kernel removes them with the containers' namespaces, a moment
/// later: up to 5 s).
fn devices_besides_the_bridge(host: &TestHost) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> =
            host.inside(support::network::links).into_iter().filter(|l| l != "lo" && l != BRIDGE).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The test host's nftables tables and its table's published ports, as `nft` lists them.
fn nft_in(host: &TestHost, args: &[&str]) -> String {
    host.inside(|| {
        std::process::Command::new("nft")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| format!("nft: {e}"))
    })
}

/// The bridge's interface index in the test host, if it is there (not from /sys/class/net, which
/// shows the devices of the namespace that mounted /sys).
fn bridge_index(host: &TestHost) -> Option<u32> {
    let name = std::ffi::CString::new(BRIDGE).expect("no NUL in the name");
    // SAFETY: if_nametoindex reads a NUL-terminated string; it asks this thread's namespace.
    host.inside(|| Some(unsafe { libc::if_nametoindex(name.as_ptr()) }).filter(|index| *index != 0))
}

#[test]
#[serial]
fn nothing_is_left_when_the_container_ends_or_when_minibox_is_killed() {
    let host = TestHost::new();
    let sandbox = Sandbox::new().in_test_host(&host);
    sandbox.run(&["run", "-p", "8081:80", "--", "true"]).expect_code(0, "`true` should run", CLEANING_UP);
    let left = devices_besides_the_bridge(&host);
    let ports = nft_in(&host, &["list", "map", "ip", "minibox", "ports"]);
    ensure(
        left.is_empty() && !ports.contains("8081"),
        "no veth and no published port left once the only container has ended (the bridge stays)",
        format!("devices {left:?} besides lo and {BRIDGE}; the ports map: {ports}"),
        "the container's minibox must unpublish its ports as it gives its lease back; its veth goes with its \
         network namespace",
        CLEANING_UP,
    );
    let running = sandbox.start(&["run", "-p", "8082:80", "--", "sleep", "30"]);
    let (running, _) = running.expect_process(|p| p.command == "sleep", "`sleep 30`", CLEANING_UP);
    running.signal(libc::SIGKILL);
    // The next minibox, whatever its network, reclaims what the killed one left.
    let next = sandbox.run(&["run", "--network", "none", "--", "true"]);
    next.expect_code(0, "a minibox started after another was killed should run normally", CLEANING_UP);
    let left = devices_besides_the_bridge(&host);
    let ports = nft_in(&host, &["list", "map", "ip", "minibox", "ports"]);
    let leases = host.inside(|| {
        let inode = std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()).unwrap_or(0);
        let leases = format!("/run/minibox/net/{inode}/leases");
        std::fs::read_dir(leases).map(|d| d.count()).unwrap_or(0)
    });
    ensure(
        left.is_empty() && !ports.contains("8082") && leases == 0,
        "the killed minibox's veth, lease and published port reclaimed by the next minibox",
        format!(
            "devices {left:?} besides lo and {BRIDGE}; {leases} leases; the ports map: {ports}{}",
            next.transcript()
        ),
        "a lease whose lock can be taken belongs to a dead minibox: give back its ports, its veth (if it is still \
         there) and its address",
        CLEANING_UP,
    );
    // The killed run's own leak check.
    running.wait();
}

#[test]
#[serial]
fn the_bridge_stays_for_the_next_container_until_network_prune() {
    let host = TestHost::new();
    let sandbox = Sandbox::new().in_test_host(&host);
    let forwarding =
        || host.inside(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default());
    let before = forwarding();
    sandbox.run(&["run", "--", "true"]).expect_code(0, "`true` should run", CLEANING_UP);
    let first = bridge_index(&host);
    sandbox.run(&["run", "--", "true"]).expect_code(0, "`true` should run", CLEANING_UP);
    let second = bridge_index(&host);
    ensure(
        first.is_some() && first == second,
        format!("the bridge {BRIDGE} made by the first container and kept for the second (the same ifindex)"),
        format!("its index after the first run {first:?}, after the second {second:?}"),
        "the bridge, its address and the NAT rules are made once and stay, as docker0 does: the last container \
         does not take them away",
        CLEANING_UP,
    );
    // While a container holds an address, prune refuses and removes nothing.
    let running = sandbox.start(&["run", "--init", "--", "sleep", "30"]);
    let (running, _) = running.expect_process(|p| p.command == "sleep", "`sleep 30`", CLEANING_UP);
    let refused = sandbox.run(&["network", "prune"]);
    let refusal = refused.stderr.trim();
    ensure(
        refused.code == Some(125) && refusal.lines().count() == 1 && bridge_index(&host) == first,
        "`minibox network prune` to refuse in one line (exit code 125) while a container runs, and keep the bridge",
        refused.transcript(),
        "prune removes the bridge only when no lease is held by a live minibox",
        CLEANING_UP,
    );
    running.signal(libc::SIGTERM);
    running.wait();
    let pruned = sandbox.run(&["network", "prune"]);
    pruned.expect_code(0, "`minibox network prune` with no container left should succeed", CLEANING_UP);
    let tables = nft_in(&host, &["list", "tables"]);
    ensure(
        bridge_index(&host).is_none()
            && !tables.contains("minibox")
            && forwarding() == before
            && pruned.stdout.contains(BRIDGE),
        format!(
            "the bridge, the table ip minibox gone, ip_forward back to {}, and prune saying so",
            before.trim()
        ),
        format!("tables: {tables:?}; ip_forward {}{}", forwarding().trim(), pruned.transcript()),
        "prune removes the bridge, the nftables table, and puts back the forwarding setting found when the \
         bridge was made",
        CLEANING_UP,
    );
}

/// Send one datagram to `address:port` until an answer comes (for up to 10 s), and return it.
fn ask_over_udp(address: &str, port: u16) -> Result<String, String> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let _ = socket.set_read_timeout(Some(Duration::from_millis(300)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last_error = String::from("no answer");
    while Instant::now() < deadline {
        if let Err(error) = socket.send_to(b"hello", (address, port)) {
            last_error = error.to_string();
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let mut buffer = [0u8; 512];
        match socket.recv_from(&mut buffer) {
            Ok((n, _)) => return Ok(String::from_utf8_lossy(&buffer[..n]).into_owned()),
            Err(error) => last_error = error.to_string(),
        }
    }
    Err(last_error)
}

#[test]
#[serial]
fn every_published_port_answers_over_tcp_and_over_udp() {
    let host = TestHost::with_outside();
    let sandbox = Sandbox::new().in_test_host(&host);
    let rootfs = sandbox.busybox_rootfs("rootfs");
    // Three ports in one run: two over TCP, one over UDP. The probe answers each once.
    let server = sandbox.start(&[
        "run",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "-p",
        "8084:80",
        "-p",
        "5353:53/udp",
        "-p",
        "9094:90",
        "--",
        "/probe",
        "serve",
        "tcp/80",
        "udp/53",
        "tcp/90",
    ]);
    let (server, _) = server.expect_process(|p| p.command == "probe", "the container's probe server", NAT);
    let answers = host.outside(|| {
        [
            ("tcp", 8084, read_from(HOST_ADDRESS, 8084)),
            ("udp", 5353, ask_over_udp(HOST_ADDRESS, 5353)),
            ("tcp", 9094, read_from(HOST_ADDRESS, 9094)),
        ]
    });
    let ran = server.wait_for(Duration::from_secs(40), "the probe to end once each port was asked", "", NAT);
    for ((protocol, port, answer), endpoint) in answers.iter().zip(["tcp/80", "udp/53", "tcp/90"]) {
        ensure(
            answer.as_deref().is_ok_and(|text| text.starts_with(&format!("{endpoint} from "))),
            format!(
                "{HOST_ADDRESS}:{port}/{protocol} from the outside host to reach the container's {endpoint}"
            ),
            format!("{answer:?}{}", ran.transcript()),
            "every -p in the list is published, each with its own protocol: DNAT by the packet's protocol and \
             destination port (meta l4proto . th dport), not TCP alone",
            NAT,
        );
    }
}

#[test]
#[serial]
fn a_published_port_number_takes_only_traffic_to_the_hosts_own_addresses() {
    // The outside host serves the same port number as the one published: a connection to *its*
    // address must reach it, from the container (prerouting) and from the test host (output).
    let host = TestHost::with_outside();
    host.route_back_from_outside();
    let sandbox = Sandbox::new().in_test_host(&host);
    let listener = host.outside(|| TcpListener::bind((OUTSIDE_ADDRESS, 8085)).expect("listening outside"));
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let outside = std::thread::spawn(move || {
        let (deadline, mut served) = (Instant::now() + Duration::from_secs(30), 0);
        while served < 2 && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = std::io::Write::write_all(&mut stream, b"the-outside-host\n");
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let script = format!("nc -w 3 {OUTSIDE_ADDRESS} 8085 </dev/null; echo nc-ended; exec sleep 30");
    let running = sandbox.start(&["run", "-p", "8085:80", "--", "sh", "-c", &script]);
    let (running, _) = running.expect_process(|p| p.command == "sleep", "the container's `sleep 30`", NAT);
    // While the container (and its published port) lives, from the test host itself.
    let from_host = host.inside(|| read_from(OUTSIDE_ADDRESS, 8085));
    running.kill_container();
    let ran = running.wait();
    let _ = outside.join();
    let from_container = ran.stdout.split("nc-ended").next().unwrap_or("").trim().to_string();
    let cause = "a published port takes only packets addressed to the host itself (`fib daddr type local`): \
                 without it, every packet to that port number, to any machine, goes to the container";
    ensure(
        from_container == "the-outside-host",
        format!("the container's connection to {OUTSIDE_ADDRESS}:8085 to reach the outside host"),
        format!("{from_container:?}{}", ran.transcript()),
        cause,
        NAT,
    );
    ensure(
        from_host.as_deref().map(str::trim) == Ok("the-outside-host"),
        format!("the test host's connection to {OUTSIDE_ADDRESS}:8085 to reach the outside host"),
        format!("{from_host:?}"),
        cause,
        NAT,
    );
}
