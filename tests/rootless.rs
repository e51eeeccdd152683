//! The rootless chapter's graded tests. Each makes an ordinary user of its own (with or without
//! subordinate ids), runs minibox as that user through `runuser`, and removes the user, its home
//! and its subordinate ids afterwards, also when the test fails (and a user left by a test process
//! that was killed, at the next run: see `support::rootless`).

mod support;

use serial_test::serial;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use support::rootless::{Subordinate, TestUser};
use support::{Sandbox, ensure, fail};

const USER_NAMESPACES: &str = "rootless, \"User namespaces\"";
const SUBORDINATE: &str = "rootless, \"Subordinate ids\"";
const THE_MAP: &str = "rootless, \"The map\"";
const ONE_ID: &str = "rootless, \"One id, no helper\"";
const TURNS: &str = "rootless, \"Taking turns\"";
const OUT_OF_REACH: &str = "rootless, \"What root inside cannot do\"";
const WITHOUT_ROOT: &str = "rootless, \"Cgroups, networks and state without root\"";

/// A user, and a sandbox that runs minibox as that user, with a busybox root filesystem of theirs.
fn rootless(subordinate: Subordinate) -> (TestUser, Sandbox, String) {
    let user = TestUser::create(subordinate);
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs").display().to_string();
    let sandbox = sandbox.run_as_user(&user);
    (user, sandbox, rootfs)
}

/// The lines of a uid or gid map, as numbers.
fn map_lines(text: &str) -> Vec<Vec<u64>> {
    text.lines().map(|l| l.split_whitespace().filter_map(|w| w.parse().ok()).collect()).collect()
}

fn expected_map(own: u32, range: Option<(u32, u32)>) -> Vec<Vec<u64>> {
    let mut lines = vec![vec![0, own as u64, 1]];
    if let Some((start, count)) = range {
        lines.push(vec![1, start as u64, count as u64]);
    }
    lines
}

/// Start `sleep` in a container and read, from the host, what its process is.
fn maps_seen_from_the_host(sandbox: &Sandbox, rootfs: &str, book: &str) -> (String, String, u32) {
    let running = sandbox.start(&["run", "--rootfs", rootfs, "--", "sleep", "60"]);
    let (running, sleep) = running.expect_process(|p| p.command == "sleep", "the container's sleep", book);
    let uid_map = std::fs::read_to_string(format!("/proc/{}/uid_map", sleep.pid)).unwrap_or_default();
    let gid_map = std::fs::read_to_string(format!("/proc/{}/gid_map", sleep.pid)).unwrap_or_default();
    let owner = std::fs::metadata(format!("/proc/{}", sleep.pid)).map(|m| m.uid()).unwrap_or(u32::MAX);
    // Only the command: minibox (run by runuser, so not the run's first process) then sees it
    // end and cleans up as usual.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(sleep.pid, libc::SIGKILL) };
    running.wait();
    (uid_map, gid_map, owner)
}

#[test]
#[serial]
fn root_inside_is_the_user_outside() {
    let (user, sandbox, rootfs) = rootless(Subordinate::ByName);
    let ran = sandbox.run(&["run", "--rootfs", &rootfs, "--", "id", "-u"]);
    ran.expect_code(0, "the maps were refused (see stderr): each line is INSIDE OUTSIDE COUNT", THE_MAP);
    ran.expect_stdout(
        "0\n",
        "minibox should be root of its user namespace: uid 0 mapped to the user",
        THE_MAP,
    );
    let (uid_map, gid_map, owner) = maps_seen_from_the_host(&sandbox, &rootfs, THE_MAP);
    ensure(
        owner == user.uid,
        format!("the container's process to belong to uid {} on the host", user.uid),
        format!("uid {owner}"),
        "root inside a user namespace is whoever it is mapped to outside",
        THE_MAP,
    );
    for (what, text, own) in [("uid_map", &uid_map, user.uid), ("gid_map", &gid_map, user.gid)] {
        let expected = expected_map(own, user.range);
        ensure(
            map_lines(text) == expected,
            format!("/proc/PID/{what} {expected:?} (0 is the user, 1 on their subordinate ids)"),
            format!("{text:?}"),
            "id_map: container id 0 on the user's own id, one id; container ids from 1 on the subordinate range",
            THE_MAP,
        );
    }
}

