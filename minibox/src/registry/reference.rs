//@ begin registry
//! What `minibox pull` is given: `busybox`, `busybox:1.36`, `ghcr.io/owner/app@sha256:...`,
//! `127.0.0.1:5000/team/app:v2`. A short name means Docker Hub, the way the Docker CLI reads it.

use crate::image::{Reference, blob};
use anyhow::{Result, bail};
use oci_spec::image::Digest;
use std::str::FromStr;

/// Docker Hub's name in image references.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API answers (`docker.io` itself serves a web page).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A tag names an image for now; a digest names it for ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Tag(String),
    Digest(Digest),
}

/// An image in a registry: `REGISTRY/REPOSITORY` and a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteReference {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `library/busybox`, `owner/app`.
    pub repository: String,
    pub target: Target,
}

impl RemoteReference {
    // ANCHOR: parse
    /// Parse `[REGISTRY/]REPOSITORY[:TAG|@DIGEST]` with Docker Hub's defaults: no registry means
    /// `docker.io`, a one-component repository there means `library/NAME`, no tag means `latest`.
    /// The first component is a registry when it has a dot or a port, or is `localhost`.
    pub fn parse(text: &str) -> Result<RemoteReference> {
        //@ exercise registry reference
        let (name, target) = match text.split_once('@') {
            Some((name, digest)) => {
                let digest = Digest::from_str(digest)
                    .map_err(|e| anyhow::anyhow!("`{}`: bad digest: {e}", text.escape_debug()))?;
                blob::check_sha256(&digest)?;
                (name, Target::Digest(digest))
            }
            None => {
                // A colon after the last slash is the tag's; one before it is a registry's port.
                let slash = text.rfind('/').map_or(0, |i| i + 1);
                match text[slash..].rfind(':') {
                    Some(colon) => {
                        (&text[..slash + colon], Target::Tag(text[slash + colon + 1..].to_string()))
                    }
                    None => (text, Target::Tag("latest".to_string())),
                }
            }
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" { DOCKER_HUB.to_string() } else { registry };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let remote = RemoteReference { registry, repository, target };
        remote.check(text)?;
        Ok(remote)
        //@ stub
        //| let _ = (text, Digest::from_str, blob::check_sha256, DOCKER_HUB, RemoteReference::check);
        //| todo!("chapter {chapter}, `reference`: split a reference into registry, repository and tag or digest, with Docker Hub's defaults; `cargo xtask hint registry reference` helps (book: Chapter {chapter}, \"Names, tags and digests\")")
        //@ end registry reference
    }
    // ANCHOR_END: parse

    /// Check the parts by the distribution grammar (the images chapter's), so that a name that could
    /// climb out of a URL path or the store never reaches either.
    fn check(&self, text: &str) -> Result<()> {
        let tag = match &self.target {
            Target::Tag(tag) => tag.as_str(),
            Target::Digest(_) => "latest",
        };
        if Reference::parse(&format!("{}/{}:{tag}", self.registry, self.repository)).is_err() {
            bail!(
                "`{}` is not an image reference: use [REGISTRY/]NAME[:TAG|@sha256:DIGEST], for example busybox, \
                 busybox:1.36 or 127.0.0.1:5000/team/app:v2",
                text.escape_debug()
            );
        }
        Ok(())
    }

    /// The host that answers the registry API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// The tag or digest, as the API's manifest URLs want it.
    pub fn tag_or_digest(&self) -> String {
        match &self.target {
            Target::Tag(tag) => tag.clone(),
            Target::Digest(digest) => digest.to_string(),
        }
    }

    /// The name the image gets in the local store, as `docker images` shows it: Docker Hub's
    /// `library/` and `docker.io/` are left out. An image pulled by digest is tagged
    /// `sha256-HEX`, since the store names images by tag.
    pub fn local_name(&self) -> Result<Reference> {
        let name = match (self.registry.as_str(), self.repository.strip_prefix("library/")) {
            (DOCKER_HUB, Some(short)) if !short.contains('/') => short.to_string(),
            (DOCKER_HUB, _) => self.repository.clone(),
            (registry, _) => format!("{registry}/{}", self.repository),
        };
        let tag = match &self.target {
            Target::Tag(tag) => tag.clone(),
            Target::Digest(digest) => format!("sha256-{}", digest.digest()),
        };
        Reference::parse(&format!("{name}:{tag}"))
    }
}

impl std::fmt::Display for RemoteReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Tag(tag) => write!(f, "{}/{}:{tag}", self.registry, self.repository),
            Target::Digest(digest) => write!(f, "{}/{}@{digest}", self.registry, self.repository),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_leave_docker_hub_out() {
        let busybox = RemoteReference {
            registry: DOCKER_HUB.to_string(),
            repository: "library/busybox".to_string(),
            target: Target::Tag("1.36".to_string()),
        };
        assert_eq!(busybox.local_name().unwrap().to_string(), "busybox:1.36");
        assert_eq!(busybox.api_host(), DOCKER_HUB_API);
        let local = RemoteReference { registry: "127.0.0.1:5000".to_string(), ..busybox };
        assert_eq!(local.local_name().unwrap().to_string(), "127.0.0.1:5000/library/busybox:1.36");
    }
}
//@ end registry
