//@ begin hardening
//! A seccomp filter in the spirit of Docker's default profile: the system calls that reach past
//! a container (the kernel's own state, other namespaces, the host's files by handle) fail with
//! EPERM; everything else is allowed. Docker's profile is an allowlist of about 350 calls; this
//! is the matching denylist, short enough to read, and the book says what that trades.
//!
//! The filter is written in the form engines use for theirs (runc's JSON profile: a default
//! action, and rules that name calls, an action and conditions on the arguments), so that one
//! compiler serves minibox's filter and the profiles of the oci chapter. It is compiled with
//! `seccompiler` (pure Rust; see DESIGN.md for why not libseccomp), once per container, in the
//! child, and loaded last: after it, the only system calls left to make are those that start
//! the command.
//!
//! seccompiler compiles a filter with one action for the calls its rules match and one for the
//! rest. A profile with several actions becomes several filters, stacked: the first gives the
//! default action to every call no rule names (and allows the named ones), then one filter per
//! other action gives it to its own rules' calls (and allows the rest). The kernel runs every
//! filter and keeps the most restrictive answer (kill, trap, errno, log, allow, in that order),
//! so a call passes only if no filter objects to it. Where the rules of two actions match the
//! same call, the more restrictive action wins.

use super::capabilities::CAP_SYS_ADMIN;
use anyhow::{Context, Result, anyhow, bail};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// ANCHOR: denied
/// Denied always: the kernel's own state (modules, keys, clocks, reboot, swap, accounting), its
/// debugging interfaces (BPF, perf, kcmp, userfaultfd) and the host's files by handle.
pub const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "delete_module",
    "finit_module",
    "init_module",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "move_pages",
    "name_to_handle_at",
    "open_by_handle_at",
    "perf_event_open",
    "quotactl",
    "reboot",
    "request_key",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "userfaultfd",
    #[cfg(target_arch = "x86_64")]
    "ioperm",
    #[cfg(target_arch = "x86_64")]
    "iopl",
    #[cfg(target_arch = "x86_64")]
    "uselib",
    #[cfg(target_arch = "x86_64")]
    "_sysctl",
];

/// Denied unless the container keeps CAP_SYS_ADMIN (Docker's rule): mounts and new namespaces.
/// A new user namespace needs no capability at all, which is why `unshare` and `clone` are here.
pub const DENIED_WITHOUT_SYS_ADMIN: &[&str] = &[
    "mount",
    "umount2",
    "pivot_root",
    "setns",
    "unshare",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_tree",
    "move_mount",
    "mount_setattr",
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

/// A profile in runc's JSON form (config.json's `linux.seccomp`; `listenerPath` is refused by
/// name), and the form of minibox's own filter.
#[derive(Debug, Deserialize, Serialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Seccomp {
    pub default_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub flags: Vec<String>,
    pub syscalls: Vec<Syscall>,
}

/// One rule: these calls, this action, when every condition holds.
#[derive(Debug, Deserialize, Serialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Syscall {
    pub names: Vec<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    pub args: Vec<Arg>,
}

/// A condition on argument `index`: `arg OP value`, or `arg & value == value_two` for
/// `SCMP_CMP_MASKED_EQ`.
#[derive(Debug, Deserialize, Serialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Arg {
    pub index: u8,
    pub value: u64,
    pub value_two: u64,
    pub op: String,
}

/// The compiled profile: the filters in the order they are loaded, and `seccomp(2)`'s flags.
pub struct Filters {
    programs: Vec<BpfProgram>,
    flags: libc::c_ulong,
}

/// The architectures a profile may list. Calls made through another ABI than the machine's own
/// (32-bit programs on x86_64) are killed: minibox knows the numbers of the native calls only.
const ARCHITECTURES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

/// The actions, comparisons and flags minibox takes, as `minibox features` lists them.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_LOG",
];
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
pub const FLAGS: &[&str] =
    &["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];

/// The number of the system call `name` on this machine, if minibox knows it.
pub fn number(name: &str) -> Option<i64> {
    #[cfg(target_arch = "x86_64")]
    let table = super::syscalls::X86_64;
    #[cfg(not(target_arch = "x86_64"))]
    let table: &[(&str, i64)] = &[];
    table.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| table[i].1)
}

/// An action of the profile. `errno` is the rule's `errnoRet` (`defaultErrnoRet` for the
/// default action); without one, errors are EPERM, as in runc.
fn action(name: &str, errno: Option<u32>) -> Result<SeccompAction> {
    if errno.is_some() && name != "SCMP_ACT_ERRNO" {
        bail!("an errno is given for {name} (only SCMP_ACT_ERRNO returns one)");
    }
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => {
            let errno = errno.unwrap_or(libc::EPERM as u32);
            if errno > 4095 {
                bail!("errno {errno} is not an error number (1 to 4095)");
            }
            SeccompAction::Errno(errno)
        }
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => bail!(
            "SCMP_ACT_TRACE is not supported: it needs a tracer attached to the container, and minibox attaches none (use SCMP_ACT_ERRNO)"
        ),
        "SCMP_ACT_NOTIFY" => bail!(
            "SCMP_ACT_NOTIFY is not supported: it needs a listener (`linux.seccomp.listenerPath`), and minibox sends the notifications nowhere"
        ),
        "" => bail!("an action is missing (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS...)"),
        other => bail!("{other:?} is not a seccomp action"),
    })
}