#[test]
#[serial]
fn the_users_subordinate_range_is_found_by_name_or_by_uid() {
    // By name, after a decoy line for a longer name that starts with this one; then by uid.
    for subordinate in [Subordinate::ByName, Subordinate::ByUid] {
        let (user, sandbox, rootfs) = rootless(subordinate);
        let ran = sandbox.run(&["run", "--rootfs", &rootfs, "--", "cat", "/proc/self/uid_map"]);
        ran.expect_code(
            0,
            "newuidmap accepts only the ranges /etc/subuid gives the user: the user's own line must be found",
            SUBORDINATE,
        );
        let expected = expected_map(user.uid, user.range);
        ensure(
            map_lines(&ran.stdout) == expected,
            format!("uid_map {expected:?} for /etc/subuid naming the user {subordinate:?}"),
            ran.transcript(),
            "subordinate_range: the line whose first field is exactly the user's name, or their uid in decimal",
            SUBORDINATE,
        );
    }
}

#[test]
#[serial]
fn without_subordinate_ids_one_id_is_mapped() {
    let (user, sandbox, rootfs) = rootless(Subordinate::None);
    let ran = sandbox.run(&[
        "run",
        "--rootfs",
        &rootfs,
        "--",
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g",
    ]);
    ran.expect_code(0, "with no subordinate ids, minibox maps the user's one id itself", ONE_ID);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let expected = format!("0 {} 1 | 0 {} 1 | deny | 0 | 0", user.uid, user.gid);
    let seen = lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" | ");
    ensure(
        seen == expected,
        format!("uid_map, gid_map, setgroups, uid, gid: {expected}"),
        format!("{seen}{}", ran.transcript()),
        "write_single_id_maps: `0 UID 1` to uid_map and `0 GID 1` to gid_map, with `deny` written to setgroups before the gid map",
        ONE_ID,
    );
}

#[test]
#[serial]
fn files_written_through_a_bind_mount_belong_to_the_user() {
    let (user, sandbox, rootfs) = rootless(Subordinate::ByName);
    // --rootfs DIR is bind-mounted as the container's root: its writes land in the user's directory.
    let ran = sandbox.run(&[
        "run",
        "--rootfs",
        &rootfs,
        "--",
        "sh",
        "-c",
        "echo root > /by-root && echo one > /by-one && chown 1:1 /by-one",
    ]);
    ran.expect_code(0, "the container should write into its root filesystem", THE_MAP);
    let (start, _) = user.range.expect("the user has subordinate ids");
    for (file, uid, what) in
        [("by-root", user.uid, "the user"), ("by-one", start, "the first subordinate id")]
    {
        let path = Path::new(&rootfs).join(file);
        let owner = std::fs::metadata(&path).map(|m| m.uid().to_string()).unwrap_or_else(|e| e.to_string());
        ensure(
            owner == uid.to_string(),
            format!("{} owned by uid {uid} ({what}) on the host", path.display()),
            format!("owner {owner}"),
            "ids written inside are mapped back out through the uid map",
            THE_MAP,
        );
    }
}

#[test]
#[serial]
fn root_inside_gains_nothing_the_user_did_not_have() {
    let (_user, sandbox, rootfs) = rootless(Subordinate::ByName);
    let secret = Path::new(&rootfs).join("root-owned");
    std::fs::write(&secret, "root's\n").expect("writing a root-owned file");
    std::os::unix::fs::chown(&secret, Some(0), Some(0)).expect("chown to root");
    let ran = sandbox.run(&[
        "run",
        "--rootfs",
        &rootfs,
        "--",
        "sh",
        "-c",
        "ls -ln /root-owned; echo mine >> /root-owned && echo WROTE; \
         mknod /disk b 8 0 && echo MADE; chown 0:0 /root-owned && echo CHOWNED; true",
    ]);
    ran.expect_code(0, "the container should run", OUT_OF_REACH);
    let content = std::fs::read_to_string(&secret).unwrap_or_default();
    for word in ["WROTE", "MADE", "CHOWNED"] {
        ensure(
            !ran.stdout.contains(word) && content == "root's\n",
            "root inside cannot write a host root's file, make a block device or take ownership",
            format!("{word} in the output; the file holds {content:?}{}", ran.transcript()),
            "a user namespace's root holds capabilities over its own namespaces only",
            OUT_OF_REACH,
        );
    }
    let owner_line = ran.stdout.lines().next().unwrap_or("");
    ensure(
        owner_line.contains("65534"),
        "the host root's file shown as owned by 65534 (nobody: an id outside the map)",
        owner_line,
        "ids outside the map show as the overflow id",
        THE_MAP,
    );
}

