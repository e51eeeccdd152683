//! The network chapter's share of the test support: test hosts (network namespaces the tests make, so that
//! no bridge, route or rule of a test reaches the real host and no packet leaves the namespaces a
//! test made), and the leak check's view of a network: leases, published ports and veths that no
//! live container holds, and the forwarding setting once the bridge is gone.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where minibox keeps each network namespace's network (`/run/minibox/net/<inode>`).
const RUN_DIR: &str = "/run/minibox/net";
/// The bridge and the table minibox makes.
pub const BRIDGE: &str = "minibox0";
pub const TABLE: &str = "minibox";
/// The test host's address towards the outside host, and the outside host's.
pub const HOST_ADDRESS: &str = "192.168.77.1";
pub const OUTSIDE_ADDRESS: &str = "192.168.77.2";
/// The bridge's address (the containers' gateway).
pub const GATEWAY: &str = "10.77.0.1";

const CLEANING_UP: &str = "network, \"Cleaning up the network\"";
const PREFIX: &str = "minibox-test-";

static HOSTS: AtomicU32 = AtomicU32::new(0);

/// A "test host": a network namespace of the test's own, with its loopback up, in which minibox
/// runs; with [`TestHost::with_outside`], a second namespace, the "outside", linked to it by a
/// veth pair (192.168.77.1 here, 192.168.77.2 there) and to nothing else. Both are removed when
/// the value is dropped, also when the test fails.
pub struct TestHost {
    pub name: String,
    pub path: PathBuf,
    outside: Option<String>,
    /// minibox's directory for this namespace's network, removed with the namespace: a run cut
    /// short (a timeout) may leave a lease there, which no later run in this namespace reclaims.
    network_dir: PathBuf,
}

impl TestHost {
    pub fn new() -> TestHost {
        sweep_stale_namespaces();
        let name = format!("{PREFIX}{}-{}", std::process::id(), HOSTS.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name]);
        let path = PathBuf::from("/run/netns").join(&name);
        let inode = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
        let network_dir = Path::new(RUN_DIR).join(inode.to_string());
        let host = TestHost { path, name, outside: None, network_dir };
        ip(&["-n", &host.name, "link", "set", "lo", "up"]);
        host
    }

    /// A test host with an outside host beyond it.
    pub fn with_outside() -> TestHost {
        let mut host = TestHost::new();
        let outside = format!("{}-out", host.name);
        ip(&["netns", "add", &outside]);
        host.outside = Some(outside.clone());
        ip(&[
            "-n", &host.name, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns",
            &outside,
        ]);
        ip(&["-n", &host.name, "addr", "add", &format!("{HOST_ADDRESS}/24"), "dev", "uplink"]);
        ip(&["-n", &host.name, "link", "set", "uplink", "up"]);
        ip(&["-n", &outside, "addr", "add", &format!("{OUTSIDE_ADDRESS}/24"), "dev", "eth0"]);
        ip(&["-n", &outside, "link", "set", "eth0", "up"]);
        ip(&["-n", &outside, "link", "set", "lo", "up"]);
        host
    }

    /// Give the outside host a route to the containers' subnet through the test host.
    pub fn route_back_from_outside(&self) {
        let outside = self.outside.as_ref().expect("a test host made with_outside()");
        ip(&["-n", outside, "route", "add", "10.77.0.0/24", "via", HOST_ADDRESS]);
    }

    /// Run `f` on a thread inside the test host's network namespace.
    pub fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_namespace(Some(&self.path), f)
    }

    /// Run `f` on a thread inside the outside host's network namespace.
    pub fn outside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let outside = self.outside.as_ref().expect("a test host made with_outside()");
        in_namespace(Some(&Path::new("/run/netns").join(outside)), f)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        for name in self.outside.iter().chain([&self.name]) {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
        let _ = std::fs::remove_dir_all(&self.network_dir);
        for empty in [Path::new(RUN_DIR), Path::new("/run/minibox")] {
            let _ = std::fs::remove_dir(empty);
        }
    }
}

