//! The rootless chapter: a throwaway ordinary user for the tests to run minibox as.
//!
//! [`TestUser::create`] adds a user (`useradd`) with, if asked, subordinate ids of its own in
//! `/etc/subuid` and `/etc/subgid`; dropping it (also when a test fails) kills whatever still
//! runs as that user, then removes the user, its home and its subordinate ids. The tests run as
//! root; minibox runs as the user through `runuser -u USER --`, from a copy of the binary in a
//! directory the user can reach (the build's own `target/` may not be).
//!
//! A test process killed outright (SIGKILL, a timeout) never runs Drop. So every test user is
//! named `mbrPIDxN`, PID being the test process that made it: before making a user,
//! [`TestUser::create`] removes (and names on stderr) every such user whose process is gone, and
//! Drop fails the test if its user is still in the account or subordinate id files afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static USERS: AtomicU32 = AtomicU32::new(0);

/// The files that hold subordinate ids.
pub const SUBORDINATE_FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

/// How a test user's subordinate ids are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subordinate {
    /// None at all: minibox maps one id.
    None,
    /// `NAME:START:COUNT`, after a decoy line for a longer name that starts with NAME.
    ByName,
    /// `UID:START:COUNT` (subuid(5) allows the uid in place of the name).
    ByUid,
}

/// A user made for one test.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// The first subordinate uid and how many, when it has some.
    pub range: Option<(u32, u32)>,
    /// The first subordinate gid and how many: another range, of another size.
    pub gid_range: Option<(u32, u32)>,
}

/// The subordinate uids and gids a test user gets: far above what `useradd` hands out (100000
/// on), a different block per user of this test binary. Neither is useradd's 65536 ids, and the
/// gids are not the uids: code that assumes either shows.
fn range_for(index: u32) -> ((u32, u32), (u32, u32)) {
    let start = 1_000_000_000 + (std::process::id() % 1000) * 3_000_000 + index * 200_000;
    ((start, 100_000), (start + 100_000, 70_000))
}

/// The primary group of every test user: `users`, whose gid (100) is no user's uid, so that code
/// that writes the uid where the gid belongs shows.
const GROUP: &str = "users";

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// The prefix of every test user's name: `mbrPIDxN`.
const PREFIX: &str = "mbr";

/// The test process that made the test user `name` (`mbrPIDxN`, or its decoy `mbrPIDxN0`), if
/// `name` is one.
fn creator_of(name: &str) -> Option<u32> {
    let (pid, index) = name.strip_prefix(PREFIX)?.split_once('x')?;
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(index)).then(|| pid.parse().ok()).flatten()
}

/// Test users (name, uid, home) in `/etc/passwd` whose test process no longer runs.
fn stale_test_users() -> Vec<(String, u32, PathBuf)> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let pid = creator_of(fields.first()?)?;
            let gone = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
            let uid = fields.get(2)?.parse().ok()?;
            gone.then(|| (fields[0].to_string(), uid, PathBuf::from(fields.get(5).unwrap_or(&""))))
        })
        .collect()
}

/// Remove what killed test processes left: their users (with their processes, homes and
/// subordinate ids) and subordinate id lines of test users already gone. Says each on stderr.
fn reclaim_stale_test_users() {
    for (name, uid, home) in stale_test_users() {
        eprintln!(
            "note: removing the test user {name} (uid {uid}), left behind by a test process that was killed"
        );
        let user = TestUser { name, uid, gid: uid, home, range: None, gid_range: None };
        drop(user); // Drop removes it all
    }
    let dead =
        |first: &str| creator_of(first).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    for file in SUBORDINATE_FILES {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let left: Vec<String> =
            text.lines().filter_map(|l| l.split(':').next()).filter(|f| dead(f)).map(String::from).collect();
        if !left.is_empty() {
            eprintln!(
                "note: removing lines of killed test processes' users from {file}: {}",
                left.join(", ")
            );
            remove_subordinate_lines(&left);
        }
    }
}

/// Remove the lines of `names` from the subordinate id files.
fn remove_subordinate_lines(names: &[String]) {
    for file in SUBORDINATE_FILES {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let kept: String = text
            .lines()
            .filter(|line| !names.iter().any(|n| line.split(':').next() == Some(n.as_str())))
            .map(|line| format!("{line}\n"))
            .collect();
        if kept != text {
            let _ = std::fs::write(file, kept);
        }
    }
}

/// The files a user is written into when `useradd` cannot do it.
const ACCOUNT_FILES: [&str; 3] = ["/etc/passwd", "/etc/group", "/etc/shadow"];

/// Append `name` to the account files, with a free uid, the group `users` (and a group of the
/// uid's number, as useradd would make), and make its home.
fn add_user_by_hand(name: &str) -> Result<(), String> {
    let uid = (60000..65000u32)
        .find(|id| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(*id)).ok().flatten().is_none()
                && nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(*id)).ok().flatten().is_none()
        })
        .ok_or("no free uid in 60000-65000")?;
    let gid = nix::unistd::Group::from_name(GROUP).ok().flatten().map_or(uid, |g| g.gid.as_raw());
    let home = format!("/home/{name}");
    let lines = [
        format!("{name}:x:{uid}:{gid}::{home}:/bin/sh\n"),
        format!("{name}:x:{uid}:\n"),
        format!("{name}:!:20000:0:99999:7:::\n"),
    ];
    for (file, line) in ACCOUNT_FILES.iter().zip(lines) {
        let mut open =
            std::fs::OpenOptions::new().append(true).open(file).map_err(|e| format!("{file}: {e}"))?;
        std::io::Write::write_all(&mut open, line.as_bytes()).map_err(|e| format!("{file}: {e}"))?;
    }
    std::fs::create_dir_all(&home).map_err(|e| format!("{home}: {e}"))?;
    run("chown", &[&format!("{uid}:{gid}"), &home])
}

