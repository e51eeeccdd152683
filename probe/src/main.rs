//! The probe: a small, statically linked program that the graded tests place inside a container
//! to report, as JSON, what the container sees. A static binary needs nothing from the
//! container's filesystem, so it runs in any root filesystem the tests build.
//!
//! It uses the standard library only, so that the tests' build script can compile it with one
//! `rustc` call (see `tests/support/build.rs`).
//!
//! ```text
//! probe                        facts: pid, ppid, uid, hostname, cwd, mounts, cgroups, capabilities,
//!                              open descriptors
//! probe chroot-escape MARKER   try the classic chroot escape; report whether MARKER became visible
//! probe alloc MIB              allocate and touch MIB mebibytes, reporting progress
//! probe spawn N SECONDS        start N children that sleep SECONDS; report how many started
//! probe spin SECONDS           burn CPU for SECONDS of wall-clock time
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let words: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let result = match words.as_slice() {
        [] | ["facts"] => Ok(facts()),
        ["chroot-escape", marker] => chroot_escape(marker),
        ["alloc", mib] => number(mib).map(alloc),
        ["spawn", n, seconds] => number(n).and_then(|n| Ok(spawn(n, number(seconds)?))),
        ["spin", seconds] => number(seconds).map(spin),
        ["sleep", seconds] => number(seconds).map(|s| {
            std::thread::sleep(Duration::from_secs(s));
            "{}".to_string()
        }),
        _ => Err(format!(
            "usage: probe [facts | chroot-escape MARKER | alloc MIB | spawn N SECONDS | spin SECONDS]; got {words:?}"
        )),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(message) => {
            eprintln!("probe: {message}");
            std::process::exit(2);
        }
    }
}

fn number(word: &str) -> Result<u64, String> {
    word.parse().map_err(|_| format!("`{word}` is not a number"))
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_all<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.map(quote).collect();
    format!("[{}]", quoted.join(","))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A field of /proc/self/status, such as `Uid` or `CapEff`.
fn status_field(name: &str) -> String {
    read("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

fn facts() -> String {
    let pid = std::process::id();
    let ppid = std::os::unix::process::parent_id();
    let uid = status_field("Uid").split_whitespace().next().unwrap_or("").to_string();
    let hostname = read("/proc/sys/kernel/hostname").trim().to_string();
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTIONS"
    let mounts: Vec<String> = read("/proc/self/mountinfo")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some(format!(
                "{{\"target\":{},\"fstype\":{},\"options\":{},\"super\":{}}}",
                quote(fields.get(4)?),
                quote(fields.get(dash + 1)?),
                quote(fields.get(5)?),
                quote(fields.get(dash + 3).unwrap_or(&""))
            ))
        })
        .collect();
    let cgroup = read("/proc/self/cgroup");
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    let mut root: Vec<String> = std::fs::read_dir("/")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    root.sort();
    let fds = open_fds();
    format!(
        "{{\"pid\":{pid},\"ppid\":{ppid},\"uid\":{},\"hostname\":{},\"cwd\":{},\"cap_eff\":{},\
         \"root_entries\":{},\"proc_pids\":{},\"cgroup\":{},\"mounts\":[{}],\"fds\":[{}]}}",
        quote(&uid),
        quote(&hostname),
        quote(&cwd),
        quote(&status_field("CapEff")),
        quote_all(root.iter().map(String::as_str)),
        quote_all(pids.iter().map(String::as_str)),
        quote_all(cgroup.lines()),
        mounts.join(","),
        fds.join(",")
    )
}

/// The descriptors open in this process, each with what it points to: `{"fd":0,"target":"/dev/null"}`.
/// The directory descriptor that lists them is left out. It shows as `/proc/PID/fd` with the PID
/// that this /proc knows us by, which is not our own in a new PID namespace with the host's /proc.
fn open_fds() -> Vec<String> {
    let seen_as = std::fs::read_link("/proc/self").map(|p| p.display().to_string()).unwrap_or_default();
    let listing = format!("/proc/{seen_as}/fd");
    let mut fds: Vec<(u32, String)> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| {
                let entry = e.ok()?;
                let fd = entry.file_name().to_str()?.parse().ok()?;
                let target = std::fs::read_link(entry.path()).ok()?.display().to_string();
                Some((fd, target))
            })
            .filter(|(_, target)| *target != listing && target != "/proc/self/fd")
            .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds.iter().map(|(fd, target)| format!("{{\"fd\":{fd},\"target\":{}}}", quote(target))).collect()
}

/// The classic escape from a chroot jail: chroot into a subdirectory without entering it, so the
/// working directory stays outside the new root; walk up with `..` as far as the kernel allows;
/// make that the root. Against a plain chroot this reaches the host's root. After pivot_root
/// and with the old root detached, the top is the container's own root, and nothing is gained.
fn chroot_escape(marker: &str) -> Result<String, String> {
    let jail = Path::new("/.probe-jail");
    std::fs::create_dir_all(jail).map_err(|e| format!("mkdir {}: {e}", jail.display()))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    std::os::unix::fs::chroot(jail).map_err(|e| format!("chroot {}: {e}", jail.display()))?;
    for _ in 0..64 {
        std::env::set_current_dir("..").map_err(|e| format!("chdir ..: {e}"))?;
    }
    std::os::unix::fs::chroot(".").map_err(|e| format!("chroot .: {e}"))?;
    let saw_marker = Path::new(marker).exists();
    let _ = std::fs::remove_dir(jail);
    Ok(format!("{{\"escaped\":{saw_marker},\"marker\":{}}}", quote(marker)))
}

/// Allocate and touch `mib` MiB, one MiB at a time, saying how far it got (on stderr, so the
/// progress survives an OOM kill).
fn alloc(mib: u64) -> String {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for i in 1..=mib {
        // Filling the block with a non-zero byte makes the kernel back every page with memory.
        blocks.push(vec![0xa5; 1 << 20]);
        if i % 8 == 0 {
            eprintln!("probe: allocated {i} MiB");
        }
    }
    let touched: u64 = blocks.iter().map(|b| u64::from(b[b.len() - 1])).sum();
    format!("{{\"allocated_mib\":{mib},\"check\":{touched}}}")
}

/// Start `n` children that each sleep `seconds`, and report how many the kernel allowed.
/// Deterministic, unlike a fork bomb: the answer is the number that started.
fn spawn(n: u64, seconds: u64) -> String {
    let me = std::env::current_exe().unwrap_or_else(|_| "/probe".into());
    let mut children = Vec::new();
    let mut first_error = String::new();
    for _ in 0..n {
        match std::process::Command::new(&me).args(["sleep", &seconds.to_string()]).spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                first_error = e.to_string();
                break;
            }
        }
    }
    let started = children.len();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::io::stdout().flush();
    format!("{{\"asked\":{n},\"started\":{started},\"error\":{}}}", quote(&first_error))
}

fn spin(seconds: u64) -> String {
    let start = Instant::now();
    let mut count: u64 = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        count = count.wrapping_add(1);
        std::hint::black_box(count);
    }
    format!("{{\"spun_seconds\":{seconds}}}")
}
