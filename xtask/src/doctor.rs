//! `cargo xtask doctor`: can this machine run the workshop? A line per requirement, each OK or
//! the exact fix.
//!
//! Every check is a function in [`CHECKS`] that reads what the kernel publishes (`/proc`, `/sys`)
//! or asks a tool for its version. Nothing is changed, nothing is downloaded, and it works as a
//! learner or as root. A failed check means a chapter cannot run, and doctor returns an error; a
//! warning (an old but working kernel, a missing mdbook, which only affects the book) does not.

use crate::workspace::Workspace;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest kernel that runs minibox: `init` closes inherited descriptors with close_range(2).
const KERNEL_NEEDED: Version = Version(5, 9, 0);
/// Ubuntu 22.04's kernel, with cgroup v2 by default.
const KERNEL_RECOMMENDED: Version = Version(5, 15, 0);
/// The workspace's `rust-version` (Cargo.toml).
const RUST_NEEDED: Version = Version(1, 93, 0);
/// The cgroup controllers chapter 4 limits.
const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];
/// Where the tests look for busybox (tests/support/mod.rs), in order.
const BUSYBOX_PATHS: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// The requirements, in the order they are shown.
const CHECKS: &[Check] = &[
    Check { name: "Linux kernel", run: kernel },
    Check { name: "root", run: root },
    Check { name: "cgroups", run: cgroups },
    Check { name: "overlayfs", run: overlayfs },
    Check { name: "user namespaces", run: user_namespaces },
    Check { name: "busybox", run: busybox },
    Check { name: "static libc", run: static_libc },
    Check { name: "Rust", run: rust },
    Check { name: "mdbook", run: mdbook },
    Check { name: "mdbook-mermaid", run: mdbook_mermaid },
    Check { name: "line endings", run: line_endings },
];

struct Check {
    name: &'static str,
    run: fn(&Workspace) -> Finding,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    /// Works, or only the book is affected; worth fixing all the same.
    Warn,
    /// A chapter cannot run until this is fixed.
    Fail,
}

/// What one check found, and the fix when it is not OK.
struct Finding {
    status: Status,
    seen: String,
    fix: Option<String>,
}

impl Finding {
    fn ok(seen: impl Into<String>) -> Finding {
        Finding { status: Status::Ok, seen: seen.into(), fix: None }
    }
    fn warn(seen: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { status: Status::Warn, seen: seen.into(), fix: Some(fix.into()) }
    }
    fn fail(seen: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { status: Status::Fail, seen: seen.into(), fix: Some(fix.into()) }
    }
}

