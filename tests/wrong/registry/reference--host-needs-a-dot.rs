//! wrong: a first component is a registry only with a dot or as `localhost`: ports are not looked at, so localhost:5000/app and registry:5000/app go to Docker Hub
//! caught-by: registry::references_get_docker_hubs_defaults
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
            Some((first, rest)) if first.contains('.') || first == "localhost" => {
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
