//! The process chapter's graded tests: running a command as a child process.
//!
//! Every command here exists both on a Linux host and in the busybox root filesystem that later
//! chapters run containers in, so these tests keep passing in every later chapter.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use minibox::process::exit_code;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use serial_test::serial;
use std::time::Duration;
use support::{Sandbox, ensure};

const EXIT_STATUSES: &str = "process, \"Exit statuses\"";
const FORK_AND_EXEC: &str = "process, \"Fork and exec\"";
const SIGNALS: &str = "process, \"Waiting, and passing signals on\"";

/// A few exit codes that change from run to run, so no fixed answer can pass.
fn some_exit_codes() -> Vec<i32> {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let mut x = seed | 1;
    let mut codes = vec![0, 1, 255];
    for _ in 0..3 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        codes.push((x % 254 + 1) as i32);
    }
    codes
}

#[test]
#[serial]
fn exit_codes_round_trip() {
    let sandbox = Sandbox::new();
    for code in some_exit_codes() {
        sandbox.run(&["run", "--", "sh", "-c", &format!("exit {code}")]).expect_code(
            code,
            "minibox should exit with the command's own exit code: look at how the wait status becomes an exit code",
            EXIT_STATUSES,
        );
    }
}

#[test]
fn exit_status_mapping_follows_the_shell() {
    let pid = Pid::from_raw(4242);
    let cases = [
        (WaitStatus::Exited(pid, 0), 0),
        (WaitStatus::Exited(pid, 3), 3),
        (WaitStatus::Signaled(pid, Signal::SIGKILL, false), 137),
        (WaitStatus::Signaled(pid, Signal::SIGSEGV, true), 139),
        (WaitStatus::Signaled(pid, Signal::SIGTERM, false), 143),
        (WaitStatus::Signaled(pid, Signal::SIGINT, false), 130),
    ];
    for (status, expected) in cases {
        let seen = exit_code(status);
        ensure(
            seen == expected,
            format!("exit_code({status:?}) == {expected}"),
            seen,
            "a command killed by signal N reports 128 + N; one that exited reports its own code",
            EXIT_STATUSES,
        );
    }
}

#[test]
#[serial]
fn stdout_and_stderr_pass_through_unchanged() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["run", "--", "sh", "-c", "printf 'out 1\\nout 2\\n'; printf 'to stderr\\n' >&2"]);
    let cause =
        "the child should inherit minibox's stdout and stderr, and minibox should print nothing itself";
    ran.expect_code(0, cause, FORK_AND_EXEC).expect_stdout("out 1\nout 2\n", cause, FORK_AND_EXEC);
    ensure(ran.stderr == "to stderr\n", "stderr \"to stderr\\n\"", ran.transcript(), cause, FORK_AND_EXEC);
}

#[test]
#[serial]
fn stdin_reaches_the_command() {
    let sandbox = Sandbox::new();
    sandbox.run_with_stdin(&["run", "--", "cat"], "line one\nline two\n").expect_stdout(
        "line one\nline two\n",
        "the child should inherit minibox's stdin",
        FORK_AND_EXEC,
    );
}

#[test]
#[serial]
fn arguments_reach_the_command_unchanged() {
    let sandbox = Sandbox::new();
    let args = ["a b", "c\"d", "e'f", "", "$HOME", "*", "--flag"];
    let mut command = vec!["run", "--", "printf", "[%s]\\n"];
    command.extend(args);
    let expected: String = args.iter().map(|a| format!("[{a}]\n")).collect();
    sandbox.run(&command).expect_stdout(
        &expected,
        "each argument should go to execve as it is: no shell, no splitting, no quoting",
        FORK_AND_EXEC,
    );
}

#[test]
#[serial]
fn environment_settings_reach_the_command() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["run", "--env", "GREETING=hello there", "--", "sh", "-c", "echo \"$GREETING\""])
        .expect_stdout(
            "hello there\n",
            "the command's environment should include --env settings",
            FORK_AND_EXEC,
        );
}

#[test]
#[serial]
fn a_missing_command_exits_127_with_one_line() {
    let sandbox = Sandbox::new();
    let cause = "when execve fails with ENOENT, minibox should say so in one line and exit 127";
    sandbox
        .run(&["run", "--", "no-such-command-minibox"])
        .expect_code(127, cause, FORK_AND_EXEC)
        .expect_stderr_contains("no-such-command-minibox", cause, FORK_AND_EXEC)
        .expect_one_line_error(FORK_AND_EXEC);
}