/// Remove the test hosts of test runs that are gone (killed before their `Drop` ran).
fn sweep_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) =
            name.strip_prefix(PREFIX).and_then(|rest| rest.split('-').next()?.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => super::fixture_failed(
            &format!("ip {}", args.join(" ")),
            String::from_utf8_lossy(&output.stderr).trim(),
        ),
        Err(error) => {
            super::fixture_failed(&format!("ip {} (is iproute2 installed?)", args.join(" ")), error)
        }
    }
}

/// Run `f` on a thread of its own inside the network namespace at `path` (this process's own
/// when `None`). Programs that `f` starts run in that namespace too.
pub fn in_namespace<T: Send>(path: Option<&Path>, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(path) = path {
                    let namespace =
                        File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
                    // SAFETY: setns takes a descriptor that `namespace` keeps open; it changes
                    // this thread's network namespace only.
                    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        panic!(
                            "entering the network namespace {}: {}",
                            path.display(),
                            std::io::Error::last_os_error()
                        );
                    }
                }
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// What a network namespace holds of minibox's, for the leak check. The bridge, its address, the
/// nftables table and the forwarding setting stay between containers (until `minibox network
/// prune`): they are no leak. A lease, a published port or a veth of a container that is gone is.
pub struct NetworkState {
    /// Leases whose minibox is alive: their containers' things are not leaks.
    live_ids: BTreeSet<String>,
    leftovers: BTreeSet<Leftover>,
    bridge: bool,
    ip_forward: String,
}

/// Something of minibox's that no live container holds.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Leftover {
    /// The lease file's path and its container's id.
    Lease(PathBuf, String),
    /// A host end of a veth pair (`mb` and a container id).
    Veth(String),
    /// An element of the table's `ports` map: its key (`tcp . 8081`) and its target.
    Port(String, String),
}

impl Leftover {
    fn describe(&self) -> String {
        match self {
            Leftover::Lease(path, id) => format!("a lease of {} for container {id}", path.display()),
            Leftover::Veth(name) => format!("the veth {name}"),
            Leftover::Port(key, to) => format!("the published port {key} (to {to}) in table ip {TABLE}"),
        }
    }
}

