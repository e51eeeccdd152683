//! The cgroups chapter's graded tests: memory, pids and cpu limits with cgroups.
//!
//! The tests read the kernel's own files (limits, counters) rather than timing anything, so a
//! loaded machine cannot make them flaky. They run on cgroup v1 and v2 alike: the files are
//! looked up under both names.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use serial_test::serial;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{Sandbox, ensure, minibox_cgroups};

const LIMITS: &str = "cgroups, \"Asking for limits\"";
const CREATE: &str = "cgroups, \"Creating the cgroup\"";
const JOIN: &str = "cgroups, \"Joining before exec\"";
const OOM: &str = "cgroups, \"When the limit is hit\"";
const CLEANUP: &str = "cgroups, \"Cleaning up\"";

/// The first of these files that exists in any of the container's cgroup directories.
fn read_cgroup_file(dirs: &BTreeSet<PathBuf>, names: &[&str]) -> Option<(PathBuf, String)> {
    dirs.iter().flat_map(|d| names.iter().map(move |n| d.join(n))).find_map(|path| {
        let text = std::fs::read_to_string(&path).ok()?;
        Some((path, text.trim().to_string()))
    })
}

/// A `name value` line of a flat-keyed cgroup file (cpu.stat, memory.events).
fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The cgroup of `controller` in a `/proc/PID/cgroup` listing: "ID:CONTROLLERS:PATH" lines, one per
/// hierarchy on v1, the single line "0::PATH" on v2.
fn cgroup_of<'a>(listing: &'a [String], controller: &str) -> Option<&'a str> {
    let lines: Vec<(&str, &str)> = listing
        .iter()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            fields.next()?;
            Some((fields.next()?, fields.next()?))
        })
        .collect();
    let named = lines.iter().find(|(names, _)| names.split(',').any(|n| n == controller));
    named.or_else(|| lines.iter().find(|(names, _)| names.is_empty())).map(|(_, path)| *path)
}

/// Is `controller`'s cgroup in this listing one of minibox's container cgroups?
fn in_container_cgroup(listing: &[String], controller: &str) -> bool {
    cgroup_of(listing, controller).is_some_and(|path| path.contains("/minibox/"))
}

/// Start a container and find its cgroup directories while it runs.
fn running_with_cgroups(
    sandbox: &Sandbox,
    args: &[&str],
    book: &str,
) -> (support::Running, BTreeSet<PathBuf>) {
    let before = minibox_cgroups();
    let running = sandbox.start(args);
    let (running, _) =
        running.expect_process(|p| p.command == "probe" || p.command == "sleep", "the command", book);
    let dirs: BTreeSet<PathBuf> = minibox_cgroups().difference(&before).cloned().collect();
    (running, dirs)
}

#[test]
fn memory_sizes_are_parsed_like_docker() {
    use minibox::cgroups::parse_memory;
    for (text, bytes) in
        [("64m", 64u64 << 20), ("1g", 1 << 30), ("7340032", 7 << 20), ("8192k", 8 << 20), ("64M", 64 << 20)]
    {
        let seen = parse_memory(text).ok();
        ensure(
            seen == Some(bytes),
            format!("parse_memory({text:?}) == {bytes}"),
            format!("{seen:?}"),
            "units are b, k, m, g, powers of 1024",
            LIMITS,
        );
    }
    for bad in ["12XB", "", "m", "-5m", "+64m", "1.5g", "1k"] {
        let seen = parse_memory(bad);
        ensure(
            seen.is_err(),
            format!("parse_memory({bad:?}) to be an error"),
            format!("{seen:?}"),
            "refuse unknown units, non-numbers, and sizes under the 6m minimum",
            LIMITS,
        );
    }
    // 2^34 + 1 GiB overflows 64 bits (wrapped, it is 1 GiB); 2^63 bytes does not, but the kernel's limit files hold a signed
    // 64-bit number, and a larger value written as one comes out as -1: no limit at all.
    for too_large in ["17179869185g", "9223372036854775808", "18446744073709551615"] {
        let seen = parse_memory(too_large);
        ensure(
            seen.is_err(),
            format!("parse_memory({too_large:?}) to be an error"),
            format!("{seen:?}"),
            "refuse sizes that overflow (checked multiplication) or exceed i64::MAX, the largest limit the kernel takes",
            LIMITS,
        );
    }
}