#[test]
#[serial]
fn a_file_that_is_not_executable_exits_126_with_one_line() {
    let sandbox = Sandbox::new();
    let cause = "when execve fails with EACCES, minibox should say so in one line and exit 126";
    sandbox
        .run(&["run", "--", "/etc/passwd"])
        .expect_code(126, cause, FORK_AND_EXEC)
        .expect_stderr_contains("/etc/passwd", cause, FORK_AND_EXEC)
        .expect_one_line_error(FORK_AND_EXEC);
}

#[test]
#[serial]
fn death_by_signal_exits_128_plus_the_signal() {
    let sandbox = Sandbox::new();
    let running = sandbox.start(&["run", "--", "sleep", "30"]);
    let (running, sleeper) = running.expect_process(|p| p.command == "sleep", "`sleep 30`", FORK_AND_EXEC);
    // SIGKILL from outside: the one signal no process, not even a PID 1, can refuse.
    sleeper.signal(libc::SIGKILL);
    running.wait().expect_code(
        137,
        "a command killed by SIGKILL (9) should make minibox exit 128 + 9",
        EXIT_STATUSES,
    );
}

/// A shell that reports the signal it receives, then exits 7.
fn trap_script(signal: &str) -> String {
    format!("trap 'echo got {signal}; exit 7' {signal}; while true; do sleep 0.1; done")
}

fn forwards(signal: i32, name: &str) {
    let sandbox = Sandbox::new();
    let script = trap_script(name);
    let running = sandbox.start(&["run", "--", "sh", "-c", &script]);
    // Once the shell runs `sleep`, its trap is in place.
    let (running, _) = running.expect_process(|p| p.command == "sleep", "the shell's loop", FORK_AND_EXEC);
    running.signal(signal);
    let cause =
        "minibox should pass the signal it receives on to the command, then report the command's exit code";
    // The shell's trap runs within a tenth of a second of the signal's arrival.
    let limit = support::run_timeout().min(Duration::from_secs(5));
    let expected = format!("the command to get SIG{name} and exit within {} s", limit.as_secs());
    running
        .wait_for(limit, &expected, cause, SIGNALS)
        .expect_stdout(&format!("got {name}\n"), cause, SIGNALS)
        .expect_code(7, cause, SIGNALS);
}

#[test]
#[serial]
fn sigterm_to_minibox_reaches_the_command() {
    forwards(libc::SIGTERM, "TERM");
}

#[test]
#[serial]
fn sigint_to_minibox_reaches_the_command() {
    forwards(libc::SIGINT, "INT");
}

#[test]
#[serial]
fn sigusr1_and_sighup_to_minibox_reach_the_command_too() {
    // Not only the requests to stop: every signal minibox supervises is the command's.
    forwards(libc::SIGUSR1, "USR1");
    forwards(libc::SIGHUP, "HUP");
}

#[test]
#[serial]
fn the_command_starts_with_no_signal_blocked() {
    // A command that sets no handler of its own: a shell's `trap` would unblock its signal and
    // hide a mask left over from minibox.
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["run", "--", "grep", "SigBlk", "/proc/self/status"]);
    let mask = ran.stdout.trim().strip_prefix("SigBlk:").map(str::trim);
    ensure(
        ran.code == Some(0) && mask.is_some_and(|m| m.chars().all(|c| c == '0')),
        "SigBlk: 0000000000000000 in the command (no signal blocked)",
        format!("{mask:?}{}", ran.transcript()),
        "the blocked signal mask survives execve: unblock the signals minibox blocked for itself before the \
         command starts, or they never reach it",
        FORK_AND_EXEC,
    );
}

#[test]
#[serial]
fn a_stopped_command_is_waited_for_until_it_ends() {
    let sandbox = Sandbox::new();
    let running = sandbox.start(&["run", "--", "sh", "-c", "sleep 1; echo resumed; exit 3"]);
    let (running, shell) = running.expect_process(|p| p.command == "sh", "the command `sh`", SIGNALS);
    // Stopped from outside (a PID 1 cannot stop itself), then continued: a stop is not an end.
    let cause = "a stopped child has not ended: only WaitStatus::Exited and Signaled end the wait";
    support::signal_or_fail(&shell, libc::SIGSTOP, "the command `sh`", cause, SIGNALS);
    let stopped = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        support::Process::read(shell.pid).is_some_and(|p| p.state == 'T')
    });
    std::thread::sleep(Duration::from_millis(500));
    shell.signal(libc::SIGCONT);
    let ran = running.wait();
    ensure(
        stopped,
        "the command to stop on SIGSTOP (a check of this test's set-up)",
        ran.transcript(),
        cause,
        SIGNALS,
    );
    ran.expect_stdout("resumed\n", cause, SIGNALS).expect_code(3, cause, SIGNALS);
}

const DESCRIPTORS: &str = "process, \"What the command inherits\"";
const DIES_WITH_MINIBOX: &str = "process, \"When minibox dies\"";

