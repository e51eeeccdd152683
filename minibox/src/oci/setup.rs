//@ begin oci
//! The container's side of `create`, between fork and exec: the config.json's namespaces,
//! mounts, devices, sysctls, masked paths, user, capabilities and limits, in the order the
//! earlier chapters taught, mostly with their code.

use super::spec::{self, Spec};
use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use std::path::{Component, Path, PathBuf};

/// The clone flag of a namespace type of config.json.
pub fn clone_flag(kind: &str) -> CloneFlags {
    match kind {
        "pid" => CloneFlags::CLONE_NEWPID,
        "network" => CloneFlags::CLONE_NEWNET,
        "ipc" => CloneFlags::CLONE_NEWIPC,
        "uts" => CloneFlags::CLONE_NEWUTS,
        "mount" => CloneFlags::CLONE_NEWNS,
        "cgroup" => CloneFlags::CLONE_NEWCGROUP,
        other => unreachable!("spec::check refuses the namespace type {other}"),
    }
}

/// Everything in the child, up to (not including) the wait for `start`.
pub fn set_up(
    spec: &Spec,
    root: &Path,
    cgroups: &[PathBuf],
    console: Option<&std::os::unix::net::UnixStream>,
) -> Result<()> {
    if let Some(score) = spec.process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string()).context("writing oom_score_adj")?;
    }
    // First, while /sys/fs/cgroup is in view (the cgroups chapter): from here on all is counted.
    super::cgroup::join(cgroups)?;
    // Namespaces to join (`path`) or to make. The PID namespace was settled before the fork; the
    // cgroup namespace comes after the cgroup was joined, so that it is the container's root.
    for namespace in spec.linux.namespaces.iter().filter(|n| n.kind != "pid") {
        let flag = clone_flag(&namespace.kind);
        if namespace.path.is_empty() {
            unshare(flag).with_context(|| format!("unshare: a new {} namespace", namespace.kind))?;
        } else {
            let file = std::fs::File::open(&namespace.path)
                .with_context(|| format!("opening the {} namespace {}", namespace.kind, namespace.path))?;
            setns(&file, flag)
                .with_context(|| format!("joining the {} namespace {}", namespace.kind, namespace.path))?;
        }
    }
    if !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname)
            .with_context(|| format!("sethostname({})", spec.hostname))?;
    }
    // The rootfs chapter's first step: private mounts, the root a mount point of its own.
    crate::rootfs::prepare_new_root(root)?;
    for m in &spec.mounts {
        mount_one(root, m, cgroups).with_context(|| format!("config.json mount at {}", m.destination))?;
    }
    make_devices(root, spec)?;
    crate::rootfs::pivot_into(root)?;
    for (key, value) in &spec.linux.sysctl {
        let file = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&file, value).with_context(|| format!("sysctl {key}={value}"))?;
    }
    // The hardening chapter's masks and read-only paths, with the config's lists.
    for path in &spec.linux.masked_paths {
        crate::security::paths::mask_path(Path::new(path))?;
    }
    for path in &spec.linux.readonly_paths {
        crate::security::paths::make_read_only(Path::new(path))?;
    }
    if spec.root.readonly {
        crate::rootfs::remount_root_read_only()?;
    }
    if let Some(socket) = console {
        let user = &spec.process.user;
        super::terminal::attach(socket, spec.process.console_size, user.uid, user.gid)?;
    }
    // The profile's filter, loaded before or after the process's own settings (see `around`).
    let (profile, no_new_privileges) = (spec.linux.seccomp.as_ref(), spec.process.no_new_privileges);
    super::seccomp::around(profile, no_new_privileges, || become_process(&spec.process))
}

