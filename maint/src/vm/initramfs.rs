//! The guest's initramfs: the host's static busybox, `tools/vm/init` as `/init`, stage 2
//! (`tools/vm/run-tests`) and the kernel modules for virtiofs and overlayfs. Built once per set
//! of inputs and kept in `target/vm/`; a run appends its plan as a second, tiny archive (the
//! kernel unpacks concatenated archives in order).

use super::cpio::Archive;
use super::kernel::Kernel;
use crate::workspace::Workspace;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What the test VM loads: virtiofs (the host's /) and overlayfs (a writable layer over it, and
/// the images chapter), with what they depend on. virtio_pci finds the virtiofs device. The network chapter:
/// veth, the bridge, and nftables' NAT chains, masquerade and fib expressions.
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtiofs",
    "overlay",
    "veth",
    "bridge",
    "nft_chain_nat",
    "nft_nat",
    "nft_masq",
    "nft_fib_ipv4",
];

/// The base initramfs for `kernel`, built unless an identical one is in `cache`.
pub fn build(ws: &Workspace, kernel: &Kernel, cache: &Path) -> Result<PathBuf> {
    // The static busybox the tests use too: the initramfs has no libraries.
    let busybox = read(&fixtures::busybox::locate_static()?)?;
    let init = read(&ws.path("tools/vm/init"))?;
    let stage2 = read(&ws.path("tools/vm/run-tests"))?;
    let modules = kernel.modules_for(MODULES)?;

    let mut hash = Sha256::new();
    for part in [&busybox, &init, &stage2, kernel.release.as_bytes()] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    for (name, _) in &modules {
        hash.update(name.as_bytes());
        hash.update(b"\n");
    }
    let digest: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let path = cache.join(format!("initramfs-{}-{digest}.cpio", kernel.release));
    if path.exists() {
        return Ok(path);
    }

    let mut archive = Archive::new();
    for dir in ["bin", "dev", "proc", "sys", "modules"] {
        archive.dir(dir, 0o755);
    }
    archive.char_device("dev/console", 0o600, 5, 1);
    archive.file("bin/busybox", 0o755, &busybox);
    // The kernel runs /init through its #! line before busybox has installed its applets.
    archive.symlink("bin/sh", "busybox");
    archive.file("init", 0o755, &init);
    archive.file("run-tests", 0o755, &stage2);
    let mut order = String::new();
    for (name, file) in &modules {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        archive.file(&format!("modules/{name}.ko"), 0o644, &bytes);
        order.push_str(name);
        order.push('\n');
    }
    archive.file("modules/order", 0o644, order.as_bytes());

    // Older builds are of no more use.
    for entry in std::fs::read_dir(cache)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("initramfs-") && name.ends_with(".cpio") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, archive.finish()).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// The base initramfs with `plan` appended as `/plan`, written to `into`.
pub fn with_plan(base: &Path, plan: &str, into: &Path) -> Result<()> {
    let mut bytes = std::fs::read(base).with_context(|| format!("reading {}", base.display()))?;
    let mut archive = Archive::new();
    archive.file("plan", 0o644, plan.as_bytes());
    bytes.extend_from_slice(&archive.finish());
    std::fs::write(into, bytes).with_context(|| format!("writing {}", into.display()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
