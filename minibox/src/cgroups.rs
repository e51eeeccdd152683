//@ begin cgroups
//! The cgroups chapter: resource limits with control groups (cgroups), on cgroup v1 and v2.
//!
//! Namespaces decide what a container can see; cgroups decide how much it may use. A cgroup is
//! a directory in a special filesystem: processes are put in it by writing their PIDs to its
//! `cgroup.procs`, and limits are set by writing to its interface files (`memory.max`,
//! `pids.max`, `cpu.max` on v2). The cgroups-rs crate writes those files for us, on both
//! versions of the interface.

use anyhow::{Context, Result, bail};
use cgroups_rs::cgroup::get_cgroups_relative_paths;
use cgroups_rs::{Cgroup, hierarchies};
use std::path::{Path, PathBuf};
//@ exercise cgroups imports
use cgroups_rs::CgroupPid;
use cgroups_rs::cpu::CpuController;
use cgroups_rs::memory::MemController;
use cgroups_rs::pid::PidController;
use cgroups_rs::{Controller, MaxValue};
//@ end cgroups imports

/// The limits a container may be given; `None` means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// `--memory`, in bytes.
    pub memory: Option<u64>,
    /// `--pids`: how many processes and threads at once.
    pub pids: Option<u64>,
    /// `--cpus`: how many CPUs' worth of time, for example 0.5.
    pub cpus: Option<f64>,
}

/// The controllers every container cgroup gets (for accounting, even without a limit).
pub const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

/// The CFS bandwidth period minibox uses: 100 ms, the kernel's default.
pub const CPU_PERIOD_US: u64 = 100_000;

/// The smallest memory limit minibox accepts (the same floor as Docker's): below it, the
/// container is killed before its command even starts.
pub const MEMORY_MIN: u64 = 6 << 20;
/// The largest memory limit: the kernel reads its limit files as a signed 64-bit number.
pub const MEMORY_MAX: u64 = i64::MAX as u64;

// ANCHOR: parse_memory
/// Parse a memory size as `docker run --memory` takes it: a whole number of bytes, optionally
/// followed by a unit `b`, `k`, `m` or `g` (powers of 1024): `64m`, `1g`, `1048576`.
pub fn parse_memory(text: &str) -> Result<u64> {
    //@ exercise cgroups parse_memory
    let lower = text.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let number: u64 = digits
        .parse()
        .with_context(|| format!("`{text}` is not a size: use a number and a unit, for example 64m"))?;
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        other => bail!("`{text}`: unknown unit `{other}`: use b, k, m or g (for example 64m)"),
    };
    // The kernel's limit files hold a signed 64-bit number: anything larger is no limit at all.
    let bytes = number.checked_mul(scale).filter(|&b| b <= MEMORY_MAX);
    let bytes = bytes.with_context(|| format!("`{text}` is too large"))?;
    if bytes < MEMORY_MIN {
        bail!("`{text}` is below the minimum memory limit of 6m");
    }
    Ok(bytes)
    //@ stub
    //| let _ = text;
    //| todo!("chapter {chapter}, `parse_memory`: turn a size like `64m` into bytes, as Docker reads it; refuse anything else; `cargo xtask hint cgroups parse_memory` helps (book: Chapter {chapter}, \"Asking for limits\")")
    //@ end cgroups parse_memory
}
// ANCHOR_END: parse_memory

/// Parse `--pids`: at least 1.
pub fn parse_pids(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        // pids.max holds a signed 64-bit number, as the memory files do.
        Ok(n) if (1..=MEMORY_MAX).contains(&n) => Ok(n),
        _ => bail!("`{text}` is not a number of processes: give a whole number of 1 or more"),
    }
}

/// The largest CFS quota the kernel takes, in microseconds (`max_cfs_runtime` in
/// kernel/sched/core.c: 2^44 - 1 µs); a larger one is refused with EINVAL.
pub const CPU_QUOTA_MAX_US: f64 = ((1u64 << 44) - 1) as f64;

/// Parse `--cpus`: a positive fraction of CPUs (`0.5` is half of one CPU's time), at least 0.01
/// (the kernel's smallest quota is 1 ms per 100 ms period), and at most the machine's CPUs
/// (more could never be used, and a huge number overflows the kernel's quota).
pub fn parse_cpus(text: &str) -> Result<f64> {
    // SAFETY: sysconf reads a number and touches no memory of ours.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    let cpus = match text.trim().parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && cpus >= 0.01 => cpus,
        _ => bail!("`{text}` is not a number of CPUs: give a positive number such as 0.5 or 2"),
    };
    if cpus > online as f64 || cpus * CPU_PERIOD_US as f64 > CPU_QUOTA_MAX_US {
        bail!("`{text}` CPUs is more than this machine has: give a number from 0.01 to {online}");
    }
    Ok(cpus)
}

