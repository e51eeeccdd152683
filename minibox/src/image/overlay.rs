//@ begin images
//! Copy-on-write with overlayfs: the image's layers stay read-only and shared, and each
//! container writes into an "upper" directory of its own. Starting a container copies nothing.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
//@ exercise images imports
use nix::mount::{MsFlags, mount};
//@ end images imports

/// An overlay mount: `lower` layers (the top one first), read-only; `upper`, where writes go;
/// `work`, overlayfs's scratch space, on the same filesystem as `upper`.
#[derive(Clone, Debug)]
pub struct Overlay {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

impl Overlay {
    // ANCHOR: options
    /// The mount options: `lowerdir=TOP:...:BOTTOM,upperdir=UPPER,workdir=WORK`.
    pub fn options(&self) -> String {
        //@ exercise images options
        let lower: Vec<String> = self.lower.iter().map(|p| p.display().to_string()).collect();
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        )
        //@ stub
        //| todo!("chapter {chapter}, `options` (`Overlay::options`): the overlay's mount options for these layers and this container's directories; `cargo xtask hint images options` helps (book: Chapter {chapter}, \"Copy-on-write with overlayfs\")")
        //@ end images options
    }
    // ANCHOR_END: options

    // ANCHOR: mount
    /// Mount the overlay on `target`. minibox does this in the container's own mount namespace,
    /// so the host never sees it, and it disappears with the container.
    pub fn mount_on(&self, target: &Path) -> Result<()> {
        //@ exercise images mount_on
        let options = self.options();
        mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
            .with_context(|| format!("mounting the overlay on {} ({options})", target.display()))
        //@ stub
        //| let _ = target;
        //| todo!("chapter {chapter}, `mount_on` (`Overlay::mount_on`): mount the overlay at `target`; `cargo xtask hint images mount_on` helps (book: Chapter {chapter}, \"Copy-on-write with overlayfs\")")
        //@ end images mount_on
    }
    // ANCHOR_END: mount
}

/// A container's own directories under the state directory: `upper`, `work`, and `rootfs` (the
/// empty directory the overlay is mounted on). Created before the container starts; removed,
/// with everything the container wrote, when this is dropped.
///
/// While it lives it holds two locks: a shared one on `containers/`, which `minibox rmi` must take
/// alone before it removes layers (so no image is removed under a running container), and its
/// own directory's, which tells the reclaim of a later minibox that its owner is alive.
pub struct ContainerDirs {
    pub dir: PathBuf,
    _locks: Vec<std::fs::File>,
}

impl ContainerDirs {
    pub fn create(state_dir: &Path, id: &str) -> Result<ContainerDirs> {
        let containers = state_dir.join("containers");
        std::fs::create_dir_all(&containers).with_context(|| format!("creating {}", containers.display()))?;
        let in_use = std::fs::File::open(&containers)?;
        in_use.lock_shared().context("locking the containers directory")?;
        // No reclaim may run until this container's directory is locked (it would take it for
        // an orphan): the state directory orders the two.
        let _creating = crate::cgroups::creation_lock_on(state_dir, false)?;
        let mut dirs = ContainerDirs { dir: containers.join(id), _locks: vec![in_use] };
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dirs.dir.join(sub))
                .with_context(|| format!("creating {}", dirs.dir.join(sub).display()))?;
        }
        let own = crate::cgroups::lock_directory(&dirs.dir)?.with_context(|| {
            format!("{} was taken by another minibox as it was created: try again", dirs.dir.display())
        })?;
        dirs._locks.push(own);
        Ok(dirs)
    }

    /// The overlay of these directories over `layers` (the bottom layer first, as in a manifest).
    pub fn overlay(&self, layers: &[PathBuf]) -> Overlay {
        Overlay {
            lower: layers.iter().rev().cloned().collect(),
            upper: self.dir.join("upper"),
            work: self.dir.join("work"),
        }
    }

    pub fn mount_point(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

impl Drop for ContainerDirs {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("minibox: removing {}: {error}", self.dir.display());
        }
    }
}
//@ end images
