//! Where the bench runs: a private mount namespace (so that every runtime sees the same cgroup
//! mounts, and nothing mounted reaches the host), cgroups of its own (so that what the runtimes
//! create lands under a directory the bench removes), and a scratch directory. Also the leak
//! checks: cgroups, container directories, mounts and processes left behind.

use super::sys;
use anyhow::{Context, Result, bail};
use fixtures::cgroup::{CONTROLLERS, Layout};
use fixtures::mounts::Mount;
use fixtures::scratch::ScratchDir;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup layout, as the results describe it.
pub fn describe(layout: &Layout) -> String {
    match layout {
        Layout::V2 => "v2 (unified)".into(),
        Layout::Hybrid { unified } => format!(
            "v1 (hybrid: v1 controller hierarchies under /sys/fs/cgroup, a cgroup2 mount at {} with \"{}\")",
            unified.display(),
            std::fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default().trim()
        ),
        Layout::V1 => "v1 (legacy)".into(),
        Layout::Missing => "none".into(),
    }
}

/// Enter a private mount namespace. On a hybrid machine, also detach the cgroup2 mount there:
/// crun refuses hybrid layouts ("cgroups in hybrid mode not supported, drop all controllers
/// from cgroupv2"), so every runtime, not only crun, then runs without it. Returns what was done.
pub fn enter_mount_namespace(mode: &Layout) -> Result<String> {
    sys::private_mount_namespace()?;
    let mut what = String::from("a private mount namespace (mount --make-rprivate /)");
    if let Layout::Hybrid { unified } = mode {
        sys::detach(unified)?;
        what.push_str(&format!(", without the cgroup2 mount at {}", unified.display()));
    }
    Ok(what)
}

/// Remove what an interrupted earlier run left (Ctrl-C runs no destructor): its
/// `minibox-bench-<pid>` cgroups, when that process no longer exists (its scratch directory goes
/// when the next [`Scratch`] is made). Returns what was removed.
pub fn remove_stale() -> Vec<String> {
    let stale = |name: &str| {
        name.strip_prefix("minibox-bench-")
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists())
    };
    let mut removed = Vec::new();
    let mut candidates = Vec::new();
    for mount in Mount::all() {
        if mount.fstype == "cgroup" || mount.fstype == "cgroup2" {
            candidates.push(mount.point.clone());
            // The memory hierarchy puts us below the machine's own cgroups: look one level
            // under each cgroup this process is in, too.
            if let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") {
                for line in own.lines() {
                    let path = line.splitn(3, ':').nth(2).unwrap_or("").trim_start_matches('/');
                    if !path.is_empty() {
                        candidates.push(mount.point.join(path));
                    }
                }
            }
        }
    }
    candidates.sort();
    candidates.dedup();
    for dir in candidates {
        for sub in subdirectories(&dir) {
            if sub.file_name().and_then(|n| n.to_str()).is_some_and(stale) && remove_tree(&sub).is_ok() {
                removed.push(format!("cgroup {}", sub.display()));
            }
        }
    }
    removed
}

/// One cgroup v1 hierarchy (or the v2 tree): where it is mounted and where this process is in it.
#[derive(Clone, Debug)]
struct Hierarchy {
    /// The controllers as /proc/self/cgroup names them: `memory`, `cpu,cpuacct`, `name=systemd`.
    controllers: String,
    mount: PathBuf,
    /// This process's cgroup when the bench started (absolute directory).
    original: PathBuf,
}

/// The bench's cgroups. On v1 the bench moves itself into `<own cgroup>/minibox-bench-<pid>` in
/// the hierarchies of the controllers minibox puts a container in (memory, pids, cpu): minibox nests its containers under its own cgroup, so
/// they land under that directory. runc and crun are given the absolute path
/// `/minibox-bench-<pid>/<runtime>` (crun reads even relative paths from the hierarchies' roots).
/// Everything under `minibox-bench-<pid>`, in every hierarchy, is the bench's, and is removed on
/// drop, after moving back.
pub struct Cgroups {
    pub name: String,
    mode: Layout,
    hierarchies: Vec<Hierarchy>,
    /// The ones the bench moved into: (hierarchy, our directory).
    moved: Vec<(Hierarchy, PathBuf)>,
    /// On v2: whether /sys/fs/cgroup/minibox existed before (if not, it is removed at the end).
    v2_minibox_existed: bool,
}

impl Cgroups {
    pub fn enter(mode: &Layout) -> Result<Cgroups> {
        let name = format!("minibox-bench-{}", std::process::id());
        let hierarchies = hierarchies(mode)?;
        let mut cgroups = Cgroups {
            name: name.clone(),
            mode: mode.clone(),
            hierarchies: hierarchies.clone(),
            moved: Vec::new(),
            v2_minibox_existed: Path::new("/sys/fs/cgroup/minibox").exists(),
        };
        if *mode == Layout::V2 {
            return Ok(cgroups);
        }
        for h in hierarchies
            .iter()
            .filter(|h| CONTROLLERS.iter().any(|c| h.controllers.split(',').any(|x| x == *c)))
        {
            let ours = h.original.join(&name);
            std::fs::create_dir(&ours).with_context(|| format!("creating the cgroup {}", ours.display()))?;
            cgroups.moved.push((h.clone(), ours.clone()));
            std::fs::write(ours.join("cgroup.procs"), std::process::id().to_string())
                .with_context(|| format!("moving the bench into {}", ours.display()))?;
        }
        Ok(cgroups)
    }