pub fn run(ws: &Workspace) -> Result<()> {
    println!("cargo xtask doctor: can this machine run the workshop?");
    println!("machine: {}\n", machine());
    if std::env::consts::OS != "linux" {
        println!("  {:<16} {:<4}  this is {}", "Linux kernel", "FAIL", std::env::consts::OS);
        println!("  {:<16} {:<4}  fix: {}", "", "", USE_THE_VM);
        println!("\n(namespaces, cgroups and overlayfs are Linux kernel features: no other system has them)");
        bail!("doctor: this machine cannot run the workshop's chapters; the classroom VM can");
    }
    let mut failed = Vec::new();
    let mut warned = 0;
    for check in CHECKS {
        let finding = (check.run)(ws);
        let label = match finding.status {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        println!("  {:<16} {label:<4}  {}", check.name, finding.seen);
        if let Some(fix) = &finding.fix {
            println!("  {:<16} {:<4}  fix: {fix}", "", "");
        }
        match finding.status {
            Status::Ok => {}
            Status::Warn => warned += 1,
            Status::Fail => failed.push(check.name),
        }
    }
    println!();
    if !failed.is_empty() {
        bail!(
            "doctor: {} of {} checks failed ({}): a chapter cannot run until they are fixed. \
             Apply the fixes above, then run `cargo xtask doctor` again",
            failed.len(),
            CHECKS.len(),
            failed.join(", ")
        );
    }
    if warned > 0 {
        println!("doctor: every chapter can run here; {warned} warning(s) above are worth fixing.");
    } else {
        println!("doctor: every chapter can run here.");
    }
    Ok(())
}

const USE_THE_VM: &str = "use the classroom VM: `vagrant up`, then `vagrant ssh` (book: Setting up)";

// ---- the checks ----------------------------------------------------------------------------------

fn kernel(_: &Workspace) -> Finding {
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    let Some(version) = parse_version(release) else {
        return Finding::fail(format!("cannot read the kernel's version ({release:?})"), USE_THE_VM);
    };
    if version < KERNEL_NEEDED {
        Finding::fail(
            format!("Linux {release}: minibox needs 5.9 or newer (for close_range)"),
            format!("upgrade the kernel (5.15 or newer), or {USE_THE_VM}"),
        )
    } else if version < KERNEL_RECOMMENDED {
        Finding::warn(
            format!("Linux {release}: runs minibox (5.9 or newer), but 5.15 or newer is recommended"),
            format!("upgrade the kernel when you can, or {USE_THE_VM}"),
        )
    } else {
        Finding::ok(format!("Linux {release} (5.9 needed, 5.15 or newer recommended)"))
    }
}

fn root(_: &Workspace) -> Finding {
    let status = read("/proc/self/status").unwrap_or_default();
    if effective_uid(&status) == Some(0) {
        return Finding::ok("running as root");
    }
    let sudo = Command::new("sudo").args(["-n", "true"]).output();
    match sudo {
        Ok(out) if out.status.success() => Finding::ok("not root, but sudo works: the tests run through it"),
        Ok(_) => Finding::warn(
            "not root; sudo asks for a password, so the tests (chapter 2 on) will ask for it",
            "run `sudo -v` before `cargo test` (sudo then remembers you for a few minutes), or work as root",
        ),
        Err(_) => {
            let user = std::env::var("USER").unwrap_or_else(|_| "YOUR_NAME".into());
            Finding::fail(
                "not root, and there is no sudo: chapters 2 and later need root",
                format!(
                    "as root: `apt install sudo && adduser {user} sudo`, then log in again; or work as root"
                ),
            )
        }
    }
}

fn cgroups(_: &Workspace) -> Finding {
    let mode = cgroup_mode(fs_magic("/sys/fs/cgroup"), fs_magic("/sys/fs/cgroup/unified"));
    let available: Vec<String> = match mode {
        CgroupMode::V2 => read("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        CgroupMode::V1 | CgroupMode::Hybrid => {
            v1_controllers(&read("/proc/self/mountinfo").unwrap_or_default())
        }
        CgroupMode::Missing => {
            return Finding::fail(
                "no cgroup filesystem is mounted at /sys/fs/cgroup",
                format!(
                    "`sudo mount -t cgroup2 none /sys/fs/cgroup` (systemd does this at boot), or {USE_THE_VM}"
                ),
            );
        }
    };
    let usable: Vec<&str> = CONTROLLERS.into_iter().filter(|c| available.iter().any(|a| a == c)).collect();
    let missing: Vec<&str> = CONTROLLERS.into_iter().filter(|c| !usable.contains(c)).collect();
    let described = match mode {
        CgroupMode::V2 => "v2 (unified)".to_string(),
        CgroupMode::Hybrid => "hybrid (v1 controllers, a cgroup2 at /sys/fs/cgroup/unified)".to_string(),
        _ => "v1".to_string(),
    };
    if missing.is_empty() {
        return Finding::ok(format!("{described}: {} usable", usable.join(", ")));
    }
    let seen = format!(
        "{described}: {} missing (usable: {})",
        missing.join(", "),
        if usable.is_empty() { "none".to_string() } else { usable.join(", ") }
    );
    let cmdline = read("/proc/cmdline").unwrap_or_default();
    let disabled: Vec<&str> = cmdline
        .split_whitespace()
        .filter_map(|arg| arg.strip_prefix("cgroup_disable="))
        .flat_map(|list| list.split(','))
        .filter(|c| missing.contains(c))
        .collect();
    let fix = if !disabled.is_empty() {
        format!(
            "the kernel command line disables {}: remove `cgroup_disable=...` (GRUB: /etc/default/grub, then \
             `sudo update-grub` and reboot), or {USE_THE_VM}",
            disabled.join(", ")
        )
    } else if mode == CgroupMode::V2 {
        format!(
            "the kernel offers no {} controller (see /proc/cgroups): boot a kernel with it \
             (for memory: `cgroup_enable=memory` on the kernel command line), or {USE_THE_VM}",
            missing.join(", ")
        )
    } else {
        format!(
            "mount the missing v1 hierarchies, e.g. `sudo mkdir -p /sys/fs/cgroup/{0} && sudo mount -t cgroup -o {0} \
             none /sys/fs/cgroup/{0}`, or {USE_THE_VM}",
            missing[0]
        )
    };
    Finding::fail(seen, fix)
}

fn overlayfs(_: &Workspace) -> Finding {
    let filesystems = read("/proc/filesystems").unwrap_or_default();
    if filesystems.lines().any(|line| line.split_whitespace().last() == Some("overlay")) {
        return Finding::ok("in the kernel (/proc/filesystems)");
    }
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let module_lists = ["modules.dep", "modules.builtin"];
    let has_module = ["/lib/modules", "/usr/lib/modules"].iter().any(|root| {
        module_lists.iter().any(|list| {
            read(Path::new(root).join(release.trim()).join(list))
                .is_some_and(|text| text.lines().any(|l| l.contains("/overlay.ko")))
        })
    });
    if has_module {
        Finding::ok("a module, loaded by the first overlay mount")
    } else {
        Finding::fail(
            "overlay is neither in /proc/filesystems nor among the kernel's modules (chapter 5 needs it)",
            format!("`sudo modprobe overlay`; if there is no such module, {USE_THE_VM}"),
        )
    }
}

/// No chapter creates a user namespace (minibox runs as root), so a kernel without them only
/// loses the book's `unshare --user` demonstrations: a warning.
fn user_namespaces(_: &Workspace) -> Finding {
    let fix = "`sudo sysctl -w user.max_user_namespaces=15000` (to keep it: a file in /etc/sysctl.d)";
    match read("/proc/sys/user/max_user_namespaces").and_then(|text| text.trim().parse::<u64>().ok()) {
        Some(0) => Finding::warn("disabled (user.max_user_namespaces = 0)", fix),
        Some(max) => Finding::ok(format!("enabled (up to {max})")),
        None => Finding::warn(
            "this kernel has no user namespaces (no /proc/sys/user/max_user_namespaces)",
            format!("the chapters do not need them, the book's demonstrations do: {USE_THE_VM}"),
        ),
    }
}

fn busybox(_: &Workspace) -> Finding {
    let install = "`sudo apt install busybox-static` (Fedora: `sudo dnf install busybox`)";
    let candidates = std::env::var_os("MINIBOX_BUSYBOX")
        .map(PathBuf::from)
        .into_iter()
        .chain(BUSYBOX_PATHS.map(PathBuf::from));
    let Some(path) = candidates.into_iter().find(|p| p.exists()) else {
        return Finding::fail("no busybox: the tests build containers' root filesystems from it", install);
    };
    let shown = path.display();
    match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| elf_has_interpreter(&bytes)) {
        Ok(false) => Finding::ok(format!("{shown}, statically linked")),
        Ok(true) => Finding::fail(
            format!("{shown} is dynamically linked: inside a container it finds no libraries"),
            format!("{install}; it replaces the dynamic `busybox` package"),
        ),
        Err(why) => Finding::fail(format!("{shown}: {why}"), install),
    }
}

