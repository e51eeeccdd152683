//! What the runtimes run: one busybox root filesystem shared by all of them, an OCI bundle per
//! OCI runtime pointing at it, and image archives of two sizes.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host's static busybox: `MINIBOX_BUSYBOX`, then where Debian's busybox-static puts it.
pub fn static_busybox() -> Result<PathBuf> {
    let candidates = std::env::var_os("MINIBOX_BUSYBOX")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/bin/busybox", "/usr/bin/busybox"].map(PathBuf::from));
    for path in candidates {
        if let Ok(bytes) = std::fs::read(&path) {
            if is_static_elf(&bytes) {
                return Ok(path);
            }
            bail!("{} is dynamically linked: apt-get install busybox-static", path.display());
        }
    }
    bail!("no busybox found: apt-get install busybox-static")
}

/// A 64-bit ELF executable without a program interpreter (PT_INTERP), that is, static.
fn is_static_elf(bytes: &[u8]) -> bool {
    let at = |offset: usize, len: usize| bytes.get(offset..offset + len);
    let number = |offset: usize, len: usize| {
        at(offset, len).map(|b| b.iter().rev().fold(0usize, |n, &byte| n << 8 | byte as usize))
    };
    if at(0, 5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(size), Some(count)) = (number(0x20, 8), number(0x36, 2), number(0x38, 2)) else {
        return false;
    };
    (0..count).all(|i| number(phoff + i * size, 4).is_some_and(|kind| kind != 3))
}

/// Build a busybox root filesystem in `dir`, as minibox builds its default one: the binary, a
/// symbolic link per applet, /etc/passwd and /etc/group.
pub fn busybox_rootfs(busybox: &Path, dir: &Path) -> Result<()> {
    for sub in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).context("copying busybox")?;
    let list = Command::new(busybox).arg("--list-full").output().context("busybox --list-full")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join(applet);
        if applet != "bin/busybox" && std::fs::symlink_metadata(&link).is_err() {
            symlink("/bin/busybox", &link).with_context(|| format!("linking {applet}"))?;
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n")?;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
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
}

/// `config.json`: `runc spec`'s default, changed where this machine or a fair comparison needs
/// it. Changed: no terminal; `/bin/true`; the shared root filesystem, read-write (as minibox
/// mounts it); no `process.rlimits` (raising RLIMIT_NOFILE's hard limit needs
/// CAP_SYS_RESOURCE, which root lacks on the workshop's machine); no network namespace (minibox
/// makes none); only the mounts minibox makes (/proc, /dev, /dev/pts, /dev/shm, /sys: no
/// /dev/mqueue, no /sys/fs/cgroup); no masked or read-only paths (minibox has neither); memory
/// and pids limits. Kept: the capability set, noNewPrivileges, the device rule.
pub fn oci_config(spec: &Spec) -> String {
    let capabilities = r#"["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]"#;
    let swap = if spec.swap { format!(", \"swap\": {}", spec.memory) } else { String::new() };
    format!(
        r#"{{
  "ociVersion": "1.0.2-dev",
  "process": {{
    "terminal": false,
    "user": {{ "uid": 0, "gid": 0 }},
    "args": ["/bin/true"],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/root",
      {marker}
    ],
    "cwd": "/",
    "capabilities": {{
      "bounding": {capabilities},
      "effective": {capabilities},
      "permitted": {capabilities},
      "ambient": {capabilities}
    }},
    "noNewPrivileges": true
  }},
  "root": {{ "path": {rootfs}, "readonly": false }},
  "hostname": "bench",
  "mounts": [
    {{ "destination": "/proc", "type": "proc", "source": "proc" }},
    {{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
       "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }},
    {{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
       "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] }},
    {{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
       "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }},
    {{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
       "options": ["nosuid", "noexec", "nodev", "ro"] }}
  ],
  "linux": {{
    "cgroupsPath": {cgroups_path},
    "resources": {{
      "devices": [{{ "allow": false, "access": "rwm" }}],
      "memory": {{ "limit": {memory}{swap} }},
      "pids": {{ "limit": {pids} }}
    }},
    "namespaces": [{{ "type": "pid" }}, {{ "type": "ipc" }}, {{ "type": "uts" }}, {{ "type": "mount" }}]
  }}
}}
"#,
        marker = json_string(spec.marker),
        rootfs = json_string(&spec.rootfs.to_string_lossy()),
        cgroups_path = json_string(spec.cgroups_path),
        memory = spec.memory,
        pids = spec.pids,
    )
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An OCI bundle: a directory with `config.json` (the root filesystem is given by absolute path,
/// so every runtime runs the very same directory).
pub fn bundle(dir: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), oci_config(spec)).context("writing config.json")
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
    fn json_strings_are_escaped() {
        assert_eq!(json_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(json_string("x\ny"), r#""x\u000ay""#);
    }

    #[test]
    fn the_config_has_no_network_namespace_and_no_rlimits() {
        let config = oci_config(&Spec {
            rootfs: Path::new("/tmp/rootfs"),
            cgroups_path: "/b/crun",
            memory: 64 << 20,
            swap: true,
            pids: 64,
            marker: "M=1",
        });
        assert!(!config.contains("network"), "{config}");
        assert!(!config.contains("rlimits"), "{config}");
        assert!(config.contains(r#""terminal": false"#), "{config}");
        assert!(config.contains(r#""memory": { "limit": 67108864, "swap": 67108864 }"#), "{config}");
        assert!(config.contains(r#""path": "/tmp/rootfs""#), "{config}");
    }
}