fn condition(arg: &Arg) -> Result<SeccompCondition> {
    let (op, value) = match arg.op.as_str() {
        "SCMP_CMP_NE" => (SeccompCmpOp::Ne, arg.value),
        "SCMP_CMP_LT" => (SeccompCmpOp::Lt, arg.value),
        "SCMP_CMP_LE" => (SeccompCmpOp::Le, arg.value),
        "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, arg.value),
        "SCMP_CMP_GE" => (SeccompCmpOp::Ge, arg.value),
        "SCMP_CMP_GT" => (SeccompCmpOp::Gt, arg.value),
        // `value` is the mask, `valueTwo` what the masked argument must equal.
        "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(arg.value), arg.value_two),
        other => bail!("{other:?} is not a comparison (SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ...)"),
    };
    SeccompCondition::new(arg.index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| anyhow!("argument {}: {e}", arg.index))
}

/// A rule's conditions as seccompiler rules (any one matching is a match; `None`: always).
/// Conditions hold together, unless one argument is compared twice: then each is a rule of its
/// own, either matching, as runc does it.
fn rules(args: &[Arg]) -> Result<Option<Vec<SeccompRule>>> {
    if args.is_empty() {
        return Ok(None);
    }
    let conditions = args.iter().map(condition).collect::<Result<Vec<_>>>()?;
    let repeated = args.iter().any(|a| args.iter().filter(|b| b.index == a.index).count() > 1);
    let groups = if repeated { conditions.into_iter().map(|c| vec![c]).collect() } else { vec![conditions] };
    let rules = groups.into_iter().map(SeccompRule::new).collect::<Result<Vec<_>, _>>();
    Ok(Some(rules.map_err(|e| anyhow!("{e}"))?))
}

/// Rules for one filter, by call number; `None` matches the call whatever its arguments.
type Calls = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add(calls: &mut Calls, nr: i64, rules: Option<Vec<SeccompRule>>) {
    match (calls.entry(nr).or_insert_with(|| Some(vec![])), rules) {
        (None, _) => {}
        (slot, None) => *slot = None,
        (Some(existing), Some(more)) => existing.extend(more),
    }
}

fn program(
    calls: Calls,
    matched: SeccompAction,
    other: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram> {
    let rules = calls.into_iter().map(|(nr, rules)| (nr, rules.unwrap_or_default())).collect();
    let filter = SeccompFilter::new(rules, other, matched, arch).map_err(|e| anyhow!("{e}"))?;
    BpfProgram::try_from(filter).map_err(|e| anyhow!("{e}"))
}

/// Compile a profile; every refusal is one line that names what cannot be done.
pub fn compile(profile: &Seccomp) -> Result<Filters> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .ok()
        .filter(|_| cfg!(target_arch = "x86_64"))
        .ok_or_else(|| anyhow!("minibox has the system call table of x86_64 only"))?;
    if let Some(bad) = profile.architectures.iter().find(|a| !ARCHITECTURES.contains(&a.as_str())) {
        bail!("`architectures`: {bad:?} is not an architecture (SCMP_ARCH_X86_64...)");
    }
    let mut flags = 0;
    for flag in &profile.flags {
        flags |= match flag.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            other => bail!("`flags`: {other:?} is not supported (TSYNC, LOG and SPEC_ALLOW are)"),
        };
    }
    let default = action(&profile.default_action, profile.default_errno_ret).context("`defaultAction`")?;
    // Every named call, for the first filter; then the calls of each action, in first-seen order.
    let mut named = Calls::new();
    let mut by_action: Vec<(SeccompAction, Calls)> = Vec::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        let place = || format!("`syscalls[{i}]` ({})", rule.names.join(", "));
        let act = action(&rule.action, rule.errno_ret).with_context(place)?;
        let conditions = rules(&rule.args).with_context(place)?;
        let at = match by_action.iter().position(|(a, _)| *a == act) {
            Some(at) => at,
            None => {
                by_action.push((act, Calls::new()));
                by_action.len() - 1
            }
        };
        // Names this machine's table does not know are skipped: profiles list newer calls.
        for nr in rule.names.iter().filter_map(|name| number(name)) {
            add(&mut named, nr, conditions.clone());
            add(&mut by_action[at].1, nr, conditions.clone());
        }
    }
    let mut programs = Vec::new();
    if default != SeccompAction::Allow {
        programs.push(
            program(named, SeccompAction::Allow, default, arch).context("the default action's filter")?,
        );
    }
    for (act, calls) in by_action {
        if act != SeccompAction::Allow && !calls.is_empty() {
            programs.push(
                program(calls, act.clone(), SeccompAction::Allow, arch)
                    .with_context(|| format!("the filter of {act:?}"))?,
            );
        }
    }
    Ok(Filters { programs, flags })
}

