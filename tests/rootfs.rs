//! The rootfs chapter's graded tests: the mount namespace, pivot_root, /proc, /dev and /sys.
//!
//! Each test builds its own root filesystem (the host's static busybox and the probe, at
//! `/probe`), so nothing a container writes reaches another test.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use serial_test::serial;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use support::{OrFixture, Running, Sandbox, ensure, fail, fixture_failed};

const PREPARE: &str = "rootfs, \"Preparing the new root\"";
const PIVOT: &str = "rootfs, \"pivot_root, not chroot\"";
const PSEUDO: &str = "rootfs, \"/proc, /dev and /sys\"";

fn str_list(report: &serde_json::Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The probe's view of one mount point: (fstype, options).
fn mount_of(report: &serde_json::Value, target: &str) -> Option<(String, String)> {
    let mounts = report["mounts"].as_array()?;
    let mount = mounts.iter().rev().find(|m| m["target"].as_str() == Some(target))?;
    Some((mount["fstype"].as_str()?.to_string(), mount["options"].as_str()?.to_string()))
}

#[test]
#[serial]
fn the_container_sees_its_rootfs_as_root_and_none_of_the_host() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    std::fs::write(rootfs.join("only-in-the-container"), "").or_fixture("writing into the test rootfs");
    let host_marker = sandbox.dir.join("only-on-the-host");
    std::fs::write(&host_marker, "").or_fixture("writing a marker on the host");

    let ran = sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]);
    ran.expect_code(0, "the probe should run inside the container's root filesystem", PIVOT);
    let seen = str_list(&ran.probe_report(), "root_entries");
    let mut expected: Vec<String> = std::fs::read_dir(&rootfs)
        .or_fixture("listing the test rootfs")
        .map(|e| e.or_fixture("listing the test rootfs").file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    ensure(
        seen == expected,
        format!("`/` inside to list exactly the rootfs: {expected:?}"),
        format!("{seen:?}"),
        "after pivot_root into the rootfs, `/` is the rootfs",
        PIVOT,
    );
    let script = format!("test -e {} && echo visible || echo invisible", host_marker.display());
    sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", &script]).expect_stdout(
        "invisible\n",
        "no path of the host should lead anywhere once the old root is detached",
        PIVOT,
    );
}

#[test]
#[serial]
fn the_default_root_is_a_busybox_root_not_the_hosts() {
    let sandbox = Sandbox::new();
    sandbox.run(&["run", "--", "readlink", "/bin/sh"]).expect_stdout(
        "/bin/busybox\n",
        "without --rootfs, minibox should run the command in its busybox root filesystem",
        PIVOT,
    );
}

#[test]
#[serial]
fn proc_lists_only_the_containers_processes() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let ran = sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]);
    let report = ran.probe_report();
    let pids = str_list(&report, "proc_pids");
    ensure(
        pids == ["1"],
        "/proc to list one process, the probe itself, as PID 1",
        format!("/proc lists {} processes: {pids:?}", pids.len()),
        "mount a fresh proc at /proc after pivot_root, from inside the new PID namespace",
        PSEUDO,
    );
    let proc_mount = mount_of(&report, "/proc");
    ensure(
        proc_mount.as_ref().is_some_and(|(fstype, _)| fstype == "proc"),
        "a proc filesystem mounted at /proc",
        format!("{proc_mount:?}"),
        "mount(\"proc\", \"/proc\", \"proc\", ...)",
        PSEUDO,
    );
}

#[test]
#[serial]
fn dev_has_working_null_and_zero_and_no_host_disks() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let root = rootfs.to_str().unwrap();
    let script = "[ -c /dev/null ] && [ -c /dev/zero ] && echo discarded > /dev/null \
                  && [ \"$(head -c 5 /dev/zero | tr '\\0' z)\" = zzzzz ] && echo works";
    sandbox.run(&["run", "--rootfs", root, "--", "sh", "-c", script]).expect_stdout(
        "works\n",
        "/dev/null and /dev/zero should be character devices (1,3) and (1,5) on the container's /dev",
        PSEUDO,
    );
    let ran = sandbox.run(&["run", "--rootfs", root, "--", "ls", "/dev"]);
    let entries: Vec<&str> = ran.stdout.split_whitespace().collect();
    let allowed = [
        "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom",
        "zero",
    ];
    let unexpected: Vec<&&str> = entries.iter().filter(|e| !allowed.contains(e)).collect();
    ensure(
        !entries.is_empty() && unexpected.is_empty(),
        format!("/dev to hold only {allowed:?}"),
        format!("unexpected entries {unexpected:?}{}", ran.transcript()),
        "the container gets a small tmpfs /dev of its own, not the host's /dev with its disks",
        PSEUDO,
    );
}