#[test]
#[serial]
fn the_default_image_runs_from_the_users_own_state_directory() {
    let (user, sandbox, rootfs) = rootless(Subordinate::ByName);
    // $XDG_DATA_HOME/minibox, in the sandbox: the overlay's layers must not live on an overlay
    // (the cgroup v2 VM's home directories are on one).
    let data = sandbox.dir.join("data");
    std::fs::create_dir_all(&data).expect("creating the XDG data directory");
    user.give(&data);
    let command = ["run", "--", "sh", "-c", "echo ran"];
    let ran = sandbox.start_with(&command, |c| {
        c.env_remove("MINIBOX_ROOT").env("XDG_DATA_HOME", &data);
    });
    let ran = ran.wait();
    ran.expect_code(0, "the default busybox image should run rootless", USER_NAMESPACES);
    ran.expect_stdout("ran\n", "the image's sh should run the command", USER_NAMESPACES);
    // Without XDG_DATA_HOME: ~/.local/share/minibox (a --rootfs run makes the state directory too).
    let ran = sandbox.start_with(&["run", "--rootfs", &rootfs, "--", "true"], |c| {
        c.env_remove("MINIBOX_ROOT").env_remove("XDG_DATA_HOME");
    });
    ran.wait().expect_code(0, "a rootless run with the default state directory", WITHOUT_ROOT);
    for state in [data.join("minibox"), user.home.join(".local/share/minibox")] {
        let owner = std::fs::metadata(&state).map(|m| m.uid().to_string()).unwrap_or_else(|e| e.to_string());
        ensure(
            owner == user.uid.to_string(),
            format!("the state directory {} owned by the user", state.display()),
            format!("owner {owner}"),
            "an ordinary user's default state directory is $XDG_DATA_HOME/minibox, or ~/.local/share/minibox",
            WITHOUT_ROOT,
        );
        let left: Vec<_> = std::fs::read_dir(state.join("containers"))
            .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        ensure(left.is_empty(), "no container directory left", left.join(", "), "cleanup", WITHOUT_ROOT);
    }
}

#[test]
#[serial]
fn what_needs_root_is_refused_or_said_once() {
    let (_user, sandbox, rootfs) = rootless(Subordinate::ByName);
    let ran = sandbox.run(&["run", "--network", "bridge", "--rootfs", &rootfs, "--", "true"]);
    ran.expect_code(125, "a bridge needs root on the host", WITHOUT_ROOT).expect_one_line_error(WITHOUT_ROOT);
    ran.expect_stderr_contains("--network none", WITHOUT_ROOT, WITHOUT_ROOT);
    let ran = sandbox.run(&["run", "--memory", "64m", "--rootfs", &rootfs, "--", "echo", "ran"]);
    ran.expect_code(0, "limits without a delegated cgroup are not a failure", WITHOUT_ROOT);
    ran.expect_stdout("ran\n", "the command runs without limits", WITHOUT_ROOT);
    let notes = ran.stderr.matches("no limits").count();
    if notes != 1 {
        fail("one note that the limits are not applied", ran.transcript(), "say it once", WITHOUT_ROOT);
    }
}

#[test]
#[serial]
fn nothing_of_the_user_is_left_running() {
    let (user, sandbox, rootfs) = rootless(Subordinate::ByName);
    let ran = sandbox.run(&["run", "--rootfs", &rootfs, "--", "sh", "-c", "sleep 60 & echo started"]);
    ran.expect_code(
        0,
        "the user namespace's maps must be written from outside it, by a helper forked before unshare",
        TURNS,
    );
    let left = user.processes();
    ensure(
        left.is_empty(),
        "no process of the user once minibox has ended (the map helper included)",
        format!("{left:?}"),
        "the map helper must be waited for; the container's processes end with its PID 1",
        TURNS,
    );
}
