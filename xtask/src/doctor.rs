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
use fixtures::cgroup::{CONTROLLERS, Layout};
use fixtures::mounts::Mount;
use fixtures::{busybox as busybox_fixture, elf};

/// The requirements, in the order they are shown.
const CHECKS: &[Check] = &[
    Check { name: "Linux kernel", run: kernel },
    Check { name: "root", run: root },
    Check { name: "cgroups", run: cgroups },
    Check { name: "overlayfs", run: overlayfs },
    Check { name: "user namespaces", run: user_namespaces },
    Check { name: "busybox", run: busybox },
    Check { name: "nftables", run: nftables },
    Check { name: "static libc", run: static_libc },
    Check { name: "registry tools", run: registry_tools }, // the registry chapter
    Check { name: "uidmap", run: uidmap },                 // the rootless chapter
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
    let mounts = Mount::all();
    let layout = Layout::of(&mounts);
    if layout == Layout::Missing {
        return Finding::fail(
            "no cgroup filesystem is mounted at /sys/fs/cgroup",
            format!(
                "`sudo mount -t cgroup2 none /sys/fs/cgroup` (systemd does this at boot), or {USE_THE_VM}"
            ),
        );
    }
    let available = layout.controllers(&mounts);
    let usable: Vec<&str> = CONTROLLERS.into_iter().filter(|c| available.iter().any(|a| a == c)).collect();
    let missing: Vec<&str> = CONTROLLERS.into_iter().filter(|c| !usable.contains(c)).collect();
    let described = match &layout {
        Layout::V2 => "v2 (unified)".to_string(),
        Layout::Hybrid { unified } => format!("hybrid (v1 controllers, a cgroup2 at {})", unified.display()),
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
    } else if layout == Layout::V2 {
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

/// The rootless chapter makes user namespaces as an ordinary user (its tests, as a user they
/// create). Disabled, they fail; Ubuntu's AppArmor restriction leaves them without capabilities.
fn user_namespaces(_: &Workspace) -> Finding {
    let fix = "`sudo sysctl -w user.max_user_namespaces=15000` (to keep it: a file in /etc/sysctl.d)";
    let debian = read("/proc/sys/kernel/unprivileged_userns_clone").map(|t| t.trim().to_string());
    let apparmor =
        read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").map(|t| t.trim().to_string());
    match read("/proc/sys/user/max_user_namespaces").and_then(|text| text.trim().parse::<u64>().ok()) {
        Some(0) => {
            Finding::fail("disabled (user.max_user_namespaces = 0): the rootless chapter needs them", fix)
        }
        _ if debian.as_deref() == Some("0") => Finding::fail(
            "root only (kernel.unprivileged_userns_clone = 0): the rootless chapter needs them for users",
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (to keep it: a file in /etc/sysctl.d)",
        ),
        _ if apparmor.as_deref() == Some("1") => Finding::warn(
            "restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10 and later)",
            "the rootless chapter's page, \"The CVEs, and the distributions' answer\": an AppArmor profile \
             for the workshop's binaries (or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`)",
        ),
        Some(max) => Finding::ok(format!("enabled (up to {max})")),
        None => Finding::fail(
            "this kernel has no user namespaces (no /proc/sys/user/max_user_namespaces)",
            format!("the rootless chapter needs them: {USE_THE_VM}"),
        ),
    }
}

/// The rootless chapter maps subordinate ids through the setuid newuidmap and newgidmap.
fn uidmap(_: &Workspace) -> Finding {
    use std::os::unix::fs::PermissionsExt;
    let setuid = |path: &str| std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o4000 != 0);
    match ["/usr/bin/newuidmap", "/usr/bin/newgidmap"].into_iter().find(|p| !setuid(p)) {
        None => Finding::ok("newuidmap and newgidmap are installed, setuid"),
        Some(missing) => Finding::fail(
            format!(
                "no setuid {missing}: rootless containers map only one id, and the rootless chapter's tests fail"
            ),
            "`sudo apt install uidmap` (Fedora: `sudo dnf install shadow-utils`)",
        ),
    }
}

fn busybox(_: &Workspace) -> Finding {
    let install = "`sudo apt install busybox-static` (Fedora: `sudo dnf install busybox`)";
    let Some(path) = busybox_fixture::candidates().into_iter().find(|p| p.exists()) else {
        return Finding::fail("no busybox: the tests build containers' root filesystems from it", install);
    };
    let shown = path.display();
    match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| elf::has_interpreter(&bytes)) {
        Ok(false) => Finding::ok(format!("{shown}, statically linked")),
        Ok(true) => Finding::fail(
            format!("{shown} is dynamically linked: inside a container it finds no libraries"),
            format!("{install}; it replaces the dynamic `busybox` package"),
        ),
        Err(why) => Finding::fail(format!("{shown}: {why}"), install),
    }
}

/// The network chapter: bridged containers get their NAT rules from the nft program.
fn nftables(_: &Workspace) -> Finding {
    let found = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].into_iter().find(|p| Path::new(p).exists());
    match found {
        Some(path) => Finding::ok(format!("{path} (NAT for bridged containers, the network chapter)")),
        None => Finding::fail(
            "no nft: from the network chapter on, containers on the bridge (the default) need it for their NAT rules",
            "`sudo apt install nftables` (Fedora: `sudo dnf install nftables`)",
        ),
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
    let needed = fixtures::RUST_VERSION;
    let needed_version = parse_version(needed).expect("the workspace's rust-version is X.Y or X.Y.Z");
    match parse_version(&text) {
        Some(version) if version >= needed_version => {
            Finding::ok(format!("{shown} ({needed} or newer needed)"))
        }
        Some(_) => {
            Finding::fail(format!("{shown}: the workspace needs {needed} or newer"), "`rustup update stable`")
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

/// The registry chapter's tests run a registry (docker-registry) and its clients (skopeo, podman), and
/// sign tokens with openssl; the oci chapter's run containerd and ctr, and podman again.
fn registry_tools(_: &Workspace) -> Finding {
    const DOCKER_CLI: &str = "/usr/local/lib/minibox/docker";
    let wanted = ["docker-registry", "skopeo", "podman", "openssl", "containerd", "ctr"];
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    let mut missing: Vec<&str> = wanted.into_iter().filter(|tool| !on_path(tool)).collect();
    // The daemon chapter's docker CLI, which provision takes out of Debian's docker.io package.
    if !std::path::Path::new(DOCKER_CLI).is_file() {
        missing.push(DOCKER_CLI);
    }
    if missing.is_empty() {
        Finding::ok("docker-registry, skopeo, podman, openssl, containerd and the docker CLI are installed")
    } else {
        // ctr comes in Debian's containerd package; the docker CLI out of docker.io, by provision.
        let packages: Vec<&str> = missing
            .iter()
            .filter(|t| **t != DOCKER_CLI)
            .map(|t| if *t == "ctr" { "containerd" } else { t })
            .collect();
        Finding::fail(
            format!(
                "missing {}: the registry, oci and daemon chapters' tests cannot run",
                missing.join(", ")
            ),
            if packages.is_empty() {
                "`sudo tools/provision.sh`".to_string()
            } else {
                format!("`sudo apt install {}` (or `sudo tools/provision.sh`)", packages.join(" "))
            },
        )
    }
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
        let needed = Version(1, 93, 0);
        assert!(Version(1, 100, 0) > needed, "1.100 is newer than 1.93, though \"100\" < \"93\" as text");
        assert!(Version(1, 92, 9) < needed);
        assert!(
            parse_version(fixtures::RUST_VERSION).is_some(),
            "the workspace's rust-version reads as a version"
        );
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
}
