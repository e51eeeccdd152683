//@ begin rootfs
//! Where minibox keeps its state (`--root`): the directory itself, made private; the sweep of
//! what a killed minibox left there; and the default busybox root filesystem built in it. The
//! command line, the container, the images, the registry and the daemon all use it, so it sits
//! below them and imports none of them.

use anyhow::{Context, Result, bail};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Where minibox keeps its state: the default root filesystem, and from the images chapter the images.
#[derive(clap::Args, Debug)]
pub struct StateDir {
    /// Where minibox keeps its state.
    //@ until rootless
    //| #[arg(long = "root", env = "MINIBOX_ROOT", default_value = "/var/lib/minibox", value_name = "DIR")]
    //@ end rootless
    //@ begin rootless
    // The default for an ordinary user is theirs: ~/.local/share/minibox (the rootless chapter).
    #[arg(long = "root", env = "MINIBOX_ROOT", default_value_os_t = crate::rootless::default_state_dir(), value_name = "DIR")]
    //@ end rootless
    pub dir: PathBuf,
}

// ANCHOR: prepare_state_dir
/// Create minibox's state directory private to its owner (0700), or make an existing one so. It
/// holds images from strangers (a setuid-root program in a layer would be runnable by every host
/// user who can reach it) and the containers' writable layers (where container root can leave
/// one): no other host user may even look inside.
pub fn prepare_state_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("the state directory {}", dir.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making the state directory {} private", dir.display()))?;
        eprintln!(
            "minibox: the state directory {} was open to other users (mode {mode:o}): it is now private (700)",
            dir.display()
        );
    }
    Ok(())
}
// ANCHOR_END: prepare_state_dir

/// Is the process that made a temporary entry gone? Temporary entries end with `-PID` (or
/// `.PID`): `rootfs/.busybox-1234`. A PID that is alive keeps its entry, even if the number was
/// reused: a leftover then waits for a later sweep, which is safe; removing a live one is not.
pub fn maker_is_gone(name: &str) -> bool {
    let Some(pid) = name.rsplit(['-', '.']).next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
}

/// Remove the entries of `dir` whose name starts with `prefix` and whose maker is gone. Returns
/// how many went.
pub fn sweep(dir: &Path, prefix: &str) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && maker_is_gone(&name) {
            let path = entry.path();
            if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
                .with_context(|| format!("removing {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The rootfs chapter's leftovers: a default root filesystem whose building was interrupted.
pub fn reclaim(state_dir: &Path) -> Result<usize> {
    sweep(&state_dir.join("rootfs"), ".busybox-")
}

/// Where minibox looks for a static busybox: `MINIBOX_BUSYBOX`, then the `busybox-static`
/// package's places.
pub fn find_static_busybox() -> Result<PathBuf> {
    let candidates = std::env::var_os("MINIBOX_BUSYBOX")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/bin/busybox", "/usr/bin/busybox"].map(PathBuf::from));
    for path in candidates {
        if let Ok(bytes) = std::fs::read(&path) {
            if is_static_elf(&bytes) {
                return Ok(path);
            }
            bail!(
                "{} is dynamically linked, so it cannot run inside a bare root filesystem: install busybox-static \
                 (apt install busybox-static), or pass --rootfs DIR",
                path.display()
            );
        }
    }
    bail!(
        "no busybox found for the default root filesystem: install busybox-static (apt install busybox-static), or pass --rootfs DIR"
    )
}

/// Is this an ELF executable with no program interpreter, that is, statically linked?
pub fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read = |at: usize, len: usize| bytes.get(at..at + len);
    let (Some(magic), Some(class)) = (read(0, 4), bytes.get(4)) else { return false };
    if magic != b"\x7fELF" || *class != 2 {
        return false; // not a 64-bit ELF file
    }
    let u16_at = |at| read(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |at| read(at, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize);
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..phnum).all(|i| {
        read(phoff + i * phentsize, 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// Build a busybox root filesystem in `dir`: the static binary, a symbolic link per applet, and
/// the few files programs expect.
pub fn build_busybox_rootfs(busybox: &Path, dir: &Path) -> Result<()> {
    for sub in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).context("copying busybox")?;
    let list =
        std::process::Command::new(busybox).arg("--list-full").output().context("busybox --list-full")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join(applet);
        if applet != "bin/busybox" && !link.exists() {
            symlink("/bin/busybox", &link).with_context(|| format!("linking {applet}"))?;
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// The busybox root built on first use under the state directory: `minibox run`'s root when
/// given none, and from the images chapter the content of the default image.
pub fn default_busybox_rootfs(state_dir: &Path) -> Result<PathBuf> {
    let dir = state_dir.join("rootfs/busybox");
    if dir.join("bin/busybox").exists() {
        return Ok(dir);
    }
    let busybox = find_static_busybox()?;
    // Build aside and rename into place, so that a failure (or a second minibox racing this
    // one) never leaves a half-built root behind.
    let building = state_dir.join(format!("rootfs/.busybox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let built = build_busybox_rootfs(&busybox, &building);
    if let Err(error) = built.and_then(|()| std::fs::rename(&building, &dir).map_err(Into::into)) {
        let _ = std::fs::remove_dir_all(&building);
        if !dir.join("bin/busybox").exists() {
            return Err(error).context(format!("building the default root filesystem in {}", dir.display()));
        }
    }
    crate::step!("built the default busybox root filesystem in {}", dir.display());
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(with_interp: bool) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x40 + 2 * 56];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        bytes[0x40..0x44].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        let second = if with_interp { 3u32 } else { 1 };
        bytes[0x40 + 56..0x40 + 60].copy_from_slice(&second.to_le_bytes());
        bytes
    }

    #[test]
    fn static_and_dynamic_programs_are_told_apart() {
        assert!(is_static_elf(&elf(false)));
        assert!(!is_static_elf(&elf(true)));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&elf(false)[..0x30]));
    }

    #[test]
    fn a_temporary_entry_belongs_to_its_maker_while_it_lives() {
        assert!(!maker_is_gone(&format!(".busybox-{}", std::process::id())));
        assert!(maker_is_gone(".unpacking-abc-2147483646"));
        assert!(!maker_is_gone("no-pid-here"));
    }
}
//@ end rootfs
