//! The namespaces chapter's graded tests: UTS, PID and IPC namespaces, and the duties of PID 1.
//!
//! The commands used exist on the host and in busybox alike, so these tests keep passing in
//! later chapters, where containers run in a busybox root filesystem.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use serial_test::serial;
use std::time::{Duration, Instant};
use support::{Process, Sandbox, ensure, fail, fixture_failed};

const PID: &str = "namespaces, \"PID namespaces\"";
const UTS_IPC: &str = "namespaces, \"UTS and IPC namespaces\"";
const PID_1: &str = "namespaces, \"The duties of PID 1\"";

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_else(|e| fixture_failed("reading the host's hostname", e))
        .trim()
        .to_string()
}

/// Puts the host's hostname back when dropped, should code under test have renamed the host.
struct HostHostname(String);

impl Drop for HostHostname {
    fn drop(&mut self) {
        if host_hostname() != self.0 {
            // SAFETY: the pointer and length describe a live byte slice.
            unsafe { libc::sethostname(self.0.as_ptr().cast(), self.0.len()) };
        }
    }
}

#[test]
#[serial]
fn the_command_is_pid_1() {
    let sandbox = Sandbox::new();
    sandbox.run(&["run", "--", "sh", "-c", "echo $$"]).expect_stdout(
        "1\n",
        "the command should be the first process of a new PID namespace: unshare(CLONE_NEWPID) before fork",
        PID,
    );
}

#[test]
#[serial]
fn the_hostname_is_the_one_asked_for_and_the_host_keeps_its_own() {
    let sandbox = Sandbox::new();
    let before = host_hostname();
    let restore = HostHostname(before.clone());
    let ran = sandbox.run(&["run", "--hostname", "minibox-test-box", "--", "uname", "-n"]);
    let after = host_hostname();
    drop(restore);
    ensure(
        after == before,
        format!("the host's hostname to stay {before:?}"),
        format!("it was renamed to {after:?} (the test has put it back){}", ran.transcript()),
        "sethostname ran before the new UTS namespace existed, so it renamed the host: unshare first",
        UTS_IPC,
    );
    ran.expect_stdout(
        "minibox-test-box\n",
        "the child should unshare the UTS namespace and then call sethostname",
        UTS_IPC,
    );
}

#[test]
#[serial]
fn the_default_hostname_is_the_container_id() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["run", "--verbose", "--", "uname", "-n"]);
    let id = ran.stderr.split("container id ").nth(1).map(|rest| rest.chars().take(12).collect::<String>());
    let Some(id) = id else {
        fail(
            "`--verbose` to print \"container id ID\"",
            ran.transcript(),
            "the run did not get as far as creating its id",
            UTS_IPC,
        );
    };
    ensure(
        id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "a container id of 12 hex digits",
        format!("{id:?}"),
        "the id should be 12 random hex digits",
        UTS_IPC,
    );
    ran.expect_stdout(
        &format!("{id}\n"),
        "without --hostname, the container's hostname should be its id",
        UTS_IPC,
    );
}

#[test]
#[serial]
fn host_processes_are_invisible() {
    let sandbox = Sandbox::new();
    // This test's own PID exists on the host; in a new PID namespace no process has that number.
    let host_pid = std::process::id();
    let script = format!("if kill -0 {host_pid} 2>/dev/null; then echo visible; else echo invisible; fi");
    sandbox.run(&["run", "--", "sh", "-c", &script]).expect_stdout(
        "invisible\n",
        "a process in a new PID namespace cannot name, let alone signal, a process outside it",
        PID,
    );
}

/// A System V message queue on the host, removed when dropped.
struct HostQueue(i32);

impl HostQueue {
    fn new() -> HostQueue {
        // SAFETY: msgget has no memory-safety preconditions.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            fixture_failed("creating a message queue on the host", std::io::Error::last_os_error());
        }
        HostQueue(id)
    }
}