#[test]
#[serial]
fn sys_is_read_only() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let report = sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]).probe_report();
    let sys = mount_of(&report, "/sys");
    ensure(
        sys.as_ref()
            .is_some_and(|(fstype, options)| fstype == "sysfs" && options.split(',').any(|o| o == "ro")),
        "sysfs mounted read-only at /sys",
        format!("{sys:?}"),
        "mount sysfs at /sys with MS_RDONLY",
        PSEUDO,
    );
}

#[test]
#[serial]
fn read_only_refuses_writes_to_root() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let root = rootfs.to_str().unwrap();
    sandbox.run(&["run", "--rootfs", root, "--", "sh", "-c", "touch /written && echo ok"]).expect_stdout(
        "ok\n",
        "without --read-only the root filesystem is writable",
        PSEUDO,
    );
    let ran = sandbox.run(&["run", "--read-only", "--rootfs", root, "--", "touch", "/refused"]);
    ensure(
        ran.code != Some(0)
            && ran.stderr.contains("Read-only file system")
            && !rootfs.join("refused").exists(),
        "`touch /refused` to fail with \"Read-only file system\"",
        ran.transcript(),
        "remount the container's / with MS_REMOUNT | MS_BIND | MS_RDONLY",
        PSEUDO,
    );
}

#[test]
#[serial]
fn a_root_without_proc_and_sys_directories_still_gets_them() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    // Image layers need not carry empty /proc and /sys directories (many do not).
    for dir in ["proc", "sys"] {
        std::fs::remove_dir(rootfs.join(dir)).or_fixture("removing an empty directory from the rootfs");
    }
    let script = "test -e /proc/self/status && test -d /sys/kernel && echo mounted";
    let ran = sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", script]);
    ensure(
        ran.code == Some(0) && ran.stdout == "mounted\n",
        "/proc and /sys mounted in a root that had no directories for them",
        ran.transcript(),
        "a mount needs a directory to mount on: create /proc and /sys first when they are missing",
        PSEUDO,
    );
}

/// A tmpfs of the test's own, unmounted when the test ends (passed or not).
struct OwnTmpfs(std::path::PathBuf);

impl Drop for OwnTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
#[serial]
fn read_only_changes_the_containers_mount_not_the_filesystem_below() {
    use nix::mount::MsFlags;
    let sandbox = Sandbox::new();
    // The root filesystem lives on a tmpfs of the test's own, mounted nosuid and nodev: a
    // remount of the whole filesystem (MS_REMOUNT without MS_BIND) then turns only this tmpfs
    // read-only, not the host's disk, and the container's root should keep both restrictions.
    let fs = sandbox.dir.join("fs");
    std::fs::create_dir(&fs).or_fixture("creating the tmpfs's directory");
    let restricted = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    nix::mount::mount(Some("tmpfs"), &fs, Some("tmpfs"), restricted, Some("size=64m"))
        .or_fixture("mounting a tmpfs for the root filesystem");
    let _tmpfs = OwnTmpfs(fs.clone());
    let rootfs = sandbox.busybox_rootfs("fs/rootfs");
    let script = "awk '$5 == \"/\" { print $6 }' /proc/self/mountinfo";
    let ran =
        sandbox.run(&["run", "--read-only", "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", script]);
    let written = std::fs::write(fs.join("written-by-the-host"), "the host can still write here");
    ensure(
        ran.code == Some(0) && written.is_ok(),
        "the container's root read-only, and the filesystem below it still writable from the host",
        format!("the host's write: {written:?}{}", ran.transcript()),
        "MS_REMOUNT | MS_RDONLY without MS_BIND remounts the whole filesystem (the host's too) \
         read-only: with MS_BIND it changes only the container's bind mount",
        PSEUDO,
    );
    let options: Vec<&str> = ran.stdout.trim().split(',').collect();
    ensure(
        ["ro", "nosuid", "nodev"].iter().all(|o| options.contains(o)),
        "the container's / mounted ro, and still nosuid and nodev like the mount it came from",
        ran.transcript(),
        "a bind remount sets the mount's flags anew: read the ones it has (statvfs) and pass them \
         again with MS_RDONLY",
        PSEUDO,
    );
}