#[test]
#[serial]
fn bad_limits_fail_in_one_line_and_create_no_cgroup() {
    let sandbox = Sandbox::new();
    let before = minibox_cgroups();
    for bad in [["--memory", "12XB"], ["--cpus", "-1"], ["--pids", "0"]] {
        let mut args = vec!["run"];
        args.extend(bad);
        args.extend(["--", "true"]);
        let cause = "check the limits while parsing the command line, before anything is created";
        sandbox
            .run(&args)
            .expect_code(125, cause, LIMITS)
            .expect_stderr_contains(bad[1], cause, LIMITS)
            .expect_one_line_error(LIMITS);
    }
    let after = minibox_cgroups();
    ensure(
        before == after,
        "no cgroup created for bad limits",
        format!("{:?}", after.difference(&before)),
        "parse first, create after",
        LIMITS,
    );
}

#[test]
#[serial]
fn the_limits_read_back_from_the_cgroup_files_are_those_asked_for() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let args = [
        "run",
        "--memory",
        "96m",
        "--pids",
        "24",
        "--cpus",
        "0.5",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--",
        "sleep",
        "30",
    ];
    let (running, dirs) = running_with_cgroups(&sandbox, &args, CREATE);
    let memory = read_cgroup_file(&dirs, &["memory.max", "memory.limit_in_bytes"]);
    // Swap: v1 limits memory and swap together (memsw, the same number as the memory limit: no
    // swap); v2 limits swap alone (0). Kernels built without swap accounting have neither file.
    let swap = read_cgroup_file(&dirs, &["memory.swap.max", "memory.memsw.limit_in_bytes"]);
    let pids = read_cgroup_file(&dirs, &["pids.max"]);
    let cpu_v2 = read_cgroup_file(&dirs, &["cpu.max"]);
    let cpu_v1 =
        read_cgroup_file(&dirs, &["cpu.cfs_quota_us"]).zip(read_cgroup_file(&dirs, &["cpu.cfs_period_us"]));
    running.kill_container();
    let ran = running.wait();
    let cpu = match (cpu_v2, cpu_v1) {
        (Some((_, max)), _) => Some(max),
        (None, Some(((_, quota), (_, period)))) => Some(format!("{quota} {period}")),
        _ => None,
    };
    let seen = format!("memory {memory:?}, pids {pids:?}, cpu {cpu:?}, in {dirs:?}{}", ran.transcript());
    ensure(
        memory.as_ref().map(|m| m.1.as_str()) == Some("100663296")
            && pids.as_ref().map(|p| p.1.as_str()) == Some("24")
            && cpu.as_deref() == Some("50000 100000"),
        "memory 100663296 (96 MiB), pids 24, cpu quota 50000 per 100000 µs",
        seen,
        "write each limit into its interface file before the command starts",
        CREATE,
    );
    let swap_ok = match &swap {
        Some((path, value)) if path.ends_with("memory.swap.max") => value == "0",
        Some((_, value)) => value == "100663296",
        None => true, // no swap accounting in this kernel: nothing to limit
    };
    ensure(
        swap_ok,
        "no swap beyond the memory limit: memory.memsw.limit_in_bytes 100663296 (v1) or memory.swap.max 0 (v2)",
        format!("{swap:?}"),
        "set the swap limit too (set_memswap_limit), or the container swaps instead of meeting its memory limit",
        CREATE,
    );
}

