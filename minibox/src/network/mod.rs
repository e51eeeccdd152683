//@ begin network
//! The network chapter: a network namespace of the container's own, and with `--network
//! bridge` (the default, as Docker's) a veth pair that links it to a bridge on the host, an
//! address from a small IPAM, a default route, NAT for outbound traffic, and published ports.
//!
//! The host's side lives in the network namespace minibox runs in: the bridge `minibox0`, one
//! veth end per container, the nftables table `minibox`, and the network's own directory (its
//! lock and its leases). The first bridged container makes the bridge and the table, and they
//! stay, as Docker's `docker0` does, so that a container's start and end cost only its own veth,
//! lease and ports; `minibox network prune` removes them when no container holds an address.

pub mod ipam;
pub mod nat;
pub mod netlink;

use crate::process::channel::{Channel, Message};
use crate::step;
use anyhow::{Context, Result, bail};
//@ exercise network imports
use netlink::VethPair;
use nix::sched::{CloneFlags, unshare};
//@ end network imports
use ipam::{GATEWAY, Lease, PREFIX};
use netlink::Netlink;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The bridge every container of the host's network namespace is plugged into.
pub const BRIDGE: &str = "minibox0";
/// The container's end of its veth pair.
pub const CONTAINER_DEVICE: &str = "eth0";
/// Where the networks' directories live, one per network namespace that minibox runs in.
pub const RUN_DIR: &str = "/run/minibox/net";

/// `--network`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A network namespace with nothing but `lo`.
    None,
    /// The host's own network namespace: no isolation at all.
    Host,
    /// A network namespace plugged into the bridge.
    #[default]
    Bridge,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "none" => Ok(Mode::None),
            "host" => Ok(Mode::Host),
            "bridge" => Ok(Mode::Bridge),
            other => Err(format!("`{other}` is not a network mode: use none, host or bridge")),
        }
    }
}

/// `-p HOSTPORT:CONTAINERPORT[/tcp|/udp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub host: u16,
    pub container: u16,
    pub protocol: &'static str,
}

impl std::str::FromStr for Published {
    type Err = String;
    fn from_str(text: &str) -> Result<Published, String> {
        let wrong =
            || format!("-p wants HOSTPORT:CONTAINERPORT[/tcp|/udp] with ports 1 to 65535, not `{text}`");
        let (ports, protocol) = match text.split_once('/') {
            Some((ports, "tcp")) => (ports, "tcp"),
            Some((ports, "udp")) => (ports, "udp"),
            Some(_) => return Err(wrong()),
            None => (text, "tcp"),
        };
        let (host, container) = ports.split_once(':').ok_or_else(wrong)?;
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(wrong);
        Ok(Published { host: port(host)?, container: port(container)?, protocol })
    }
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.host, self.container, self.protocol)
    }
}

/// A container's network, seen from the parent: made before the fork, released when the
/// container has ended (or by `Drop`, on an error path).
pub struct Network {
    pub mode: Mode,
    bridged: Option<Bridged>,
}

/// What a bridged container holds on the host.
struct Bridged {
    dir: NetworkDir,
    lease: Option<Lease>,
    /// The host's end of the veth pair (`mb` and the container id: 14 characters, under the
    /// kernel's 15).
    host_device: String,
    ports: Vec<Published>,
    hostname: String,
}

impl Network {
    /// In the parent, before the fork: for a bridged container, take an address and make sure
    /// the bridge and the NAT rules exist.
    pub fn prepare(mode: Mode, ports: &[Published], id: &str, hostname: &str) -> Result<Network> {
        if mode != Mode::Bridge {
            if !ports.is_empty() {
                bail!("-p publishes a port of a container on the bridge: it needs --network bridge");
            }
            return Ok(Network { mode, bridged: None });
        }
        nat::check_nft_installed()?;
        let dir = NetworkDir::of_this_namespace()?;
        let locked = dir.lock()?;
        let (lease, dir) = match dir.reclaim_orphans().and_then(|()| ipam::allocate(&dir.leases(), id, ports))
        {
            Ok(lease) => (lease, dir),
            Err(error) => {
                drop(locked);
                return Err(error);
            }
        };
        step!("address {}/{PREFIX} on {BRIDGE}", lease.address);
        let host_device = format!("mb{id}");
        let hostname = hostname.to_string();
        let bridged = Bridged { dir, lease: Some(lease), host_device, ports: ports.to_vec(), hostname };
        // From here on, dropping `network` gives everything back (under the lock, so not before
        // this one is let go).
        let network = Network { mode, bridged: Some(bridged) };
        let bridged = network.bridged.as_ref().expect("just made");
        // A panic here (a stub's `todo!`) must unwind with the lock let go: dropping `network`
        // takes the lock again, and would wait for this one forever.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bridged.dir.ensure_bridge()));
        drop(locked);
        made.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok(network)
    }

