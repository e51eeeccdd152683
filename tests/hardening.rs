//! The hardening chapter's graded tests. Each test runs, from inside a container, an attack that
//! works against a container without the chapter's defences (most of them escapes that have
//! CVE numbers), and fails if it works.
//!
//! The attacks are the probe's `try` commands; each reports whether it worked and the errno
//! that stopped it.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use serial_test::serial;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use support::{OrFixture, Sandbox, ensure};

const CAPS: &str = "hardening, \"Capabilities\"";
const ORDER: &str = "hardening, \"Putting it in order\"";
const SECCOMP: &str = "hardening, \"seccomp\"";
const PATHS: &str = "hardening, \"Masked and read-only paths\"";
const DEVICES: &str = "hardening, \"Devices\"";

/// Docker's default capability set, as /proc/PID/status prints it.
const DOCKER_DEFAULT: &str = "00000000a80425fb";
const NO_CAPABILITIES: &str = "0000000000000000";
const CAP_SYS_ADMIN: u32 = 21;

/// Run the probe in a container of its own (`minibox run [options] --rootfs ROOT -- /probe ARGS`)
/// and return its report. The run must succeed; `book` is where a failure points.
fn probe(sandbox: &Sandbox, options: &[&str], args: &[&str], book: &str) -> serde_json::Value {
    static ROOTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let rootfs = sandbox
        .busybox_rootfs(&format!("rootfs-{}", ROOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let rootfs = rootfs.to_str().unwrap().to_string();
    let mut argv = vec!["run", "--rootfs", &rootfs];
    argv.extend(options);
    argv.push("--");
    argv.push("/probe");
    argv.extend(args);
    let ran = sandbox.run(&argv);
    ran.expect_code(0, "the probe should run in a hardened container", book);
    ran.probe_report()
}

/// Try an attack from inside; fail unless it was stopped with one of `errnos`.
fn expect_stopped(
    sandbox: &Sandbox,
    options: &[&str],
    attack: &[&str],
    errnos: &[i32],
    cause: &str,
    book: &str,
) {
    let mut args = vec!["try"];
    args.extend(attack);
    let report = probe(sandbox, options, &args, book);
    let errno = report["errno"].as_i64().unwrap_or(-1) as i32;
    ensure(
        report["worked"] == false && errnos.contains(&errno),
        format!("`{}` to fail with errno {errnos:?}", attack.join(" ")),
        format!("{report}"),
        cause,
        book,
    );
}

fn field(report: &serde_json::Value, key: &str) -> String {
    report[key].as_str().unwrap_or("(missing)").to_string()
}

fn capability_sets(report: &serde_json::Value) -> String {
    ["cap_eff", "cap_prm", "cap_inh", "cap_bnd", "cap_amb"]
        .map(|key| format!("{key}={}", field(report, key)))
        .join(" ")
}

fn expect_capabilities(report: &serde_json::Value, kept: &str, cause: &str) {
    let seen = capability_sets(report);
    let expected = format!(
        "cap_eff={kept} cap_prm={kept} cap_inh={NO_CAPABILITIES} cap_bnd={kept} cap_amb={NO_CAPABILITIES}"
    );
    ensure(seen == expected, &expected, &seen, cause, CAPS);
}

#[test]
#[serial]
fn every_capability_set_is_reduced_to_dockers_default() {
    let sandbox = Sandbox::new();
    let report = probe(&sandbox, &[], &[], CAPS);
    expect_capabilities(
        &report,
        DOCKER_DEFAULT,
        "root regains its bounding and inheritable sets at every execve: drop from the bounding set, \
         empty the inheritable and ambient sets, and reduce effective and permitted",
    );
}

#[test]
#[serial]
fn capabilities_handed_to_minibox_do_not_reach_the_container() {
    // minibox is started with a full inheritable set and CAP_SYS_ADMIN, CAP_NET_ADMIN and
    // CAP_SYS_MODULE in its ambient set: for root, execve turns both into permitted ones.
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let running =
        sandbox.start_with(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"], |command| {
            // SAFETY: between fork and exec the closure makes system calls only.
            unsafe { command.pre_exec(raise_inheritable_and_ambient) };
        });
    let ran = running.wait();
    ran.expect_code(0, "the probe should run in a hardened container", CAPS);
    expect_capabilities(
        &ran.probe_report(),
        DOCKER_DEFAULT,
        "the inheritable and ambient sets that minibox inherited came through: for root, execve adds \
         them to the permitted set; clear them",
    );
}

/// In the test's child, before it runs minibox: every permitted capability made inheritable, and
/// three dangerous ones ambient.
fn raise_inheritable_and_ambient() -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    let mut header = Header { version: 0x2008_0522, pid: 0 };
    let mut data = [[0u32; 3]; 2]; // effective, permitted, inheritable; low and high halves
    // SAFETY: a version-3 header and the two data structs it reads and writes.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    for half in &mut data {
        half[2] = half[1];
    }
    // SAFETY: as above.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    for cap in [CAP_SYS_ADMIN, 12, 16] {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