impl NetworkState {
    /// A look at the network namespace at `namespace` (this process's own when `None`), under
    /// the network's lock, so that no minibox is halfway through making or removing it.
    pub fn now(namespace: Option<&Path>) -> NetworkState {
        in_namespace(namespace, || {
            let dir = network_dir();
            let _locked = File::open(dir.join("lock")).ok().filter(|lock| {
                // SAFETY: flock takes a descriptor that `lock` keeps open.
                unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) == 0 }
            });
            let mut live_ids = BTreeSet::new();
            let mut live_addresses = BTreeSet::new();
            let mut leftovers = BTreeSet::new();
            for entry in std::fs::read_dir(dir.join("leases")).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let id = text.lines().next().unwrap_or("").to_string();
                let Ok(lease) = File::open(entry.path()) else { continue };
                // SAFETY: as above; a lock we can take means its minibox is gone.
                if unsafe { libc::flock(lease.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                    leftovers.insert(Leftover::Lease(entry.path(), id));
                } else {
                    live_ids.insert(id);
                    live_addresses.insert(entry.file_name().to_string_lossy().into_owned());
                }
            }
            let links = links();
            for link in &links {
                let veth_of = link.strip_prefix("mb").filter(|id| id.len() == 12);
                if veth_of.is_some_and(|id| !live_ids.contains(id)) {
                    leftovers.insert(Leftover::Veth(link.clone()));
                }
            }
            for (key, to) in published_ports() {
                let address = to.split(" . ").next().unwrap_or("");
                if !live_addresses.contains(address) {
                    leftovers.insert(Leftover::Port(key, to));
                }
            }
            let ip_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
            NetworkState {
                live_ids,
                leftovers,
                bridge: links.iter().any(|l| l == BRIDGE),
                ip_forward: ip_forward.trim().to_string(),
            }
        })
    }

    /// What is left now that was not before, as (what, likely cause, book section); cleaned up.
    /// A host's veth end goes when the kernel has taken the container's namespace apart, a
    /// moment after the container's end: a veth is waited for (up to 5 s) before it counts.
    pub fn new_leftovers(&self, namespace: Option<&Path>) -> Vec<(String, &'static str, &'static str)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let now = loop {
            let now = NetworkState::now(namespace);
            let waiting = now
                .leftovers
                .difference(&self.leftovers)
                .any(|leftover| matches!(leftover, Leftover::Veth(_)));
            if !waiting || std::time::Instant::now() >= deadline {
                break now;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let new: Vec<&Leftover> = now.leftovers.difference(&self.leftovers).collect();
        let mut found: Vec<(String, &'static str, &'static str)> = new
            .iter()
            .map(|leftover| {
                let cause = "the container's network must be given back when it ends, on every path (a guard's \
                             Drop): its lease and its published ports; its veth goes with its namespace; and \
                             what a killed minibox left must be reclaimed by the next run";
                (format!("{}, in the network namespace minibox ran in", leftover.describe()), cause, CLEANING_UP)
            })
            .collect();
        let no_bridge = !self.bridge && !now.bridge && self.live_ids.is_empty() && now.live_ids.is_empty();
        if no_bridge && now.ip_forward != self.ip_forward {
            found.push((
                format!("net.ipv4.ip_forward is {} (it was {}) with no bridge", now.ip_forward, self.ip_forward),
                "minibox turns forwarding on for the bridge and must put the setting back when the bridge goes \
                 (minibox network prune)",
                CLEANING_UP,
            ));
        }
        if !found.is_empty() {
            clean_up(namespace, &new, &self.ip_forward);
        }
        found
    }
}

/// Remove what a leak check found.
fn clean_up(namespace: Option<&Path>, leftovers: &[&Leftover], ip_forward: &str) {
    in_namespace(namespace, || {
        for leftover in leftovers {
            match leftover {
                Leftover::Lease(path, _) => {
                    let _ = std::fs::remove_file(path);
                }
                Leftover::Veth(name) => {
                    let _ = Command::new("ip").args(["link", "del", name]).status();
                }
                Leftover::Port(key, _) => {
                    let element = format!("{{ {key} }}");
                    let _ = Command::new("nft")
                        .args(["delete", "element", "ip", TABLE, "ports", &element])
                        .output();
                }
            }
        }
        if !links().iter().any(|l| l == BRIDGE) {
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", ip_forward);
        }
    });
}

/// The elements of the table's `ports` map in this thread's network namespace, as (key, target):
/// (`tcp . 8081`, `10.77.0.2 . 80`).
fn published_ports() -> Vec<(String, String)> {
    let output = Command::new("nft").args(["list", "map", "ip", TABLE, "ports"]).output();
    let text = match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).into_owned(),
        _ => return Vec::new(),
    };
    let Some(elements) = text.split_once("elements = {").map(|(_, rest)| rest) else { return Vec::new() };
    let elements = elements.split('}').next().unwrap_or("");
    elements
        .split(',')
        .filter_map(|element| {
            let (key, to) = element.split_once(':')?;
            let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            Some((squeeze(key), squeeze(to)))
        })
        .collect()
}

/// This thread's network namespace's directory in minibox's run directory.
fn network_dir() -> PathBuf {
    let inode = std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()).unwrap_or(0);
    Path::new(RUN_DIR).join(inode.to_string())
}

/// The names of this thread's network namespace's devices.
pub fn links() -> Vec<String> {
    let output = Command::new("ip").args(["-o", "link", "show"]).output();
    let text = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}