    /// For a bridged container, a directory holding its `etc/hosts`, `etc/hostname` and
    /// `etc/resolv.conf`, written under `dir` (which goes with the container), to lay over its
    /// root filesystem: `None` for the other modes.
    pub fn etc_layer(&self, dir: &Path) -> Result<Option<PathBuf>> {
        let Some(bridged) = &self.bridged else { return Ok(None) };
        let (address, name) = (bridged.address(), &bridged.hostname);
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
        let hosts =
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{name}\n");
        let resolv = resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        for (file, content) in [("hosts", hosts), ("hostname", format!("{name}\n")), ("resolv.conf", resolv)]
        {
            std::fs::write(etc.join(file), content)
                .with_context(|| format!("writing {}/{file}", etc.display()))?;
        }
        Ok(Some(dir.to_path_buf()))
    }

    // ANCHOR: enter
    /// In the child, after the fork: a network namespace of its own (not with `--network host`);
    /// loopback up; for a bridged container, wait until the parent has put its end of the veth
    /// pair in, then configure it.
    pub fn enter(&self, channel: &Channel) -> Result<()> {
        if self.mode == Mode::Host {
            return Ok(());
        }
        let mut netlink = new_network_namespace()?;
        let Some(bridged) = &self.bridged else { return Ok(()) };
        channel.send(Message::NamespacesMade)?;
        channel.expect(Message::NetworkReady, "minibox")?;
        configure_container_side(&mut netlink, bridged.address())
    }
    // ANCHOR_END: enter

    /// In the parent, once the child has made its namespace: the veth pair, its host end on the
    /// bridge, the published ports; then let the child go on.
    pub fn attach(&self, child: nix::unistd::Pid, channel: &Channel) -> Result<()> {
        let Some(bridged) = &self.bridged else { return Ok(()) };
        channel.expect(Message::NamespacesMade, "the container")?;
        let mut netlink = Netlink::open()?;
        let pid = u32::try_from(child.as_raw()).context("the child's pid")?;
        connect_to_bridge(&mut netlink, &bridged.host_device, pid)?;
        nat::publish(&bridged.ports, bridged.address())?;
        step!("{} <-> {CONTAINER_DEVICE} of pid {pid}, on {BRIDGE}", bridged.host_device);
        channel.send(Message::NetworkReady)
    }

    /// Give everything back: the ports and the address. The veth goes with the container's
    /// network namespace (the kernel destroys both ends), without minibox waiting for it; the
    /// bridge and the NAT rules stay for the next container.
    pub fn release(mut self) -> Result<()> {
        match self.bridged.take() {
            Some(bridged) => bridged.release(),
            None => Ok(()),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(bridged) = self.bridged.take()
            && let Err(error) = bridged.release()
        {
            eprintln!("minibox: warning: {error:#}");
        }
    }
}

// ANCHOR: new_network_namespace
/// Move this process into a network namespace of its own, with its loopback device up (a new
/// namespace's `lo` starts down), and return a netlink socket that speaks to that namespace.
pub fn new_network_namespace() -> Result<Netlink> {
    //@ exercise network new_network_namespace
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET): creating a network namespace")?;
    // A netlink socket talks to the namespace it was opened in: open it after unshare.
    let mut netlink = Netlink::open()?;
    netlink.set_up("lo")?;
    Ok(netlink)
    //@ stub
    //| todo!("chapter {chapter}, `new_network_namespace`: give this process a network namespace of its own, with its loopback device up; `cargo xtask hint network new_network_namespace` helps (book: Chapter {chapter}, \"Network namespaces\")")
    //@ end network new_network_namespace
}
// ANCHOR_END: new_network_namespace

// ANCHOR: connect_to_bridge
/// The host's side of a container's link, in one netlink request: a veth pair whose one end
/// (`eth0`) is made inside the network namespace of process `pid` and whose other end,
/// `host_device`, stays here, plugged into the bridge and up.
pub fn connect_to_bridge(netlink: &mut Netlink, host_device: &str, pid: u32) -> Result<()> {
    //@ exercise network connect_to_bridge
    let bridge = netlink.index_of(BRIDGE)?;
    netlink.create_veth(&VethPair {
        host: host_device,
        peer: CONTAINER_DEVICE,
        peer_netns_pid: pid,
        controller: Some(bridge),
        up: true,
    })
    //@ stub
    //| let _ = (netlink, host_device, pid);
    //| todo!("chapter {chapter}, `connect_to_bridge`: make the veth pair with one end in the container's network namespace and the other on the bridge; `cargo xtask hint network connect_to_bridge` helps (book: Chapter {chapter}, \"A cable between namespaces: veth\")")
    //@ end network connect_to_bridge
}
// ANCHOR_END: connect_to_bridge

