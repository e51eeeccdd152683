//@ begin registry
//! The registry chapter: pulling and pushing images. A registry serves the OCI distribution API over HTTP:
//!
//! ```text
//! GET  /v2/NAME/manifests/TAG-OR-DIGEST   a manifest (or an index of them, one per platform)
//! GET  /v2/NAME/blobs/DIGEST              a configuration or a layer, by its digest
//! HEAD /v2/NAME/blobs/DIGEST              does the registry have it?
//! POST /v2/NAME/blobs/uploads/            open an upload; PUT LOCATION?digest=D sends the blob
//! PUT  /v2/NAME/manifests/TAG             name an image whose blobs are all there
//! ```
//!
//! A tag leads to a manifest's digest, the manifest to its blobs' digests: from the tag on,
//! every byte is checked against the digest that names it. [`reference`] reads names with
//! Docker Hub's defaults, [`auth`] answers challenges with tokens, [`client`] sends the
//! requests, [`pull`] and [`push`] move the images, through the store of the images chapter.

pub mod auth;
pub mod client;
pub mod pull;
pub mod push;
pub mod reference;

use anyhow::Result;
use std::path::Path;

/// `minibox login REGISTRY`: check the credentials with the registry (its challenge and token
/// service, as a pull would), then save them for later pulls and pushes.
pub fn login(state_dir: &Path, registry: &str, credentials: auth::Credentials, insecure: bool) -> Result<()> {
    crate::state::prepare_state_dir(state_dir)?;
    let registry = if registry == "index.docker.io" { reference::DOCKER_HUB } else { registry };
    let remote = reference::RemoteReference {
        registry: registry.to_string(),
        repository: String::new(),
        target: reference::Target::Tag("latest".to_string()),
    };
    let client = client::Client::new(&remote, insecure, Some(credentials.clone()), "pull")?;
    client.ping()?;
    auth::save_credentials(state_dir, registry, &credentials)
}
//@ end registry
