//@ begin images
//! The images chapter: images. An image is a stack of layers (tar archives of file changes) plus a
//! configuration (the command, environment and working directory to run with), tied together by
//! a manifest. Everything is addressed by its SHA-256 digest.
//!
//! minibox keeps its images as an OCI image layout under the state directory, the same format
//! `skopeo copy ... oci:DIR` and a current `docker save` write:
//!
//! ```text
//! STATE/oci/oci-layout                 {"imageLayoutVersion": "1.0.0"}
//! STATE/oci/index.json                 the images: a manifest descriptor per NAME:TAG
//! STATE/oci/blobs/sha256/<hex>         manifests, configurations and layers, by digest
//! STATE/layers/<hex>/                  each layer unpacked once, shared by every image using it
//! STATE/containers/<id>/               a running container's upper, work and rootfs directories
//! ```

pub mod blob;
pub mod layer;
pub mod overlay;

use anyhow::{Context, Result, bail};
use layer::Whiteouts;
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, Digest, ImageConfiguration, ImageConfigurationBuilder, ImageIndex,
    ImageIndexBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The annotation that names an image in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd and `docker save` add with the image's full name.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The image `minibox run` uses when given none: built locally from busybox-static.
pub const DEFAULT_IMAGE: &str = "busybox:latest";

/// An image's name and tag: `busybox`, `busybox:1.36`, `localhost:5000/team/app:v2`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

impl Reference {
    /// Parse `NAME[:TAG]` by the OCI distribution specification's grammar: a name is
    /// components of lower-case letters and digits, joined by `.`, `_`, `__` or dashes, separated
    /// by `/`; the first may be a registry host with a port. So `../x` and `a/../../evil` are not
    /// names, whatever a later chapter would do with them.
    pub fn parse(text: &str) -> Result<Reference> {
        // A colon after the last slash separates the tag (a colon before it is a registry's port).
        let slash = text.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match text[slash..].rfind(':') {
            Some(colon) => (&text[..slash + colon], &text[slash + colon + 1..]),
            None => (text, "latest"),
        };
        let tag_ok = tag.len() <= 128
            && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_is_valid(name) || !tag_ok {
            bail!(
                "`{}` is not an image name: use NAME[:TAG], NAME being lower-case words of letters and digits joined by \
                 '.', '_' or '-' and separated by '/' (for example busybox:1.36 or localhost:5000/team/app)",
                text.escape_debug()
            );
        }
        Ok(Reference { name: name.to_string(), tag: tag.to_string() })
    }
}

/// A repository name by the OCI distribution grammar (at most 255 characters): `[DOMAIN/]PATH`,
/// each path component `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn name_is_valid(name: &str) -> bool {
    let mut components: Vec<&str> = name.split('/').collect();
    if name.len() > 255 || components.iter().any(|c| c.is_empty()) {
        return false;
    }
    // The first component is a registry host when it looks like one (a dot, a port, localhost).
    let first = components[0];
    if components.len() > 1 && (first.contains(['.', ':']) || first == "localhost") {
        let (host, port) = first.split_once(':').unwrap_or((first, "1"));
        let host_ok = host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !host_ok || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        components.remove(0);
    }
    components.iter().all(|c| path_component_is_valid(c))
}

/// `[a-z0-9]+` runs joined by exactly one `.`, one or two `_`, or any number of `-`.
fn path_component_is_valid(component: &str) -> bool {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut separator = String::new();
    let mut previous_was_word = false;
    for c in component.chars() {
        if word(c) {
            let ok = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.chars().all(|s| s == '-');
            if !ok {
                return false;
            }
            separator.clear();
            previous_was_word = true;
        } else if ".-_".contains(c) && (previous_was_word || !separator.is_empty()) {
            separator.push(c);
            previous_was_word = false;
        } else {
            return false;
        }
    }
    previous_was_word
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// What an image says about how to run it.
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
}

