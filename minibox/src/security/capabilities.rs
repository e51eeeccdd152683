//@ begin hardening
//! Capabilities: root's power cut into about forty pieces (capabilities(7)). Every process has
//! five sets of them:
//!
//! - **effective**: what the kernel checks right now;
//! - **permitted**: what the process may make effective;
//! - **inheritable** and **ambient**: what may pass through `execve`;
//! - **bounding**: the ceiling for everything an `execve` can grant, root's included.
//!
//! A process running as uid 0 gets, at `execve`, every capability of its bounding set and its
//! inheritable set back: dropping only the effective set lasts until the next `execve`.

use anyhow::{Context, Result, bail};
//@ exercise hardening imports
use nix::errno::Errno;
//@ end hardening imports

/// The capability names, by number (capabilities(7), `linux/capability.h`).
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Every capability this table knows, as a bit mask.
pub const ALL: u64 = (1 << NAMES.len()) - 1;

/// Capability numbers used by name in minibox.
pub const CAP_SYS_ADMIN: u32 = 21;

/// Docker's default set: the fourteen capabilities that ordinary programs (package managers,
/// web servers, `ping`) need, and none that reaches past the container.
pub const DOCKER_DEFAULT: u64 = mask(&[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SYS_CHROOT",
    "MKNOD",
    "AUDIT_WRITE",
    "SETFCAP",
]);

const fn mask(names: &[&str]) -> u64 {
    let mut bits = 0;
    let mut i = 0;
    while i < names.len() {
        let mut n = 0;
        while n < NAMES.len() {
            if eq(NAMES[n].as_bytes(), names[i].as_bytes()) {
                bits |= 1 << n;
            }
            n += 1;
        }
        i += 1;
    }
    bits
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Parse `--cap-add`/`--cap-drop` values: names with or without `CAP_`, in any case, separated
/// by commas, or `ALL`.
pub fn parse(values: &[String]) -> Result<u64> {
    let mut bits = 0;
    for word in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|w| !w.is_empty()) {
        let upper = word.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if name == "ALL" {
            bits |= ALL;
            continue;
        }
        match NAMES.iter().position(|n| *n == name) {
            Some(n) => bits |= 1 << n,
            None => bail!(
                "unknown capability `{word}` (see capabilities(7); for example NET_ADMIN or CAP_SYS_TIME)"
            ),
        }
    }
    Ok(bits)
}

/// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`), no
/// higher than the table's.
pub fn last_capability() -> Result<u32> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .context("reading /proc/sys/kernel/cap_last_cap")?;
    let last: u32 = text.trim().parse().context("parsing /proc/sys/kernel/cap_last_cap")?;
    Ok(last.min(NAMES.len() as u32 - 1))
}

/// A process's effective, permitted and inheritable sets (the three `capset` changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// `struct __user_cap_header_struct` and `__user_cap_data_struct` of `linux/capability.h`.
#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Version 3: 64-bit sets, as two 32-bit halves.
const VERSION_3: u32 = 0x2008_0522;

/// `capget`: this process's three sets.
pub fn get() -> Result<Sets> {
    let mut header = Header { version: VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: a version-3 header and the two data structs version 3 writes.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("capget");
    }
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok(Sets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `capset`: replace this process's three sets. The kernel refuses (EPERM) to add to permitted,
/// or to make effective what is not permitted.
pub fn set(sets: Sets) -> Result<()> {
    let mut header = Header { version: VERSION_3, pid: 0 };
    let half = |bits: u64, high: bool| if high { (bits >> 32) as u32 } else { bits as u32 };
    let data = [false, true].map(|high| Data {
        effective: half(sets.effective, high),
        permitted: half(sets.permitted, high),
        inheritable: half(sets.inheritable, high),
    });
    // SAFETY: a version-3 header and two data structs, which the kernel only reads.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("capset");
    }
    Ok(())
}

/// `prctl(option, arg2, arg3)`, checked: -1 is an error; any other value is the call's answer
/// (0 for most options, 1 from `PR_CAPBSET_READ` for a capability in the bounding set).
pub fn prctl(
    option: libc::c_int,
    arg2: libc::c_ulong,
    arg3: libc::c_ulong,
) -> Result<libc::c_int, nix::errno::Errno> {
    // SAFETY: prctl with integer arguments only.
    let answer = unsafe { libc::prctl(option, arg2, arg3, 0, 0) };
    if answer == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(answer)
}

// ANCHOR: drop_capabilities
/// Keep only the capabilities in `keep` (bit N is capability N), in all five sets, so that no
/// `execve` in the container can bring one back.
pub fn drop_capabilities(keep: u64) -> Result<()> {
    //@ exercise hardening drop_capabilities
    // The bounding set first: dropping from it needs CAP_SETPCAP in the effective set, which
    // the capset below may take away.
    for cap in 0..=last_capability()? {
        if keep & (1 << cap) == 0 {
            prctl(libc::PR_CAPBSET_DROP, cap.into(), 0).map_err(|errno: Errno| {
                anyhow::anyhow!("prctl(PR_CAPBSET_DROP, {}): {}", NAMES[cap as usize], errno.desc())
            })?;
        }
    }
    // Ambient capabilities survive execve even for a program without file capabilities.
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)
        .map_err(|errno| anyhow::anyhow!("prctl(PR_CAP_AMBIENT_CLEAR_ALL): {}", errno.desc()))?;
    // Inheritable empty (as Docker since CVE-2022-24769): for root, execve adds it back to permitted.
    let current = get()?;
    set(Sets { effective: current.permitted & keep, permitted: current.permitted & keep, inheritable: 0 })
    //@ stub
    //| let _ = keep;
    //| todo!("chapter {chapter}, `drop_capabilities`: keep only the capabilities in `keep`, in all five sets, so that no execve brings one back; `cargo xtask hint hardening drop_capabilities` helps (book: Chapter {chapter}, \"Capabilities\")")
    //@ end hardening drop_capabilities
}
// ANCHOR_END: drop_capabilities

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_default_set_has_fourteen_capabilities() {
        assert_eq!(DOCKER_DEFAULT.count_ones(), 14);
        assert_eq!(DOCKER_DEFAULT & (1 << CAP_SYS_ADMIN), 0);
    }

    #[test]
    fn names_parse_with_or_without_the_prefix_in_any_case() {
        assert_eq!(parse(&["net_admin".into(), "CAP_SYS_TIME".into()]).unwrap(), (1 << 12) | (1 << 25));
        assert_eq!(parse(&["chown,kill".into()]).unwrap(), 0b100001);
        assert_eq!(parse(&["ALL".into()]).unwrap(), ALL);
        assert!(parse(&["SYS_EVERYTHING".into()]).is_err());
    }
}
//@ end hardening
