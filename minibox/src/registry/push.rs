//@ begin registry
//! `minibox push`: the pull in reverse. Blobs first (each one the registry lacks), the manifest
//! last: a registry accepts a manifest only when it holds every blob it names, so no one can
//! ever pull half an image.

use super::auth;
use super::client::{Client, Payload, unexpected};
use super::reference::RemoteReference;
use crate::image::{Reference, Store};
use anyhow::{Context, Result};
use oci_spec::image::{Descriptor, ImageManifest};
use std::path::Path;

/// Push the local image `local` to `remote`; return the manifest's digest and how many blobs
/// were sent (the others the registry had).
pub fn push(
    store: &Store,
    state_dir: &Path,
    local: &Reference,
    remote: &RemoteReference,
    insecure: bool,
) -> Result<(String, usize)> {
    let descriptor =
        store.tagged(local)?.with_context(|| format!("no image named {local} (see `minibox images`)"))?;
    let manifest_path = store.blob_path(descriptor.digest())?;
    let bytes = std::fs::read(&manifest_path).context("reading the manifest")?;
    let manifest: ImageManifest = serde_json::from_slice(&bytes).context("reading the manifest")?;
    let credentials = auth::load_credentials(state_dir, &remote.registry)?;
    let client = Client::new(remote, insecure, credentials, "pull,push")?;
    let mut sent = 0;
    for blob in manifest.layers().iter().chain([manifest.config()]) {
        if push_blob(&client, store, blob)? {
            sent += 1;
        }
    }
    let url = client.url(&format!("manifests/{}", remote.tag_or_digest()));
    let media_type = descriptor.media_type().to_string();
    let response = client.send("PUT", &url, &[("Content-Type", &media_type)], Payload::Bytes(&bytes))?;
    if response.status() != 201 {
        return Err(unexpected("storing the manifest", response));
    }
    Ok((descriptor.digest().to_string(), sent))
}

/// Send one blob unless the registry has it: `POST .../blobs/uploads/` opens an upload, and
/// `PUT LOCATION?digest=DIGEST` sends the whole blob and closes it (a "monolithic" upload; the
/// registry checks the digest itself). Returns whether it was sent.
fn push_blob(client: &Client, store: &Store, blob: &Descriptor) -> Result<bool> {
    let digest = blob.digest();
    let head = client.send("HEAD", &client.url(&format!("blobs/{digest}")), &[], Payload::Nothing)?;
    if head.status() == 200 {
        crate::step!("blob {digest}: the registry has it");
        return Ok(false);
    }
    let opened = client.send("POST", &client.url("blobs/uploads/"), &[], Payload::Nothing)?;
    if opened.status() != 202 {
        return Err(unexpected(&format!("opening an upload for blob {digest}"), opened));
    }
    let location = opened
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the registry opened an upload without saying where (no Location)")?;
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}digest={digest}", client.absolute(location));
    let path = store.blob_path(digest)?;
    let closed =
        client.send("PUT", &url, &[("Content-Type", "application/octet-stream")], Payload::File(&path))?;
    if closed.status() != 201 {
        return Err(unexpected(&format!("uploading blob {digest}"), closed));
    }
    Ok(true)
}
//@ end registry