/// An image found in the store, with its layers unpacked.
pub struct Image {
    pub reference: Reference,
    /// The unpacked layer directories, bottom first.
    pub layers: Vec<PathBuf>,
    pub defaults: Defaults,
}

/// minibox's image store, under its state directory.
pub struct Store {
    state_dir: PathBuf,
}

impl Store {
    pub fn open(state_dir: &Path) -> Result<Store> {
        crate::state::prepare_state_dir(state_dir)?;
        let store = Store { state_dir: state_dir.to_path_buf() };
        let oci = store.oci();
        std::fs::create_dir_all(oci.join("blobs/sha256"))
            .with_context(|| format!("creating {}", oci.display()))?;
        std::fs::create_dir_all(store.layers_dir())?;
        if !oci.join("oci-layout").exists() {
            std::fs::write(oci.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}\n")?;
        }
        let _locked = store.lock_index()?;
        if !oci.join("index.json").exists() {
            store
                .save_index(&ImageIndexBuilder::default().schema_version(2u32).manifests(vec![]).build()?)?;
        }
        Ok(store)
    }

    /// Wait for, and hold until dropped, the lock that makes each change to `index.json` (read,
    /// change, write) whole: two imports at once would otherwise each lose the other's tag.
    fn lock_index(&self) -> Result<std::fs::File> {
        let path = self.oci().join("index.json.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock().context("locking the image index")?;
        Ok(file)
    }

    fn oci(&self) -> PathBuf {
        self.state_dir.join("oci")
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.state_dir.join("layers")
    }

    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf> {
        Ok(self.oci().join("blobs/sha256").join(blob::check_sha256(digest)?))
    }

    fn index(&self) -> Result<ImageIndex> {
        ImageIndex::from_file(self.oci().join("index.json")).context("reading the image index")
    }

    fn save_index(&self, index: &ImageIndex) -> Result<()> {
        // Write aside and rename: a reader never sees half an index.
        let path = self.oci().join("index.json");
        let temporary = self.oci().join(format!(".index.json.{}", std::process::id()));
        index.to_file_pretty(&temporary).context("writing the image index")?;
        std::fs::rename(&temporary, &path).context("replacing the image index")?;
        Ok(())
    }

    /// Store `bytes` as a blob; return its descriptor. Written aside and renamed into place: two
    /// minibox storing the same blob at once (the default image, built by the first runs on a
    /// new machine) must never let a reader see it truncated by the other's write.
    pub fn put_bytes(&self, media_type: MediaType, bytes: &[u8]) -> Result<Descriptor> {
        let digest = blob::sha256_of(bytes);
        let target = self.blob_path(&digest)?;
        if !std::fs::metadata(&target).is_ok_and(|stored| stored.len() == bytes.len() as u64) {
            let temporary = target.with_file_name(format!(".put-{}", std::process::id()));
            let written =
                std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, &target));
            if let Err(error) = written {
                let _ = std::fs::remove_file(&temporary);
                return Err(error).context("storing a blob");
            }
        }
        Ok(Descriptor::new(media_type, bytes.len() as u64, digest))
    }

    /// Copy a blob from another layout into the store, and check that what was copied is what
    /// its descriptor says. The copy, in the store's private directory, is what gets checked
    /// and kept: a source changed after the check cannot slip in, and the source is read once.
    fn put_verified(&self, source: &Path, descriptor: &Descriptor) -> Result<PathBuf> {
        let target = self.blob_path(descriptor.digest())?;
        if let Ok(stored) = std::fs::metadata(&target) {
            // Named by its digest, and checked when it came in; only the size is the descriptor's.
            if stored.len() != descriptor.size() {
                bail!(
                    "blob {} does not match its digest: it has {} bytes, the descriptor says {}",
                    descriptor.digest(),
                    stored.len(),
                    descriptor.size()
                );
            }
            return Ok(target);
        }
        let temporary = target.with_file_name(format!(".partial-{}", std::process::id()));
        let copied = std::fs::copy(source, &temporary)
            .with_context(|| format!("blob {} is missing ({})", descriptor.digest(), source.display()))
            .and_then(|_| blob::verify(&temporary, descriptor.digest(), descriptor.size()))
            .and_then(|()| std::fs::rename(&temporary, &target).context("moving a blob into place"));
        if let Err(error) = copied {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
        Ok(target)
    }

    /// The images in the store, by name.
    pub fn list(&self) -> Result<Vec<(Reference, Descriptor)>> {
        let mut images = Vec::new();
        for descriptor in self.index()?.manifests() {
            let name = descriptor.annotations().as_ref().and_then(|a| a.get(REF_NAME));
            if let Some(reference) = name.and_then(|n| Reference::parse(n).ok()) {
                images.push((reference, descriptor.clone()));
            }
        }
        images.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(images)
    }

    /// Each image's name, id (the start of its configuration's digest) and size (its layers).
    pub fn summary(&self) -> Result<Vec<(Reference, String, u64)>> {
        let mut rows = Vec::new();
        for (reference, descriptor) in self.list()? {
            let manifest = ImageManifest::from_file(self.blob_path(descriptor.digest())?)?;
            let id = manifest.config().digest().digest().chars().take(12).collect();
            rows.push((reference, id, manifest.layers().iter().map(|l| l.size()).sum()));
        }
        Ok(rows)
    }

    /// Record `manifest` under `reference`, replacing what the name pointed to before.
    pub fn tag(&self, reference: &Reference, manifest: &Descriptor) -> Result<()> {
        let _locked = self.lock_index()?;
        let mut index = self.index()?;
        let name = reference.to_string();
        let mut manifests = without_name(index.manifests(), &name);
        let mut descriptor = manifest.clone();
        descriptor.set_annotations(Some(HashMap::from([(REF_NAME.to_string(), name)])));
        manifests.push(descriptor);
        index.set_manifests(manifests);
        self.save_index(&index)
    }

    /// Find an image by name, and make sure its layers are unpacked.
    pub fn find(&self, reference: &Reference) -> Result<Option<Image>> {
        let Some((_, descriptor)) = self.list()?.into_iter().find(|(r, _)| r == reference) else {
            return Ok(None);
        };
        let manifest = ImageManifest::from_file(self.blob_path(descriptor.digest())?)
            .with_context(|| format!("reading the manifest of {reference}"))?;
        let config = ImageConfiguration::from_file(self.blob_path(manifest.config().digest())?)
            .with_context(|| format!("reading the configuration of {reference}"))?;
        let mut layers = Vec::new();
        for layer in manifest.layers() {
            let (dir, _) = layer::unpack_once(
                &self.blob_path(layer.digest())?,
                layer.media_type(),
                layer.digest(),
                &self.layers_dir(),
            )?;
            layers.push(dir);
        }
        let defaults = config
            .config()
            .as_ref()
            .map(|c| Defaults {
                entrypoint: c.entrypoint().clone().unwrap_or_default(),
                cmd: c.cmd().clone().unwrap_or_default(),
                env: c.env().clone().unwrap_or_default(),
                working_dir: c.working_dir().clone().filter(|w| !w.is_empty()),
            })
            .unwrap_or_default();
        Ok(Some(Image { reference: reference.clone(), layers, defaults }))
    }

    /// Bring in an image from another OCI layout: check every blob, copy it in, unpack the
    /// layers (each once), and name the image.
    fn add_from_layout(
        &self,
        layout: &Path,
        manifest_descriptor: &Descriptor,
        reference: &Reference,
    ) -> Result<()> {
        let source_blob = |d: &Descriptor| -> Result<PathBuf> {
            Ok(layout.join("blobs").join(d.digest().algorithm().to_string()).join(d.digest().digest()))
        };
        let manifest_path = self.put_verified(&source_blob(manifest_descriptor)?, manifest_descriptor)?;
        let manifest = ImageManifest::from_file(&manifest_path).context("reading the manifest")?;
        let config_path = self.put_verified(&source_blob(manifest.config())?, manifest.config())?;
        let config =
            ImageConfiguration::from_file(&config_path).context("reading the image configuration")?;
        for layer in manifest.layers() {
            self.put_verified(&source_blob(layer)?, layer)?;
        }
        self.unpack_and_check(&manifest, &config)?;
        self.tag(reference, manifest_descriptor)?;
        Ok(())
    }
    //@ begin registry

    /// The manifest `reference` names in the store, if any.
    pub fn tagged(&self, reference: &Reference) -> Result<Option<Descriptor>> {
        Ok(self.list()?.into_iter().find(|(r, _)| r == reference).map(|(_, d)| d))
    }

    /// Move a blob whose digest was checked as it arrived (`minibox pull`) into the store.
    pub fn put_checked(&self, checked: &Path, descriptor: &Descriptor) -> Result<PathBuf> {
        let target = self.blob_path(descriptor.digest())?;
        std::fs::rename(checked, &target).context("moving a blob into place")?;
        Ok(target)
    }

    /// Store a manifest's bytes, which must be the blob `descriptor` names.
    pub fn put_manifest(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<()> {
        let stored = self.put_bytes(descriptor.media_type().clone(), bytes)?;
        if stored.digest() != descriptor.digest() {
            bail!("manifest {} does not match its digest ({})", descriptor.digest(), stored.digest());
        }
        Ok(())
    }

    /// Finish an image whose blobs are all in the store: unpack and check its layers, then name
    /// it, as `image load` does.
    pub fn complete(&self, manifest_descriptor: &Descriptor, reference: &Reference) -> Result<()> {
        let manifest = ImageManifest::from_file(self.blob_path(manifest_descriptor.digest())?)
            .context("reading the manifest")?;
        let config = ImageConfiguration::from_file(self.blob_path(manifest.config().digest())?)
            .context("reading the image configuration")?;
        self.unpack_and_check(&manifest, &config)?;
        self.tag(reference, manifest_descriptor)
    }
    //@ end registry
    //@ begin build

    /// The state directory this store lives in.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
    //@ end build

    /// Unpack every layer (once), and check that the uncompressed layers are the ones the
    /// configuration names (its `rootfs.diff_ids`).
    fn unpack_and_check(&self, manifest: &ImageManifest, config: &ImageConfiguration) -> Result<()> {
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            bail!(
                "the image configuration lists {} layers, the manifest {}",
                diff_ids.len(),
                manifest.layers().len()
            );
        }
        for (layer, expected) in manifest.layers().iter().zip(diff_ids) {
            let blob = self.blob_path(layer.digest())?;
            let (dir, unpacked_now) =
                layer::unpack_once(&blob, layer.media_type(), layer.digest(), &self.layers_dir())?;
            // A layer unpacked before (for another image) is checked against this configuration too.
            let fresh = unpacked_now.is_some();
            let diff_id = match unpacked_now {
                Some(diff_id) => diff_id,
                None => layer::diff_id_of(&blob, layer.media_type())?,
            };
            if diff_id.to_string() != *expected {
                if fresh {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                bail!(
                    "layer {}: its content is {diff_id}, but the configuration expects {expected}",
                    layer.digest()
                );
            }
        }
        Ok(())
    }

    /// `minibox rmi`: forget a name; then remove blobs and layers no image uses any more.
    ///
    /// Every running container holds a shared lock on `containers/` (see `ContainerDirs`); `rmi`
    /// takes it exclusively, without waiting, for the whole removal: no container can start
    /// from a layer that is being removed, and none can be running when `rmi` is refused late.
    pub fn remove(&self, reference: &Reference) -> Result<()> {
        let containers = self.state_dir.join("containers");
        std::fs::create_dir_all(&containers)?;
        let no_container = std::fs::File::open(&containers)?;
        if no_container.try_lock().is_err() {
            bail!("containers are running from this store: remove images when they have ended");
        }
        let _locked = self.lock_index()?;
        let mut index = self.index()?;
        let before = index.manifests().len();
        index.set_manifests(without_name(index.manifests(), &reference.to_string()));
        if index.manifests().len() == before {
            bail!("no image named {reference} (see `minibox images`)");
        }
        self.save_index(&index)?;
        self.collect_garbage()
    }

    fn collect_garbage(&self) -> Result<()> {
        let mut keep = BTreeSet::new();
        for descriptor in self.index()?.manifests() {
            keep.insert(descriptor.digest().digest().to_string());
            let manifest = ImageManifest::from_file(self.blob_path(descriptor.digest())?)?;
            keep.insert(manifest.config().digest().digest().to_string());
            keep.extend(manifest.layers().iter().map(|l| l.digest().digest().to_string()));
        }
        for dir in [self.oci().join("blobs/sha256"), self.layers_dir()] {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) && !name.starts_with('.') {
                    if entry.file_type()?.is_dir() {
                        std::fs::remove_dir_all(entry.path())
                    } else {
                        std::fs::remove_file(entry.path())
                    }?;
                }
            }
        }
        Ok(())
    }
}

