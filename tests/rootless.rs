//! The rootless chapter's graded tests. Each makes an ordinary user of its own (with or without
//! subordinate ids), runs minibox as that user through `runuser`, and removes the user, its home
//! and its subordinate ids afterwards, also when the test fails (and a user left by a test process
//! that was killed, at the next run: see `support::rootless`).

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

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
    sleep.signal(libc::SIGKILL);
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
    let maps = [("uid_map", &uid_map, user.uid, user.range), ("gid_map", &gid_map, user.gid, user.gid_range)];
    for (what, text, own, range) in maps {
        let expected = expected_map(own, range);
        ensure(
            map_lines(text) == expected,
            format!("/proc/PID/{what} {expected:?} (0 is the user, 1 on their subordinate ids)"),
            format!("{text:?} (the user's uid {}, gid {})", user.uid, user.gid),
            "id_map: container id 0 on the user's own id, one id; container ids from 1 on the subordinate range, as many as it has; the gid map from the gid and /etc/subgid",
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
        let ran = sandbox.run(&[
            "run",
            "--rootfs",
            &rootfs,
            "--",
            "cat",
            "/proc/self/uid_map",
            "/proc/self/gid_map",
        ]);
        ran.expect_code(
            0,
            "newuidmap accepts only the ranges /etc/subuid gives the user: the user's own line must be found",
            SUBORDINATE,
        );
        let mut expected = expected_map(user.uid, user.range);
        expected.extend(expected_map(user.gid, user.gid_range));
        ensure(
            map_lines(&ran.stdout) == expected,
            format!(
                "uid_map then gid_map {expected:?} for /etc/subuid and /etc/subgid naming the user {subordinate:?}"
            ),
            ran.transcript(),
            "subordinate_range: the line whose first field is exactly the user's name, or their uid in decimal; its start and its count as the line gives them",
            SUBORDINATE,
        );
    }
}

#[test]
fn subordinate_ranges_are_read_line_by_line() {
    use minibox::rootless::{IdRange, subordinate_range};
    // Lines for others around the users' own; a user's line with no ids in it; a second line of
    // alice's (the first one that grants ids is hers); a line with a field too many.
    let file = "alice2:100000:65536\nalice:200000:0\nbob:300000:65536\n10010:350000:10\n1001:400000:70000\n\
                alice:500000:100000\nalice:600000:65536\neve:700000:10:x\n";
    let cases = [
        (
            "alice",
            1000,
            Some((500000, 100000)),
            "the first of alice's lines that grants ids (a count of 0 grants none)",
        ),
        ("carol", 1001, Some((400000, 70000)), "carol's line names her by her uid, 1001 (10010 is not 1001)"),
        ("bob", 1002, Some((300000, 65536)), "bob's line, in the middle of the file"),
        ("eve", 1003, None, "eve's only line has four fields: not a line of this format"),
        ("dave", 1004, None, "no line is dave's"),
    ];
    for (user, uid, expected, why) in cases {
        let seen = std::panic::catch_unwind(|| subordinate_range(file, user, uid)).map_err(|_| "a panic");
        let expected = expected.map(|(start, count)| IdRange { start, count });
        ensure(
            seen == Ok(expected),
            format!("{user} (uid {uid}): {expected:?}: {why}"),
            format!("{seen:?}"),
            "subordinate_range: NAME:START:COUNT, NAME the user's name or uid exactly; the first such line with ids",
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

/// A process that ends with the test.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a call did: `Ok`, its error, or the panic's message (an unwritten stub's).
fn outcome(call: impl FnOnce() -> anyhow::Result<()>) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()),
    }
}

#[test]
fn the_one_id_maps_are_written_and_a_refused_write_is_an_error() {
    support::require_root();
    // A process in a user namespace of its own, no map written yet; as root, the test may have any
    // id mapped, so a uid and a gid that differ, and that are not the test's own.
    let child = std::process::Command::new("unshare").args(["--user", "sleep", "60"]).spawn();
    let child = Child(
        child.unwrap_or_else(|e| fail("unshare (util-linux) to start", e, "install util-linux", ONE_ID)),
    );
    let pid = child.0.id() as i32;
    let ours = std::fs::read_link("/proc/self/ns/user").ok();
    let entered = (0..500).any(|_| {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
        let entered = theirs.is_some() && theirs != ours;
        if !entered {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        entered
    });
    ensure(
        entered,
        "unshare --user to make its namespace",
        "the same namespace after 5 s",
        "the test's set-up",
        ONE_ID,
    );
    let (uid, gid) = (1_234_567u32, 7_654_321u32);
    let target = nix::unistd::Pid::from_raw(pid);
    let first = outcome(|| minibox::rootless::write_single_id_maps(target, uid, gid));
    let read = |file: &str| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_else(|e| e.to_string());
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let seen = format!("{} | {} | {}", read("uid_map"), read("gid_map"), read("setgroups"));
    let expected = format!("0 {uid} 1 | 0 {gid} 1 | deny");
    ensure(
        first.is_ok() && seen == expected,
        format!("Ok, and uid_map, gid_map, setgroups: {expected}"),
        format!("{first:?}, {seen}"),
        "write_single_id_maps: `0 UID 1` to uid_map, `deny` to setgroups, `0 GID 1` to gid_map (the gid, not the uid)",
        ONE_ID,
    );
    // A map is written once: the kernel refuses a second write (EPERM), and that is an error.
    let second = outcome(|| minibox::rootless::write_single_id_maps(target, uid, gid));
    ensure(
        second.is_err(),
        "an error for maps written a second time (the kernel refuses each write)",
        format!("{second:?}"),
        "write_single_id_maps: a write the kernel refuses is an error, passed up with the file it was for; never go on with ids unmapped",
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
    let (gid_start, _) = user.gid_range.expect("the user has subordinate gids");
    for (file, uid, gid, what) in [
        ("by-root", user.uid, user.gid, "the user and their group"),
        ("by-one", start, gid_start, "the first subordinate uid and gid"),
    ] {
        let path = Path::new(&rootfs).join(file);
        let owner = std::fs::metadata(&path)
            .map(|m| format!("{}:{}", m.uid(), m.gid()))
            .unwrap_or_else(|e| e.to_string());
        ensure(
            owner == format!("{uid}:{gid}"),
            format!("{} owned by {uid}:{gid} ({what}) on the host", path.display()),
            format!("owner {owner}"),
            "ids written inside are mapped back out through the uid and gid maps",
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
