//@ begin oci
//! The container's cgroup where config.json's `linux.cgroupsPath` puts it, with the limits of
//! `linux.resources`. Unlike `minibox run`'s, it outlives the minibox that made it (`delete`
//! removes it), so it is plain directories and files, found again through the state.

use super::spec::Resources;
use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};
use std::path::{Path, PathBuf};

/// The v1 hierarchies a container joins (each limit's, and the devices allowlist's).
const V1_HIERARCHIES: [&str; 4] = ["memory", "pids", "cpu", "devices"];

/// Where the container's cgroup goes: an absolute `cgroupsPath` from each hierarchy's root; a
/// relative one (or none: `minibox-oci-ID`, one level, so that `delete` leaves no parent
/// behind) under minibox's own cgroup, as runc does.
pub fn placement(cgroups_path: &str, id: &str) -> Result<Vec<PathBuf>> {
    if cgroups_path.contains(':') {
        bail!(
            "config.json: `linux.cgroupsPath` {cgroups_path:?} is in systemd's slice:prefix:name form: minibox has no systemd driver (use cgroupfs)"
        );
    }
    if cgroups_path.split('/').any(|p| p == "..") {
        bail!("config.json: `linux.cgroupsPath` {cgroups_path:?} must not contain `..`");
    }
    let relative =
        if cgroups_path.is_empty() { format!("minibox-oci-{id}") } else { cgroups_path.to_string() };
    let own = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let own_path = |controller: &str| -> String {
        own.lines()
            .filter_map(|l| l.splitn(3, ':').collect::<Vec<_>>().try_into().ok())
            .find(|[_, controllers, _]: &[&str; 3]| {
                if controller.is_empty() {
                    controllers.is_empty()
                } else {
                    controllers.split(',').any(|c| c == controller)
                }
            })
            .map(|[_, _, path]| path.to_string())
            .unwrap_or_default()
    };
    let under = |hierarchy: &Path, controller: &str| -> PathBuf {
        if let Some(absolute) = relative.strip_prefix('/') {
            hierarchy.join(absolute)
        } else {
            hierarchy.join(own_path(controller).trim_start_matches('/')).join(&relative)
        }
    };
    let base = Path::new("/sys/fs/cgroup");
    if crate::cgroups::is_v2() {
        return Ok(vec![under(base, "")]);
    }
    Ok(V1_HIERARCHIES.iter().map(|h| under(&base.join(h), h)).collect())
}

/// Create the cgroup directories and write the limits. On failure, what was made is removed.
pub fn create(paths: &[PathBuf], resources: &Resources) -> Result<()> {
    let made = (|| {
        for path in paths {
            if path.exists() {
                bail!(
                    "the cgroup {} exists already: is another container using its cgroupsPath?",
                    path.display()
                );
            }
            if crate::cgroups::is_v2() {
                enable_controllers(path)?;
            }
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating the cgroup {}", path.display()))?;
        }
        apply(paths, resources)
    })();
    if made.is_err() {
        let _ = remove(paths);
    }
    made
}

/// cgroup v2: each ancestor hands the memory, pids and cpu controllers down.
fn enable_controllers(path: &Path) -> Result<()> {
    let root = Path::new("/sys/fs/cgroup");
    let mut dir = root.to_path_buf();
    for part in path.strip_prefix(root).unwrap_or(path).parent().into_iter().flat_map(|p| p.components()) {
        dir.push(part);
        std::fs::create_dir_all(&dir)?;
    }
    let mut dir = root.to_path_buf();
    let parts: Vec<_> = path.strip_prefix(root).unwrap_or(path).components().collect();
    for part in &parts {
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids +cpu");
        dir.push(part);
    }
    Ok(())
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    std::fs::write(dir.join(file), value)
        .with_context(|| format!("writing {value} to {}", dir.join(file).display()))
}