/// The index's manifests, but the one named `name`.
fn without_name(manifests: &[Descriptor], name: &str) -> Vec<Descriptor> {
    manifests
        .iter()
        .filter(|d| d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).map(String::as_str) != Some(name))
        .cloned()
        .collect()
}

/// The architecture name the OCI specifications use for this machine.
pub fn this_arch() -> Arch {
    match std::env::consts::ARCH {
        "aarch64" => Arch::ARM64,
        "x86_64" => Arch::Amd64,
        other => Arch::Other(other.to_string()),
    }
}

/// `minibox image import ROOTFS.tar NAME[:TAG]`: a root filesystem archive becomes a one-layer
/// image, with `cmd` as its command. Returns the layer's size.
pub fn import(store: &Store, archive: &Path, reference: &Reference, cmd: Vec<String>) -> Result<u64> {
    let file = std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let temporary = store.oci().join(format!("blobs/sha256/.import-{}", std::process::id()));
    let copied = blob::copy_hashing(file, std::fs::File::create(&temporary)?);
    let (digest, size) = match copied {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(error).with_context(|| format!("reading {}", archive.display()));
        }
    };
    let mut magic = [0u8; 2];
    let gzip = std::fs::File::open(&temporary)?.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    if let Err(error) = layer::check_tar_start(&temporary, gzip) {
        let _ = std::fs::remove_file(&temporary);
        return Err(error.context(format!("{} is not a root filesystem archive", archive.display())));
    }
    std::fs::rename(&temporary, store.blob_path(&digest)?)?;
    let media_type = if gzip { MediaType::ImageLayerGzip } else { MediaType::ImageLayer };
    let (_, diff_id) =
        layer::unpack_once(&store.blob_path(&digest)?, &media_type, &digest, &store.layers_dir())?;
    let diff_id = match diff_id {
        Some(diff_id) => diff_id,
        None if !gzip => digest.clone(), // already unpacked: for a plain tar the two digests agree
        None => {
            let blob = std::fs::File::open(store.blob_path(&digest)?)?;
            blob::copy_hashing(flate2::read::GzDecoder::new(blob), std::io::sink())?.0
        }
    };
    let config = ImageConfigurationBuilder::default()
        .architecture(this_arch())
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .env(vec![format!("PATH={}", crate::process::DEFAULT_PATH)])
                .cmd(cmd)
                .build()?,
        )
        .rootfs(RootFsBuilder::default().typ("layers").diff_ids(vec![diff_id.to_string()]).build()?)
        .build()?;
    let config = store.put_bytes(MediaType::ImageConfig, config.to_string()?.as_bytes())?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![Descriptor::new(media_type, size, digest)])
        .build()?;
    let manifest = store.put_bytes(MediaType::ImageManifest, manifest.to_string()?.as_bytes())?;
    store.tag(reference, &manifest)?;
    Ok(size)
}

