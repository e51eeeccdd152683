//@ begin registry
//! `minibox pull`: tag to digest to manifest to layers. Every byte is checked against the digest
//! that names it before the store keeps it, so whatever served the bytes (a registry, a mirror, a
//! cache, a proxy) is never trusted.

use super::auth;
use super::client::{Client, Payload, Response, read_small, unexpected};
use super::reference::{RemoteReference, Target};
use crate::image::{Store, blob};
use anyhow::{Context, Result, bail};
use oci_spec::image::{Arch, Descriptor, Digest, ImageIndex, ImageManifest, MediaType, Os};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The manifest types minibox reads, most wanted first: OCI's and Docker's (schema 2), each
/// as an index of platforms or as one platform's manifest.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// How many blobs are fetched at once.
const PARALLEL_FETCHES: usize = 4;

/// What a pull brought.
pub struct Pulled {
    pub local_name: crate::image::Reference,
    pub manifest: Digest,
    /// Bytes fetched over the network (0 when everything was here already).
    pub fetched: u64,
}

/// Pull `remote` into the store.
pub fn pull(store: &Store, state_dir: &Path, remote: &RemoteReference, insecure: bool) -> Result<Pulled> {
    let credentials = auth::load_credentials(state_dir, &remote.registry)?;
    let client = Client::new(remote, insecure, credentials, "pull")?;
    let local_name = remote.local_name()?;
    let expected = match &remote.target {
        Target::Digest(digest) => Some(digest),
        Target::Tag(_) => None,
    };
    let (mut media_type, mut bytes, mut digest) = fetch_manifest(&client, &remote.tag_or_digest(), expected)?;
    if is_index(&media_type) {
        let index: ImageIndex = serde_json::from_slice(&bytes).context("reading the image index")?;
        let chosen = choose_manifest(&index, &crate::image::this_arch())?;
        crate::step!("{remote}: the index names {} for this platform", chosen.digest());
        digest = chosen.digest().clone();
        media_type = chosen.media_type().to_string();
        // A manifest is named by its digest: one already in the store needs no request.
        bytes = match std::fs::read(store.blob_path(&digest)?) {
            Ok(stored) => stored,
            Err(_) => fetch_manifest(&client, digest.as_ref(), Some(&digest))?.1,
        };
    }
    let manifest: ImageManifest = serde_json::from_slice(&bytes).context("reading the image manifest")?;
    let descriptor =
        Descriptor::new(MediaType::from(media_type.as_str()), bytes.len() as u64, digest.clone());
    if store.tagged(&local_name)?.is_some_and(|d| *d.digest() == digest) {
        return Ok(Pulled { local_name, manifest: digest, fetched: 0 });
    }
    let mut wanted = vec![manifest.config().clone()];
    wanted.extend(manifest.layers().iter().cloned());
    let fetched = fetch_blobs(&client, store, state_dir, wanted, &local_name.to_string())?;
    store.put_manifest(&descriptor, &bytes)?;
    store.complete(&descriptor, &local_name)?;
    Ok(Pulled { local_name, manifest: digest, fetched })
}

/// `GET /v2/REPOSITORY/manifests/REFERENCE`, accepting every type minibox reads. Returns the
/// media type, the bytes and their digest, checked against `expected` (or against the
/// registry's `Docker-Content-Digest` when fetching by tag).
fn fetch_manifest(
    client: &Client,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<(String, Vec<u8>, Digest)> {
    let accept = MANIFEST_TYPES.join(", ");
    let url = client.url(&format!("manifests/{reference}"));
    let response = client.send("GET", &url, &[("Accept", &accept)], Payload::Nothing)?;
    if response.status() == 404 {
        return Err(unexpected(&format!("no manifest {reference} in this repository"), response));
    }
    if response.status() != 200 {
        return Err(unexpected(&format!("fetching the manifest {reference}"), response));
    }
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let media_type = header("content-type").unwrap_or_default();
    let media_type = media_type.split(';').next().unwrap_or_default().trim().to_string();
    let claimed = header("docker-content-digest");
    let bytes = read_small(response)?;
    let digest = blob::sha256_of(&bytes);
    let expected = expected.map(|d| d.to_string()).or(claimed);
    if let Some(expected) = expected
        && expected != digest.to_string()
    {
        bail!(
            "the manifest {reference} hashes to {digest}, not {expected}: refused (corrupt or tampered with)"
        );
    }
    if !MANIFEST_TYPES.contains(&media_type.as_str()) {
        bail!("the manifest {reference} is of type `{media_type}`, which minibox does not read");
    }
    Ok((media_type, bytes, digest))
}

fn is_index(media_type: &str) -> bool {
    media_type == MANIFEST_TYPES[0] || media_type == MANIFEST_TYPES[2]
}

// ANCHOR: choose
/// The manifest an index lists for Linux on `arch`. On arm64 the variant, when given, must be
/// `v8`. Entries for other systems, architectures or none at all (Docker Hub lists build
/// attestations as `unknown/unknown`) are not this machine's.
pub fn choose_manifest(index: &ImageIndex, arch: &Arch) -> Result<Descriptor> {
    //@ exercise registry platform
    let fits = |descriptor: &&Descriptor| {
        descriptor.platform().as_ref().is_some_and(|p| {
            *p.os() == Os::Linux
                && p.architecture() == arch
                && (*arch != Arch::ARM64 || p.variant().as_deref().is_none_or(|v| v == "v8"))
        })
    };
    match index.manifests().iter().find(fits) {
        Some(descriptor) => Ok(descriptor.clone()),
        None => Err(no_manifest_for(index, arch)),
    }
    //@ stub
    //| let _ = (index, arch, Os::Linux, no_manifest_for);
    //| todo!("chapter {chapter}, `platform`: find the manifest an index lists for Linux on this machine's architecture; `cargo xtask hint registry platform` helps (book: Chapter {chapter}, \"One name, many platforms\")")
    //@ end registry platform
}
// ANCHOR_END: choose

/// The error for an index without this machine's platform: what it does offer.
fn no_manifest_for(index: &ImageIndex, arch: &Arch) -> anyhow::Error {
    let offered: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref().map(|p| format!("{}/{}", p.os(), p.architecture())))
        .collect();
    anyhow::anyhow!("the image has no manifest for linux/{arch} (it has: {})", offered.join(", "))
}