/// Write `linux.resources` into the cgroup's files (v1 or v2).
fn apply(paths: &[PathBuf], resources: &Resources) -> Result<()> {
    let v2 = crate::cgroups::is_v2();
    let find = |controller: &str| -> Option<&PathBuf> {
        if v2 {
            paths.first()
        } else {
            paths.iter().find(|p| p.parent().and_then(|_| p.iter().nth(4)).is_some_and(|h| h == controller))
        }
    };
    let max = |v: i64| if v < 0 { "max".to_string() } else { v.to_string() };
    if let (Some(limit), Some(dir)) = (resources.memory.limit, find("memory")) {
        write(
            dir,
            if v2 { "memory.max" } else { "memory.limit_in_bytes" },
            &if v2 { max(limit) } else { limit.to_string() },
        )?;
    }
    if let (Some(swap), Some(dir)) = (resources.memory.swap, find("memory")) {
        if v2 {
            // v1's swap field is memory+swap; v2's memory.swap.max is swap alone.
            let alone = match (swap, resources.memory.limit) {
                (-1, _) => "max".to_string(),
                (swap, Some(limit)) if limit >= 0 => (swap - limit).max(0).to_string(),
                (swap, _) => swap.to_string(),
            };
            write(dir, "memory.swap.max", &alone)?;
        } else if dir.join("memory.memsw.limit_in_bytes").exists() {
            write(dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
        }
    }
    if let (Some(limit), Some(dir)) = (resources.pids.limit, find("pids")) {
        write(dir, "pids.max", &if limit <= 0 { "max".to_string() } else { limit.to_string() })?;
    }
    if resources.cpu.quota.is_some() || resources.cpu.period.is_some() {
        let Some(dir) = find("cpu") else { return Ok(()) };
        let period = resources.cpu.period.unwrap_or(100_000);
        let quota = resources.cpu.quota.unwrap_or(-1);
        if v2 {
            write(dir, "cpu.max", &format!("{} {period}", max(quota)))?;
        } else {
            write(dir, "cpu.cfs_period_us", &period.to_string())?;
            write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        }
    }
    if let (Some(shares), Some(dir)) = (resources.cpu.shares, find("cpu")) {
        if v2 {
            // The conversion runc and crun use: shares 2..262144 onto weight 1..10000.
            let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
            write(dir, "cpu.weight", &weight.to_string())?;
        } else {
            write(dir, "cpu.shares", &shares.to_string())?;
        }
    }
    apply_devices(paths, resources, find("devices"))
}

/// `linux.resources.devices`: on v1 each rule goes to the devices cgroup as it is; v2 has no
/// file for it, so a list that starts by denying all gets the hardening chapter's BPF allowlist.
/// On both, the hardening chapter's allowlist comes on top, as runc adds its own.
fn apply_devices(paths: &[PathBuf], resources: &Resources, v1: Option<&PathBuf>) -> Result<()> {
    if resources.devices.is_empty() {
        return Ok(());
    }
    if crate::cgroups::is_v2() {
        // One rule that allows every device (Docker's --privileged): no program at all, as when
        // the list is empty.
        let allows_all = resources.devices.len() == 1
            && resources.devices[0].allow
            && resources.devices[0].major.is_none()
            && resources.devices[0].kind.as_deref().is_none_or(|k| k == "a");
        if allows_all {
            return Ok(());
        }
        let denies_all = resources
            .devices
            .first()
            .is_some_and(|r| !r.allow && r.major.is_none() && r.kind.as_deref().is_none_or(|k| k == "a"));
        if !denies_all {
            bail!(
                "config.json: `linux.resources.devices` on cgroup v2: minibox only takes a list that starts by denying all (it then applies its own allowlist), or one rule that allows all"
            );
        }
        return crate::security::devices::restrict(paths);
    }
    let Some(dir) = v1 else { return Ok(()) };
    for rule in &resources.devices {
        let number = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let kind = rule.kind.as_deref().unwrap_or("a");
        let access = rule.access.as_deref().unwrap_or("rwm");
        let line = if kind == "a" && rule.major.is_none() {
            "a".to_string()
        } else {
            format!("{kind} {}:{} {access}", number(rule.major), number(rule.minor))
        };
        write(dir, if rule.allow { "devices.allow" } else { "devices.deny" }, &line)?;
    }
    // As runc does, the devices every container gets on top (the hardening chapter's list): the
    // nodes minibox makes in /dev, and making any node (opening it is another matter).
    for device in &crate::security::devices::ALLOWED {
        let minor = device.minor.map_or("*".to_string(), |m| m.to_string());
        write(dir, "devices.allow", &format!("c {}:{minor} rwm", device.major))?;
    }
    write(dir, "devices.allow", "c *:* m")?;
    write(dir, "devices.allow", "b *:* m")?;
    Ok(())
}

/// In the child: move this process into every one of the cgroups.
pub fn join(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        write(path, "cgroup.procs", "0")?;
    }
    Ok(())
}

/// The processes in the container's cgroups.
pub fn procs(paths: &[PathBuf]) -> Vec<i32> {
    let mut pids: Vec<i32> = paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Kill what is left and remove the directories (a killed process leaves a moment later).
pub fn remove(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        for _ in 0..500 {
            for pid in procs(std::slice::from_ref(path)) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
            match std::fs::remove_dir(path) {
                Ok(()) => break,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        if path.exists() {
            bail!("removing the cgroup {}: its processes do not die", path.display());
        }
    }
    Ok(())
}

/// A `cgroup` mount of config.json: on v2 the container's own cgroup2 (its cgroup namespace
/// makes it the root); on v1 a tmpfs with each of the container's hierarchies bound in.
pub fn mount_view(target: &Path, paths: &[PathBuf], flags: MsFlags) -> Result<()> {
    let readonly = flags & MsFlags::MS_RDONLY;
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if crate::cgroups::is_v2() {
        return mount(Some("cgroup2"), target, Some("cgroup2"), safe | readonly, None::<&str>)
            .context("mounting cgroup2");
    }
    mount(Some("tmpfs"), target, Some("tmpfs"), safe, Some("mode=755"))
        .context("mounting a tmpfs for the cgroups")?;
    for path in paths {
        let Some(hierarchy) = path.iter().nth(4) else { continue };
        let inner = target.join(hierarchy);
        std::fs::create_dir_all(&inner)?;
        mount(Some(path), &inner, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .with_context(|| format!("binding {}", path.display()))?;
        mount(
            None::<&str>,
            &inner,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | safe | readonly,
            None::<&str>,
        )?;
    }
    if !readonly.is_empty() {
        mount(None::<&str>, target, None::<&str>, MsFlags::MS_REMOUNT | safe | readonly, Some("mode=755"))
            .context("remounting the cgroups' tmpfs read-only")?;
    }
    Ok(())
}
//@ end oci