/// A size for people: `64 MiB`, `1 GiB`, `2.1 MiB`, `1000 bytes`.
pub fn human_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// A container's cgroup: one on cgroup v2, one per controller on v1. Created before the child
/// starts; removed when dropped, whatever happened to the container.
pub struct ContainerCgroup {
    /// One `Cgroup` per hierarchy the container is in.
    groups: Vec<Cgroup>,
    limits: Limits,
    /// A lock on each cgroup directory, held while this minibox lives: see [`reclaim_orphans`].
    _locks: Vec<std::fs::File>,
}

/// Which cgroup interface the machine offers.
pub fn is_v2() -> bool {
    hierarchies::is_cgroup2_unified_mode()
}

/// Where the container's cgroup goes, relative to each hierarchy's root, per controller.
///
/// On v1 (a forest: one hierarchy per controller), minibox nests the container under its own
/// cgroup in each hierarchy, so that whatever limits minibox runs under also bind the container.
/// On v2 (one tree) a cgroup with processes in it may not hand controllers down to children (the
/// "no internal processes" rule), and minibox's own cgroup always holds minibox, so the
/// container goes under `/minibox` at the root. (Under systemd, a runtime asks systemd for a
/// delegated scope instead; runc's systemd driver does that.)
pub fn placement(id: &str) -> Result<Vec<(Vec<String>, PathBuf)>> {
    let leaf = Path::new("minibox").join(id);
    if is_v2() {
        return Ok(vec![(CONTROLLERS.iter().map(|c| c.to_string()).collect(), leaf)]);
    }
    let own = get_cgroups_relative_paths().context("reading /proc/self/cgroup")?;
    Ok(CONTROLLERS
        .iter()
        //@ begin hardening
        // The hardening chapter: on v1, the devices controller holds the container's device allowlist.
        .chain(std::iter::once(&crate::security::devices::V1_CONTROLLER))
        //@ end hardening
        .map(|controller| {
            let parent = own.get(*controller).map_or("", |p| p.trim_start_matches('/'));
            (vec![controller.to_string()], Path::new(parent).join(&leaf))
        })
        .collect())
}

impl ContainerCgroup {
    //@ begin rootless
    /// No cgroup at all: a rootless container where no cgroup is delegated to the user.
    pub fn none(limits: Limits) -> ContainerCgroup {
        ContainerCgroup { groups: Vec::new(), limits, _locks: Vec::new() }
    }

    //@ end rootless
    // ANCHOR: create
    /// Create the container's cgroup and set its limits. Nothing is left behind on failure: what
    /// was created is removed when the half-built value is dropped.
    pub fn create(id: &str, limits: Limits) -> Result<ContainerCgroup> {
        // Until every directory is created and locked, no reclaim may run: it would take them
        // for orphans (see `creation_lock`).
        let _creating = creation_lock(false)?;
        let mut cgroup = ContainerCgroup { groups: Vec::new(), limits, _locks: Vec::new() };
        for (controllers, path) in placement(id)? {
            let group = Cgroup::new_with_specified_controllers(hierarchies::auto(), &path, Some(controllers.clone()))
                .with_context(|| {
                    format!(
                        "creating the cgroup {} with controllers {controllers:?} (is each enabled? see /sys/fs/cgroup)",
                        path.display()
                    )
                })?;
            cgroup.groups.push(group);
        }
        if !cgroup.groups.iter().all(Cgroup::exists) {
            bail!(
                "creating the container's cgroup failed: are you root, and is cgroupfs mounted at /sys/fs/cgroup?"
            );
        }
        for path in cgroup.paths() {
            // Another minibox's reclaim may have taken it for an orphan in the instant between
            // its creation and this lock: then it is gone, and this start fails cleanly.
            let lock = lock_directory(&path)?.with_context(|| {
                format!(
                    "the cgroup {} was taken by another minibox as it was created: try again",
                    path.display()
                )
            })?;
            cgroup._locks.push(lock);
        }
        cgroup.apply_limits()?;
        Ok(cgroup)
    }
    // ANCHOR_END: create