/// The host's mounts at or under the test's own directory: the only ones a run could have made
/// (another program on the machine may mount elsewhere meanwhile).
fn mount_table(sandbox: &Sandbox) -> std::collections::BTreeSet<String> {
    support::mounts_under(std::slice::from_ref(&sandbox.dir))
}

#[test]
#[serial]
fn the_host_mount_table_is_unchanged_even_when_the_command_is_killed() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let before = mount_table(&sandbox);
    sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "true"]).expect_code(
        0,
        "the container should run",
        PREPARE,
    );
    let running = sandbox.start(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "sleep", "30"]);
    let (running, sleeper) = running.expect_process(|p| p.command == "sleep", "`sleep 30`", PREPARE);
    sleeper.signal(libc::SIGKILL);
    running.wait().expect_code(137, "the killed command's status should be reported", PREPARE);
    let after = mount_table(&sandbox);
    ensure(
        before == after,
        "the host's mounts under the test's directory to be the same before and after",
        format!("before: {before:?}\nafter: {after:?}"),
        "every mount must happen inside the container's own mount namespace, after making mounts private",
        PREPARE,
    );
}

#[test]
#[serial]
fn the_chroot_escape_works_against_chroot_but_not_against_pivot_root() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let marker = sandbox.dir.join("host-marker");
    std::fs::write(&marker, "").or_fixture("writing a marker on the host");
    let marker = marker.to_str().unwrap();

    // First, show that the escape is real: against a plain chroot it reaches the host's root.
    let chrooted = Command::new("chroot").arg(&rootfs).args(["/probe", "chroot-escape", marker]).output();
    let chrooted = chrooted.or_fixture("running chroot(8)");
    let report: serde_json::Value = serde_json::from_slice(&chrooted.stdout).unwrap_or_default();
    if report["escaped"] != true {
        fixture_failed(
            "showing that the probe escapes a plain chroot",
            format!("{report}, stderr {}", String::from_utf8_lossy(&chrooted.stderr)),
        );
    }

    let ran =
        sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe", "chroot-escape", marker]);
    let report = ran.probe_report();
    ensure(
        report["escaped"] == false,
        "the same escape to find nothing of the host inside minibox",
        format!("{report}{}", ran.transcript()),
        "use pivot_root (not chroot) and detach the old root, so that `..` from anywhere ends at the container's /",
        PIVOT,
    );
}

#[test]
#[serial]
fn a_command_missing_from_the_rootfs_exits_127_with_its_path() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let cause = "the command is looked up inside the container's root filesystem, where it does not exist";
    sandbox
        .run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/usr/bin/python3"])
        .expect_code(127, cause, PIVOT)
        .expect_stderr_contains("/usr/bin/python3", cause, PIVOT)
        .expect_one_line_error(PIVOT);
}

/// A tmpfs on the host marked unbindable: a root filesystem on it cannot be bind-mounted.
struct UnbindableMount(std::path::PathBuf);

impl UnbindableMount {
    fn new(dir: &Path) -> UnbindableMount {
        std::fs::create_dir_all(dir).or_fixture("creating a mount point");
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "minibox-test", dir.to_str().unwrap()]).status();
        if !mounted.as_ref().is_ok_and(|s| s.success()) {
            fixture_failed(&format!("mounting a tmpfs at {}", dir.display()), format!("{mounted:?}"));
        }
        let guard = UnbindableMount(dir.to_path_buf());
        let marked = Command::new("mount").args(["--make-unbindable", dir.to_str().unwrap()]).status();
        if !marked.as_ref().is_ok_and(|s| s.success()) {
            fixture_failed(&format!("making {} unbindable", dir.display()), format!("{marked:?}"));
        }
        guard
    }
}

