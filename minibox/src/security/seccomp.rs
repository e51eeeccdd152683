//@ begin hardening
//! A seccomp filter in the spirit of Docker's default profile: the system calls that reach past
//! a container (the kernel's own state, other namespaces, the host's files by handle) fail with
//! EPERM; everything else is allowed. Docker's profile is an allowlist of about 350 calls; this
//! is the matching denylist, short enough to read, and the book says what that trades.
//!
//! The filter is compiled with `seccompiler` (pure Rust; see DESIGN.md for why not libseccomp),
//! once per container, in the child, and loaded last: after it, the only system calls left to
//! make are those that start the command.

use super::capabilities::CAP_SYS_ADMIN;
use anyhow::{Context, Result, anyhow};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use std::collections::BTreeMap;

// ANCHOR: denied
/// Denied always: the kernel's own state (modules, keys, clocks, reboot, swap, accounting), its
/// debugging interfaces (BPF, perf, kcmp, userfaultfd) and the host's files by handle.
pub const DENIED: &[(&str, libc::c_long)] = &[
    ("acct", libc::SYS_acct),
    ("add_key", libc::SYS_add_key),
    ("bpf", libc::SYS_bpf),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("clock_settime", libc::SYS_clock_settime),
    ("delete_module", libc::SYS_delete_module),
    ("finit_module", libc::SYS_finit_module),
    ("init_module", libc::SYS_init_module),
    ("kcmp", libc::SYS_kcmp),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("kexec_load", libc::SYS_kexec_load),
    ("keyctl", libc::SYS_keyctl),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("move_pages", libc::SYS_move_pages),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("quotactl", libc::SYS_quotactl),
    ("reboot", libc::SYS_reboot),
    ("request_key", libc::SYS_request_key),
    ("settimeofday", libc::SYS_settimeofday),
    ("swapoff", libc::SYS_swapoff),
    ("swapon", libc::SYS_swapon),
    ("syslog", libc::SYS_syslog),
    ("userfaultfd", libc::SYS_userfaultfd),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("uselib", libc::SYS_uselib),
    #[cfg(target_arch = "x86_64")]
    ("_sysctl", libc::SYS__sysctl),
];

/// Denied unless the container keeps CAP_SYS_ADMIN (Docker's rule): mounts and new namespaces.
/// A new user namespace needs no capability at all, which is why `unshare` and `clone` are here.
pub const DENIED_WITHOUT_SYS_ADMIN: &[(&str, libc::c_long)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("setns", libc::SYS_setns),
    ("unshare", libc::SYS_unshare),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("mount_setattr", libc::SYS_mount_setattr),
];

/// The namespace flags `clone` may not carry without CAP_SYS_ADMIN.
pub const NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];
// ANCHOR_END: denied

/// The filters for a container that keeps the capabilities `kept`: one that answers EPERM, and
/// one that answers ENOSYS to `clone3`, whose flags sit in memory where a filter cannot read
/// them. ENOSYS makes the C library fall back to `clone`, whose flags the first filter checks.
pub fn filters(kept: u64) -> Result<Vec<BpfProgram>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow!("seccomp: no filter for this architecture: {e:?}"))?;
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|(_, nr)| (*nr, vec![])).collect();
    let mut programs = Vec::new();
    if kept & (1 << CAP_SYS_ADMIN) == 0 {
        denied.extend(DENIED_WITHOUT_SYS_ADMIN.iter().map(|(_, nr)| (*nr, vec![])));
        // clone(flags, ...): one rule per flag; any rule that matches denies the call.
        let per_flag = NAMESPACE_FLAGS
            .iter()
            .map(|flag| {
                let flag = *flag as u64;
                let condition =
                    SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), flag)?;
                SeccompRule::new(vec![condition])
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("seccomp: the clone rule: {e}"))?;
        denied.insert(libc::SYS_clone, per_flag);
        let clone3 = BTreeMap::from([(libc::SYS_clone3, vec![])]);
        programs.push(compile(clone3, libc::ENOSYS, arch)?);
    }
    programs.push(compile(denied, libc::EPERM, arch)?);
    Ok(programs)
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32, arch: TargetArch) -> Result<BpfProgram> {
    let errno = u32::try_from(errno).unwrap_or(libc::EPERM as u32);
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), arch)
        .map_err(|e| anyhow!("seccomp: building the filter: {e}"))?;
    BpfProgram::try_from(filter).map_err(|e| anyhow!("seccomp: compiling the filter: {e}"))
}

/// Compile and load the filters for a container that keeps the capabilities `kept`. Loading a
/// filter needs `no_new_privs` (or CAP_SYS_ADMIN): a filter could otherwise trick a setuid
/// program into a state its authors never expected.
pub fn install(kept: u64) -> Result<()> {
    for program in filters(kept)? {
        seccompiler::apply_filter(&program).context("seccomp: loading the filter")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filters_compile_for_this_machine() {
        let without_admin = super::filters(0).unwrap();
        assert_eq!(without_admin.len(), 2, "an EPERM filter and the clone3 filter");
        assert_eq!(super::filters(1 << super::CAP_SYS_ADMIN).unwrap().len(), 1);
    }
}
//@ end