/// Fetch the blobs the store lacks, a few at a time; return how many bytes came. A failure
/// leaves the blobs already checked in the store and the one under way in `downloads/`, so a
/// second pull starts where this one stopped.
fn fetch_blobs(
    client: &Client,
    store: &Store,
    state_dir: &Path,
    wanted: Vec<Descriptor>,
    name: &str,
) -> Result<u64> {
    let mut missing = Vec::new();
    for descriptor in wanted {
        if !store.blob_path(descriptor.digest())?.exists() && !missing.contains(&descriptor) {
            missing.push(descriptor);
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let downloads = downloads_dir(state_dir);
    std::fs::create_dir_all(&downloads).with_context(|| format!("creating {}", downloads.display()))?;
    let progress = Progress::new(name, missing.iter().map(|d| d.size()).sum(), missing.len());
    let queue = Mutex::new(missing);
    let errors = Mutex::new(Vec::new());
    let workers = PARALLEL_FETCHES.min(queue.lock().expect("unpoisoned").len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some(descriptor) = queue.lock().expect("unpoisoned").pop() else { break };
                    let fetched = fetch_blob(client, store, &downloads, &descriptor, &progress);
                    progress.blob_done();
                    if let Err(error) = fetched {
                        errors.lock().expect("unpoisoned").push(error);
                        queue.lock().expect("unpoisoned").clear();
                    }
                }
            });
        }
    });
    progress.finish();
    if let Some(error) = errors.into_inner().expect("unpoisoned").into_iter().next() {
        return Err(error);
    }
    Ok(progress.fetched.load(Ordering::Relaxed))
}

/// Why a blob's bytes were not kept.
#[derive(Debug)]
pub enum BlobError {
    /// The transfer stopped early: what arrived is good so far, keep it to resume from.
    Interrupted(std::io::Error),
    /// The bytes are not the blob the digest names: throw every one of them away.
    Mismatch(String),
}

// ANCHOR: receive
/// Append what `body` sends to `file`, hashing as it goes: `hasher` has already seen the
/// `received` bytes the file holds from an earlier, interrupted transfer. More than `size`
/// bytes, or a whole whose digest is not `expected`, is a mismatch; a body that ends early or
/// fails is an interruption.
pub fn receive_blob(
    body: &mut dyn Read,
    file: &mut File,
    hasher: Sha256,
    received: u64,
    expected: &Digest,
    size: u64,
) -> Result<(), BlobError> {
    //@ exercise registry receive
    let (mut hasher, mut received) = (hasher, received);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buffer).map_err(BlobError::Interrupted)?;
        if n == 0 {
            break;
        }
        received += n as u64;
        if received > size {
            return Err(BlobError::Mismatch(format!(
                "blob {expected} is longer than the {size} bytes its descriptor says"
            )));
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(BlobError::Interrupted)?;
    }
    if received < size {
        let early =
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{received} of {size} bytes"));
        return Err(BlobError::Interrupted(early));
    }
    let actual = blob::digest_from_hasher(hasher);
    if actual != *expected {
        return Err(BlobError::Mismatch(format!(
            "blob {expected} does not match its digest: its content hashes to {actual}; the registry or something \
             between sent other bytes (corrupt or tampered with)"
        )));
    }
    Ok(())
    //@ stub
    //| let _ = (body, file, hasher, received, expected, size, <File as Write>::write_all, blob::digest_from_hasher);
    //| todo!("chapter {chapter}, `receive`: append the body to the file, hashing it, and tell an interrupted transfer from a wrong blob; `cargo xtask hint registry receive` helps (book: Chapter {chapter}, \"Checking while it streams\")")
    //@ end registry receive
}
// ANCHOR_END: receive