#[test]
#[serial]
fn the_command_runs_inside_the_containers_cgroup() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let ran = sandbox.run(&["run", "--memory", "64m", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe"]);
    let report = ran.probe_report();
    let cgroups: Vec<String> = report["cgroup"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let outside: Vec<String> = ["memory", "pids", "cpu"]
        .into_iter()
        .filter(|c| !in_container_cgroup(&cgroups, c))
        .map(|c| format!("{c}: {:?}", cgroup_of(&cgroups, c)))
        .collect();
    ensure(
        outside.is_empty(),
        "the probe's /proc/self/cgroup to name a cgroup under minibox/ for memory, pids and cpu",
        format!("not in the container's cgroup: {outside:?}; all: {cgroups:?}"),
        "the child must join every one of the container's cgroups (one per controller on v1) before it execs the \
         command, and before pivot_root hides /sys/fs/cgroup",
        JOIN,
    );
}

#[test]
#[serial]
fn a_command_past_its_memory_limit_is_oom_killed_and_minibox_says_so() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let ran = sandbox.run(&[
        "run",
        "--memory",
        "64m",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--",
        "/probe",
        "alloc",
        "256",
    ]);
    let reached: u64 = ran
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("probe: allocated ")?.strip_suffix(" MiB")?.parse().ok())
        .max()
        .unwrap_or(0);
    ensure(
        reached < 64,
        "the probe to be stopped before it held 64 MiB",
        format!("it reported {reached} MiB{}", ran.transcript()),
        "the memory limit (and the swap limit) must be set before the command starts",
        CREATE,
    );
    ran.expect_code(137, "the OOM killer sends SIGKILL: 128 + 9", OOM).expect_stderr_contains(
        "container killed: out of memory (limit 64 MiB)",
        "after the command ends by SIGKILL, check the memory cgroup's oom_kill counter and say so",
        OOM,
    );
}

#[test]
#[serial]
fn a_plain_sigkill_is_not_reported_as_out_of_memory() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let args = ["run", "--memory", "64m", "--rootfs", rootfs.to_str().unwrap(), "--", "sleep", "30"];
    let (running, _) = running_with_cgroups(&sandbox, &args, OOM);
    // `kill -9` from outside: the same signal the OOM killer sends, but no memory was short.
    running.kill_container();
    let ran = running.wait();
    ran.expect_code(137, "a command killed by SIGKILL ends with 128 + 9", OOM);
    ensure(
        !ran.stderr.contains("out of memory"),
        "no \"out of memory\" message for a command killed by a plain SIGKILL",
        ran.transcript(),
        "SIGKILL alone does not mean out of memory: report it only when the cgroup's oom_kill counter is above 0",
        OOM,
    );
}

#[test]
#[serial]
fn a_fork_bomb_cannot_exceed_the_pids_limit() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let ran = sandbox.run(&[
        "run",
        "--pids",
        "16",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        // Where the command runs (on stderr), then the probe in its place: one process, not two.
        "cat /proc/self/cgroup >&2; exec /probe spawn 50 10",
    ]);
    ran.expect_code(0, "the probe reports how many children it could start, then ends cleanly", LIMITS);
    let report = ran.probe_report();
    let started = report["started"].as_u64().unwrap_or(0);
    let cgroups: Vec<String> = ran.stderr.lines().map(str::to_string).collect();
    let (cause, book) = if in_container_cgroup(&cgroups, "pids") {
        ("set pids.max in the container's pids cgroup before the command starts", CREATE)
    } else {
        ("the command is not in the container's pids cgroup: join every one of its cgroups", JOIN)
    };
    ensure(
        (1..16).contains(&started),
        "the probe to start fewer than 16 children (it counts as one of the 16 itself)",
        format!("it started {started}: {report}{}", ran.transcript()),
        cause,
        book,
    );
}

