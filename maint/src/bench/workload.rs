//! What the runtimes run: one busybox root filesystem shared by all of them, an OCI bundle per
//! OCI runtime pointing at it, and image archives of two sizes.

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The shared root filesystem, in `dir`: the one the graded tests make.
pub fn busybox_rootfs(dir: &Path) -> Result<()> {
    fixtures::busybox::build_rootfs(&fixtures::busybox::locate_static()?, dir)?;
    if !dir.join("bin/true").exists() {
        bail!("this busybox has no `true` applet");
    }
    Ok(())
}

/// The bytes in regular files under `dir`.
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// What the OCI runtimes are told to do, matched to `minibox run --rootfs DIR --memory M
/// --pids P -- /bin/true`.
pub struct Spec<'a> {
    pub rootfs: &'a Path,
    pub cgroups_path: &'a str,
    pub memory: u64,
    /// Also limit memory+swap to `memory` (v1's memsw), as minibox does.
    pub swap: bool,
    pub pids: u64,
    /// `KEY=VALUE` set in the container's environment, to find its processes.
    pub marker: &'a str,
    /// A network namespace to join, by path (made by the bench, as a CNI plugin's engine makes
    /// it); `None`: no network namespace, as `minibox run --network host`.
    pub network: Option<&'a str>,
}

/// `config.json`: `runc spec`'s default, changed where this machine or a fair comparison needs
/// it. Changed: no terminal; `/bin/true`; the shared root filesystem, read-write (as minibox
/// mounts it); no `process.rlimits` (raising RLIMIT_NOFILE's hard limit needs
/// CAP_SYS_RESOURCE, which root lacks on the workshop's machine); no network namespace (as
/// `minibox run --network host`) or one made by the bench, given by path; only the mounts minibox makes (/proc, /dev, /dev/pts, /dev/shm, /sys: no
/// /dev/mqueue, no /sys/fs/cgroup); memory and pids limits; and the hardening chapter's hardening, from
/// minibox's own lists: Docker's default capabilities (inheritable and ambient empty),
/// noNewPrivileges, the same seccomp denylist, the masked and read-only paths, the devices
/// allowlist.
pub fn oci_config(spec: &Spec) -> serde_json::Value {
    let capabilities = hardening::capabilities();
    let mut namespaces = vec![
        json!({ "type": "pid" }),
        json!({ "type": "ipc" }),
        json!({ "type": "uts" }),
        json!({ "type": "mount" }),
    ];
    if let Some(path) = spec.network {
        namespaces.push(json!({ "type": "network", "path": path }));
    }
    let mut memory = json!({ "limit": spec.memory });
    if spec.swap {
        memory["swap"] = json!(spec.memory);
    }
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", spec.marker],
            "cwd": "/",
            "capabilities": {
                "bounding": capabilities,
                "effective": capabilities,
                "permitted": capabilities,
                "inheritable": [],
                "ambient": []
            },
            "noNewPrivileges": true
        },
        "root": { "path": spec.rootfs.to_string_lossy(), "readonly": false },
        "hostname": "bench",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] }
        ],
        "linux": {
            "cgroupsPath": spec.cgroups_path,
            "seccomp": hardening::seccomp(),
            "maskedPaths": minibox::security::paths::MASKED,
            "readonlyPaths": minibox::security::paths::READ_ONLY,
            "resources": {
                "devices": hardening::devices(),
                "memory": memory,
                "pids": { "limit": spec.pids }
            },
            "namespaces": namespaces
        }
    })
}

/// The hardening chapter's defences in the OCI runtime specification's terms, from minibox's own lists.
mod hardening {
    use minibox::security::{capabilities, devices, seccomp};
    use serde_json::{Value, json};

    /// Docker's default set, as `CAP_` names.
    pub fn capabilities() -> Value {
        let names: Vec<String> = (0..capabilities::NAMES.len())
            .filter(|n| capabilities::DOCKER_DEFAULT & (1 << n) != 0)
            .map(|n| format!("CAP_{}", capabilities::NAMES[n]))
            .collect();
        json!(names)
    }

    /// minibox's own profile (the container keeps no CAP_SYS_ADMIN): EPERM for the listed calls
    /// and for `clone` with a namespace flag, ENOSYS for `clone3`.
    pub fn seccomp() -> Value {
        json!(seccomp::default_profile(0))
    }

    /// Every device denied, then mknod of any node and the standard character devices allowed.
    pub fn devices() -> Value {
        let mut rules = vec![
            json!({ "allow": false, "access": "rwm" }),
            json!({ "allow": true, "type": "c", "access": "m" }),
            json!({ "allow": true, "type": "b", "access": "m" }),
        ];
        for device in &devices::ALLOWED {
            let mut rule = json!({ "allow": true, "type": "c", "major": device.major, "access": "rwm" });
            if let Some(minor) = device.minor {
                rule["minor"] = json!(minor);
            }
            rules.push(rule);
        }
        json!(rules)
    }
}

/// An OCI bundle: a directory with `config.json` (the root filesystem is given by absolute path,
/// so every runtime runs the very same directory).
pub fn bundle(dir: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), format!("{:#}\n", oci_config(spec)))
        .context("writing config.json")
}

/// `size` bytes that no compressor can shrink (xorshift64*), in `path`.
pub fn filler(path: &Path, size: u64) -> Result<()> {
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ size;
    let mut block = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            chunk.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

/// A tar of the root filesystem plus the file `extra`, at the archive's root.
pub fn image_tar(rootfs: &Path, extra: &Path, archive: &Path) -> Result<()> {
    let (Some(dir), Some(name)) = (extra.parent(), extra.file_name()) else {
        bail!("{} is not a file path", extra.display());
    };
    let status = Command::new("tar")
        .arg("--create")
        .arg("--file")
        .arg(archive)
        .arg("-C")
        .arg(rootfs)
        .arg(".")
        .arg("-C")
        .arg(dir)
        .arg(name)
        .status()
        .context("running tar (apt-get install tar)")?;
    if !status.success() {
        bail!("tar failed for {}", archive.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_has_no_network_namespace_and_no_rlimits() {
        let config = oci_config(&Spec {
            rootfs: Path::new("/tmp/rootfs"),
            cgroups_path: "/b/crun",
            memory: 64 << 20,
            swap: true,
            pids: 64,
            marker: "M=1",
            network: None,
        });
        let text = config.to_string();
        assert!(!text.contains("network"), "no network namespace: {text}");
        assert!(!text.contains("rlimits"), "no rlimits: {text}");
        assert_eq!(config["process"]["terminal"], false, "no terminal");
        assert_eq!(config["linux"]["resources"]["memory"], json!({ "limit": 67108864, "swap": 67108864 }));
        assert_eq!(config["root"]["path"], "/tmp/rootfs", "the shared root filesystem");
        assert_eq!(config["process"]["env"][2], "M=1", "the marker");
    }

    #[test]
    fn a_network_namespace_is_joined_by_path() {
        let config = oci_config(&Spec {
            rootfs: Path::new("/tmp/rootfs"),
            cgroups_path: "/b/crun",
            memory: 64 << 20,
            swap: false,
            pids: 64,
            marker: "M=1",
            network: Some("/run/netns/x"),
        });
        let namespaces = config["linux"]["namespaces"].as_array().expect("namespaces");
        assert_eq!(namespaces.len(), 5);
        assert_eq!(namespaces[4], json!({ "type": "network", "path": "/run/netns/x" }));
    }
}