/// Remove `name`'s lines from the account files (after a user made by hand).
fn remove_account_lines(name: &str) {
    for file in ACCOUNT_FILES {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let kept: String = text
            .lines()
            .filter(|line| line.split(':').next() != Some(name))
            .map(|line| format!("{line}\n"))
            .collect();
        if kept != text {
            let _ = std::fs::write(file, kept);
        }
    }
}

impl TestUser {
    pub fn create(subordinate: Subordinate) -> TestUser {
        reclaim_stale_test_users();
        let index = USERS.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}x{index}", std::process::id());
        if let Some(old) = nix::unistd::User::from_name(&name).ok().flatten() {
            // A killed earlier run had this process's pid: its user is stale too.
            eprintln!("note: removing the test user {name}, left behind by an earlier run");
            drop(TestUser {
                name: name.clone(),
                uid: old.uid.as_raw(),
                gid: old.gid.as_raw(),
                home: old.dir,
                range: None,
                gid_range: None,
            });
        }
        if let Err(error) = run("useradd", &["--create-home", "--shell", "/bin/sh", "--gid", GROUP, &name]) {
            // Seen in the cgroup v2 VM (`cargo maint vm-test`), whose / is an overlay over the host's
            // shared by virtiofs: useradd fails "while writing changes to /etc/passwd". Lines
            // appended by hand there make the same user; Drop removes them.
            add_user_by_hand(&name).unwrap_or_else(|by_hand| {
                panic!("creating the test user {name} (useradd, package passwd): {error}; by hand: {by_hand}")
            });
        }
        let user = nix::unistd::User::from_name(&name).ok().flatten().expect("the user just made");
        let mut made = TestUser {
            name: name.clone(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
            range: None,
            gid_range: None,
        };
        // useradd may have given it ids of its own (SUB_UID_MIN in login.defs): the test decides.
        remove_subordinate_lines(&made.all_names());
        if subordinate != Subordinate::None {
            let ranges = range_for(index);
            let owner = if subordinate == Subordinate::ByUid { made.uid.to_string() } else { name.clone() };
            for (file, (start, count)) in SUBORDINATE_FILES.into_iter().zip([ranges.0, ranges.1]) {
                let mut text = std::fs::read_to_string(file).unwrap_or_default();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                // A decoy first: a longer name that starts with this one, and a range of its own.
                text.push_str(&format!("{name}0:{}:{count}\n", start + 32768));
                text.push_str(&format!("{owner}:{start}:{count}\n"));
                std::fs::write(file, text).unwrap_or_else(|e| panic!("writing {file}: {e}"));
            }
            made.range = Some(ranges.0);
            made.gid_range = Some(ranges.1);
        }
        made
    }

    /// The names its lines in the subordinate id files may start with.
    fn all_names(&self) -> Vec<String> {
        vec![self.name.clone(), format!("{}0", self.name), self.uid.to_string()]
    }

    /// Give `path` (recursively) to the user.
    pub fn give(&self, path: &Path) {
        let owner = format!("{}:{}", self.uid, self.gid);
        run("chown", &["-R", &owner, &path.display().to_string()]).expect("chown to the test user");
    }

    /// The processes running as this user now.
    pub fn processes(&self) -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata(format!("/proc/{pid}")) {
                    Ok(m) => m,
                    Err(_) => return false,
                }) == self.uid
            })
            .collect()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for _ in 0..50 {
            let left = self.processes();
            if left.is_empty() {
                break;
            }
            for process in left.into_iter().filter_map(super::Process::read) {
                process.signal(libc::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The subordinate ids first: were this process killed in between, the user left in
        // /etc/passwd is still found, and reclaimed, by the next run.
        remove_subordinate_lines(&self.all_names());
        let _ = run("userdel", &["--remove", &self.name]);
        if self.home == Path::new("/home").join(&self.name) {
            let _ = std::fs::remove_dir_all(&self.home);
        }
        remove_account_lines(&self.name); // a user made by hand, or one userdel could not remove
        let left: Vec<&str> = ACCOUNT_FILES
            .iter()
            .chain(SUBORDINATE_FILES.iter())
            .copied()
            .filter(|file| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                text.lines()
                    .any(|line| self.all_names().iter().any(|n| line.split(':').next() == Some(n.as_str())))
            })
            .collect();
        if !left.is_empty() && !std::thread::panicking() {
            panic!(
                "\n  the test's own clean-up failed: the test user {} is still in {}\n  this is not a bug in \
                 your code; the next run of these tests removes it (or: userdel --remove {})\n",
                self.name,
                left.join(", "),
                self.name
            );
        }
    }
}