// ANCHOR: configure_container_side
/// Inside the container's network namespace, once `eth0` is there: give it `address` on the
/// bridge's subnet, bring it up, and send everything else to the bridge (the default route).
pub fn configure_container_side(netlink: &mut Netlink, address: Ipv4Addr) -> Result<()> {
    //@ exercise network configure_container_side
    netlink.add_address(CONTAINER_DEVICE, address, PREFIX)?;
    netlink.set_up(CONTAINER_DEVICE)?;
    netlink.add_default_route(GATEWAY)
    //@ stub
    //| let _ = (netlink, address);
    //| todo!("chapter {chapter}, `configure_container_side`: give the container's end of the veth pair its address, bring it up, and route everything else through the bridge; `cargo xtask hint network configure_container_side` helps (book: Chapter {chapter}, \"Routes\")")
    //@ end network configure_container_side
}
// ANCHOR_END: configure_container_side

impl Bridged {
    fn address(&self) -> Ipv4Addr {
        self.lease.as_ref().map_or(Ipv4Addr::UNSPECIFIED, |lease| lease.address)
    }

    fn release(mut self) -> Result<()> {
        let _locked = self.dir.lock()?;
        let mut problems = Vec::new();
        let mut note = |outcome: Result<()>| {
            if let Err(error) = outcome {
                problems.push(format!("{error:#}"));
            }
        };
        note(nat::unpublish(&self.ports));
        // No `ip link del` of the veth: the container's namespace goes once its last process
        // has, and the kernel destroys the pair with it (a delete cost 28-36 ms, mostly
        // waiting for the kernel's grace periods).
        if let Some(lease) = self.lease.take() {
            note(lease.release());
        }
        note(self.dir.reclaim_orphans());
        if !problems.is_empty() {
            bail!("releasing the container's network: {}", problems.join("; "));
        }
        Ok(())
    }
}

/// The network of one network namespace: `/run/minibox/net/<the namespace's inode>`. The
/// namespace's inode names it: two namespaces alive at once never share one.
struct NetworkDir {
    path: PathBuf,
}

impl NetworkDir {
    fn of_this_namespace() -> Result<NetworkDir> {
        let namespace = std::fs::metadata("/proc/self/ns/net").context("reading /proc/self/ns/net")?;
        Ok(NetworkDir { path: Path::new(RUN_DIR).join(namespace.ino().to_string()) })
    }

    fn leases(&self) -> PathBuf {
        self.path.join("leases")
    }