impl Drop for UnbindableMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[serial]
fn bad_root_filesystems_fail_in_one_line_and_leave_nothing_behind() {
    let sandbox = Sandbox::new();
    let missing = sandbox.dir.join("no-such-rootfs");
    let file = sandbox.dir.join("a-file");
    std::fs::write(&file, "").or_fixture("writing a plain file");
    for (rootfs, what) in [(&missing, "no such directory"), (&file, "not a directory")] {
        let cause = "check --rootfs before creating anything, and say what is wrong in one line";
        sandbox
            .run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "true"])
            .expect_code(125, cause, PREPARE)
            .expect_stderr_contains(what, cause, PREPARE)
            .expect_one_line_error(PREPARE);
    }
    let unbindable = UnbindableMount::new(&sandbox.dir.join("unbindable"));
    let rootfs = sandbox.busybox_rootfs("unbindable/rootfs");
    let cause = "a rootfs on a mount marked unbindable cannot be bind-mounted: refuse it, in one line";
    sandbox
        .run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "true"])
        .expect_code(125, cause, PREPARE)
        .expect_stderr_contains("unbindable", cause, PREPARE)
        .expect_one_line_error(PREPARE);
    // The host's own root cannot be a container's root: pivot_root fails inside the child, and
    // that failure must reach the parent as one line.
    let cause = "an error in the child (here pivot_root's EBUSY) must travel to the parent through the report pipe \
                 and be printed once, with exit code 125";
    sandbox
        .run(&["run", "--rootfs", "/", "--", "true"])
        .expect_code(125, cause, PIVOT)
        .expect_one_line_error(PIVOT);
    drop(unbindable);
    if sandbox.dir.join("unbindable/rootfs").exists() {
        fail(
            "the unbindable tmpfs to be gone after the test",
            "it is still mounted",
            "umount failed",
            PREPARE,
        );
    }
}

/// One mount(2) call that a test makes in minibox's own mount namespace before minibox starts.
struct PreMount {
    source: Option<CString>,
    target: CString,
    flags: libc::c_ulong,
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("a test path has no NUL byte")
}

impl PreMount {
    /// `mount --bind SOURCE TARGET`.
    fn bind(source: &Path, target: &Path) -> PreMount {
        PreMount { source: Some(c_path(source)), target: c_path(target), flags: libc::MS_BIND }
    }

    /// A change of propagation, such as `mount --make-rshared TARGET`.
    fn propagation(target: &Path, flags: libc::c_ulong) -> PreMount {
        PreMount { source: None, target: c_path(target), flags }
    }
}

/// Start minibox in a mount namespace of its own, first made private (so that nothing done
/// here can reach the host) and then prepared by `mounts`. This builds the situations of other
/// machines (shared mounts, as systemd makes them; a mount inside the root filesystem) without
/// changing the host's mount table. The namespace ends with minibox.
fn start_in_own_mount_namespace(sandbox: &Sandbox, args: &[&str], mounts: Vec<PreMount>) -> Running {
    let mut steps = vec![PreMount::propagation(Path::new("/"), libc::MS_REC | libc::MS_PRIVATE)];
    steps.extend(mounts);
    let prepare = move || -> std::io::Result<()> {
        // SAFETY: between fork and exec only system calls are made, on strings made before.
        if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for m in &steps {
            let source = m.source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
            // SAFETY: every pointer is a NUL-terminated string or null, as mount(2) allows.
            let rc = unsafe {
                libc::mount(source, m.target.as_ptr(), std::ptr::null(), m.flags, std::ptr::null())
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `prepare` only makes system calls (see above).
        sandbox.start_with(args, |command| unsafe {
            command.pre_exec(prepare);
        })
    }));
    started.unwrap_or_else(|_| {
        fixture_failed(
            "preparing a mount namespace for minibox (unshare, then mount)",
            "see the message above",
        )
    })
}

#[test]
#[serial]
fn a_root_filesystem_on_shared_mounts_still_becomes_the_root() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let root = rootfs.to_str().unwrap();
    // As on a machine run by systemd: every mount is shared, and the root filesystem here is a
    // shared mount of its own, below `/`.
    let mounts = vec![
        PreMount::propagation(Path::new("/"), libc::MS_REC | libc::MS_SHARED),
        PreMount::bind(&rootfs, &rootfs),
        PreMount::propagation(&rootfs, libc::MS_SHARED),
    ];
    let ran =
        start_in_own_mount_namespace(&sandbox, &["run", "--rootfs", root, "--", "/probe"], mounts).wait();
    ensure(
        ran.code == Some(0) && ran.stdout.trim_start().starts_with('{'),
        "the probe to run in its root filesystem, started from a mount namespace whose mounts are all shared",
        ran.transcript(),
        "pivot_root refuses (EINVAL) a new root on a shared mount: make every mount private first, recursively \
         (MS_REC | MS_PRIVATE on /); without MS_REC the mounts below / stay shared",
        PREPARE,
    );
    let seen = str_list(&ran.probe_report(), "root_entries");
    ensure(
        seen.iter().any(|e| e == "probe") && seen.iter().any(|e| e == "bin"),
        "`/` inside to be the root filesystem (with /probe and /bin)",
        format!("{seen:?}"),
        "bind-mount the new root onto itself after making the mounts private, then pivot_root into it",
        PREPARE,
    );
}