    // ANCHOR: apply_limits
    /// Write the limits into the cgroup's interface files.
    fn apply_limits(&self) -> Result<()> {
        //@ exercise cgroups apply_limits
        if let (Some(bytes), Some(memory)) = (self.limits.memory, self.controller::<MemController>()) {
            memory.set_limit(bytes as i64).context("setting the memory limit")?;
            // Without a swap limit the container would swap instead of hitting its limit. v1
            // limits memory+swap together; v2 limits swap on its own (set to none at all).
            let (swap, swap_file) = if memory.v2() {
                (0, "memory.swap.max")
            } else {
                (bytes as i64, "memory.memsw.limit_in_bytes")
            };
            if memory.path().join(swap_file).exists() {
                memory.set_memswap_limit(swap).context("setting the swap limit")?;
            }
        }
        if let (Some(max), Some(pids)) = (self.limits.pids, self.controller::<PidController>()) {
            pids.set_pid_max(MaxValue::Value(max as i64)).context("setting the pids limit")?;
        }
        if let (Some(cpus), Some(cpu)) = (self.limits.cpus, self.controller::<CpuController>()) {
            let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
            cpu.set_cfs_quota_and_period(Some(quota), Some(CPU_PERIOD_US))
                .context("setting the cpu quota")?;
        }
        Ok(())
        //@ stub
        //| todo!("chapter {chapter}, `apply_limits`: write the limits asked for into the container's cgroups; `cargo xtask hint cgroups apply_limits` helps (book: Chapter {chapter}, \"Creating the cgroup\")")
        //@ end cgroups apply_limits
    }
    // ANCHOR_END: apply_limits

    /// The controller of type `C` in whichever of our cgroups has it.
    pub fn controller<'a, C>(&'a self) -> Option<&'a C>
    where
        &'a C: From<&'a cgroups_rs::Subsystem>,
        C: cgroups_rs::Controller + cgroups_rs::ControllIdentifier,
    {
        self.groups.iter().find_map(|g| g.controller_of::<C>())
    }

    // ANCHOR: join
    /// Move the calling process into the container's cgroup. The child calls this between fork
    /// and exec, before `pivot_root` hides /sys/fs/cgroup from it: everything it starts, the
    /// command included, is then born inside.
    pub fn join(&self) -> Result<()> {
        //@ exercise cgroups join
        // Writing 0 means "the process that writes". Moving a whole process (cgroup.procs) takes
        // a kernel-wide lock that can wait tens of milliseconds for an RCU grace period; moving
        // one thread that is the writer itself (`tasks`, on v1) skips it, and this child has a
        // single thread. v2 moves processes only through cgroup.procs.
        for group in &self.groups {
            let joined = if group.v2() {
                group.add_task_by_tgid(CgroupPid::from(0))
            } else {
                group.add_task(CgroupPid::from(0))
            };
            joined.context("joining the container's cgroup")?;
        }
        Ok(())
        //@ stub
        //| todo!("chapter {chapter}, `join`: move this process into every one of the container's cgroups; `cargo xtask hint cgroups join` helps (book: Chapter {chapter}, \"Joining before exec\")")
        //@ end cgroups join
    }
    // ANCHOR_END: join

    // ANCHOR: oom_killed
    /// Did the kernel's OOM killer kill a process of this container?
    pub fn oom_killed(&self) -> bool {
        //@ exercise cgroups oom_killed
        let Some(memory) = self.controller::<MemController>() else { return false };
        // v2 counts in memory.events, v1 in memory.oom_control: a line "oom_kill N".
        let file = if memory.v2() { "memory.events" } else { "memory.oom_control" };
        std::fs::read_to_string(memory.path().join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("oom_kill "))
            .any(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
        //@ stub
        //| todo!("chapter {chapter}, `oom_killed`: tell whether the kernel's OOM killer killed a process of this cgroup; `cargo xtask hint cgroups oom_killed` helps (book: Chapter {chapter}, \"When the limit is hit\")")
        //@ end cgroups oom_killed
    }
    // ANCHOR_END: oom_killed

    /// The memory limit, for messages.
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.memory
    }

    /// The cgroup directories, for `--verbose`.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.groups
            .iter()
            .filter_map(|g| g.subsystems().first().map(|s| s.to_controller().path().to_path_buf()))
            .collect()
    }

    /// Remove the cgroup now, and say so if that fails. (Dropping it also removes it, quietly
    /// apart from a warning: that is the safety net for paths that end early.)
    pub fn remove(mut self) -> Result<()> {
        self.remove_groups()
    }

    // ANCHOR: remove
    /// A cgroup with processes in it cannot be removed (EBUSY), so first kill any process still
    /// inside (cgroup v1 has no `cgroup.kill`), then remove each directory.
    fn remove_groups(&mut self) -> Result<()> {
        for group in &self.groups {
            for pid in group.procs() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid.pid as i32),
                    nix::sys::signal::SIGKILL,
                );
            }
        }
        while let Some(group) = self.groups.pop() {
            // cgroups-rs retries for a while: a killed process leaves its cgroup a moment later.
            group.delete().with_context(|| format!("removing the cgroup {}", group.path()))?;
        }
        Ok(())
    }
    // ANCHOR_END: remove
}