impl Drop for HostQueue {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::msgctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

/// The message queue ids listed in /proc/sysvipc/msg, as the reading process's IPC namespace has them.
fn queue_ids(listing: &str) -> Vec<String> {
    listing.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1).map(str::to_string)).collect()
}

#[test]
#[serial]
fn host_ipc_objects_are_invisible() {
    let sandbox = Sandbox::new();
    let queue = HostQueue::new();
    let id = queue.0.to_string();
    let listing = std::fs::read_to_string("/proc/sysvipc/msg")
        .unwrap_or_else(|e| fixture_failed("reading /proc/sysvipc/msg", e));
    let on_host = queue_ids(&listing);
    if !on_host.contains(&id) {
        fixture_failed(
            &format!("finding the host's new queue {id} in /proc/sysvipc/msg"),
            format!("{on_host:?}"),
        );
    }
    let ran = sandbox.run(&["run", "--", "cat", "/proc/sysvipc/msg"]);
    ran.expect_code(0, "reading /proc/sysvipc/msg inside the container should work", UTS_IPC);
    let inside = queue_ids(&ran.stdout);
    ensure(
        !inside.contains(&id),
        format!("the container not to see the host's message queue {id}"),
        format!("it lists {inside:?}"),
        "the child should unshare the IPC namespace (CLONE_NEWIPC)",
        UTS_IPC,
    );
}

#[test]
#[serial]
fn init_reaps_orphans() {
    let sandbox = Sandbox::new();
    // The subshell starts `sleep 1` in the background and exits at once: that sleep is an orphan,
    // re-parented to PID 1. When it ends, only PID 1 can reap it.
    let running = sandbox.start(&["run", "--init", "--", "sh", "-c", "(sleep 1 &); exec sleep 30"]);
    let (running, main) = running.expect_process(|p| p.command == "sleep", "the container's sleeps", PID_1);
    // Wait for the orphan to end (at most a few seconds), then give PID 1 a moment to reap it.
    let started = Instant::now();
    let live_sleeps =
        || main.namespace_members().iter().filter(|p| p.command == "sleep" && p.state != 'Z').count();
    while live_sleeps() > 1 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let zombies: Vec<Process> = main.namespace_members().into_iter().filter(|p| p.state == 'Z').collect();
    running.signal(libc::SIGTERM);
    let ran = running.wait();
    ensure(
        zombies.is_empty(),
        "no zombie in the container once the orphan has ended",
        format!("zombies: {zombies:?}{}", ran.transcript()),
        "PID 1 must reap every child that ends, not only the command: waitpid(-1, WNOHANG) until none is left",
        PID_1,
    );
}

#[test]
#[serial]
fn sigterm_stops_the_command_through_init() {
    let sandbox = Sandbox::new();
    let running = sandbox.start(&["run", "--init", "--", "sleep", "30"]);
    let (running, _) = running.expect_process(|p| p.command == "sleep", "`sleep 30`", PID_1);
    running.signal(libc::SIGTERM);
    let cause = "init should pass SIGTERM on to the command, which has no handler and dies of it (128 + 15)";
    // `sleep` dies at once of a SIGTERM passed on: a run still going after a few seconds means
    // init kept the signal to itself.
    let limit = support::run_timeout().min(Duration::from_secs(5));
    let expected = format!("the command to die of SIGTERM within {} s", limit.as_secs());
    running.wait_for(limit, &expected, cause, PID_1).expect_code(143, cause, PID_1);
}

#[test]
#[serial]
fn init_exits_with_the_commands_status() {
    let sandbox = Sandbox::new();
    sandbox.run(&["run", "--init", "--", "sh", "-c", "exit 7"]).expect_code(
        7,
        "init should exit with the command's own exit code",
        PID_1,
    );
    sandbox.run(&["run", "--init", "--", "sh", "-c", "kill -TERM $$"]).expect_code(
        143,
        "under init the command is not PID 1, so it can die of its own SIGTERM; init reports 128 + 15",
        PID_1,
    );
}