#[test]
#[serial]
fn a_mount_inside_the_root_filesystem_comes_along() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let volume = sandbox.dir.join("volume");
    let mount_point = rootfs.join("mnt/volume");
    for dir in [&volume, &mount_point] {
        std::fs::create_dir_all(dir).or_fixture("creating the volume and its mount point");
    }
    std::fs::write(volume.join("from-the-volume"), "data\n").or_fixture("writing into the volume");
    // A directory bound inside the root filesystem, as a volume would be.
    let mounts = vec![PreMount::bind(&volume, &mount_point)];
    let args = ["run", "--rootfs", rootfs.to_str().unwrap(), "--", "cat", "/mnt/volume/from-the-volume"];
    start_in_own_mount_namespace(&sandbox, &args, mounts).wait().expect_stdout(
        "data\n",
        "a mount inside the root filesystem (here a directory bound at /mnt/volume) must come along: bind-mount \
         the new root with MS_BIND | MS_REC; without MS_REC only the top mount is copied and /mnt/volume is empty",
        PREPARE,
    );
}

#[test]
#[serial]
fn proc_and_sys_are_mounted_nosuid_nodev_noexec() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let report = sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]).probe_report();
    for target in ["/proc", "/sys"] {
        let mount = mount_of(&report, target);
        let options: Vec<&str> = mount.as_ref().map(|(_, o)| o.split(',').collect()).unwrap_or_default();
        let missing: Vec<&str> =
            ["nosuid", "nodev", "noexec"].into_iter().filter(|flag| !options.contains(flag)).collect();
        ensure(
            mount.is_some() && missing.is_empty(),
            format!("{target} mounted with nosuid, nodev and noexec"),
            format!("{mount:?}, missing {missing:?}"),
            "pass MS_NOSUID | MS_NODEV | MS_NOEXEC when mounting proc and sysfs: nothing there should run, \
             be a device, or grant privileges",
            PSEUDO,
        );
    }
}

#[test]
#[serial]
fn the_containers_mount_table_lists_no_host_mount() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let ran = sandbox.run(&["run", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]);
    let report = ran.probe_report();
    let targets: Vec<String> = report["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["target"].as_str().map(str::to_string))
        .collect();
    // The container's own mounts: its root, and what minibox mounts on /proc, /sys and /dev.
    let own = |t: &str| t == "/" || ["/proc", "/sys", "/dev"].iter().any(|d| Path::new(t).starts_with(d));
    let foreign: Vec<&String> = targets.iter().filter(|t| !own(t)).collect();
    ensure(
        !targets.is_empty() && foreign.is_empty(),
        "the container's mount table to hold only /, /proc, /sys and /dev (and what is below them)",
        format!("{} mounts, of which not the container's own: {foreign:?}", targets.len()),
        "after pivot_root the old root (the host's whole mount tree) is still attached: detach it with \
         umount2(MNT_DETACH)",
        PIVOT,
    );
}

const STATE: &str = "rootfs, \"Where minibox keeps its state\"";

/// Can the unprivileged host user `nobody` reach `path`?
fn nobody_reaches(path: &std::path::Path) -> bool {
    std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "test", "-e"])
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("runuser (util-linux) is needed to test as another user: {e}"))
        .success()
}

#[test]
#[serial]
fn the_state_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    // Open the way up to the state directory, and make the state directory itself open to
    // all (as minibox once made it): only minibox may now stand in the way.
    std::fs::set_permissions(&sandbox.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(&sandbox.state).unwrap();
    std::fs::set_permissions(&sandbox.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ran = sandbox.run(&["run", "--", "true"]);
    ran.expect_code(0, "a run with an existing state directory should succeed", STATE);
    let mode = std::fs::metadata(&sandbox.state).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&sandbox.state)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let reachable: Vec<String> =
        entries.iter().filter(|p| nobody_reaches(p)).map(|p| p.display().to_string()).collect();
    ensure(
        nobody_reaches(&sandbox.dir) && mode == 0o700 && reachable.is_empty() && !entries.is_empty(),
        "the state directory made private (mode 700), and nothing in it reachable by the host user nobody",
        format!(
            "mode {mode:o}; reachable by nobody: {reachable:?} (of {} entries){}",
            entries.len(),
            ran.transcript()
        ),
        "create the state directory with mode 0700, and tighten one that exists with looser permissions",
        STATE,
    );
    ran.expect_stderr_contains("private", "minibox should say that it tightened the state directory", STATE);
}