/// `minibox image load DIR-or-TAR`: load the images of an OCI image layout, as
/// `skopeo copy ... oci:DIR:TAG` or `docker save` (Docker 25 and later) write them.
pub fn load(store: &Store, source: &Path, name: Option<&Reference>) -> Result<Vec<Reference>> {
    let unpacked_archive;
    let layout = if source.is_dir() {
        source.to_path_buf()
    } else {
        // An archive from strangers: unpack it as carefully as a layer, into the store's own
        // scratch space, and remove it afterwards.
        let scratch = store.state_dir.join(format!("tmp/load-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        unpacked_archive = ScratchDir(scratch.clone());
        layer::check_tar_start(source, false).with_context(|| {
            format!("{} is neither an OCI image layout nor an archive of one", source.display())
        })?;
        let file = std::fs::File::open(source).with_context(|| format!("opening {}", source.display()))?;
        layer::unpack_tar(file, &scratch, Whiteouts::Keep)
            .with_context(|| format!("unpacking {}", source.display()))?;
        unpacked_archive.0.clone()
    };
    if !layout.join("oci-layout").exists() || !layout.join("index.json").exists() {
        bail!(
            "{} is not an OCI image layout (no oci-layout or index.json): give a directory from `skopeo copy ... oci:DIR` \
             or a tar from `docker save`",
            source.display()
        );
    }
    let index = ImageIndex::from_file(layout.join("index.json")).context("reading index.json")?;
    let mut loaded = Vec::new();
    for descriptor in index.manifests() {
        let manifest = pick_manifest(&layout, descriptor)?;
        let reference = match name {
            Some(name) => name.clone(),
            None => reference_of(descriptor).with_context(|| {
                format!(
                    "the image {} has no name in the layout: give one with --tag NAME[:TAG]",
                    descriptor.digest()
                )
            })?,
        };
        store.add_from_layout(&layout, &manifest, &reference)?;
        loaded.push(reference);
    }
    if loaded.is_empty() {
        bail!("{} holds no images", source.display());
    }
    Ok(loaded)
}

/// Removes a scratch directory when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A descriptor's image name: the full name containerd and `docker save` record, or the
/// `ref.name` annotation (skopeo records the tag alone there).
fn reference_of(descriptor: &Descriptor) -> Option<Reference> {
    let annotations = descriptor.annotations().as_ref()?;
    if let Some(full) = annotations.get(CONTAINERD_NAME) {
        let short = full.trim_start_matches("docker.io/library/").trim_start_matches("docker.io/");
        return Reference::parse(short).ok();
    }
    let name = annotations.get(REF_NAME)?;
    if name.contains(':') { Reference::parse(name).ok() } else { None }
}

/// A descriptor points at a manifest, or at an index of manifests for several platforms: then
/// pick the one for this machine.
fn pick_manifest(layout: &Path, descriptor: &Descriptor) -> Result<Descriptor> {
    if *descriptor.media_type() != MediaType::ImageIndex {
        return Ok(descriptor.clone());
    }
    let path = layout.join("blobs/sha256").join(blob::check_sha256(descriptor.digest())?);
    blob::verify(&path, descriptor.digest(), descriptor.size())?;
    let nested = ImageIndex::from_file(&path)?;
    nested
        .manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_none_or(|p| *p.os() == Os::Linux && *p.architecture() == this_arch())
        })
        .cloned()
        .with_context(|| {
            format!("the image {} has no manifest for linux/{}", descriptor.digest(), this_arch())
        })
}