/// Fetch one blob into the store. Its bytes go to `downloads/HEX.partial` first (kept, and
/// locked, across attempts); only a whole, checked blob is moved into the store.
fn fetch_blob(
    client: &Client,
    store: &Store,
    downloads: &Path,
    descriptor: &Descriptor,
    progress: &Progress,
) -> Result<()> {
    let digest = descriptor.digest();
    let partial_path = downloads.join(format!("{}.partial", blob::check_sha256(digest)?));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&partial_path)
        .with_context(|| format!("opening {}", partial_path.display()))?;
    // Another pull fetching the same blob holds the lock: wait for it, then find the blob stored.
    file.lock().context("locking a download")?;
    if store.blob_path(digest)?.exists() {
        let _ = std::fs::remove_file(&partial_path);
        return Ok(());
    }
    let (hasher, mut have) = resume_point(&mut file, descriptor.size())?;
    if have == descriptor.size() {
        // Every byte arrived last time (the move into the store did not happen): check them.
        return keep_if_right(
            store,
            &partial_path,
            &mut std::io::empty(),
            &mut file,
            hasher,
            have,
            descriptor,
        );
    }
    let range = format!("bytes={have}-");
    let headers: &[(&str, &str)] = if have > 0 { &[("Range", &range)] } else { &[] };
    let response = client.send("GET", &client.url(&format!("blobs/{digest}")), headers, Payload::Nothing)?;
    let hasher = match response.status().as_u16() {
        206 if content_range_start(&response) == Some(have) => {
            crate::step!("blob {digest}: resuming at byte {have}");
            hasher
        }
        200 => {
            // The registry sent the whole blob (it ignored the range, or none was asked).
            file.set_len(0)?;
            have = 0;
            Sha256::new()
        }
        _ => return Err(unexpected(&format!("fetching blob {digest}"), response)),
    };
    file.seek(SeekFrom::Start(have))?;
    progress.add(have);
    let mut body = Counted { inner: response.into_body().into_reader(), progress };
    keep_if_right(store, &partial_path, &mut body, &mut file, hasher, have, descriptor)
}

/// Receive the rest of a blob; move it into the store when it is whole and right, keep it for
/// a resume when the transfer stopped, remove it when it is wrong.
fn keep_if_right(
    store: &Store,
    partial_path: &Path,
    body: &mut dyn Read,
    file: &mut File,
    hasher: Sha256,
    have: u64,
    descriptor: &Descriptor,
) -> Result<()> {
    let digest = descriptor.digest();
    match receive_blob(body, file, hasher, have, digest, descriptor.size()) {
        Ok(()) => {
            store.put_checked(partial_path, descriptor)?;
            Ok(())
        }
        Err(BlobError::Interrupted(error)) => {
            Err(error).with_context(|| format!("fetching blob {digest} (run the pull again to resume)"))
        }
        Err(BlobError::Mismatch(message)) => {
            let _ = std::fs::remove_file(partial_path);
            bail!("{message}")
        }
    }
}

/// How far an earlier attempt came: the hash of the bytes the partial file holds, and their
/// count. A file longer than the blob is not a prefix of it: start over.
fn resume_point(file: &mut File, size: u64) -> Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    if file.metadata()?.len() > size {
        file.set_len(0)?;
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut have = 0;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((hasher, have));
        }
        hasher.update(&buffer[..n]);
        have += n as u64;
    }
}

/// The first byte of a 206 answer's `Content-Range: bytes FIRST-LAST/SIZE`.
fn content_range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// A reader that reports what passes through it to the progress line.
struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        self.progress.fetched.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One line on stderr, redrawn at most five times a second, and only on a terminal: a log or a
/// pipe gets no progress at all.
struct Progress {
    name: String,
    total: u64,
    blobs: usize,
    done: AtomicU64,
    fetched: AtomicU64,
    blobs_done: AtomicU64,
    last: Mutex<Option<Instant>>,
    tty: bool,
}

impl Progress {
    fn new(name: &str, total: u64, blobs: usize) -> Progress {
        Progress {
            name: name.to_string(),
            total,
            blobs,
            done: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            blobs_done: AtomicU64::new(0),
            last: Mutex::new(None),
            // SAFETY: isatty only looks at descriptor 2.
            tty: unsafe { libc::isatty(2) } == 1,
        }
    }

    fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.draw(false);
    }

    fn blob_done(&self) {
        self.blobs_done.fetch_add(1, Ordering::Relaxed);
        self.draw(true);
    }

    fn draw(&self, now: bool) {
        if !self.tty {
            return;
        }
        let mut last = self.last.lock().expect("unpoisoned");
        if !now && last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
            return;
        }
        *last = Some(Instant::now());
        let human = crate::cgroups::human_size;
        eprint!(
            "\r\x1b[Kpulling {}: {} of {} ({} of {} blobs)",
            self.name,
            human(self.done.load(Ordering::Relaxed)),
            human(self.total),
            self.blobs_done.load(Ordering::Relaxed),
            self.blobs
        );
    }

    fn finish(&self) {
        if self.tty {
            self.draw(true);
            eprintln!();
        }
    }
}

/// Where an interrupted pull keeps what it fetched of a blob.
pub fn downloads_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("downloads")
}
//@ end registry