    /// Wait for the network's lock: allocation, the bridge's making and its removal happen
    /// one minibox at a time. The lock file goes with `minibox network prune`, so a lock taken
    /// is checked to be on the file that is still there (or taken again).
    fn lock(&self) -> Result<File> {
        loop {
            std::fs::create_dir_all(&self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
            let path = self.path.join("lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            file.lock().with_context(|| format!("locking {}", path.display()))?;
            let still_there = std::fs::metadata(&path).ok().map(|m| m.ino());
            if still_there == Some(file.metadata()?.ino()) {
                return Ok(file);
            }
        }
    }

    /// Under the lock: give back what killed miniboxes held (their ports, their veth if it is
    /// still there, their address). The bridge and the NAT rules stay.
    fn reclaim_orphans(&self) -> Result<()> {
        let leases = self.leases();
        let orphans = ipam::orphans(&leases)?;
        if !orphans.is_empty() {
            let mut netlink = Netlink::open()?;
            for (record, _locked) in &orphans {
                step!("reclaiming {} from container {} (its minibox was killed)", record.address, record.id);
                let _ = nat::unpublish(&record.ports);
                netlink.delete_link(&format!("mb{}", record.id))?;
                ipam::forget(&leases, record)?;
            }
        }
        Ok(())
    }

    /// Make the bridge, its address and the NAT rules, unless they are there already.
    fn ensure_bridge(&self) -> Result<()> {
        if netlink::exists(BRIDGE) {
            return Ok(());
        }
        let mut netlink = Netlink::open()?;
        netlink.create_bridge(BRIDGE)?;
        netlink.add_address(BRIDGE, GATEWAY, PREFIX)?;
        netlink.set_up(BRIDGE)?;
        nat::create_table(BRIDGE)?;
        // The host forwards the containers' packets (between the bridge and its other devices)
        // only with forwarding on. Remember the setting found, to put it back at the end.
        let before = std::fs::read_to_string(IP_FORWARD).with_context(|| format!("reading {IP_FORWARD}"))?;
        if before.trim() != "1" {
            std::fs::write(self.path.join("ip_forward.before"), &before)?;
            std::fs::write(IP_FORWARD, "1")
                .with_context(|| format!("turning forwarding on ({IP_FORWARD})"))?;
        }
        step!("made the bridge {BRIDGE} ({GATEWAY}/{PREFIX}) and the nftables table {}", nat::TABLE);
        Ok(())
    }

    /// No container holds an address: the bridge, the NAT rules, the forwarding setting as it
    /// was, and this directory. Returns what it removed, for `minibox network prune` to say.
    fn remove_bridge(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut netlink = Netlink::open()?;
        if netlink.delete_link(BRIDGE)? {
            removed.push(format!("the bridge {BRIDGE}"));
        }
        if nat::table_exists() {
            nat::delete_table()?;
            removed.push(format!("the nftables table ip {}", nat::TABLE));
        }
        let saved = self.path.join("ip_forward.before");
        if let Ok(before) = std::fs::read_to_string(&saved) {
            std::fs::write(IP_FORWARD, before.trim()).with_context(|| format!("restoring {IP_FORWARD}"))?;
            std::fs::remove_file(&saved).with_context(|| format!("removing {}", saved.display()))?;
            removed.push(format!("forwarding (net.ipv4.ip_forward back to {})", before.trim()));
        }
        // The lock file goes last: whoever waits on it sees it gone and takes a new one.
        for entry in ["leases", "lock"] {
            let path = self.path.join(entry);
            let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
        }
        let _ = std::fs::remove_dir(&self.path);
        let _ = std::fs::remove_dir(RUN_DIR);
        let _ = std::fs::remove_dir(Path::new(RUN_DIR).parent().unwrap_or(Path::new(RUN_DIR)));
        Ok(removed)
    }
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Reclaim what killed miniboxes left in this network namespace's network (for `minibox run`'s
/// sweep of leftovers). Cheap when there is no network directory.
pub fn reclaim() -> Result<usize> {
    let dir = NetworkDir::of_this_namespace()?;
    if !dir.path.exists() {
        return Ok(0);
    }
    let _locked = dir.lock()?;
    let before = ipam::read_all(&dir.leases())?.len();
    dir.reclaim_orphans()?;
    Ok(before - ipam::read_all(&dir.leases())?.len())
}

/// `minibox network prune`: remove the bridge, its NAT rules and the forwarding setting that
/// bridged containers share in this network namespace, once no container holds an address
/// (after reclaiming what killed miniboxes left). Returns what it removed; refuses while a
/// container runs.
pub fn prune() -> Result<Vec<String>> {
    let dir = NetworkDir::of_this_namespace()?;
    let _locked = dir.lock()?;
    dir.reclaim_orphans()?;
    let holders = ipam::read_all(&dir.leases())?;
    if !holders.is_empty() {
        let list: Vec<String> =
            holders.iter().map(|lease| format!("{} ({})", lease.id, lease.address)).collect();
        let (who, them) = if list.len() == 1 { ("a container is", "it") } else { ("containers are", "them") };
        bail!(
            "{who} still on {BRIDGE}: {}; stop {them} first (the bridge stays while one runs)",
            list.join(", ")
        );
    }
    dir.remove_bridge()
}

/// The host's resolver configuration as a container can use it: a name server on the host's
/// loopback (systemd-resolved's 127.0.0.53) is not reachable from the container's own loopback,
/// so those go; when none is left, public ones take their place (as Docker does).
pub fn resolv_conf(host: &str) -> String {
    let mut kept: Vec<&str> = host
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(server)) => !(server.starts_with("127.") || server == "::1"),
                _ => true,
            }
        })
        .collect();
    let servers = kept.iter().filter(|l| l.trim_start().starts_with("nameserver")).count();
    if servers == 0 {
        kept.extend(["nameserver 8.8.8.8", "nameserver 8.8.4.4"]);
    }
    kept.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_are_parsed_and_checked() {
        let p: Published = "8080:80".parse().unwrap();
        assert_eq!((p.host, p.container, p.protocol), (8080, 80, "tcp"));
        assert_eq!("53:53/udp".parse::<Published>().unwrap().protocol, "udp");
        for bad in ["80", "0:80", "70000:80", "a:b", "1:2/sctp", ":80"] {
            assert!(bad.parse::<Published>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn loopback_name_servers_are_replaced() {
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\nsearch lan\n"),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(resolv_conf("nameserver 192.168.1.1\n"), "nameserver 192.168.1.1\n");
    }
}
//@ end network