/// The image `minibox run` uses: the one named, or the default busybox image, which is built
/// from the host's busybox-static the first time it is needed.
pub fn find_for_run(state_dir: &Path, name: Option<&str>) -> Result<Image> {
    let store = Store::open(state_dir)?;
    let reference = Reference::parse(name.unwrap_or(DEFAULT_IMAGE))?;
    if let Some(image) = store.find(&reference)? {
        return Ok(image);
    }
    if reference.to_string() != DEFAULT_IMAGE {
        bail!(
            "no image named {reference}: load one with `minibox image load` or `minibox image import` (see `minibox images`)"
        );
    }
    build_default_image(&store, &reference)?;
    store.find(&reference)?.context("the default image vanished as it was built")
}

/// Build `busybox:latest`: the rootfs chapter's busybox root filesystem, archived as one layer.
fn build_default_image(store: &Store, reference: &Reference) -> Result<()> {
    let rootfs = crate::state::default_busybox_rootfs(&store.state_dir)?;
    let scratch = ScratchDir(store.state_dir.join(format!("tmp/busybox-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let archive = scratch.0.join("rootfs.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive)?);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", &rootfs).context("archiving the busybox root filesystem")?;
    builder.into_inner()?.sync_all()?;
    import(store, &archive, reference, vec!["sh".to_string()])?;
    crate::step!("built the default image {reference} from the host's busybox-static");
    Ok(())
}

// ANCHOR: reclaim
/// The images chapter's leftovers of a killed minibox: container directories whose owner is gone (a live
/// minibox holds a lock on its own), and temporary entries of unpacks, imports and loads whose
/// maker is gone. Returns how many went.
pub fn reclaim(state_dir: &Path) -> Result<usize> {
    use crate::state::sweep;
    let mut removed = 0;
    // A minibox creating its container directory holds this shared: reclaim another time.
    let reclaiming = crate::cgroups::creation_lock_on(state_dir, true)?;
    if let (Some(_held), Ok(entries)) = (&reclaiming, std::fs::read_dir(state_dir.join("containers"))) {
        for entry in entries.flatten() {
            if let Some(_lock) = crate::cgroups::lock_directory(&entry.path())? {
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
                removed += 1;
            }
        }
    }
    let oci = state_dir.join("oci");
    removed += sweep(&state_dir.join("layers"), ".unpacking-")?;
    removed += sweep(&state_dir.join("tmp"), "")?;
    removed += sweep(&oci.join("blobs/sha256"), ".")?;
    removed += sweep(&oci, ".index.json.")?;
    Ok(removed)
}
// ANCHOR_END: reclaim

/// The table of `minibox images` (local, or from a daemon's answer): name, tag, id and size, one
/// image a line. A reader that stops early (`minibox images | head`) closes the pipe: that ends
/// the listing, and is no error.
pub fn print_list(rows: &[(String, String, String, u64)]) -> Result<i32> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = (|| {
        writeln!(out, "{:<40} {:<12} {:<14} SIZE", "NAME", "TAG", "IMAGE ID")?;
        for (name, tag, id, size) in rows {
            let size = crate::cgroups::human_size(*size);
            writeln!(out, "{name:<40} {tag:<12} {id:<14} {size}")?;
        }
        out.flush()
    })();
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.map(|()| 0).map_err(|error| anyhow::anyhow!("writing the list of images: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_distribution_grammar() {
        for good in
            ["busybox", "busybox:1.36", "a__b/c-d--e.f:v_2", "localhost:5000/team/app:v2", "ghcr.io/x/y"]
        {
            assert!(Reference::parse(good).is_ok(), "{good} should be accepted");
        }
        for bad in [
            "../x",
            "a/../../evil",
            "a//b",
            "/x",
            "x/",
            "Busybox",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "x:",
            "x:.t",
            "a:b:c:d",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(Reference::parse("localhost:5000/app").unwrap().tag, "latest");
    }

    #[test]
    fn a_refused_name_is_shown_escaped() {
        let error = Reference::parse("x\u{1b}[31m").unwrap_err().to_string();
        assert!(!error.contains('\u{1b}'), "{error}");
    }
}
//@ end images
