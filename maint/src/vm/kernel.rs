//! The guest kernel: Debian's cloud kernel, fetched as one package with `apt-get download` and
//! unpacked with `dpkg-deb -x` under `target/vm/kernel/`, never installed. Once unpacked it is
//! reused: a second run downloads nothing.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The metapackage that names the current cloud kernel: small (27 MB), and it has what the tests
/// need built in (cgroups, namespaces, seccomp) or as plain `.ko` modules (virtiofs, overlayfs).
/// `MINIBOX_VM_KERNEL_PACKAGE` may name another metapackage or a versioned `linux-image-*`.
pub const METAPACKAGE: &str = "linux-image-cloud-amd64";

/// An unpacked kernel package.
pub struct Kernel {
    /// The versioned package, for example `linux-image-6.1.0-56-cloud-amd64`.
    pub package: String,
    /// Its release, as `uname -r` prints it in the guest.
    pub release: String,
    /// The bootable image.
    pub image: PathBuf,
    /// `lib/modules/RELEASE`.
    pub modules: PathBuf,
}

/// The kernel, downloaded and unpacked on first use.
pub fn fetch(cache: &Path) -> Result<Kernel> {
    let wanted = std::env::var("MINIBOX_VM_KERNEL_PACKAGE").unwrap_or_else(|_| METAPACKAGE.to_string());
    let dir = cache.join("kernel");
    let package = match versioned_package(&wanted) {
        Ok(package) => package,
        Err(error) => {
            // apt's lists may be gone (a fresh container), but a kernel unpacked before still serves.
            match unpacked_packages(&dir).into_iter().last() {
                Some(package) => {
                    println!("vm-test: {error:#}; using the kernel unpacked before, {package}");
                    package
                }
                None => return Err(error),
            }
        }
    };
    let root = dir.join(&package);
    if !root.join(".complete").exists() {
        download(&package, &root)?;
    }
    open(&package, &root)
}

/// The versioned kernel package that `wanted` stands for (itself, if it is one).
fn versioned_package(wanted: &str) -> Result<String> {
    if is_versioned(wanted) {
        return Ok(wanted.to_string());
    }
    let out = Command::new("apt-cache")
        .args(["depends", wanted])
        .output()
        .context("running apt-cache (the VM's kernel comes from Debian's packages)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:").map(str::trim))
        .find(|dep| is_versioned(dep))
        .map(str::to_string)
        .with_context(|| {
            format!(
                "apt-cache does not know which kernel {wanted} stands for (run `apt-get update` first){}",
                String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .lines()
                    .next()
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default()
            )
        })
}