#[serial]
fn cap_drop_all_leaves_nothing_and_cap_add_adds() {
    let sandbox = Sandbox::new();
    let report = probe(&sandbox, &["--cap-drop", "ALL"], &[], CAPS);
    expect_capabilities(
        &report,
        NO_CAPABILITIES,
        "with --cap-drop ALL every set must end empty; dropping from the bounding set needs CAP_SETPCAP, \
         so drop from it before the capset that removes CAP_SETPCAP",
    );
    let report = probe(&sandbox, &["--cap-add", "sys_time", "--cap-drop", "CAP_NET_RAW"], &[], CAPS);
    let kept = format!("{:016x}", (0xa80425fbu64 | (1 << 25)) & !(1 << 13));
    expect_capabilities(&report, &kept, "--cap-add SYS_TIME and --cap-drop NET_RAW change the kept set");
}

#[test]
#[serial]
fn a_dropped_capability_cannot_be_raised_again() {
    let sandbox = Sandbox::new();
    expect_stopped(
        &sandbox,
        &[],
        &["raise", &CAP_SYS_ADMIN.to_string()],
        &[libc::EPERM],
        "capset added CAP_SYS_ADMIN back: it must be gone from the permitted set (capset can only \
         lower what is permitted)",
        CAPS,
    );
}

#[test]
#[serial]
fn privileged_keeps_every_capability_and_no_filter() {
    let sandbox = Sandbox::new();
    let report = probe(&sandbox, &["--privileged"], &[], ORDER);
    ensure(
        field(&report, "cap_bnd") != DOCKER_DEFAULT && field(&report, "seccomp") == "0",
        "--privileged: the host's bounding set and no seccomp filter",
        capability_sets(&report) + &format!(" seccomp={}", field(&report, "seccomp")),
        "--privileged is the explicit opt-out: apply nothing",
        ORDER,
    );
}

#[test]
#[serial]
fn the_command_starts_with_no_new_privs_and_a_seccomp_filter() {
    let sandbox = Sandbox::new();
    let report = probe(&sandbox, &[], &[], ORDER);
    let seen =
        format!("no_new_privs={} seccomp={}", field(&report, "no_new_privs"), field(&report, "seccomp"));
    ensure(
        seen == "no_new_privs=1 seccomp=2",
        "no_new_privs=1 seccomp=2 (a filter)",
        &seen,
        "the container should start under no_new_privs and a seccomp filter, loaded last",
        ORDER,
    );
    let report = probe(&sandbox, &["--security-opt", "seccomp=unconfined"], &[], ORDER);
    let seen =
        format!("no_new_privs={} seccomp={}", field(&report, "no_new_privs"), field(&report, "seccomp"));
    ensure(
        seen == "no_new_privs=1 seccomp=0",
        "with seccomp=unconfined: no_new_privs=1 seccomp=0",
        &seen,
        "no_new_privs is set by minibox itself, not only as a side effect of loading the filter",
        ORDER,
    );
}

