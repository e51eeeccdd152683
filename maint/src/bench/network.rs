//! The bench's own network: a network namespace the bench runs in (so that minibox's bridge,
//! its nftables table and `ip_forward` are made there, never on the host, and go with the bench
//! even on Ctrl-C), and a bridge in it that runc's and crun's containers are plugged into the
//! way a CNI bridge plugin plugs them.
//!
//! What a CNI bridge plugin does for `podman run` (the runtime is given the network namespace by
//! path in `config.json`, and is not part of this): make a network namespace; make a veth pair
//! with one end in it, the other on the bridge and up; give the container's end an address and a
//! default route, and bring up `lo`; after the container, delete the namespace (the kernel
//! removes the veth with it). Here each of those is an `ip` run, timed as part of the launch:
//! `ip -batch` (the namespace, and the pair made, plugged and up in one netlink request), `ip -n
//! NS -batch` (the container's side), the runtime, `ip netns del`. Three processes, where a CNI
//! plugin set-up runs two or four (the bridge plugin and its IPAM plugin, for ADD and for DEL):
//! the process cost is of the same kind, and the IPAM file and the per-container iptables rules
//! the bridge plugin also makes are left out, in the OCI runtimes' favour.

use super::measure::run_checked;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bridge in the bench's network namespace, its address, and the containers' address.
const BRIDGE: &str = "mbbench0";
const GATEWAY: &str = "172.31.250.1";
const ADDRESS: &str = "172.31.250.2";
const PREFIX: u8 = 24;
/// Where `ip netns add` puts a namespace's name (on the host's /run).
const NETNS_DIR: &str = "/run/netns";

/// minibox keeps a bridged network's state in `/run/minibox/net/<inode of the namespace>`,
/// outside the namespace: `minibox network prune` removes it at the end, and this file (holding
/// the inode) lets the next bench remove it when this one is interrupted first.
const NAMESPACE_MARKER: &str = "/run/minibox-bench-netns-";
const MINIBOX_NET_DIR: &str = "/run/minibox/net";

/// Move this thread (and every process started from it from now on) into a network namespace of
/// its own, with `lo` up. Nothing made in it reaches the host, and it goes when the bench ends.
pub fn enter_own_namespace(ip: &Path) -> Result<OwnNamespace> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/proc/thread-self/ns/net")?);
    let marker = PathBuf::from(format!("{NAMESPACE_MARKER}{}", std::process::id()));
    std::fs::write(&marker, inode.to_string()).with_context(|| format!("writing {}", marker.display()))?;
    run_checked(Command::new(ip).args(["link", "set", "lo", "up"]), "ip link set lo up")?;
    Ok(OwnNamespace { marker, inode })
}

/// The bench's network namespace: its marker file goes when the bench ends normally.
pub struct OwnNamespace {
    marker: PathBuf,
    pub inode: u64,
}

impl OwnNamespace {
    /// minibox's network directory for this namespace.
    pub fn minibox_dir(&self) -> PathBuf {
        Path::new(MINIBOX_NET_DIR).join(self.inode.to_string())
    }
}

impl Drop for OwnNamespace {
    /// On a failure half-way minibox's network directory may still be there (on success
    /// `minibox network prune` removed it, or the leak check said so): no one else can use it.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.minibox_dir());
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// The bridge, and the per-launch steps that plug an OCI runtime's container into it.
pub struct Bridge {
    ip: PathBuf,
    /// `mbb-<pid>-`: the bench's namespace names start with it.
    prefix: String,
    /// The batch files (`ip -batch`).
    dir: PathBuf,
}

impl Bridge {
    /// Make the bridge (in the bench's own network namespace), with the gateway's address, up.
    pub fn new(ip: &Path, dir: &Path) -> Result<Bridge> {
        std::fs::create_dir_all(dir)?;
        let bridge =
            Bridge { ip: ip.to_path_buf(), prefix: format!("mbb-{}-", std::process::id()), dir: dir.into() };
        run_checked(
            Command::new(ip).args(["link", "add", BRIDGE, "type", "bridge"]),
            "ip link add (bridge)",
        )?;
        run_checked(
            Command::new(ip).args(["addr", "add", &format!("{GATEWAY}/{PREFIX}"), "dev", BRIDGE]),
            "ip addr add (bridge)",
        )?;
        run_checked(Command::new(ip).args(["link", "set", BRIDGE, "up"]), "ip link set (bridge) up")?;
        // `ip netns add` makes /run/netns a mount point (in the bench's mount namespace) the
        // first time: once now, so that the leak check's list of mounts already has it.
        let warm_up = format!("{}warm-up", bridge.prefix);
        run_checked(Command::new(ip).args(["netns", "add", &warm_up]), "ip netns add")?;
        run_checked(Command::new(ip).args(["netns", "del", &warm_up]), "ip netns del")?;
        std::fs::write(
            bridge.dir.join("container.batch"),
            format!(
                "link set lo up\naddr add {ADDRESS}/{PREFIX} dev eth0\nlink set eth0 up\n\
                 route add default via {GATEWAY}\n"
            ),
        )?;
        Ok(bridge)
    }