/// `linux-image-6.1.0-56-cloud-amd64`, not `linux-image-cloud-amd64`.
fn is_versioned(package: &str) -> bool {
    package.strip_prefix("linux-image-").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn unpacked_packages(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join(".complete").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

/// `apt-get download` exactly one package, then unpack it into `root`.
fn download(package: &str, root: &Path) -> Result<()> {
    let partial = root.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    println!("vm-test: downloading the guest kernel: apt-get download {package}");
    let status = Command::new("apt-get")
        // As root, apt downloads as the `_apt` user, who cannot write here: stay root, and quiet.
        .args(["-q", "-o", "APT::Sandbox::User=root", "download", package])
        .current_dir(&partial)
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("`apt-get download {package}` failed (is the network or a Debian mirror reachable?)");
    }
    let deb = std::fs::read_dir(&partial)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(partial.join("root"))
        .status()
        .context("running dpkg-deb (from the dpkg package)")?;
    if !status.success() {
        bail!("`dpkg-deb -x {}` failed", deb.display());
    }
    // The .deb is not needed any more: what is kept is what it unpacked to.
    std::fs::remove_file(&deb)?;
    std::fs::write(partial.join(".complete"), format!("{}\n", deb.display()))?;
    let _ = std::fs::remove_dir_all(root);
    std::fs::rename(&partial, root).with_context(|| format!("renaming {}", partial.display()))?;
    Ok(())
}

fn open(package: &str, root: &Path) -> Result<Kernel> {
    let modules_dir = root.join("root/lib/modules");
    let release = std::fs::read_dir(&modules_dir)
        .with_context(|| format!("reading {}", modules_dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .with_context(|| format!("{package} has no lib/modules"))?;
    let image = root.join("root/boot").join(format!("vmlinuz-{release}"));
    if !image.exists() {
        bail!("{package} has no {}", image.display());
    }
    Ok(Kernel { package: package.to_string(), modules: modules_dir.join(&release), release, image })
}

impl Kernel {
    /// The modules to load for `wanted`, dependencies first: each as (name, file). Modules built
    /// into the kernel are left out.
    pub fn modules_for(&self, wanted: &[&str]) -> Result<Vec<(String, PathBuf)>> {
        let mut index = BTreeMap::new();
        index_modules(&self.modules.join("kernel"), &mut index)?;
        let builtin = std::fs::read_to_string(self.modules.join("modules.builtin")).unwrap_or_default();
        let builtin: Vec<String> = builtin
            .lines()
            .filter_map(|l| Path::new(l).file_stem())
            .map(|s| normalize(&s.to_string_lossy()))
            .collect();
        let mut order = Vec::new();
        for name in wanted {
            self.visit(&normalize(name), &index, &builtin, &mut order, 0)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        index: &BTreeMap<String, PathBuf>,
        builtin: &[String],
        order: &mut Vec<(String, PathBuf)>,
        depth: usize,
    ) -> Result<()> {
        if order.iter().any(|(n, _)| n == name) || builtin.iter().any(|b| b == name) {
            return Ok(());
        }
        if depth > 32 {
            bail!("module dependencies of {name} go round in a circle");
        }
        let Some(path) = index.get(name) else { bail!("the kernel {} has no module {name}", self.release) };
        if path.extension().is_none_or(|e| e != "ko") {
            bail!("{} is compressed: busybox insmod loads plain .ko files only", path.display());
        }
        let bytes = std::fs::read(path)?;
        for dependency in depends(&bytes) {
            self.visit(&normalize(&dependency), index, builtin, order, depth + 1)?;
        }
        order.push((name.to_string(), path.clone()));
        Ok(())
    }
}

/// Module names use `_` and `-` interchangeably; the kernel's own spelling is `_`.
fn normalize(name: &str) -> String {
    name.split('.').next().unwrap_or(name).replace('-', "_")
}

fn index_modules(dir: &Path, index: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            index_modules(&path, index)?;
        } else if path.to_string_lossy().contains(".ko") {
            index.insert(normalize(&entry.file_name().to_string_lossy()), path);
        }
    }
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo` section (a run of NUL-terminated `key=value`
/// strings), which is what depmod reads too.
fn depends(module: &[u8]) -> Vec<String> {
    let modinfo = elf_section(module, ".modinfo").unwrap_or_default();
    modinfo
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(b"depends="))
        .map(|value| {
            String::from_utf8_lossy(value).split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
        })
        .unwrap_or_default()
}

/// The bytes of section `name` in a 64-bit little-endian ELF file.
fn elf_section<'a>(elf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let bytes = |at: usize, len: usize| elf.get(at..at.checked_add(len)?);
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes(at, 2)?.try_into().ok()?) as usize);
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes(at, 4)?.try_into().ok()?) as usize);
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes(at, 8)?.try_into().ok()?) as usize);
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return None; // not ELF64 little-endian
    }
    let (table, entry_size, count, names) = (u64_at(0x28)?, u16_at(0x3A)?, u16_at(0x3C)?, u16_at(0x3E)?);
    // Section header `index`: its name's offset, and the section's offset and size.
    let header = |index: usize| -> Option<(usize, usize, usize)> {
        let at = table.checked_add(index.checked_mul(entry_size)?)?;
        Some((u32_at(at)?, u64_at(at.checked_add(0x18)?)?, u64_at(at.checked_add(0x20)?)?))
    };
    let (_, names_offset, names_size) = header(names)?;
    let names = bytes(names_offset, names_size)?;
    (0..count).find_map(|index| {
        let (name_at, offset, size) = header(index)?;
        let this = names.get(name_at..)?.split(|&b| b == 0).next()?;
        if this == name.as_bytes() { bytes(offset, size) } else { None }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_packages_are_told_from_metapackages() {
        assert!(is_versioned("linux-image-6.1.0-56-cloud-amd64"));
        assert!(!is_versioned("linux-image-cloud-amd64"));
        assert!(!is_versioned("linux-headers-6.1.0-56-cloud-amd64"));
    }

    #[test]
    fn module_dependencies_are_read_from_modinfo() {
        assert!(depends(b"not an ELF file").is_empty());
        assert_eq!(normalize("virtio-pci.ko"), "virtio_pci");
        // A real module, when one is at hand (`cargo maint vm-test` unpacks them).
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/vm/kernel");
        for package in unpacked_packages(&cache) {
            let Ok(kernel) = open(&package, &cache.join(&package)) else { continue };
            let order = kernel.modules_for(&["virtiofs"]).unwrap();
            let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names.last(), Some(&"virtiofs"), "{names:?}");
            assert!(names.contains(&"fuse") && names.contains(&"virtio_ring"), "{names:?}");
        }
    }
}