#[test]
#[serial]
fn a_setuid_root_program_gains_nothing_under_no_new_privs() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let setuid = rootfs.join("setuid-probe");
    std::fs::copy(support::PROBE, &setuid).or_fixture("copying the probe");
    std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o4755)).or_fixture("chmod 4755");
    let root = rootfs.to_str().unwrap();
    let euid_after = |options: &[&str]| {
        let mut argv = vec!["run", "--rootfs", root];
        argv.extend(options);
        argv.extend(["--", "/probe", "as-nobody", "/setuid-probe"]);
        let ran = sandbox.run(&argv);
        ran.expect_code(0, "the probe should become nobody and exec the setuid program", ORDER);
        field(&ran.probe_report(), "euid")
    };
    // The test's own check: without no_new_privs the setuid bit does make nobody root.
    let privileged = euid_after(&["--privileged"]);
    ensure(
        privileged == "0",
        "the setuid-root program to run as root under --privileged (a check of this test's set-up)",
        format!("euid {privileged}"),
        "the test root filesystem may be on a nosuid mount",
        ORDER,
    );
    for options in [&[][..], &["--security-opt", "seccomp=unconfined"][..]] {
        let euid = euid_after(options);
        ensure(
            euid == "65534",
            format!("with {options:?}: the setuid-root program to stay nobody (euid 65534)"),
            format!("euid {euid}"),
            "set no_new_privs (prctl PR_SET_NO_NEW_PRIVS) before the command starts, whether or not a \
             seccomp filter is loaded",
            ORDER,
        );
    }
}

#[test]
#[serial]
fn the_shocker_open_by_handle_at_is_refused() {
    // CVE-2014-3519's exploit ("shocker", 2014): a handle for inode 2, the root directory of the
    // filesystem that holds the container's root, opens the host's root without a path.
    let sandbox = Sandbox::new();
    expect_stopped(
        &sandbox,
        &[],
        &["shocker"],
        &[libc::EPERM],
        "open_by_handle_at needs CAP_DAC_READ_SEARCH, and the filter should refuse it whatever the capabilities",
        SECCOMP,
    );
    expect_stopped(
        &sandbox,
        &["--security-opt", "seccomp=unconfined"],
        &["shocker"],
        &[libc::EPERM],
        "without the filter, the capability is what stops it: CAP_DAC_READ_SEARCH must be gone",
        CAPS,
    );
}

#[test]
#[serial]
fn kernel_modules_keys_mounts_and_user_namespaces_are_refused() {
    let sandbox = Sandbox::new();
    for (attack, cause) in [
        (&["module"][..], "init_module and finit_module should be refused (EPERM) by the filter"),
        (&["keyctl"][..], "keyctl should be refused: the kernel keyring is not namespaced"),
        (&["mount"][..], "mount should be refused without CAP_SYS_ADMIN"),
        (&["unshare-user"][..], "unshare(CLONE_NEWUSER) needs no capability: the filter must refuse it"),
    ] {
        expect_stopped(&sandbox, &[], attack, &[libc::EPERM], cause, SECCOMP);
    }
}

#[test]
#[serial]
fn core_pattern_and_proc_sys_cannot_be_written() {
    // core_pattern names the program the host kernel runs, as host root, when any process
    // crashes: a container that writes `|/path/in/container` owns the host (CVE-2019-5736's
    // cousins; Docker masks it since 2014). The probe writes back what it read, so the host's
    // value stays the same even if the write goes through.
    let sandbox = Sandbox::new();
    for path in ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger"] {
        if !Path::new(path).exists() {
            continue; // not on this kernel
        }
        expect_stopped(
            &sandbox,
            &[],
            &["write-back", path],
            &[libc::EROFS, libc::EACCES, libc::EPERM],
            "/proc/sys and /proc/sysrq-trigger should be read-only mounts (a bind onto itself, remounted read-only)",
            PATHS,
        );
    }
}

#[test]
#[serial]
fn masked_paths_show_nothing_and_take_nothing() {
    let sandbox = Sandbox::new();
    for path in ["/proc/keys", "/proc/timer_list", "/proc/interrupts", "/sys/firmware", "/proc/acpi"] {
        if !Path::new(path).exists() {
            continue; // not on this kernel: nothing to mask
        }
        expect_stopped(
            &sandbox,
            &[],
            &["read", path],
            &[0],
            &format!("{path} should read as empty: /dev/null over a file, an empty tmpfs over a directory"),
            PATHS,
        );
    }
    expect_stopped(
        &sandbox,
        &[],
        &["create-in", "/sys/firmware"],
        &[libc::EROFS],
        "the tmpfs over a masked directory must be read-only, or the container can leave files there",
        PATHS,
    );
}

/// The major and minor numbers of the block device holding `path` (the host's disk, when it is
/// on one).
fn device_of(path: &Path) -> (u64, u64) {
    let dev = std::fs::metadata(path).or_fixture("stat of the sandbox").dev();
    (libc::major(dev).into(), libc::minor(dev).into())
}