fn static_libc(_: &Workspace) -> Finding {
    let install = "`sudo apt install libc6-dev` (Fedora: `sudo dnf install glibc-static`)";
    let Some(answer) = output("cc", &["-print-file-name=libc.a"], None) else {
        return Finding::fail(
            "no C compiler (cc): rustc links every program with it",
            "`sudo apt install build-essential` (Fedora: `sudo dnf install gcc glibc-static`)",
        );
    };
    // cc answers with a full path when it finds the file, and with the bare name when not.
    let path = PathBuf::from(answer.trim());
    if path.is_absolute() && path.exists() {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        Finding::ok(format!("{} (for the tests' static probe)", path.display()))
    } else {
        Finding::fail("no libc.a: the tests' probe is a static program and cannot be built", install)
    }
}

fn rust(ws: &Workspace) -> Finding {
    let Some(text) = output("rustc", &["--version"], Some(&ws.root)) else {
        return Finding::fail(
            "no rustc",
            "install Rust with rustup (https://rustup.rs), then open a new shell",
        );
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)": the commit and date are noise here.
    let shown: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    match parse_version(&text) {
        Some(version) if version >= RUST_NEEDED => Finding::ok(format!("{shown} (1.93 or newer needed)")),
        Some(_) => {
            Finding::fail(format!("{shown}: the workspace needs 1.93 or newer"), "`rustup update stable`")
        }
        None => Finding::fail(
            format!("cannot read rustc's version from {:?}", text.trim()),
            "`rustup update stable`",
        ),
    }
}

fn mdbook(_: &Workspace) -> Finding {
    book_tool("mdbook", Version(0, 5, 0), "0.5", "mdbook@0.5.4")
}