/// The process's own settings: rlimits, working directory, user, capabilities, no_new_privs.
/// Shared by `create` and `exec`.
pub fn become_process(process: &spec::Process) -> Result<()> {
    for rlimit in &process.rlimits {
        set_rlimit(rlimit)?;
    }
    let cwd = if process.cwd.is_empty() { "/" } else { &process.cwd };
    std::env::set_current_dir(cwd).with_context(|| format!("entering the working directory {cwd}"))?;
    if let Some(umask) = process.user.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }
    let user = &process.user;
    let switching = user.uid != 0 || user.gid != 0 || !user.additional_gids.is_empty();
    if switching {
        use crate::security::capabilities::{self, Sets, prctl};
        // Keep the permitted capabilities across setuid; the sets are set right after.
        prctl(libc::PR_SET_KEEPCAPS, 1, 0)
            .map_err(|e| anyhow::anyhow!("prctl(PR_SET_KEEPCAPS): {}", e.desc()))?;
        let groups: Vec<nix::unistd::Gid> =
            user.additional_gids.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&groups).context("setgroups")?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(user.gid))
            .with_context(|| format!("setgid({})", user.gid))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(user.uid))
            .with_context(|| format!("setuid({})", user.uid))?;
        // setuid emptied the effective set and kept the permitted one: make it effective again,
        // since dropping from the bounding set below needs CAP_SETPCAP.
        let kept = capabilities::get()?;
        capabilities::set(Sets { effective: kept.permitted, ..kept })?;
    }
    set_capabilities(process.capabilities.as_ref())?;
    if process.no_new_privileges {
        crate::security::set_no_new_privs()?;
    }
    Ok(())
}

fn parse_set(names: &[String], which: &str) -> Result<u64> {
    crate::security::capabilities::parse(names)
        .with_context(|| format!("config.json: `process.capabilities.{which}`"))
}

/// config.json's five capability sets, each exactly as given; none given is none kept (as
/// runc: a process without `capabilities` gets no capability, root or not). The hardening
/// chapter's `drop_capabilities` does the dropping: the bounding set to the one given, the
/// ambient set cleared, the inheritable set emptied. Then the other sets as given.
fn set_capabilities(caps: Option<&spec::Capabilities>) -> Result<()> {
    use crate::security::capabilities::{self, Sets, prctl};
    let none = spec::Capabilities::default();
    let caps = caps.unwrap_or(&none);
    let bounding = parse_set(&caps.bounding, "bounding")?;
    let permitted = parse_set(&caps.permitted, "permitted")?;
    let effective = parse_set(&caps.effective, "effective")? & permitted;
    let inheritable = parse_set(&caps.inheritable, "inheritable")?;
    let ambient = parse_set(&caps.ambient, "ambient")?;
    capabilities::drop_capabilities(bounding)?;
    capabilities::set(Sets { effective, permitted, inheritable }).context(
        "config.json: `process.capabilities`: the permitted and inheritable sets must lie within the bounding set",
    )?;
    // The kernel raises an ambient capability only when it is permitted and inheritable; runc
    // skips the others (its own `spec` lists three ambient capabilities and no inheritable
    // ones), and so does minibox.
    for cap in 0..64u64 {
        if ambient & permitted & inheritable & (1 << cap) != 0 {
            prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, cap as libc::c_ulong)
                .map_err(|e| anyhow::anyhow!("raising the ambient capability {cap}: {}", e.desc()))?;
        }
    }
    Ok(())
}

fn set_rlimit(rlimit: &spec::Rlimit) -> Result<()> {
    let resource = match rlimit.kind.as_str() {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        other => bail!("config.json: `process.rlimits[].type` {other:?} is not a resource limit"),
    };
    let limit = libc::rlimit { rlim_cur: rlimit.soft, rlim_max: rlimit.hard };
    // SAFETY: setrlimit reads one rlimit, which `limit` is.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "setrlimit({}, {}, {}) (raising a hard limit needs CAP_SYS_RESOURCE)",
                rlimit.kind, rlimit.soft, rlimit.hard
            )
        });
    }
    Ok(())
}

/// `destination` inside `root`, refusing `..` (a symbolic link that leads out is caught after
/// the mount point is made).
fn inside(root: &Path, destination: &str) -> Result<PathBuf> {
    let relative = Path::new(destination);
    if !relative.is_absolute() || relative.components().any(|c| c == Component::ParentDir) {
        bail!("config.json: mount destination {destination:?} must be an absolute path without `..`");
    }
    Ok(root.join(relative.strip_prefix("/").unwrap_or(relative)))
}

/// Make the mount point (a file for a file bind mount), and check that it is inside the root.
fn mount_point(root: &Path, target: &Path, file: bool) -> Result<()> {
    if file {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !target.exists() {
            std::fs::File::create(target).with_context(|| format!("creating {}", target.display()))?;
        }
    } else {
        std::fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    }
    let resolved = target.canonicalize()?;
    if !resolved.starts_with(root) {
        bail!(
            "the mount point {} leads out of the root filesystem (to {})",
            target.display(),
            resolved.display()
        );
    }
    Ok(())
}