    /// `linux.cgroupsPath` for an OCI runtime.
    pub fn oci_path(&self, runtime: &str) -> String {
        format!("/{}/{runtime}", self.name)
    }

    /// Does the hierarchy holding the memory controller offer a swap limit (v1 `memsw`)?
    pub fn has_memsw(&self) -> bool {
        self.moved.iter().any(|(_, dir)| dir.join("memory.memsw.limit_in_bytes").exists())
    }

    /// Every `minibox-bench-<pid>` directory the bench or a runtime may have made.
    fn roots(&self) -> Vec<PathBuf> {
        let mut roots = BTreeSet::new();
        for h in &self.hierarchies {
            roots.insert(h.mount.join(&self.name));
            roots.insert(h.original.join(&self.name));
        }
        roots.into_iter().filter(|p| p.is_dir()).collect()
    }

    /// The parents minibox creates its containers' cgroups under.
    fn minibox_parents(&self) -> Vec<PathBuf> {
        match self.mode {
            Layout::V2 => vec![PathBuf::from("/sys/fs/cgroup/minibox")],
            _ => self.moved.iter().map(|(_, dir)| dir.join("minibox")).collect(),
        }
    }

    /// Cgroups left behind: any directory under a `minibox` parent, and any runtime's cgroup.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for parent in self.minibox_parents() {
            left.extend(subdirectories(&parent));
        }
        for root in self.roots() {
            for dir in subdirectories(&root) {
                let is_bench_own = self.moved.iter().any(|(_, ours)| *ours == root);
                let is_minibox_parent = dir.file_name().is_some_and(|n| n == "minibox");
                if !(is_bench_own && is_minibox_parent) {
                    left.push(dir);
                }
            }
        }
        left
    }

    /// Move back, then remove every cgroup under the bench's directories, deepest first.
    /// Returns the problems met.
    fn remove(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for (h, _) in &self.moved {
            if let Err(error) =
                std::fs::write(h.original.join("cgroup.procs"), std::process::id().to_string())
            {
                problems.push(format!("moving the bench back to {}: {error}", h.original.display()));
            }
        }
        for root in self.roots() {
            if let Err(error) = remove_tree(&root) {
                problems.push(format!("{error:#}"));
            }
        }
        if self.mode == Layout::V2 && !self.v2_minibox_existed {
            let parent = Path::new("/sys/fs/cgroup/minibox");
            if parent.is_dir() && subdirectories(parent).is_empty() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        self.moved.clear();
        problems
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for problem in self.remove() {
            eprintln!("bench: cleanup: {problem}");
        }
    }
}

/// The hierarchies this process is in, with their mount points.
fn hierarchies(mode: &Layout) -> Result<Vec<Hierarchy>> {
    let own = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let mounts = Mount::all();
    let mut found = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        let mount = if controllers.is_empty() {
            if *mode != Layout::V2 {
                continue; // the hybrid layout's cgroup2 part, detached in the bench's namespace
            }
            mounts.iter().find(|m| m.fstype == "cgroup2" && m.point == Path::new("/sys/fs/cgroup"))
        } else {
            let wanted: Vec<&str> = controllers.split(',').collect();
            mounts.iter().find(|m| {
                m.fstype == "cgroup" && wanted.iter().all(|c| m.options.split(',').any(|o| o == *c))
            })
        };
        let Some(mount) = mount else { continue };
        found.push(Hierarchy {
            controllers: controllers.to_string(),
            mount: mount.point.clone(),
            original: mount.point.join(relative),
        });
    }
    if found.is_empty() {
        bail!("no cgroup hierarchy found in /proc/self/cgroup and /proc/self/mountinfo");
    }
    Ok(found)
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

/// rmdir a cgroup and every cgroup below it, deepest first (cgroupfs directories hold only
/// interface files, which go with the directory). A cgroup whose last process is still exiting
/// is busy for a moment: retry for a while.
fn remove_tree(dir: &Path) -> Result<()> {
    for sub in subdirectories(dir) {
        remove_tree(&sub)?;
    }
    let mut attempts = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) if attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => {
                return Err(error).with_context(|| format!("removing the cgroup {}", dir.display()));
            }
        }
    }
}

/// A directory of the bench's own, removed when dropped. Mounts found under it are detached
/// first (in the bench's private namespace), so that removing it never walks into a mount.
pub struct Scratch(ScratchDir);

impl Scratch {
    pub fn new() -> Result<Scratch> {
        Ok(Scratch(ScratchDir::new("minibox-bench")?))
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    /// Mounts under the scratch directory (there should be none: every runtime mounts inside
    /// its container's own namespace).
    pub fn mounts(&self) -> Vec<PathBuf> {
        fixtures::mounts::under(self.0.path())
    }
}

impl Drop for Scratch {
    /// Detach what is mounted under the directory; the directory itself goes right after.
    fn drop(&mut self) {
        let mut mounts = self.mounts();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for point in mounts {
            if let Err(error) = sys::detach(&point) {
                eprintln!("bench: cleanup: {error:#}");
            }
        }
    }
}

/// Processes whose environment holds `marker` (set in every runtime's and container's
/// environment by the bench).
pub fn processes_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
        })
        .collect()
}