#[test]
#[serial]
fn no_block_device_can_be_made_or_brought_in() {
    let sandbox = Sandbox::new();
    let (major, minor) = device_of(&sandbox.dir);
    let (major, minor) = (major.to_string(), minor.to_string());
    for place in ["/dev/disk", "/tmp/disk", "/disk"] {
        expect_stopped(
            &sandbox,
            &[],
            &["mknod-open", place, &major, &minor],
            &[libc::EROFS, libc::EACCES, libc::EPERM],
            "CAP_MKNOD is kept (as Docker does): the node must be useless where it can be made (`nodev` root) \
             and /dev, where nodes work, must not take new ones (read-only)",
            DEVICES,
        );
    }
    // A device node shipped in the root filesystem (an image layer can carry one).
    let rootfs = sandbox.busybox_rootfs("rootfs-with-a-disk");
    let node = std::ffi::CString::new(rootfs.join("disk").into_os_string().into_encoded_bytes()).unwrap();
    let dev = libc::makedev(major.parse().unwrap(), minor.parse().unwrap());
    // SAFETY: a valid path; mknod touches no memory of ours.
    if unsafe { libc::mknod(node.as_ptr(), libc::S_IFBLK | 0o600, dev) } != 0 {
        support::fixture_failed("mknod in the test root filesystem", std::io::Error::last_os_error());
    }
    let ran =
        sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe", "try", "open", "/disk"]);
    ran.expect_code(0, "the probe should run", DEVICES);
    let report = ran.probe_report();
    ensure(
        report["worked"] == false && report["errno"] == libc::EACCES,
        "opening a device node that came with the root filesystem to fail with EACCES (nodev)",
        format!("{report}"),
        "the container's root must be mounted nodev",
        DEVICES,
    );
}

#[test]
#[serial]
fn the_runtime_binary_is_out_of_reach_from_inside() {
    // CVE-2019-5736: a container process opened /proc/PID/exe of runc (the host's binary) and
    // rewrote it. minibox's own code inside the container is --init's PID 1.
    let sandbox = Sandbox::new();
    expect_stopped(
        &sandbox,
        &["--init"],
        &["open", "/proc/1/exe"],
        &[libc::EACCES, libc::EPERM],
        "PID 1 under --init is minibox itself: it must not be dumpable (prctl PR_SET_DUMPABLE 0), so that \
         /proc/1/exe (the host's minibox) cannot be opened (see also \"The runtime binary\")",
        ORDER,
    );
}

#[test]
#[serial]
fn the_filter_follows_the_capabilities_kept() {
    // Docker's profile lets mount, unshare and setns through when CAP_SYS_ADMIN is kept: the
    // filter is built for the set the container ends with, not for the default one.
    let sandbox = Sandbox::new();
    let report = probe(&sandbox, &["--cap-add", "SYS_ADMIN"], &["try", "mount"], ORDER);
    ensure(
        report["worked"] == true,
        "with --cap-add SYS_ADMIN, mounting a tmpfs inside the container to work",
        format!("{report}"),
        "build the seccomp filter for the capabilities the container keeps (the same set given to \
         drop_capabilities): with CAP_SYS_ADMIN kept, the mount calls stay allowed",
        ORDER,
    );
}

#[test]
#[serial]
fn the_kernel_refuses_the_hosts_disk_even_where_mounts_are_allowed() {
    // With CAP_SYS_ADMIN given back, the container can mount a tmpfs that holds device nodes:
    // what stops it now is the cgroup's devices allowlist (the v1 devices controller, or on v2
    // a BPF_PROG_TYPE_CGROUP_DEVICE program), which answers EPERM to any device not listed.
    let sandbox = Sandbox::new();
    let (major, minor) = device_of(&sandbox.dir);
    expect_stopped(
        &sandbox,
        &["--cap-add", "SYS_ADMIN"],
        &["mknod-open-on-tmpfs", &major.to_string(), &minor.to_string()],
        &[libc::EPERM],
        "the container's cgroup should allow only the standard character devices (devices.deny `a`, then \
         devices.allow; on cgroup v2 a device program attached to the cgroup)",
        DEVICES,
    );
}