/// Mount options: the flags the kernel takes as flags, the propagation, and the rest as data.
pub fn mount_options(options: &[String]) -> (MsFlags, Option<MsFlags>, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = None;
    let mut data = Vec::new();
    for option in options {
        let (set, clear) = match option.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared" | "unbindable"
            | "runbindable" => {
                let mut p = match option.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "slave" => MsFlags::MS_SLAVE,
                    "shared" => MsFlags::MS_SHARED,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                if option.starts_with('r') && option != "rw" {
                    p |= MsFlags::MS_REC;
                }
                propagation = Some(p);
                continue;
            }
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, propagation, data.join(","))
}

fn mount_one(root: &Path, m: &spec::Mount, cgroups: &[PathBuf]) -> Result<()> {
    let target = inside(root, &m.destination)?;
    let (flags, propagation, data) = mount_options(&m.options);
    let data = (!data.is_empty()).then_some(data.as_str());
    let bind = flags.contains(MsFlags::MS_BIND) || m.kind == "bind";
    if bind {
        let source = Path::new(&m.source);
        let is_file =
            std::fs::metadata(source).with_context(|| format!("bind source {}", m.source))?.is_file();
        mount_point(root, &target, is_file)?;
        mount(
            Some(source),
            &target,
            None::<&str>,
            flags & (MsFlags::MS_BIND | MsFlags::MS_REC) | MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting {}", m.source))?;
        let restrictions = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !restrictions.is_empty() {
            mount(
                None::<&str>,
                &target,
                None::<&str>,
                restrictions | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .context("applying the bind mount's options")?;
        }
    } else if m.kind == "cgroup" || m.kind == "cgroup2" {
        mount_point(root, &target, false)?;
        super::cgroup::mount_view(&target, cgroups, flags)?;
    } else {
        mount_point(root, &target, false)?;
        let source = if m.source.is_empty() { m.kind.as_str() } else { m.source.as_str() };
        mount(Some(source), &target, Some(m.kind.as_str()), flags, data)
            .with_context(|| format!("mount -t {} {source} (options {:?})", m.kind, m.options))?;
    }
    if let Some(propagation) = propagation {
        mount(None::<&str>, &target, None::<&str>, propagation, None::<&str>)
            .context("setting the propagation")?;
    }
    Ok(())
}

/// A fresh `/dev` (a tmpfs mount of config.json) gets the nodes every program expects, as the
/// rootfs chapter's does, and `linux.devices` on top.
fn make_devices(root: &Path, spec: &Spec) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let dev = root.join("dev");
    let fresh_dev = spec.mounts.iter().any(|m| m.destination == "/dev" && m.kind == "tmpfs");
    if fresh_dev {
        for (name, major, minor) in crate::rootfs::DEVICES {
            let path = dev.join(name);
            if !path.exists() {
                mknod(&path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
                    .with_context(|| format!("mknod {}", path.display()))?;
            }
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            let path = dev.join(link);
            if std::fs::symlink_metadata(&path).is_err() {
                std::os::unix::fs::symlink(target, &path)
                    .with_context(|| format!("symlink {}", path.display()))?;
            }
        }
    }
    for device in &spec.linux.devices {
        let kind = match device.kind.as_str() {
            "c" | "u" => SFlag::S_IFCHR,
            "b" => SFlag::S_IFBLK,
            "p" => SFlag::S_IFIFO,
            other => bail!("config.json: `linux.devices[].type` {other:?} (use c, b, u or p)"),
        };
        let path = inside(root, &device.path)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mode = Mode::from_bits_truncate(device.file_mode.unwrap_or(0o666));
        mknod(&path, kind, mode, makedev(device.major as u64, device.minor as u64))
            .with_context(|| format!("mknod {}", device.path))?;
        nix::unistd::chown(
            &path,
            device.uid.map(nix::unistd::Uid::from_raw),
            device.gid.map(nix::unistd::Gid::from_raw),
        )
        .with_context(|| format!("chown {}", device.path))?;
    }
    Ok(())
}
//@ end oci