/// Load the filters into this process. It needs `no_new_privs` or CAP_SYS_ADMIN, and it does
/// not set `no_new_privs` itself (seccompiler's `apply_filter` would): a profile does not ask
/// for it, `process.noNewPrivileges` does.
pub fn load(filters: &Filters) -> Result<()> {
    for program in &filters.programs {
        let fprog = libc::sock_fprog {
            len: u16::try_from(program.len()).context("seccomp: a filter too long")?,
            // seccompiler's sock_filter is the kernel's struct, as libc's is.
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies the program that `fprog` points to, which lives meanwhile.
        let rc = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, filters.flags, &fprog as *const _)
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("seccomp: loading the profile's filter");
        }
    }
    Ok(())
}

/// minibox's filter, the lists above, as a profile, for a container that keeps the
/// capabilities `kept`: `minibox run` loads it, and the daemon writes it into config.json, so
/// that both ways in refuse the same calls. Every call is allowed but the listed ones (EPERM);
/// `clone` with any namespace flag is refused by one condition per flag on the same argument,
/// which makes each a rule of its own; `clone3` gets ENOSYS, so the C library falls back to
/// `clone`.
pub fn default_profile(kept: u64) -> Seccomp {
    let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect();
    let errno = |names: Vec<String>, errno: i32, args: Vec<Arg>| Syscall {
        names,
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(errno as u32),
        args,
    };
    let mut syscalls = vec![errno(names(DENIED), libc::EPERM, vec![])];
    if kept & (1 << CAP_SYS_ADMIN) == 0 {
        syscalls.push(errno(names(DENIED_WITHOUT_SYS_ADMIN), libc::EPERM, vec![]));
        let flags = NAMESPACE_FLAGS.iter().map(|flag| Arg {
            index: 0,
            value: *flag as u64,
            value_two: *flag as u64,
            op: "SCMP_CMP_MASKED_EQ".into(),
        });
        syscalls.push(errno(vec!["clone".into()], libc::EPERM, flags.collect()));
        syscalls.push(errno(vec!["clone3".into()], libc::ENOSYS, vec![]));
    }
    Seccomp { default_action: "SCMP_ACT_ALLOW".into(), syscalls, ..Default::default() }
}

/// The filters of minibox's own profile for a container that keeps the capabilities `kept`.
pub fn filters(kept: u64) -> Result<Filters> {
    compile(&default_profile(kept))
}

/// Compile and load the filters for a container that keeps the capabilities `kept`. Loading a
/// filter needs `no_new_privs` (or CAP_SYS_ADMIN): a filter could otherwise trick a setuid
/// program into a state its authors never expected.
pub fn install(kept: u64) -> Result<()> {
    load(&filters(kept)?)
}
//@ end hardening
//@ begin hardening

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(rules: serde_json::Value) -> Seccomp {
        serde_json::from_value(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules}))
            .unwrap()
    }

    #[test]
    fn the_filters_compile_for_this_machine() {
        let without_admin = filters(0).unwrap();
        assert_eq!(without_admin.programs.len(), 2, "an EPERM filter and the clone3 filter");
        assert_eq!(filters(1 << CAP_SYS_ADMIN).unwrap().programs.len(), 1);
        for name in DENIED.iter().chain(DENIED_WITHOUT_SYS_ADMIN) {
            assert!(number(name).is_some(), "{name} is in the table");
        }
    }

    #[test]
    fn every_operator_and_action_compiles_and_each_action_has_its_filter() {
        let ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT"];
        let mut rules: Vec<_> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                serde_json::json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": i, "value": 8, "op": op}]})
            })
            .collect();
        rules.push(serde_json::json!({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
            "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}));
        for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"] {
            rules.push(serde_json::json!({"names": ["mkdir", "no_such_call"], "action": action}));
        }
        let filters = compile(&profile(serde_json::Value::Array(rules))).unwrap();
        // The default's filter, then errno, kill thread, kill process, trap and log.
        assert_eq!(filters.programs.len(), 6, "one filter for the default, one per other action");
    }

    #[test]
    fn every_action_operator_and_flag_that_features_lists_compiles() {
        for action in ACTIONS {
            let rule = serde_json::json!([{"names": ["mkdir"], "action": action}]);
            assert!(compile(&profile(rule)).is_ok(), "{action}");
        }
        for op in OPERATORS {
            let rule = serde_json::json!([{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 1, "value": 8, "op": op}]}]);
            assert!(compile(&profile(rule)).is_ok(), "{op}");
        }
        let flags = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": FLAGS});
        assert!(compile(&serde_json::from_value(flags).unwrap()).is_ok(), "{FLAGS:?}");
    }

    #[test]
    fn actions_minibox_cannot_take_are_refused_by_name() {
        for action in ["SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE"] {
            let error = compile(&profile(serde_json::json!([{"names": ["mkdir"], "action": action}])));
            let error = format!("{:#}", error.err().expect("refused"));
            assert!(error.contains(action), "{error}");
        }
        let bad_op = profile(serde_json::json!([{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]));
        assert!(compile(&bad_op).is_err(), "an unknown operator is refused");
    }
}
//@ end hardening