    /// The namespace `runtime`'s containers are given by path (made and deleted at each launch).
    pub fn namespace_path(&self, runtime: &str) -> String {
        format!("{NETNS_DIR}/{}{runtime}", self.prefix)
    }

    /// Launch `n` of `runtime` (`run` is the runtime's own command): the network made, the
    /// runtime, the network removed. The host's end of a veth lives until the kernel has
    /// cleaned up the deleted namespace, a moment later: each launch names its own.
    pub fn steps(&self, runtime: &str, n: usize, run: Command) -> Vec<Command> {
        let namespace = format!("{}{runtime}", self.prefix);
        let veth = format!("mbb{}{}", &runtime[..1], n % 1_000_000);
        let batch = self.dir.join(format!("{runtime}.batch"));
        let written = std::fs::write(
            &batch,
            format!(
                "netns add {namespace}\nlink add {veth} up master {BRIDGE} type veth peer name eth0 netns {namespace}\n"
            ),
        );
        if let Err(error) = written {
            eprintln!("bench: writing {}: {error}", batch.display());
        }
        let mut make = Command::new(&self.ip);
        make.arg("-batch").arg(&batch);
        let mut inside = Command::new(&self.ip);
        inside.args(["-n", &namespace, "-batch"]).arg(self.dir.join("container.batch"));
        let mut delete = Command::new(&self.ip);
        delete.args(["netns", "del", &namespace]);
        vec![make, inside, run, delete]
    }

    /// Namespaces of this bench still named in /run/netns (a launch failed half-way).
    pub fn leftovers(&self) -> Vec<String> {
        names_in_netns_dir().into_iter().filter(|name| name.starts_with(&self.prefix)).collect()
    }
}

impl Drop for Bridge {
    /// Delete what a failed launch left, then the bridge (the bench's network namespace goes
    /// with the bench anyway; this keeps the names in /run/netns tidy).
    fn drop(&mut self) {
        for name in self.leftovers() {
            let _ = Command::new(&self.ip).args(["netns", "del", &name]).output();
        }
        let _ = Command::new(&self.ip).args(["link", "del", BRIDGE]).output();
    }
}

fn names_in_netns_dir() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect()
}

/// minibox's network directories of interrupted benches' namespaces (gone with their bench).
fn remove_stale_minibox_dirs() -> Vec<String> {
    let mut removed = Vec::new();
    let Some((dir, prefix)) = NAMESPACE_MARKER.rsplit_once('/') else { return removed };
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let inode = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let inode = inode.trim();
        // The kernel reuses a namespace's inode number once it is freed: a live namespace with
        // the same number (a process in it, or a name in /run/netns) has a directory that is
        // not ours.
        if !inode.is_empty() && inode.bytes().all(|b| b.is_ascii_digit()) && !in_use(inode) {
            let net = Path::new(MINIBOX_NET_DIR).join(inode);
            if std::fs::remove_dir_all(&net).is_ok() {
                removed.push(format!("minibox network directory {}", net.display()));
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    removed
}

/// Is a network namespace with this inode number alive (a process in it, or a name for it)?
fn in_use(inode: &str) -> bool {
    let wanted = format!("net:[{inode}]");
    let processes =
        std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
            std::fs::read_link(e.path().join("ns/net")).is_ok_and(|l| l.as_os_str() == wanted.as_str())
        });
    processes
        || names_in_netns_dir().iter().any(|name| {
            std::fs::metadata(Path::new(NETNS_DIR).join(name))
                .is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m).to_string() == inode)
        })
}

/// Names in /run/netns left by a bench that was interrupted (`mbb-<pid>-...` of a process that
/// is gone): the namespace itself went with that bench's mount namespace, the file stays.
/// Removes them; returns what it removed.
pub fn remove_stale() -> Vec<String> {
    let mut removed = remove_stale_minibox_dirs();
    for name in names_in_netns_dir() {
        let Some(pid) = name.strip_prefix("mbb-").and_then(|rest| rest.split('-').next()) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = Path::new(NETNS_DIR).join(&name);
        let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        if std::fs::remove_file(&path).is_ok() {
            removed.push(format!("network namespace name {}", path.display()));
        }
    }
    removed
}