/// Take an exclusive lock on the directory `path`, without waiting. `None` when someone holds it,
/// or when the directory is gone (checked after locking, as a reclaim may remove it meanwhile).
pub fn lock_directory(path: &Path) -> Result<Option<std::fs::File>> {
    use std::os::unix::fs::MetadataExt;
    let dir = match std::fs::File::open(path) {
        Ok(dir) => dir,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
    };
    match dir.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(error).with_context(|| format!("locking {}", path.display()));
        }
    }
    let still_there = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let locked = dir.metadata().ok().map(|m| (m.dev(), m.ino()));
    Ok((still_there.is_some() && still_there == locked).then_some(dir))
}

/// A lock on the cgroup hierarchy's root directory (the first controller's, on v1), which every
/// minibox on the machine sees: see [`creation_lock_on`]. Without it, a reclaim that runs between
/// another minibox's creation of a cgroup and its lock on it removes a live container's cgroup
/// (seen with 50 minibox started at once).
fn creation_lock(exclusive: bool) -> Result<Option<std::fs::File>> {
    let root = hierarchies::auto().root();
    creation_lock_on(&if is_v2() { root } else { root.join(CONTROLLERS[0]) }, exclusive)
}

/// A lock on the directory `dir` that orders creations and reclaims of what lives under it:
/// held shared while a minibox creates entries and takes their own locks, exclusive (without
/// waiting: `None` when busy) while one reclaims orphans, who then tries another time.
pub fn creation_lock_on(dir: &Path, exclusive: bool) -> Result<Option<std::fs::File>> {
    let file = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let locked =
        if exclusive { file.try_lock() } else { file.lock_shared().map_err(std::fs::TryLockError::Error) };
    match locked {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("locking {}", dir.display()))
        }
    }
}

// ANCHOR: reclaim_orphans
/// Remove the cgroups that a killed minibox left: each live minibox holds a lock on its
/// container's cgroups (taken in [`ContainerCgroup::create`]) until it has removed them, and the
/// kernel drops a dead process's locks. So a container cgroup whose lock can be taken has no
/// minibox: kill whatever still runs in it, then remove it. Returns how many were removed.
pub fn reclaim_orphans() -> Result<usize> {
    // A minibox creating its cgroups holds this shared, for a few milliseconds. The lock is the
    // machine's (any minibox, any user of it), so wait a little for a turn; past a second, reclaim
    // another time rather than hold this run up.
    let mut reclaiming = creation_lock(true)?;
    for _ in 0..200 {
        if reclaiming.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        reclaiming = creation_lock(true)?;
    }
    let Some(_reclaiming) = reclaiming else { return Ok(0) };
    let mut removed = 0;
    for (controllers, leaf) in placement("orphan")? {
        let parent = leaf.parent().unwrap_or(Path::new(""));
        let parents = Cgroup::load_with_specified_controllers(hierarchies::auto(), parent, controllers);
        for subsystem in parents.subsystems() {
            let Ok(entries) = std::fs::read_dir(subsystem.to_controller().path()) else { continue };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let path = entry.path();
                if let Some(_lock) = lock_directory(&path)? {
                    remove_orphan(&path)?;
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}
// ANCHOR_END: reclaim_orphans

/// Kill every process in the cgroup at `path`, then remove it (retrying while the killed leave).
fn remove_orphan(path: &Path) -> Result<()> {
    for _ in 0..200 {
        let procs = std::fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
    bail!("removing the orphaned cgroup {}: its processes do not die", path.display())
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        if let Err(error) = self.remove_groups() {
            eprintln!("minibox: {error:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_the_largest_exact_unit() {
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(1536 << 10), "1.5 MiB");
        assert_eq!(human_size(2129408), "2.0 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }

    #[test]
    fn pids_and_cpus_are_checked() {
        assert_eq!(parse_pids("16").unwrap(), 16);
        assert!(parse_pids("0").is_err());
        assert!(parse_pids("-1").is_err());
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        for bad in ["-1", "0", "0.001", "nan", "inf", "lots", "1e9", "100000"] {
            assert!(parse_cpus(bad).is_err(), "{bad} should be refused");
        }
    }
}
//@ end cgroups