/// The probe's report, run as the container's command: on the host in chapters 1 and 2, inside a
/// root filesystem of its own from the rootfs chapter on. `adjust` changes how minibox is started.
fn probe_in_a_container(sandbox: &Sandbox, adjust: impl FnOnce(&mut std::process::Command)) -> support::Ran {
    let rootfs;
    let mut args = vec!["run"];
    if !support::snapshot_has("rootfs") {
        args.extend(["--", support::PROBE]);
    } else {
        rootfs = sandbox.busybox_rootfs("rootfs");
        args.extend(["--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]);
    }
    sandbox.start_with(&args, adjust).wait()
}

#[test]
#[serial]
fn no_inherited_descriptor_reaches_the_command() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let sandbox = Sandbox::new();
    // minibox starts holding what a careless caller leaves open: the host's `/` at 3 (through
    // /proc/self/fd/3 it reaches every host file, whatever the container's root) and a high one.
    let host_root = std::fs::File::open("/").expect("opening / for the test");
    let raw = host_root.as_raw_fd();
    let ran = probe_in_a_container(&sandbox, |command| {
        // SAFETY: dup2 and fcntl are async-signal-safe, as code between fork and exec must be.
        unsafe {
            command.pre_exec(move || {
                for fd in [3, 251] {
                    if libc::dup2(raw, fd) < 0 || libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    });
    drop(host_root);
    let report = ran.probe_report();
    let leaked: Vec<String> = report["fds"]
        .as_array()
        .map(|fds| {
            fds.iter()
                .filter(|fd| fd["fd"].as_u64().is_none_or(|n| n > 2))
                .map(|fd| format!("{} -> {}", fd["fd"], fd["target"]))
                .collect()
        })
        .unwrap_or_else(|| vec!["(no \"fds\" in the probe's report)".into()]);
    ensure(
        leaked.is_empty(),
        "only descriptors 0, 1 and 2 open in the container, though minibox was started holding 3 and 251",
        format!("{}{}", leaked.join(", "), ran.transcript()),
        "descriptors survive fork and execve unless marked close-on-exec: mark every one above 2 before execve",
        DESCRIPTORS,
    );
}

#[test]
#[serial]
fn the_command_dies_with_minibox_and_the_next_start_reclaims_the_rest() {
    let sandbox = Sandbox::new();
    let running = sandbox.start(&["run", "--", "sleep", "30"]);
    let (running, sleeper) =
        running.expect_process(|p| p.command == "sleep", "`sleep 30`", DIES_WITH_MINIBOX);
    // SIGKILL cannot be caught: minibox gets no chance to clean up or to pass anything on.
    running.signal(libc::SIGKILL);
    // The next minibox reclaims whatever the killed one left (its cgroup, its directories).
    let next_started = std::time::Instant::now();
    sandbox.run(&["run", "--", "true"]).expect_code(
        0,
        "a minibox started after another was killed should run normally",
        DIES_WITH_MINIBOX,
    );
    let mut still_there = support::Process::read(sleeper.pid).filter(|p| p.state != 'Z');
    while still_there.is_some() && next_started.elapsed() < std::time::Duration::from_secs(1) {
        std::thread::sleep(std::time::Duration::from_millis(10));
        still_there = support::Process::read(sleeper.pid).filter(|p| p.state != 'Z');
    }
    ensure(
        still_there.is_none(),
        "the container's command gone within a second once minibox was SIGKILLed",
        format!("{still_there:?} still running"),
        "the child should ask the kernel to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG), \
         and check that the parent is not already gone",
        DIES_WITH_MINIBOX,
    );
    // The killed run's own check: no process, mount, cgroup or container directory of it is left.
    running.wait();
}

#[test]
#[serial]
fn the_command_gets_sigpipe_with_its_default_action() {
    let sandbox = Sandbox::new();
    // The shell reports its own ignored signals; the test starts minibox with none ignored.
    let ran = sandbox.run(&["run", "--", "sh", "-c", "grep SigIgn /proc/self/status"]);
    let mask = ran.stdout.trim().strip_prefix("SigIgn:").map(str::trim);
    let ignored = mask.and_then(|hex| u64::from_str_radix(hex, 16).ok());
    let sigpipe_bit = 1u64 << (libc::SIGPIPE - 1);
    ensure(
        ran.code == Some(0) && ignored.is_some_and(|mask| mask & sigpipe_bit == 0),
        "SIGPIPE not ignored in the command (bit 13 of SigIgn clear)",
        format!("{mask:?}{}", ran.transcript()),
        "Rust ignores SIGPIPE in minibox, and an ignored signal stays ignored across execve: restore SIG_DFL \
         in the child before execve",
        DESCRIPTORS,
    );
}