#[test]
#[serial]
fn a_busy_loop_under_a_cpu_quota_is_throttled() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let args = ["run", "--cpus", "0.2", "--rootfs", rootfs.to_str().unwrap(), "--", "/probe", "spin", "30"];
    let (running, dirs) = running_with_cgroups(&sandbox, &args, CREATE);
    // A quota of 20 ms per 100 ms period: a busy loop uses it up early in every period.
    let mut stat = None;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        stat = read_cgroup_file(&dirs, &["cpu.stat"]);
        if stat.as_ref().and_then(|(_, s)| counter(s, "nr_throttled")).unwrap_or(0) >= 3 {
            break;
        }
    }
    // The processes in that cgroup, to tell a quota never set from a cgroup never joined.
    let members =
        stat.as_ref().and_then(|(path, _)| std::fs::read_to_string(path.with_file_name("cgroup.procs")).ok());
    running.kill_container();
    let ran = running.wait();
    let throttled = stat.as_ref().and_then(|(_, s)| counter(s, "nr_throttled")).unwrap_or(0);
    let (cause, book) = if members.as_deref().is_none_or(|pids| !pids.trim().is_empty()) {
        (
            "set the CFS quota (cpu.max, or cpu.cfs_quota_us and cpu.cfs_period_us) before the command starts",
            CREATE,
        )
    } else {
        ("the container's cpu cgroup holds no process: join every one of its cgroups", JOIN)
    };
    ensure(
        throttled >= 3,
        "the kernel's cpu.stat to count throttled periods (nr_throttled >= 3)",
        format!("{stat:?} in {dirs:?}, processes in it {members:?}{}", ran.transcript()),
        cause,
        book,
    );
}

fn no_container_cgroups_left(before: &BTreeSet<PathBuf>, when: &str) {
    let left: Vec<PathBuf> = minibox_cgroups().difference(before).cloned().collect();
    ensure(
        left.is_empty(),
        format!("no cgroup of the container left {when}"),
        format!("{left:?}"),
        "remove the container's cgroups on every path out of `run`; kill what is left inside first (v1 has no cgroup.kill)",
        CLEANUP,
    );
}

#[test]
#[serial]
fn no_cgroup_is_left_after_exit_oom_or_sigterm() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let root = rootfs.to_str().unwrap();
    let before = minibox_cgroups();
    sandbox.run(&["run", "--memory", "64m", "--pids", "32", "--rootfs", root, "--", "true"]).expect_code(
        0,
        "the container should run",
        CLEANUP,
    );
    no_container_cgroups_left(&before, "after a normal exit");

    sandbox.run(&["run", "--memory", "64m", "--rootfs", root, "--", "/probe", "alloc", "256"]).expect_code(
        137,
        "the OOM kill should be reported",
        OOM,
    );
    no_container_cgroups_left(&before, "after an OOM kill");

    let (running, dirs) = running_with_cgroups(
        &sandbox,
        &["run", "--init", "--memory", "64m", "--rootfs", root, "--", "sleep", "30"],
        CLEANUP,
    );
    ensure(
        !dirs.is_empty(),
        "the container's cgroup to exist while it runs",
        "none found",
        "create the cgroup before the child starts",
        CREATE,
    );
    running.signal(libc::SIGTERM);
    running.wait().expect_code(143, "SIGTERM reaches the command through init", CLEANUP);
    no_container_cgroups_left(&before, "after minibox was sent SIGTERM");
}

/// Where a container cgroup's parent would be; only for the message below.
fn parents(dirs: &BTreeSet<PathBuf>) -> Vec<&Path> {
    dirs.iter().filter_map(|d| d.parent()).collect()
}

#[test]
#[serial]
fn container_cgroups_are_named_by_id_under_minibox() {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.busybox_rootfs("rootfs");
    let args = ["run", "--verbose", "--pids", "8", "--rootfs", rootfs.to_str().unwrap(), "--", "sleep", "30"];
    let (running, dirs) = running_with_cgroups(&sandbox, &args, CREATE);
    running.kill_container();
    let ran = running.wait();
    let id = ran
        .stderr
        .split("container id ")
        .nth(1)
        .map(|r| r.chars().take(12).collect::<String>())
        .unwrap_or_default();
    ensure(
        !dirs.is_empty()
            && !id.is_empty()
            && dirs.iter().all(|d| d.file_name().is_some_and(|n| n == id.as_str())),
        format!("the container's cgroups to be named by its id ({id}) under a minibox parent"),
        format!("{dirs:?} under {:?}{}", parents(&dirs), ran.transcript()),
        "name the cgroup minibox/<id>",
        CREATE,
    );
}