fn mdbook_mermaid(_: &Workspace) -> Finding {
    book_tool("mdbook-mermaid", Version(0, 17, 0), "0.17", "mdbook-mermaid@0.17.0")
}

/// The book's tools: only the book needs them, so anything wrong is a warning.
fn book_tool(program: &str, series: Version, shown: &str, package: &str) -> Finding {
    let fix =
        format!("`cargo install --locked {package}` (the book also reads fine as Markdown in book/src)");
    let Some(text) = output(program, &["--version"], None) else {
        return Finding::warn(
            format!("not installed: the book cannot be built or served (needs {shown})"),
            fix,
        );
    };
    let text = text.trim();
    match parse_version(text) {
        Some(v) if v.0 == series.0 && v.1 == series.1 => Finding::ok(text),
        _ => Finding::warn(format!("{text}: the book needs {shown}"), fix),
    }
}

/// A checkout with Windows line endings (git's core.autocrlf on the host) breaks every script,
/// among them tools/sudo-runner, which cargo runs the chapters through.
fn line_endings(ws: &Workspace) -> Finding {
    let broken: Vec<String> = std::fs::read_dir(ws.path("tools"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|path| std::fs::read(path).is_ok_and(|b| b.starts_with(b"#!") && b.contains(&b'\r')))
                .map(|path| format!("tools/{}", path.file_name().unwrap_or_default().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    if broken.is_empty() {
        Finding::ok("the scripts in tools/ end their lines with LF")
    } else {
        Finding::fail(
            format!("{} end their lines with CRLF (a Windows checkout): they cannot run", broken.join(", ")),
            format!(
                "`sed -i 's/\\r$//' {}`; for the next clone, on the host: `git config --global core.autocrlf input`",
                broken.join(" ")
            ),
        )
    }
}

// ---- reading the machine --------------------------------------------------------------------------

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// What `program ARGS` prints on standard output, when it runs and succeeds.
fn output(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// "Debian GNU/Linux 12 (bookworm), x86_64"
fn machine() -> String {
    let name = read("/etc/os-release")
        .and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    format!("{name}, {}", std::env::consts::ARCH)
}

/// The type of the filesystem mounted at `path` (statfs(2)'s `f_type`), if there is one.
#[cfg(target_os = "linux")]
fn fs_magic(path: &str) -> Option<u64> {
    use std::ffi::{CString, c_char, c_int, c_long};
    unsafe extern "C" {
        // Declared here to keep xtask free of a libc dependency. The buffer stands in for
        // `struct statfs`, which is smaller; its first member is `f_type`, a C long.
        fn statfs(path: *const c_char, buf: *mut c_long) -> c_int;
    }
    let path = CString::new(path).ok()?;
    let mut buf: [c_long; 64] = [0; 64];
    // SAFETY: `path` is a NUL-terminated string and `buf` is writable and larger than struct statfs.
    let result = unsafe { statfs(path.as_ptr(), buf.as_mut_ptr()) };
    // f_type is a bit pattern: read it unsigned, as the kernel's *_MAGIC constants are written.
    (result == 0).then_some(buf[0] as u64 & 0xffff_ffff)
}

#[cfg(not(target_os = "linux"))]
fn fs_magic(_path: &str) -> Option<u64> {
    None
}

// ---- the pure parts, tested below ---------------------------------------------------------------

/// A version as `major.minor.patch`; compares in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u32, u32, u32);

/// The first `X.Y[.Z]` in `text`: "rustc 1.95.0 (59807616e 2026-04-14)", "mdbook v0.5.4",
/// "6.18.44-fc-v669" (a kernel release), "1.96.0-nightly".
fn parse_version(text: &str) -> Option<Version> {
    text.split_whitespace().find_map(|word| {
        let word = word.strip_prefix('v').unwrap_or(word);
        let end = word.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(word.len());
        let mut numbers = word[..end].split('.');
        let major = numbers.next()?.parse().ok()?;
        let minor = numbers.next()?.parse().ok()?;
        let patch = numbers.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Version(major, minor, patch))
    })
}

/// The effective user id, from /proc/self/status ("Uid:\treal\teffective\tsaved\tfs").
fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
}

const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
const TMPFS_MAGIC: u64 = 0x0102_1994;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CgroupMode {
    /// cgroup2 at /sys/fs/cgroup: every controller in one tree.
    V2,
    /// A tmpfs of v1 hierarchies, one per controller (or group of them).
    V1,
    /// v1 hierarchies, plus a controller-less cgroup2 at /sys/fs/cgroup/unified (systemd's
    /// transition layout).
    Hybrid,
    Missing,
}

/// The cgroup layout, from the filesystem types at /sys/fs/cgroup and /sys/fs/cgroup/unified.
fn cgroup_mode(root: Option<u64>, unified: Option<u64>) -> CgroupMode {
    match (root, unified) {
        (Some(CGROUP2_SUPER_MAGIC), _) => CgroupMode::V2,
        (Some(TMPFS_MAGIC), Some(CGROUP2_SUPER_MAGIC)) => CgroupMode::Hybrid,
        (Some(TMPFS_MAGIC), _) => CgroupMode::V1,
        _ => CgroupMode::Missing,
    }
}

/// The controllers of the mounted v1 hierarchies, from /proc/self/mountinfo. A line ends with
/// "- cgroup cgroup rw,cpu,cpuacct": the filesystem type, its source and its super options,
/// which name the hierarchy's controllers.
fn v1_controllers(mountinfo: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in mountinfo.lines() {
        let Some((_, after)) = line.split_once(" - ") else { continue };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.first() != Some(&"cgroup") {
            continue;
        }
        for option in fields.get(2).unwrap_or(&"").split(',') {
            if V1_CONTROLLERS.contains(&option) && !found.iter().any(|f| f == option) {
                found.push(option.to_string());
            }
        }
    }
    found
}

/// Every cgroup v1 controller (the other super options of a v1 mount are flags like `xattr`).
const V1_CONTROLLERS: [&str; 14] = [
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

const PT_INTERP: u32 = 3;

/// Whether an ELF file asks for a program interpreter (the dynamic loader): a PT_INTERP entry
/// in its program headers. A static program has none; a dynamic one cannot start inside a
/// container that lacks the loader and the libraries.
fn elf_has_interpreter(bytes: &[u8]) -> Result<bool, String> {
    if bytes.len() < 52 || bytes[..4] != *b"\x7fELF" {
        return Err("not an ELF program".into());
    }
    let big_endian = match bytes[5] {
        1 => false,
        2 => true,
        other => return Err(format!("unknown ELF byte order {other}")),
    };
    let number = |at: usize, size: usize| -> Result<u64, String> {
        let field = bytes.get(at..at + size).ok_or("the ELF file is truncated")?;
        let digits: Box<dyn Iterator<Item = &u8>> =
            if big_endian { Box::new(field.iter()) } else { Box::new(field.iter().rev()) };
        Ok(digits.fold(0, |value, byte| (value << 8) | u64::from(*byte)))
    };
    // e_phoff, e_phentsize and e_phnum sit at different offsets in 32- and 64-bit files.
    let (phoff, phentsize, phnum) = match bytes[4] {
        1 => (number(28, 4)?, number(42, 2)?, number(44, 2)?),
        2 => (number(32, 8)?, number(54, 2)?, number(56, 2)?),
        other => return Err(format!("unknown ELF class {other}")),
    };
    for index in 0..phnum {
        let at = usize::try_from(phoff + index * phentsize).map_err(|_| "the ELF file is truncated")?;
        if number(at, 4)? == u64::from(PT_INTERP) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_tools_print() {
        assert_eq!(parse_version("rustc 1.95.0 (59807616e 2026-04-14)"), Some(Version(1, 95, 0)));
        assert_eq!(parse_version("rustc 1.96.0-nightly (abc 2026-05-01)"), Some(Version(1, 96, 0)));
        assert_eq!(parse_version("mdbook v0.5.4"), Some(Version(0, 5, 4)));
        assert_eq!(parse_version("mdbook-mermaid 0.17.0"), Some(Version(0, 17, 0)));
        assert_eq!(parse_version("6.18.44-fc-v669"), Some(Version(6, 18, 44)));
        assert_eq!(parse_version("5.15.0-91-generic"), Some(Version(5, 15, 0)));
        assert_eq!(parse_version("6.8"), Some(Version(6, 8, 0)));
        assert_eq!(parse_version("built 2026-04-14"), None);
        assert_eq!(parse_version("no version here"), None);
    }

    #[test]
    fn versions_compare_number_by_number() {
        assert!(Version(1, 93, 0) >= RUST_NEEDED);
        assert!(
            Version(1, 100, 0) > RUST_NEEDED,
            "1.100 is newer than 1.93, though \"100\" < \"93\" as text"
        );
        assert!(Version(1, 92, 9) < RUST_NEEDED);
        assert!(Version(5, 8, 99) < KERNEL_NEEDED);
        assert!(Version(5, 9, 0) >= KERNEL_NEEDED);
        assert!(Version(5, 10, 0) < KERNEL_RECOMMENDED);
        assert!(Version(6, 1, 0) > KERNEL_RECOMMENDED);
    }

    #[test]
    fn the_effective_uid_is_the_second_of_four() {
        assert_eq!(
            effective_uid("Name:\tcargo\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n"),
            Some(0)
        );
        assert_eq!(effective_uid("Uid:\t0\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tcargo\n"), None);
    }

    #[test]
    fn cgroup_layouts_are_told_apart_by_filesystem_type() {
        assert_eq!(cgroup_mode(Some(CGROUP2_SUPER_MAGIC), None), CgroupMode::V2);
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), Some(CGROUP2_SUPER_MAGIC)), CgroupMode::Hybrid);
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), None), CgroupMode::V1);
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), Some(TMPFS_MAGIC)), CgroupMode::V1);
        assert_eq!(cgroup_mode(None, None), CgroupMode::Missing);
    }

    #[test]
    fn v1_controllers_come_from_the_cgroup_mounts_super_options() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
        let found = v1_controllers(mountinfo);
        assert_eq!(found, ["cpu", "cpuacct", "memory", "pids"].map(String::from), "{found:?}");
        assert!(
            v1_controllers("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n").is_empty()
        );
    }

    /// A minimal ELF header and program header table: only the fields that are read.
    fn elf(class64: bool, big_endian: bool, program_types: &[u32]) -> Vec<u8> {
        let (header, entry) = if class64 { (64, 56) } else { (52, 32) };
        let mut bytes = vec![0u8; header + entry * program_types.len()];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = if class64 { 2 } else { 1 };
        bytes[5] = if big_endian { 2 } else { 1 };
        let put = |bytes: &mut Vec<u8>, at: usize, size: usize, value: u64| {
            let mut field = value.to_le_bytes()[..size].to_vec();
            if big_endian {
                field.reverse();
            }
            bytes[at..at + size].copy_from_slice(&field);
        };
        let (phoff, phentsize, phnum) = if class64 { (32, 54, 56) } else { (28, 42, 44) };
        put(&mut bytes, phoff, if class64 { 8 } else { 4 }, header as u64);
        put(&mut bytes, phentsize, 2, entry as u64);
        put(&mut bytes, phnum, 2, program_types.len() as u64);
        for (index, kind) in program_types.iter().enumerate() {
            put(&mut bytes, header + index * entry, 4, u64::from(*kind));
        }
        bytes
    }

    const PT_LOAD: u32 = 1;
    const PT_DYNAMIC: u32 = 2;
    const PT_GNU_STACK: u32 = 0x6474_e551;

    #[test]
    fn a_static_program_has_no_interpreter() {
        for (class64, big_endian) in [(true, false), (true, true), (false, false), (false, true)] {
            let bytes = elf(class64, big_endian, &[PT_LOAD, PT_LOAD, PT_GNU_STACK]);
            assert_eq!(elf_has_interpreter(&bytes), Ok(false), "64-bit: {class64}, big-endian: {big_endian}");
        }
    }

    #[test]
    fn a_dynamic_program_names_its_interpreter() {
        for (class64, big_endian) in [(true, false), (true, true), (false, false), (false, true)] {
            let bytes = elf(class64, big_endian, &[PT_LOAD, PT_INTERP, PT_LOAD, PT_DYNAMIC]);
            assert_eq!(elf_has_interpreter(&bytes), Ok(true), "64-bit: {class64}, big-endian: {big_endian}");
        }
    }

    #[test]
    fn what_is_not_a_whole_elf_file_is_an_error() {
        assert!(
            elf_has_interpreter(b"#!/bin/sh\necho not a program\n.......................................")
                .is_err()
        );
        assert!(elf_has_interpreter(b"\x7fELF").is_err());
        let mut truncated = elf(true, false, &[PT_LOAD, PT_INTERP]);
        truncated.truncate(64 + 56 + 2);
        assert!(elf_has_interpreter(&truncated).is_err());
    }

    #[test]
    fn the_busybox_on_this_machine_can_be_read() {
        // Not a requirement of the test run: only that reading a real program does not fail.
        for path in BUSYBOX_PATHS.iter().filter(|p| Path::new(p).exists()) {
            let bytes = std::fs::read(path).expect("reading busybox");
            assert!(elf_has_interpreter(&bytes).is_ok(), "{path} should parse as ELF");
        }
    }
}