#[test]
#[serial]
fn pid_1_ignores_a_polite_sigterm_and_a_second_one_kills_it() {
    let sandbox = Sandbox::new();
    let running = sandbox.start(&["run", "--", "sleep", "30"]);
    let (running, _) = running.expect_process(|p| p.command == "sleep", "`sleep 30`", PID_1);
    running.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let still_there = !running.processes().iter().all(|p| p.command != "sleep");
    running.signal(libc::SIGTERM);
    let ran = running.wait();
    ensure(
        still_there,
        "`sleep` as PID 1 to survive the first SIGTERM (it has no handler for it)",
        format!("it was gone after the first SIGTERM{}", ran.transcript()),
        "the command should be PID 1 of a new PID namespace",
        PID_1,
    );
    ran.expect_code(137, "a second request to stop should send SIGKILL, which PID 1 cannot refuse", PID_1);
}

/// The command line of a process, its arguments joined by spaces.
fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The PID that a process has inside its own PID namespace (the last field of NSpid).
fn pid_in_its_namespace(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("NSpid:"))?.split_whitespace().last()?.parse().ok()
}

/// Wait (up to 10 s) until `done` holds.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
#[serial]
fn init_reaps_every_orphan_even_when_they_end_together() {
    let sandbox = Sandbox::new();
    // Four orphans (`sleep 31`, re-parented to init) and the command (`sleep 30`).
    let script = "for i in 1 2 3 4; do (sleep 31 &); done; exec sleep 30";
    let running = sandbox.start(&["run", "--init", "--", "sh", "-c", script]);
    let (running, command) =
        running.expect_process(|p| command_line(p.pid) == "sleep 30", "the command `sleep 30`", PID_1);
    let orphans = || -> Vec<Process> {
        command.namespace_members().into_iter().filter(|p| command_line(p.pid) == "sleep 31").collect()
    };
    let init = command.namespace_members().into_iter().find(|p| pid_in_its_namespace(p.pid) == Some(1));
    let ready = wait_until(|| orphans().len() == 4);
    let (Some(init), true) = (init.clone(), ready) else {
        running.kill_container();
        let ran = running.wait();
        fail(
            "init as PID 1 with the command and four orphans under it",
            format!("init found: {init:?}, orphans: {:?}{}", orphans(), ran.transcript()),
            "with --init, PID 1 is minibox's init and the command its child",
            PID_1,
        );
    };
    // Stop init, end the orphans while it cannot react, then let it go on: the four SIGCHLDs
    // are now one pending signal, as when children end at the same moment.
    init.signal(libc::SIGSTOP);
    let stopped = wait_until(|| Process::read(init.pid).is_some_and(|p| p.state == 'T'));
    let ended = orphans();
    for orphan in &ended {
        orphan.signal(libc::SIGKILL);
    }
    let all_zombies =
        wait_until(|| ended.iter().all(|o| Process::read(o.pid).is_none_or(|p| p.state == 'Z')));
    init.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(300));
    let zombies: Vec<Process> = command.namespace_members().into_iter().filter(|p| p.state == 'Z').collect();
    running.signal(libc::SIGTERM);
    let ran = running.wait();
    if !stopped || !all_zombies {
        fixture_failed(
            "stopping init and ending the orphans",
            format!("stopped {stopped}, ended {all_zombies}"),
        );
    }
    ensure(
        zombies.is_empty(),
        "no zombie once init has had a SIGCHLD for four orphans that ended together",
        format!("zombies: {zombies:?}{}", ran.transcript()),
        "signals of one kind do not queue: one SIGCHLD can stand for many children. On each SIGCHLD call \
         waitpid(-1, WNOHANG) again and again, until it returns 0 (none ready) or ECHILD (none left)",
        PID_1,
    );
}
